"""Fault injection: a broken exchange never hands a caller another caller's reply.

A client's worst failure is a desynchronised connection: after a timeout or
a cancelled read, the rest of the old reply is still on the wire and the next
command on that socket reads it as its own (redis-py's CVE-2023-28858/28859).
The defence is that any broken exchange makes the connection fatal and a
pool never lends a fatal connection again. Each test here breaks an exchange
in one way (a real server killed, paused, restarted; a scripted server that
sends half a reply, garbage, a trickle, a hostile length; a signal handler
that raises into a read) and checks the three consequences: the connection
is fatal, the pool discards it, and the next caller gets its own reply.

Also here: the reader's limits hold before any allocation (tracemalloc), a
64 MiB value round-trips in a small multiple of its size, passwords stay out
of exception messages, and bad arguments are refused before a byte
is sent. docs/reliability.md lists each guarantee with its test.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import struct
import threading
import time
import traceback
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Tuple, Type, cast

import pytest

import redigo_py as redis
from redigo_py import context, resp
from harness.server import RedisServer, free_port
from redigo_py.errors import ProtocolError, RedigoError
from redigo_py.pool import Pool

from .conftest import SECRET, ScriptedServer



def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail (never hang) once ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


@dataclass
class Peak:
    """Peak traced memory (bytes) of a ``with`` block, from tracemalloc."""

    bytes: int = 0


class traced_peak:
    """Measure the peak of Python allocations inside the block (all threads)."""

    def __enter__(self) -> Peak:
        self.was_tracing = tracemalloc.is_tracing()
        if not self.was_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]
        self.peak = Peak()
        return self.peak

    def __exit__(self, *exc: object) -> None:
        self.peak.bytes = tracemalloc.get_traced_memory()[1] - self.base
        if not self.was_tracing:
            tracemalloc.stop()


# -- a scripted server that can break any exchange on request -------------------

class Interrupt(Exception):
    """What the SIGALRM handler raises into a blocked read."""


def _partial_close(sock: socket.socket) -> None:
    sock.sendall(b"$10\r\nabc")
    sock.close()


def _reset(sock: socket.socket) -> None:
    sock.sendall(b"*2\r\n$3\r\nfoo\r\n")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # linger 0: the peer gets RST, not FIN


def _garbage(sock: socket.socket) -> None:
    sock.sendall(b"?garbage\r\n$4\r\nnext\r\n")  # a "reply" follows; it must never be returned
    sock.recv(1)


def _oversize(sock: socket.socket) -> None:
    sock.sendall(b"$1099511627776\r\n" + b"x" * 65536)  # 1 TiB declared, over the 512 MiB limit
    sock.recv(1)


def _array_oversize(sock: socket.socket) -> None:
    sock.sendall(b"*4294967296\r\n:1\r\n")
    sock.recv(1)


def _deep(sock: socket.socket) -> None:
    sock.sendall(b"*1\r\n" * 10_000)
    sock.recv(1)


def _silence(sock: socket.socket) -> None:
    sock.recv(1)  # until the client goes away


def _trickle(sock: socket.socket) -> None:
    payload = b"$40\r\n" + b"t" * 40 + b"\r\n"
    for i in range(len(payload)):
        sock.sendall(payload[i:i + 1])
        time.sleep(0.02)  # the fault itself: a server that trickles bytes


def _late(sock: socket.socket) -> None:
    time.sleep(0.5)  # the fault itself: the reply comes after the client gave up
    sock.sendall(b"$4\r\nlate\r\n")
    sock.recv(1)


FAULT_HANDLERS: Dict[bytes, Callable[[socket.socket], None]] = {
    b"partial-close": _partial_close,
    b"reset": _reset,
    b"garbage": _garbage,
    b"oversize": _oversize,
    b"array-oversize": _array_oversize,
    b"deep": _deep,
    b"silence": _silence,
    b"trickle": _trickle,
    b"late": _late,
}


class FaultServer:
    """Speaks enough RESP for a pool (PING, ECHO, CLIENT ID, anything else +OK);
    ``FAULT <kind>`` breaks the exchange as FAULT_HANDLERS[kind] says.

    Records every command with the server-side id of its connection, so a
    test can show that a fatal connection never sent another command.
    """

    def __init__(self, scripted: Callable[[Callable[[socket.socket], None]], ScriptedServer]) -> None:
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.log: List[Tuple[int, List[bytes]]] = []
        self.server = scripted(self.serve)
        self.address = self.server.address

    def serve(self, sock: socket.socket) -> None:
        conn_id = next(self.ids)
        reader = resp.Reader()
        while True:
            command = reader.gets()
            if command is False:
                data = sock.recv(65536)
                if not data:
                    return
                reader.feed(data)
                continue
            with self.lock:
                self.log.append((conn_id, command))
            name = command[0].upper()
            if name == b"FAULT":
                FAULT_HANDLERS[command[1]](sock)
                return
            if name == b"CLIENT":
                sock.sendall(b":%d\r\n" % conn_id)
            elif name == b"ECHO":
                sock.sendall(b"$%d\r\n%s\r\n" % (len(command[1]), command[1]))
            elif name == b"PING":
                sock.sendall(b"+PONG\r\n")
            else:
                sock.sendall(b"+OK\r\n")

    def commands_of(self, conn_id: int) -> List[List[bytes]]:
        with self.lock:
            return [cmd for cid, cmd in self.log if cid == conn_id]


@pytest.fixture
def fault_server(scripted: Callable[[Callable[[socket.socket], None]], ScriptedServer]) -> FaultServer:
    return FaultServer(scripted)


def _alarm(exc_type: Type[BaseException]) -> Callable[[Callable[[], Any]], Any]:
    """Run a call with SIGALRM armed to raise ``exc_type`` into it after 0.1 s."""
    def run(call: Callable[[], Any]) -> Any:
        def handler(signum: int, frame: Any) -> None:
            raise exc_type("alarm")

        old = signal.signal(signal.SIGALRM, handler)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
            return call()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    return run


def _plain(call: Callable[[], Any]) -> Any:
    return call()


def _with_deadline(c: Any, kind: bytes) -> Any:
    ctx, cancel = context.with_timeout(context.background(), 0.2)
    try:
        return c.do_context(ctx, "FAULT", kind)
    finally:
        cancel()


def _with_cancel(c: Any, kind: bytes) -> Any:
    ctx, cancel = context.with_cancel(context.background())
    timer = threading.Timer(0.1, cancel)
    timer.start()
    try:
        return c.do_context(ctx, "FAULT", kind)
    finally:
        timer.cancel()


def _do(c: Any, kind: bytes) -> Any:
    return c.do("FAULT", kind)


def _receive(c: Any, kind: bytes) -> Any:
    c.send("FAULT", kind)
    c.flush()
    return c.receive()


def _pipelined(c: Any, kind: bytes) -> Any:
    c.send("ECHO", "before")  # its reply arrives; the fault's does not
    return c.do("FAULT", kind)


@dataclass(frozen=True)
class FaultCase:
    """One way to break an exchange, and the exception the caller must see."""

    fault: bytes
    expected: Type[BaseException]
    call: Callable[[Any, bytes], Any] = _do
    arm: Callable[[Callable[[], Any]], Any] = field(default=_plain)


FAULT_CASES = [
    pytest.param(FaultCase(b"partial-close", redis.ConnectionError), id="partial-reply-then-close"),
    pytest.param(FaultCase(b"reset", redis.ConnectionError), id="reset-mid-reply"),
    pytest.param(FaultCase(b"garbage", redis.ProtocolError), id="garbage"),
    pytest.param(FaultCase(b"oversize", redis.ProtocolError), id="bulk-length-over-limit"),
    pytest.param(FaultCase(b"array-oversize", redis.ProtocolError), id="array-length-over-limit"),
    pytest.param(FaultCase(b"deep", redis.ProtocolError), id="nesting-over-limit"),
    pytest.param(FaultCase(b"silence", redis.TimeoutError), id="read-timeout"),
    pytest.param(FaultCase(b"trickle", redis.TimeoutError), id="trickled-bytes-timeout"),
    pytest.param(FaultCase(b"late", redis.TimeoutError), id="late-reply-after-timeout"),
    pytest.param(FaultCase(b"late", redis.TimeoutError, _pipelined), id="late-reply-pipelined"),
    pytest.param(FaultCase(b"silence", redis.TimeoutError, _receive), id="receive-timeout"),
    pytest.param(FaultCase(b"late", context.DeadlineExceeded, _with_deadline), id="context-deadline"),
    pytest.param(FaultCase(b"late", context.Canceled, _with_cancel), id="context-cancel"),
    pytest.param(FaultCase(b"silence", redis.ConnectionError, arm=_alarm(Interrupt)),
                 id="signal-handler-raises-exception"),
    pytest.param(FaultCase(b"late", KeyboardInterrupt, arm=_alarm(KeyboardInterrupt)),
                 id="signal-handler-raises-keyboard-interrupt"),
]


@pytest.mark.parametrize("case", FAULT_CASES)
def test_broken_exchange_is_fatal_and_never_lent_again(fault_server: FaultServer, case: FaultCase) -> None:
    """After any broken exchange: fatal conn, discarded by the pool, next caller gets its own reply.

    Also: the failure allocates little (a hostile length is refused from its
    header), and the dead connection never sends another command.
    """
    pool = Pool(dial=lambda: redis.dial("tcp", fault_server.address, read_timeout=0.25), max_idle=4)
    c = pool.get()
    victim = c.do("CLIENT", "ID")
    with traced_peak() as peak:
        with pytest.raises(case.expected):
            case.arm(lambda: case.call(c, case.fault))
    assert peak.bytes < 1024 * 1024, f"a broken exchange allocated {peak.bytes} bytes"
    err = c.err()
    assert isinstance(err, RedigoError), err
    for later in (lambda: c.do("ECHO", "again"), lambda: c.send("ECHO", "again"), c.receive):
        with pytest.raises(type(err)):
            later()
    c.close()
    assert (pool.active_count(), pool.idle_count()) == (0, 0), "the pool kept a fatal connection"

    with pool.get() as c2:
        assert c2.do("CLIENT", "ID") != victim
        token = os.urandom(8).hex()
        assert c2.do("ECHO", token) == token.encode()
        c2.send("ECHO", token + "-1")
        c2.send("ECHO", token + "-2")
        assert c2.do("") == [(token + "-1").encode(), (token + "-2").encode()]
    commands = fault_server.commands_of(victim)
    assert commands[-1] == [b"FAULT", case.fault], "a fatal connection sent another command"
    assert pool.idle_count() == 1
    pool.close()


def test_fatal_conn_from_with_block_is_discarded(fault_server: FaultServer) -> None:
    """``with pool.get() as c`` that ends in a timeout: the exit returns it, the pool drops it."""
    pool = Pool(dial=lambda: redis.dial("tcp", fault_server.address, read_timeout=0.2), max_idle=4)
    with pytest.raises(redis.TimeoutError):
        with pool.get() as c:
            c.do("FAULT", "late")
    assert (pool.active_count(), pool.idle_count()) == (0, 0)
    with pool.get() as c2:
        assert c2.do("ECHO", "mine") == b"mine"
    pool.close()


# -- real servers: kill, SIGSTOP/SIGCONT, restart on the same port ---------------

def _kill(srv: RedisServer, c: Any) -> None:
    srv.stop()
    with pytest.raises(redis.ConnectionError):
        c.do("ECHO", "x")
    srv.start()


def _pause(srv: RedisServer, c: Any) -> None:
    srv.pause()
    try:
        with pytest.raises(redis.TimeoutError):
            c.do("ECHO", "x")  # the server reads it after SIGCONT and answers a closed socket
    finally:
        srv.resume()


def _restart_while_idle(srv: RedisServer, c: Any) -> None:
    c.close()
    srv.stop()
    srv.start()


REAL_FAULTS = [
    pytest.param(_kill, False, id="kill-while-lent"),
    pytest.param(_pause, False, id="sigstop-while-lent"),
    pytest.param(_restart_while_idle, False, id="restart-while-idle"),
    pytest.param(_restart_while_idle, True, id="restart-while-idle-test-on-borrow"),
]


def _ping_on_borrow(c: Any, last_used: float) -> None:
    c.do("PING")


@pytest.mark.parametrize("fault,test_on_borrow", REAL_FAULTS)
def test_real_server_faults(make_server: Callable[..., RedisServer], fault: Callable[[RedisServer, Any], None],
                            test_on_borrow: bool) -> None:
    """A real server dies, stops or restarts: no caller ever reads a reply that is not its own.

    A connection that was idle across a restart fails on its first use (a
    ConnectionError, never a wrong reply) unless ``test_on_borrow`` catches
    it first; either way the pool then dials a fresh one.
    """
    srv = make_server()
    pool = Pool(dial=lambda: redis.dial("tcp", srv.address, read_timeout=0.5, connect_timeout=2),
                max_idle=4, test_on_borrow=_ping_on_borrow if test_on_borrow else None)
    c = pool.get()
    assert c.do("ECHO", "warm") == b"warm"
    fault(srv, c)
    c.close()
    token = os.urandom(8).hex().encode()
    c2 = pool.get()
    try:
        reply = c2.do("ECHO", token)
    except redis.ConnectionError:
        assert fault is _restart_while_idle and not test_on_borrow, "only an unchecked idle conn may fail"
        assert c2.err() is not None
        c2.close()
        c2 = pool.get()
        reply = c2.do("ECHO", token)
    assert reply == token
    c2.close()
    assert pool.active_count() == pool.idle_count() == 1
    pool.close()


def test_paused_server_resumes_and_old_reply_goes_nowhere(make_server: Callable[..., RedisServer]) -> None:
    """SIGSTOP mid-pipeline, time out, SIGCONT: the server's late replies never reach a new caller."""
    srv = make_server()
    pool = Pool(dial=lambda: redis.dial("tcp", srv.address, read_timeout=0.3), max_idle=4)
    idle, c = pool.get(), pool.get()
    idle.do("SET", "k", "value-of-k")
    idle.close()  # one healthy connection waits in the pool through the pause
    assert c.do("ECHO", "warm") == b"warm"
    srv.pause()
    try:
        c.send("GET", "k")
        with pytest.raises(redis.TimeoutError):
            c.do("ECHO", "lost")
    finally:
        srv.resume()
    c.close()
    assert pool.idle_count() == 1
    for _ in range(3):
        with pool.get() as c2:
            assert c2.do("ECHO", "mine") == b"mine"
            assert c2.do("GET", "k") == b"value-of-k"
    pool.close()


# -- 32 threads through a pool across a restart ---------------------------------

THREADS = 32
RESTARTS = 2


@pytest.mark.timeout(60)
def test_32_threads_across_restart_no_crosstalk_no_leak_no_hang(make_server: Callable[..., RedisServer]) -> None:
    """Each thread pipelines its own unique tokens; a server restart in the middle may fail
    calls, but every reply that comes back is the caller's own, every slot comes back, and
    every thread finishes.
    """
    srv = make_server()
    pool = Pool(dial=lambda: redis.dial("tcp", srv.address, read_timeout=2, connect_timeout=2),
                max_active=8, max_idle=8, wait=True)
    stop = threading.Event()
    ok = [0] * THREADS
    failed = [0] * THREADS
    broken = [0] * THREADS
    crosstalk: List[str] = []
    unexpected: List[BaseException] = []

    def worker(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            tokens = [f"{i}:{n}:{k}:{os.urandom(4).hex()}".encode() for k in range(3)]
            tokens[1] += os.urandom(16 * 1024)  # a reply that spans several reads, so a restart can cut it
            try:
                with pool.get() as c:
                    c.send("ECHO", tokens[0])
                    c.send("ECHO", tokens[1])
                    got = c.do("ECHO", tokens[2])
                    if got != tokens[2]:
                        crosstalk.append(f"thread {i}: sent {tokens[2]!r}, got {got!r}")
                    c.send("ECHO", tokens[0])
                    c.send("ECHO", tokens[1])
                    got_list = c.do("")
                    if got_list != tokens[:2]:
                        crosstalk.append(f"thread {i}: sent {tokens[:2]!r}, got {got_list!r}")
                ok[i] += 1
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                failed[i] += 1
                if "dial" not in str(exc):
                    broken[i] += 1  # a connection that was open when the server died
                stop.wait(0.01)  # the client's back-off while the server is down
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                unexpected.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        for cycle in range(RESTARTS):
            before = list(ok)
            wait_until(lambda: all(o >= b + 5 for o, b in zip(ok, before)),
                       what=f"every thread to get replies before restart {cycle}")
            down = sum(failed)
            srv.stop()
            wait_until(lambda: sum(failed) >= down + THREADS, what="failures while the server is down")
            srv.start()
        before = list(ok)
        wait_until(lambda: all(o >= b + 5 for o, b in zip(ok, before)),
                   what="every thread to get replies after the last restart")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not [t for t in threads if t.is_alive()], "a thread hung"
    assert not unexpected, unexpected
    assert not crosstalk, crosstalk[:5]
    stats = pool.stats()
    assert stats.active_count == stats.idle_count <= 8, stats  # nothing lent out, nothing leaked
    assert sum(failed) >= RESTARTS * THREADS and min(ok) >= 5 * (RESTARTS + 1), (ok, failed)
    assert sum(broken) >= RESTARTS, broken  # open connections did break, not only new dials
    pool.close()
    assert pool.active_count() == 0


# -- limits: refused before allocating --------------------------------------------

LIMIT_CASES = [
    pytest.param({}, b"$536870913\r\n", "exceeds the limit", id="bulk-over-default-limit"),
    pytest.param({}, b"$99999999999999999999\r\n", "exceeds the limit", id="bulk-absurd-length"),
    pytest.param({}, b"*536870913\r\n", "exceeds the limit", id="array-over-default-limit"),
    pytest.param({}, b"*1\r\n*1\r\n*4294967296\r\n", "exceeds the limit", id="nested-array-over-limit"),
    pytest.param({"max_bulk_len": 1024}, b"$1025\r\n", "exceeds the limit", id="bulk-over-set-limit"),
    pytest.param({"max_bulk_len": 1024}, b"*1025\r\n", "exceeds the limit", id="array-over-set-limit"),
    pytest.param({}, b"*1\r\n" * 129 + b":1\r\n", "nested deeper", id="nesting-over-default-depth"),
    pytest.param({"max_depth": 4}, b"*2\r\n" * 5, "nested deeper", id="nesting-over-set-depth"),
    pytest.param({"max_line_len": 1000}, b"+" + b"x" * 2000, "too long", id="simple-line-over-limit"),
    pytest.param({"max_line_len": 1000}, b"-" + b"x" * 2000, "too long", id="error-line-over-limit"),
    pytest.param({}, b":" + b"1" * 100, "too long", id="integer-line-over-cap"),
    pytest.param({}, b"$" + b"9" * 100, "too long", id="length-line-over-cap"),
]


@pytest.mark.parametrize("limits,data,message", LIMIT_CASES)
def test_limits_refused_before_allocating(limits: dict, data: bytes, message: str) -> None:
    """A hostile header costs nothing: the peak stays a small multiple of the bytes actually fed."""
    reader = resp.Reader(**limits)
    with traced_peak() as peak:
        reader.feed(data)
        with pytest.raises(ProtocolError, match=message):
            reader.gets()
    assert peak.bytes < 64 * 1024 + 4 * len(data), peak.bytes


FASTPATH_LIMIT_CASES = [
    pytest.param({"max_bulk_len": 5}, b"$10\r\n0123456789\r\n" * 40, id="pipelined-bulk-run"),
    pytest.param({"max_bulk_len": 9}, b"*8\r\n" + b"$10\r\n0123456789\r\n" * 8, id="bulk-array-elements"),
    pytest.param({"max_depth": 1}, b"*1\r\n*8\r\n" + b"$1\r\na\r\n" * 8, id="bulk-array-depth"),
]


@pytest.mark.parametrize("limits,data", FASTPATH_LIMIT_CASES)
def test_limits_hold_on_the_fast_paths(limits: dict, data: bytes) -> None:
    """The same bytes must be refused whatever the chunking (fed whole, they take a fast path)."""
    for chunk in (len(data), 3):
        reader = resp.Reader(**limits)
        with pytest.raises(ProtocolError):
            for i in range(0, len(data), chunk):
                reader.feed(data[i:i + chunk])
                while reader.gets() is not False:
                    pass


EMPTY_ARRAY_DEPTH_CASES = [
    pytest.param(0, b"*0\r\n", id="depth-0"),
    pytest.param(1, b"*1\r\n*0\r\n", id="depth-1"),
    pytest.param(5, b"*2\r\n*1\r\n*1\r\n*1\r\n*1\r\n*0\r\n:1\r\n", id="depth-5-then-more"),
]


@pytest.mark.parametrize("max_depth,data", EMPTY_ARRAY_DEPTH_CASES)
def test_empty_array_counts_against_max_depth(max_depth: int, data: bytes) -> None:
    """``*0`` at depth ``max_depth`` is an array nested deeper than the limit, as ``*1`` there is."""
    reader = resp.Reader(max_depth=max_depth)
    reader.feed(data)
    with pytest.raises(ProtocolError, match="nested deeper"):
        reader.gets()


def test_64_mib_value_round_trips_in_a_small_multiple_of_its_size(server: RedisServer) -> None:
    """SET then GET 64 MiB through a real server: peak Python memory of the SET stays under 2x
    the value (the encoded command), of the GET under 4x (received chunks, one joined buffer,
    the returned value; measured 3.0x)."""
    size = 64 * 1024 * 1024
    value = os.urandom(1024) * (size // 1024)
    with redis.dial("tcp", server.address, database=9, read_timeout=30, write_timeout=30) as c:
        with traced_peak() as set_peak:
            assert c.do("SET", "big", value) == "OK"
        with traced_peak() as get_peak:
            got = c.do("GET", "big")
        assert got == value
        del got
        c.do("DEL", "big")
    assert set_peak.bytes < 2 * size, f"SET peak {set_peak.bytes / size:.2f}x the value's size"
    assert get_peak.bytes < 4 * size, f"GET peak {get_peak.bytes / size:.2f}x the value's size"


# -- secrets -----------------------------------------------------------------------

def _dial_wrong_password(srv: RedisServer) -> None:
    redis.dial("tcp", srv.address, password=SECRET + "-wrong")


def _dial_unknown_user(srv: RedisServer) -> None:
    redis.dial("tcp", srv.address, username="nobody", password=SECRET)


def _dial_url_refused(srv: RedisServer) -> None:
    redis.dial_url(f"redis://user:{SECRET}@127.0.0.1:{free_port()}/0", connect_timeout=2)


def _dial_url_wrong_password(srv: RedisServer) -> None:
    redis.dial_url(f"redis://:{SECRET}-wrong@{srv.address}/3")


def _authed(srv: RedisServer) -> redis.Conn:
    return redis.dial("tcp", srv.address, password=SECRET, read_timeout=5)


SECRET_COMMANDS: List[Tuple[str, Tuple[str, ...]]] = [
    ("auth", ("AUTH", SECRET + "-wrong")),
    ("auth-user", ("AUTH", "default", SECRET + "-wrong")),
    ("hello-auth", ("HELLO", "2", "AUTH", "default", SECRET + "-wrong")),
    ("acl-setuser", ("ACL", "SETUSER", "bob", "on", ">" + SECRET, "no-such-rule")),
    ("migrate-auth", ("MIGRATE", "127.0.0.1", "1", "k", "0", "100", "AUTH", SECRET)),
    ("migrate-auth2", ("MIGRATE", "127.0.0.1", "1", "", "0", "100", "AUTH2", "user", SECRET, "KEYS", "k")),
]


def _secret_command(command: Tuple[str, ...]) -> Callable[[RedisServer], None]:
    def run(srv: RedisServer) -> None:
        with _authed(srv) as c:
            c.do(*command)
    return run


SECRET_FAILING_CALLS: List[Tuple[str, Callable[[RedisServer], None]]] = [
    ("dial-wrong-password", _dial_wrong_password),
    ("dial-unknown-user", _dial_unknown_user),
    ("dial-url-refused", _dial_url_refused),
    ("dial-url-wrong-password", _dial_url_wrong_password),
] + [(name, _secret_command(cmd)) for name, cmd in SECRET_COMMANDS]
SECRET_FAILURES = [pytest.param(call, id=name) for name, call in SECRET_FAILING_CALLS]  # ids never show it


def _exception_text(exc: BaseException) -> str:
    """Everything an exception shows: str, repr, and the whole formatted chain."""
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(type(exc), exc, exc.__traceback__)])


@pytest.mark.parametrize("failing", SECRET_FAILURES)
def test_password_never_in_exception(auth_server: RedisServer, failing: Callable[[RedisServer], None]) -> None:
    """Failed AUTH, HELLO AUTH, ACL SETUSER, MIGRATE AUTH/AUTH2, dial and dial_url: no password in the error."""
    with pytest.raises(RedigoError) as info:
        failing(auth_server)
    text = _exception_text(info.value)
    assert SECRET not in text, text


def _scripted_auth(reply: bytes) -> Callable[[socket.socket], None]:
    def handler(sock: socket.socket) -> None:
        reader = resp.Reader()
        while reader.gets() is False:
            data = sock.recv(65536)
            if not data:
                return
            reader.feed(data)
        if reply:
            sock.sendall(reply)
        sock.recv(1)
    return handler


@pytest.mark.parametrize("reply,expected", [
    pytest.param(b"?garbage " + SECRET.encode() + b"\r\n", redis.ProtocolError, id="garbage-reply-to-auth"),
    pytest.param(b"", redis.TimeoutError, id="no-reply-to-auth"),
    pytest.param(b"$5\r\nab", redis.TimeoutError, id="half-reply-to-auth"),
])
def test_password_never_in_exception_when_auth_exchange_breaks(
        scripted: Callable[..., ScriptedServer], reply: bytes, expected: Type[BaseException]) -> None:
    """AUTH interrupted by a protocol error or a timeout: the error names neither the command's arguments
    nor (even when a hostile server echoes it) the password."""
    srv = scripted(_scripted_auth(reply))
    with pytest.raises(expected) as info:
        redis.dial("tcp", srv.address, password=SECRET, read_timeout=0.2)
    assert SECRET not in _exception_text(info.value)


def test_password_never_in_spans_or_metric_tags(auth_server: RedisServer) -> None:
    """The same failures with tracing and the views on: no span name, attribute, status message
    or annotation, and no tag value of any view, carries the password."""
    pytest.importorskip("opencensus")
    from opencensus.stats import stats as stats_module
    from opencensus.trace import base_exporter, execution_context
    from opencensus.trace import tracer as tracer_module
    from opencensus.trace.samplers import AlwaysOnSampler

    from redigo_py import observability

    class Capture(base_exporter.Exporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self.spans: List[Any] = []

        def export(self, span_datas: List[Any]) -> None:
            self.spans.extend(span_datas)

        def emit(self, span_datas: List[Any]) -> None:
            self.spans.extend(span_datas)

    redis.register_views()
    exporter = Capture()
    tracer = tracer_module.Tracer(sampler=AlwaysOnSampler(), exporter=exporter)
    try:
        with tracer.span("root"):
            for _, failing in SECRET_FAILING_CALLS:
                with pytest.raises(RedigoError):
                    failing(auth_server)
            with _authed(auth_server) as c:
                c.send("AUTH", SECRET)
                c.send("HELLO", "2", "AUTH", "default", SECRET)
                c.do("")
    finally:
        execution_context.clean()
    observability.flush()
    spans = [(s.name, s.attributes, s.status and (s.status.code, s.status.message),
              [(a.description, a.attributes) for a in (s.annotations or [])]) for s in exporter.spans]
    assert any(name == "redis.Conn.AUTH" for name, *_ in spans)
    mtvm = stats_module.stats.view_manager.measure_to_view_map
    tags = [(vd.view.name, list(vd.tag_value_aggregation_data_map))
            for v in cast(List[Any], redis.OBSERVABILITY_METRIC_VIEWS)
            for vd in mtvm._measure_to_view_data_list_map[v._measure.name]]
    text = repr(spans) + repr(tags)
    assert SECRET not in text, text


# -- bad arguments: refused before anything is sent ----------------------------------

class _BadArg:
    def redis_arg(self) -> Any:
        raise RuntimeError("cannot encode")


class _NaNArg:
    def redis_arg(self) -> Any:
        return math.nan


BAD_CALLS = [
    pytest.param(lambda c: c.do("SET", "k", math.nan), redis.ArgumentError, id="do-nan"),
    pytest.param(lambda c: c.send("SET", "k", float("nan")), redis.ArgumentError, id="send-nan"),
    pytest.param(lambda c: c.do("SET", "k", _NaNArg()), redis.ArgumentError, id="nan-via-redis-arg"),
    pytest.param(lambda c: c.do("SET", "k", _BadArg()), RuntimeError, id="redis-arg-raises"),
    pytest.param(lambda c: c.do("SET", "k", "\ud800"), redis.ArgumentError, id="unencodable-str"),
    pytest.param(lambda c: c.do_with_timeout(-1, "PING"), redis.ArgumentError, id="negative-timeout"),
    pytest.param(lambda c: c.receive_with_timeout(-1), redis.ArgumentError, id="negative-receive-timeout"),
]


@pytest.mark.parametrize("call,expected", BAD_CALLS)
def test_bad_argument_refused_before_sending_and_conn_usable(
        fault_server: FaultServer, call: Callable[[Any], Any], expected: Type[BaseException]) -> None:
    """With a command already pipelined: the bad call raises, nothing reaches the server, and the
    pipelined reply and the next command's reply still go to the right place."""
    c = redis.dial("tcp", fault_server.address, read_timeout=5)
    conn_id = c.do("CLIENT", "ID")
    c.send("ECHO", "pending")
    with pytest.raises(expected):
        call(c)
    assert c.err() is None
    assert c.do("") == [b"pending"]
    assert c.do("ECHO", "next") == b"next"
    assert fault_server.commands_of(conn_id) == [[b"CLIENT", b"ID"], [b"ECHO", b"pending"], [b"ECHO", b"next"]]
    c.close()


def test_bad_argument_through_pool_keeps_conn_pooled(fault_server: FaultServer) -> None:
    """A refused argument is the caller's mistake, not the connection's: the pool keeps it."""
    pool = Pool(dial=lambda: redis.dial("tcp", fault_server.address, read_timeout=5), max_idle=2)
    with pool.get() as c:
        conn_id = c.do("CLIENT", "ID")
        with pytest.raises(ValueError):
            c.do("SET", "k", math.nan)
    with pool.get() as c:
        assert c.do("CLIENT", "ID") == conn_id
        assert c.do("ECHO", "x") == b"x"
    pool.close()


BAD_DIALS = [
    pytest.param(lambda a: redis.dial("tcp", a, no_such_option=1), TypeError, "no_such_option",
                 id="unknown-keyword"),
    pytest.param(lambda a: redis.dial("udp", a), redis.ArgumentError, "unknown network", id="network-udp"),
    pytest.param(lambda a: redis.dial("TCP", a), redis.ArgumentError, "unknown network", id="network-upper-case"),
    pytest.param(lambda a: redis.dial("", a), redis.ArgumentError, "unknown network", id="network-empty"),
    pytest.param(lambda a: redis.dial("tcp", a.replace(":", "/")), redis.ArgumentError, "missing port",
                 id="address-without-port"),
    pytest.param(lambda a: redis.dial("tcp", a + "x"), redis.ArgumentError, "invalid port", id="address-bad-port"),
    pytest.param(lambda a: redis.dial("tcp", a, read_timeout=-1), redis.ArgumentError, "negative timeout",
                 id="negative-read-timeout"),
    pytest.param(lambda a: redis.dial_url(f"http://{a}"), redis.ArgumentError, "invalid redis URL scheme: http",
                 id="url-scheme"),
    pytest.param(lambda a: redis.dial_url(f"redis://{a}/abc"), redis.ArgumentError, "invalid database: abc",
                 id="url-database"),
    pytest.param(lambda a: redis.dial_url(f"redis://{a}x/0"), redis.ArgumentError, "invalid redis URL port",
                 id="url-port"),
    pytest.param(lambda a: redis.dial_url(f"redis:{a}"), redis.ArgumentError, "opaque", id="url-opaque"),
    pytest.param(lambda a: redis.dial_url("invalid-url"), redis.ArgumentError, "^invalid redis URL scheme: $",
                 id="url-no-scheme"),
    pytest.param(lambda a: redis.dial_url("redis://weird url"), redis.ArgumentError,
                 '^parse "redis://weird url": invalid character " " in host name$', id="url-host-space"),
    pytest.param(lambda a: redis.dial_url("redis://u:s3cret@we{ird/0"), redis.ArgumentError,
                 r'^parse "redis://u:xxxxx@we\{ird/0": invalid character "\{" in host name$',
                 id="url-host-brace-password-redacted"),
    pytest.param(lambda a: redis.dial_url("redis://s3cret@we|ird"), redis.ArgumentError,
                 r'^parse "redis://xxxxx@we\|ird": invalid character "\|" in host name$',
                 id="url-host-bar-lone-password-redacted"),
    pytest.param(lambda a: redis.dial_url("redis://[::1"), redis.ArgumentError, '^parse "redis://\\[::1": ',
                 id="url-unclosed-ipv6"),
    pytest.param(lambda a: redis.dial_url(f"redis://{a}", no_such_option=1), TypeError, "no_such_option",
                 id="url-unknown-keyword"),
]


@pytest.mark.parametrize("dial,expected,message", BAD_DIALS)
def test_bad_dial_refused_before_connecting(scripted: Callable[..., ScriptedServer],
                                            dial: Callable[[str], Any], expected: Type[BaseException],
                                            message: str) -> None:
    """A bad keyword, network, address or URL raises a clear error and never opens a connection.

    The listener would accept anything; one PING connection afterwards
    proves it was listening, and that it is the only one accepted.
    """
    accepted: List[socket.socket] = []
    srv = scripted(lambda sock: accepted.append(sock))
    with pytest.raises(expected, match=message):
        dial(srv.address)
    probe = socket.create_connection(srv.listener.getsockname(), timeout=5)
    wait_until(lambda: any(s.getpeername() == probe.getsockname() for s in list(accepted)),
               what="the probe connection")
    probe.close()
    assert len(accepted) == 1, "the bad dial opened a connection"
