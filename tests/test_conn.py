"""Conn against real servers: redigo's conn_test.go cases, dial options, faults."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from typing import Any, Callable, List, Tuple

import pytest

import redigo_py as redis
from redigo_py import context
from redigo_py.conn import parse_url

from .conftest import ScriptedServer, read_command

# -- redigo's TestDoCommands / TestPipelineCommands --------------------------

COMMANDS = [
    (("SET", "foo", "bar"), "OK"),
    (("GET", "foo"), b"bar"),
    (("GET", "nokey"), None),
    (("MGET", "nokey", "foo"), [None, b"bar"]),
    (("INCR", "mycounter"), 1),
    (("LPUSH", "mylist", "foo"), 1),
    (("LPUSH", "mylist", "bar"), 2),
    (("LRANGE", "mylist", 0, -1), [b"bar", b"foo"]),
    (("MULTI",), "OK"),
    (("LRANGE", "mylist", 0, -1), "QUEUED"),
    (("PING",), "QUEUED"),
    (("EXEC",), [[b"bar", b"foo"], "PONG"]),
]


def test_do_commands(conn: redis.Conn) -> None:
    for args, expected in COMMANDS:
        assert conn.do(*args) == expected, args


def test_pipeline_commands(conn: redis.Conn) -> None:
    for args, _ in COMMANDS:
        conn.send(*args)
    conn.flush()
    for args, expected in COMMANDS:
        assert conn.receive() == expected, args


def test_blank_command_returns_pending_replies(conn: redis.Conn) -> None:
    assert conn.do("") is None  # nothing pending: nothing to do
    for args, _ in COMMANDS:
        conn.send(*args)
    assert conn.do("") == [expected for _, expected in COMMANDS]


def test_receive_before_send(conn: redis.Conn) -> None:
    done = threading.Event()
    result: List[Any] = []

    def receiver() -> None:
        result.append(conn.receive())
        done.set()

    t = threading.Thread(target=receiver)
    t.start()
    conn.send("PING")
    conn.flush()
    assert done.wait(10)
    t.join()
    assert result == ["PONG"]
    assert conn.do("PING") == "PONG"  # pending did not go negative


def test_do_raises_first_error_and_reads_everything(conn: redis.Conn) -> None:
    conn.do("SET", "s", "x")
    conn.send("INCR", "s")      # error 1
    conn.send("LPUSH", "s", 1)  # error 2 (WRONGTYPE)
    with pytest.raises(redis.Error, match="ERR value is not an integer"):
        conn.do("GET", "s")
    assert conn.err() is None  # an error reply is not fatal
    assert conn.do("GET", "s") == b"x"  # every reply was consumed: no desync


def test_error_reply_is_error_instance_not_fatal(conn: redis.Conn) -> None:
    with pytest.raises(redis.Error) as info:
        conn.do("NOSUCHCOMMAND")
    assert isinstance(info.value, redis.RedigoError)
    assert info.value.kind == "ERR"
    assert conn.do("PING") == "PONG"


def test_error_nested_in_exec_is_a_value(conn: redis.Conn) -> None:
    conn.do("SET", "s", "x")
    conn.do("MULTI")
    conn.do("INCR", "s")
    conn.do("GET", "s")
    reply = conn.do("EXEC")
    assert isinstance(reply[0], redis.Error) and reply[1] == b"x"


def test_large_value_round_trip(conn: redis.Conn) -> None:
    value = bytes(range(256)) * 4096 * 4  # 4 MiB
    conn.do("SET", "big", value)
    assert conn.do("GET", "big") == value


def test_argument_types_reach_the_server(conn: redis.Conn) -> None:
    conn.do("RPUSH", "l", "s", b"b", 7, 1.25, True, None)
    assert conn.do("LRANGE", "l", 0, -1) == [b"s", b"b", b"7", b"1.25", b"1", b""]


def test_nan_argument_is_refused_before_sending(conn: redis.Conn) -> None:
    with pytest.raises(ValueError):
        conn.do("SET", "k", float("nan"))
    with pytest.raises(ValueError):
        conn.send("SET", "k", float("nan"))
    assert conn.err() is None
    assert conn.do("PING") == "PONG"  # nothing half-sent, nothing pending


def test_closed_conn_raises(conn: redis.Conn) -> None:
    conn.close()
    conn.close()  # idempotent
    for call in (lambda: conn.do("PING"), lambda: conn.send("PING"), conn.flush, conn.receive):
        with pytest.raises(redis.ConnectionError, match="redigo: closed"):
            call()
    assert isinstance(conn.err(), redis.ConnectionError)


def test_context_manager_closes(server: Any) -> None:
    with redis.dial("tcp", server.address) as c:
        assert c.do("PING") == "PONG"
    assert c.err() is not None


def test_send_buffer_is_flushed_when_large(conn: redis.Conn) -> None:
    for i in range(5000):
        conn.send("SET", f"k{i}", "x" * 20)
    assert conn.do("") == ["OK"] * 5000


# -- dial options ------------------------------------------------------------

def test_dial_database_and_client_name(server: Any) -> None:
    with redis.dial("tcp", server.address, database=3, client_name="redigo-test") as c:
        c.do("SET", "dbkey", "3")
        assert c.do("CLIENT", "GETNAME") == b"redigo-test"
        assert c.database == 3
    with redis.dial("tcp", server.address, database=3) as c:
        assert c.do("GET", "dbkey") == b"3"
        c.do("DEL", "dbkey")


def test_dial_unix_socket(server: Any) -> None:
    with redis.dial("unix", server.unix_path) as c:
        assert c.do("PING") == "PONG"
        assert c.network == "unix"


def test_dial_tcp4(server: Any) -> None:
    with redis.dial("tcp4", server.address) as c:
        assert c.do("PING") == "PONG"


def test_dial_unknown_keyword_names_it(server: Any) -> None:
    with pytest.raises(TypeError, match="read_timout"):
        redis.dial("tcp", server.address, read_timout=1)


def test_dial_unknown_network(server: Any) -> None:
    with pytest.raises(ValueError, match="unknown network"):
        redis.dial("udp", server.address)


def test_dial_refused_is_connection_error() -> None:
    from harness.server import free_port
    with pytest.raises(redis.ConnectionError, match="dial tcp"):
        redis.dial("tcp", f"127.0.0.1:{free_port()}")


def test_net_dial_and_dial_context_func(server: Any) -> None:
    calls: List[Any] = []

    def net_dial(network: str, address: str) -> socket.socket:
        calls.append((network, address))
        return socket.create_connection(("127.0.0.1", server.port))

    with redis.dial("tcp", "example.invalid:1", net_dial=net_dial) as c:
        assert c.do("PING") == "PONG"

    def ctx_dial(ctx: context.Context, network: str, address: str) -> socket.socket:
        calls.append(ctx)
        return socket.create_connection(("127.0.0.1", server.port))

    ctx = context.with_value(context.background(), "k", "v")
    with redis.dial_context(ctx, "tcp", "example.invalid:1", dial_context_func=ctx_dial) as c:
        assert c.do("PING") == "PONG"
    assert calls == [("tcp", "example.invalid:1"), ctx]


def test_dial_context_already_cancelled(server: Any) -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(context.Canceled):
        redis.dial_context(ctx, "tcp", server.address)


def test_password_and_acl(make_server: Callable[..., Any]) -> None:
    srv = make_server("--requirepass", "s3cret")
    with redis.dial("tcp", srv.address, password="s3cret") as c:
        assert c.do("PING") == "PONG"
        c.do("ACL", "SETUSER", "alice", "on", ">wonderland", "~*", "+@all")
    with redis.dial("tcp", srv.address, username="alice", password="wonderland") as c:
        assert c.do("ACL", "WHOAMI") == b"alice"
    with pytest.raises(redis.Error) as info:
        redis.dial("tcp", srv.address, password="wrong")
    assert "wrong" not in str(info.value)
    with pytest.raises(redis.Error, match="NOAUTH"):
        redis.dial("tcp", srv.address).do("GET", "x")
    with redis.dial_url(f"redis://alice:wonderland@{srv.address}/2") as c:
        assert c.do("ACL", "WHOAMI") == b"alice" and c.database == 2
    with redis.dial_url(f"redis://:s3cret@{srv.address}") as c:
        assert c.do("ACL", "WHOAMI") == b"default"
    with redis.dial_url(f"redis://s3cret@{srv.address}") as c:  # redis-cli style
        assert c.do("PING") == "PONG"
    with redis.dial_url(f"unix://:s3cret@{srv.unix_path}?db=4") as c:
        assert c.network == "unix" and c.database == 4
        assert c.do("PING") == "PONG"


# -- URLs --------------------------------------------------------------------

URL_ERRORS = [
    ("http://localhost", "invalid redis URL scheme: http"),
    ("localhost:6379", "invalid redis URL scheme: localhost"),
    ("redis:foo", "invalid redis URL, url is opaque"),
    ("redis://localhost/abc123", "invalid database: abc123"),
    ("redis://localhost/1/2", "invalid database: 1/2"),
    ("redis://localhost:port", "invalid redis URL port: port"),
]


@pytest.mark.parametrize("url,message", URL_ERRORS)
def test_dial_url_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        redis.dial_url(url)
    assert str(info.value) == message


URLS = [
    ("redis://", ("tcp", "localhost:6379", {"use_tls": False})),
    ("redis://:6379", ("tcp", "localhost:6379", {"use_tls": False})),
    ("redis://myhost", ("tcp", "myhost:6379", {"use_tls": False})),
    ("redis://myhost:123/", ("tcp", "myhost:123", {"use_tls": False})),
    ("redis://[::1]:7000/0", ("tcp", "[::1]:7000", {"use_tls": False})),
    ("redis://h/3", ("tcp", "h:6379", {"use_tls": False, "database": 3})),
    ("rediss://u:p%40ss@h", ("tcp", "h:6379", {"use_tls": True, "username": "u", "password": "p@ss"})),
    ("valkeys://:pw@h", ("tcp", "h:6379", {"use_tls": True, "password": "pw"})),
    ("valkey://pw@h", ("tcp", "h:6379", {"use_tls": False, "password": "pw"})),
    ("unix:///tmp/r.sock?db=2", ("unix", "/tmp/r.sock", {"database": 2})),
]


@pytest.mark.parametrize("url,expected", URLS)
def test_parse_url(url: str, expected: Any) -> None:
    assert parse_url(url) == expected


def test_url_errors_never_echo_password() -> None:
    for url in ("redis:user:hunter2@host", "redis://user:hunter2@host/db", "http://u:hunter2@h"):
        with pytest.raises(ValueError) as info:
            redis.dial_url(url)
        assert "hunter2" not in str(info.value)


def test_dial_url_real_server(server: Any) -> None:
    with redis.dial_url(f"{server.url}/5", read_timeout=5) as c:
        assert c.database == 5
        assert c.do("PING") == "PONG"


# -- faults: the connection becomes fatal, never desynchronised ---------------

def _never_reply(sock: socket.socket) -> None:
    read_command(sock)
    sock.recv(1)  # blocks until the client goes away


def test_read_timeout_is_fatal(scripted: Callable[..., ScriptedServer]) -> None:
    srv = scripted(_never_reply)
    c = redis.dial("tcp", srv.address, read_timeout=0.2)
    start = time.monotonic()
    with pytest.raises(redis.TimeoutError) as info:
        c.do("GET", "k")
    assert isinstance(info.value, TimeoutError)  # the builtin too
    assert 0.15 < time.monotonic() - start < 5
    assert isinstance(c.err(), redis.TimeoutError)
    with pytest.raises(redis.TimeoutError):
        c.do("PING")


def test_do_with_timeout_overrides(scripted: Callable[..., ScriptedServer]) -> None:
    srv = scripted(_never_reply)
    c = redis.dial("tcp", srv.address)
    with pytest.raises(redis.TimeoutError):
        redis.do_with_timeout(c, 0.1, "GET", "k")


def _trickle(sock: socket.socket) -> None:
    read_command(sock)
    payload = b"$100\r\n" + b"x" * 100 + b"\r\n"
    for i in range(len(payload)):
        sock.sendall(payload[i:i + 1])
        time.sleep(0.02)  # the fault itself: a server that trickles bytes


def test_read_timeout_bounds_the_whole_reply(scripted: Callable[..., ScriptedServer]) -> None:
    srv = scripted(_trickle)
    c = redis.dial("tcp", srv.address, read_timeout=0.3)
    start = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        c.do("GET", "k")
    assert time.monotonic() - start < 1.0  # not reset by every byte


def test_garbage_is_protocol_error_and_fatal(scripted: Callable[..., ScriptedServer]) -> None:
    def garbage(sock: socket.socket) -> None:
        read_command(sock)
        sock.sendall(b"%garbage\r\n+OK\r\n")
        sock.recv(1)

    c = redis.dial("tcp", scripted(garbage).address)
    with pytest.raises(redis.ProtocolError):
        c.do("PING")
    with pytest.raises(redis.ProtocolError):
        c.do("PING")


def test_eof_mid_reply_is_connection_error(scripted: Callable[..., ScriptedServer]) -> None:
    def half(sock: socket.socket) -> None:
        read_command(sock)
        sock.sendall(b"*2\r\n$3\r\nfoo\r\n")
        sock.close()

    c = redis.dial("tcp", scripted(half).address)
    with pytest.raises(redis.ConnectionError, match="EOF"):
        c.do("MGET", "a", "b")
    assert c.err() is not None


def test_keyboard_interrupt_mid_read_makes_conn_fatal(scripted: Callable[..., ScriptedServer]) -> None:
    srv = scripted(_never_reply)
    c = redis.dial("tcp", srv.address)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            c.do("GET", "k")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert isinstance(c.err(), redis.ConnectionError)
    with pytest.raises(redis.ConnectionError, match="KeyboardInterrupt"):
        c.do("PING")


def test_server_killed_is_connection_error(make_server: Callable[..., Any]) -> None:
    srv = make_server()
    c = redis.dial("tcp", srv.address, read_timeout=5)
    assert c.do("PING") == "PONG"
    srv.stop()
    with pytest.raises(redis.ConnectionError):
        c.do("PING")
    srv.start()
    with redis.dial("tcp", srv.address) as fresh:
        assert fresh.do("PING") == "PONG"


# -- Go context ----------------------------------------------------------------

def test_do_context_deadline(scripted: Callable[..., ScriptedServer]) -> None:
    c = redis.dial("tcp", scripted(_never_reply).address, read_timeout=10)
    ctx, cancel = context.with_timeout(context.background(), 0.2)
    start = time.monotonic()
    with pytest.raises(context.DeadlineExceeded):
        c.do_context(ctx, "GET", "k")
    assert time.monotonic() - start < 2
    assert isinstance(c.err(), context.DeadlineExceeded)
    cancel()


def test_cancel_from_another_thread_interrupts_blocked_read(scripted: Callable[..., ScriptedServer]) -> None:
    c = redis.dial("tcp", scripted(_never_reply).address)
    ctx, cancel = context.with_cancel(context.background())
    errors: List[BaseException] = []
    started = threading.Event()

    def call() -> None:
        started.set()
        try:
            redis.do_context(c, ctx, "BLPOP", "k", 0)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    assert started.wait(5)
    time.sleep(0.05)  # let the call reach recv; the assertion below does not depend on it
    begin = time.monotonic()
    cancel()
    t.join(5)
    assert not t.is_alive()
    assert time.monotonic() - begin < 1
    assert len(errors) == 1 and isinstance(errors[0], context.Canceled)
    assert isinstance(c.err(), context.Canceled)


def test_receive_context_cancel(server: Any) -> None:
    c = redis.dial("tcp", server.address)
    c.send("SUBSCRIBE", "nothing-comes")
    c.flush()
    assert c.receive()[0] == b"subscribe"
    ctx, cancel = context.with_cancel(context.background())
    threading.Timer(0.1, cancel).start()
    with pytest.raises(context.Canceled):
        redis.receive_context(c, ctx)
    assert c.err() is not None


def test_context_already_done_is_fatal(conn: redis.Conn) -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(context.Canceled):
        conn.send_context(ctx, "PING")
    assert conn.err() is None  # nothing was sent
    with pytest.raises(context.Canceled):
        conn.do_context(ctx, "PING")
    assert isinstance(conn.err(), context.Canceled)


def test_do_context_background_and_read_timeout_wins(conn: redis.Conn) -> None:
    assert conn.do_context(context.background(), "PING") == "PONG"
    ctx, cancel = context.with_timeout(context.background(), 60)
    assert conn.do_context(ctx, "PING") == "PONG"
    conn.send("ECHO", "x")
    conn.flush()
    assert conn.receive_context(ctx) == b"x"
    cancel()


def test_context_tree() -> None:
    root, cancel_root = context.with_cancel(context.background())
    child, cancel_child = context.with_timeout(root, 100)
    valued = context.with_value(child, "user", 7)
    assert valued.value("user") == 7 and valued.value("other") is None
    assert valued.deadline() == child.deadline()
    assert valued.err() is None and not valued.done().is_set()
    waiter = threading.Thread(target=lambda: valued.done().wait())
    waiter.start()
    cancel_root()
    waiter.join(5)
    assert not waiter.is_alive()
    assert isinstance(child.err(), context.Canceled)
    assert isinstance(valued.err(), context.Canceled)
    cancel_child()
    short, cancel_short = context.with_timeout(context.background(), 0.05)
    assert short.done().wait(5)
    assert isinstance(short.err(), context.DeadlineExceeded)
    assert isinstance(short.err(), TimeoutError)
    cancel_short()
    assert context.background().err() is None and context.background().deadline() is None


# -- new_conn ------------------------------------------------------

def test_new_conn_wraps_a_socket(server: Any) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    c = redis.new_conn(sock, 5, 5)
    assert c.do("PING") == "PONG"
    assert c.port == server.port
    c.close()


@pytest.mark.parametrize("args", [("REPLY", "OFF"), ("reply", "skip"), (b"REPLY", b"SKIP"), ("REPLY",)])
def test_client_reply_off_or_skip_is_refused(conn: redis.Conn, args: tuple) -> None:
    """Replies would stop matching commands: refused before anything is sent."""
    for command in ("CLIENT", "client"):
        with pytest.raises(ValueError, match="CLIENT REPLY"):
            conn.send(command, *args)
        with pytest.raises(ValueError, match="CLIENT REPLY"):
            conn.do(command, *args)
    assert conn.do("CLIENT", "REPLY", "ON") == "OK"
    assert conn.do("CLIENT", "GETNAME") is None  # other CLIENT subcommands still work
    assert conn.do("ECHO", "mine") == b"mine"


def test_late_cancel_cannot_kill_the_next_users_connection(server: Any) -> None:
    """A context runs its callbacks after releasing its lock. Here the cancel starts while a
    do_context is blocked, is held up in an earlier callback, the call then completes and its
    connection goes back to the pool and out again: the late callback must not kill it."""
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_idle=1)
    ctx, cancel = context.with_cancel(context.background())
    slow_started = threading.Event()
    release = threading.Event()

    def slow_first_callback(err: BaseException) -> None:  # registered first: runs first
        slow_started.set()
        release.wait(5)

    ctx.on_cancel(slow_first_callback)
    c = pool.get()
    result: List[Any] = []
    blocked = threading.Thread(target=lambda: result.append(c.do_context(ctx, "BLPOP", "late-cancel", 0)))
    blocked.start()
    poll_until = time.monotonic() + 5
    with redis.dial("tcp", server.address) as other:
        while b"cmd=blpop" not in other.do("CLIENT", "LIST"):  # the BLPOP is waiting
            assert time.monotonic() < poll_until
        canceller = threading.Thread(target=cancel)
        canceller.start()
        assert slow_started.wait(5)  # the cancel holds the do_context's callback, not yet run
        other.do("LPUSH", "late-cancel", "x")  # the call completes normally
    blocked.join(5)
    assert result == [[b"late-cancel", b"x"]]
    c.close()
    c2 = pool.get()  # the same connection, out again
    release.set()
    canceller.join(5)
    assert c2.do("PING") == "PONG"
    assert c2.err() is None
    c2.close()
    pool.close()


def test_context_deadline_bounds_writes(scripted: Callable[..., ScriptedServer]) -> None:
    """A server that stops reading cannot hold do_context past its deadline (Go's DoContext)."""
    def never_read(sock: socket.socket) -> None:
        sock.recv(1)
        threading.Event().wait(10)

    c = redis.dial("tcp", scripted(never_read).address)
    ctx, cancel = context.with_timeout(context.background(), 0.5)
    start = time.monotonic()
    with pytest.raises(context.DeadlineExceeded):
        c.do_context(ctx, "SET", "k", b"x" * (64 << 20))
    assert time.monotonic() - start < 5
    cancel()


def test_read_timeout_in_a_context_call_stays_an_io_timeout(scripted: Callable[..., ScriptedServer]) -> None:
    c = redis.dial("tcp", scripted(_never_reply).address, read_timeout=0.2)
    ctx, cancel = context.with_timeout(context.background(), 60)
    with pytest.raises(redis.TimeoutError, match="i/o timeout"):
        c.do_context(ctx, "GET", "k")
    assert ctx.err() is None
    cancel()


def test_unhashable_command_name(conn: redis.Conn) -> None:
    assert conn.do(bytearray(b"PING")) == "PONG"


# -- a Conn over a socketpair, no server: redigo's conn_test.go through a fake net.Conn --

def _pair(read_timeout: float = 0) -> Tuple[redis.Conn, socket.socket]:
    ours, peer = socket.socketpair()
    return redis.new_conn(ours, read_timeout, 5), peer


SOCKETPAIR_CASES = [
    # (what the test does to the conn, bytes the peer sends first, expected result or exception, fatal after)
    ("do reads its reply", lambda c: c.do("PING"), b"+PONG\r\n", "PONG", False),
    ("do raises an error reply, conn usable", lambda c: c.do("INCR", "k"), b"-ERR not an integer\r\n",
     redis.Error, False),
    ("do('') with nothing pending", lambda c: c.do(""), b"", None, False),
    ("do('') returns every pending reply", lambda c: (c.send("A"), c.send("B"), c.do(""))[-1],
     b":1\r\n-ERR b\r\n", [1, redis.Error("ERR b")], False),
    ("do returns the last reply after pending ones", lambda c: (c.send("A"), c.do("B"))[-1],
     b":1\r\n:2\r\n", 2, False),
    ("do raises the first error among pending replies", lambda c: (c.send("A"), c.do("B"))[-1],
     b"-ERR first\r\n:2\r\n", redis.Error, False),
    ("a partial reply then a timeout is fatal", lambda c: c.do_with_timeout(0.05, "GET", "k"), b"$5\r\nab",
     redis.TimeoutError, True),
    ("garbage is a protocol error and fatal", lambda c: c.do("PING"), b"?what\r\n", redis.ProtocolError, True),
    ("EOF mid-reply is fatal", lambda c: c.do("PING"), b"$5\r\nab", redis.ConnectionError, True),
    ("receive after send gets the reply", lambda c: (c.send("PING"), c.flush(), c.receive())[-1], b"+PONG\r\n",
     "PONG", False),
]


@pytest.mark.parametrize("action, sent, expected, fatal", [c[1:] for c in SOCKETPAIR_CASES],
                         ids=[c[0] for c in SOCKETPAIR_CASES])
def test_conn_over_a_socketpair(action: Callable[[Any], Any], sent: bytes, expected: Any, fatal: bool) -> None:
    c, peer = _pair()
    peer.sendall(sent)
    if expected is redis.ConnectionError:
        peer.shutdown(socket.SHUT_WR)  # EOF after the partial reply
    if isinstance(expected, type) and issubclass(expected, BaseException):
        with pytest.raises(expected):
            action(c)
    else:
        assert action(c) == expected
    assert (c.err() is not None) is fatal
    if fatal:
        with pytest.raises(type(c.err())):  # every later call raises the same error, sending nothing
            c.do("PING")
    else:
        peer.sendall(b"+PONG\r\n")
        assert c.do("PING") == "PONG"  # replies and commands still in step
    c.close()
    peer.close()


def _stalled_pair() -> Tuple[socket.socket, socket.socket]:
    """A socket pair with small buffers, so that a large write waits for the peer to read."""
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return ours, peer


def test_a_write_is_bounded_by_the_write_timeout_not_the_read_timeout() -> None:
    ours, peer = _stalled_pair()
    c = redis.new_conn(ours, read_timeout=3, write_timeout=0.2)
    peer.sendall(b"+PONG\r\n")
    assert c.do("PING") == "PONG"  # the read left its 3 s on the socket
    c.send("SET", "k", b"x" * 60_000)  # more than both socket buffers hold, less than a send flushes
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        c.flush()  # the peer never reads
    assert time.monotonic() - started < 2
    peer.close()


def test_no_write_timeout_means_no_timeout_even_after_a_timed_read() -> None:
    """The socket's timeout is the last read's (50 ms here); a write without a write timeout
    waits for a slow reader as long as it takes."""
    ours, peer = _stalled_pair()
    c = redis.new_conn(ours, read_timeout=None, write_timeout=None)
    peer.sendall(b"+PONG\r\n")
    assert c.do_with_timeout(0.05, "PING") == "PONG"
    payload = b"x" * (1 << 20)
    received: List[int] = []

    def slow_reader() -> None:
        total = 0
        while total < len(payload):
            chunk = peer.recv(65536)
            if not chunk:
                return
            total += len(chunk)
        received.append(total)

    reader = threading.Timer(0.3, slow_reader)  # the server starts reading late, on purpose
    reader.start()
    c.send("SET", "k", payload)
    c.flush()
    reader.join(10)
    assert c.err() is None and received and received[0] >= len(payload)
    peer.close()
    c.close()


def test_a_dial_tries_each_address_and_reports_the_first_failure(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host name with two addresses, the first refusing (the server listens on 127.0.0.1
    only): the second is connected, blocking and asyncio; both refusing: the error names
    the first, as Go's dialer does, with its OSError chained."""
    import asyncio

    from redigo_py import aio

    hosts: List[str] = []

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> List[Tuple[Any, ...]]:
        assert host == "two.example"  # only the name this test dials is faked
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (h, port)) for h in hosts]

    async def fake_loop_getaddrinfo(self: Any, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return fake_getaddrinfo(host, port)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake_loop_getaddrinfo)
    address = f"two.example:{server.port}"

    async def aio_ping() -> Any:
        c = await aio.dial("tcp", address)
        try:
            return await c.do("PING")
        finally:
            await c.close()

    hosts[:] = ["127.0.0.2", "127.0.0.1"]
    c = redis.dial("tcp", address)
    assert c.do("PING") == "PONG"
    c.close()
    assert asyncio.run(aio_ping()) == "PONG"

    hosts[:] = ["127.0.0.2", "127.0.0.3"]
    first = f"dial tcp 127.0.0.2:{server.port}: connect: connection refused"
    with pytest.raises(redis.ConnectionError, match=first) as err:
        redis.dial("tcp", address)
    assert isinstance(err.value.__cause__, ConnectionRefusedError)
    with pytest.raises(redis.ConnectionError, match=first) as err:
        asyncio.run(aio_ping())
    assert isinstance(err.value.__cause__, ConnectionRefusedError)
