"""The pool: every behaviour redigo's pool_test.go checks, plus concurrency,
server restarts, context deadlines and state clean-up against a real server.

Dials are counted by wrapping ``dial`` (redigo's ``poolDialer``); the idle
and lifetime tests replace the pool's clock (``redigo_py.pool._now``), as
redigo's replace ``nowFunc``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

import redigo_py.pool as pool_module
from redigo_py import context
from harness.server import RedisServer
from redigo_py.commandinfo import (
    MONITOR_STATE,
    MULTI_STATE,
    SUBSCRIBE_STATE,
    WATCH_STATE,
    CommandInfo,
    lookup_command_info,
)
from redigo_py.conn import Conn, dial, dial_context
from redigo_py.errors import ConnectionError, Error, ErrPoolExhausted, PoolClosedError, RedigoError
from redigo_py.pool import Pool, PoolStats, new_pool

DB = 11  # a database of this file's own; the fixture below empties it
GOROUTINES = 10  # redigo's testGoRoutines


@pytest.fixture(autouse=True)
def _empty_db(server: RedisServer) -> None:
    with dial("tcp", server.address, database=DB) as c:
        c.do("FLUSHDB")


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


def waiters(p: Pool) -> int:
    """How many borrowers are parked (white-box: the tests need to know one is waiting)."""
    with p._lock:
        return len(p._waiters)


class RecordingConn:
    """redigo's ``poolTestConn``: records commands, fakes ``err()``, counts closes."""

    def __init__(self, dialer: "Dialer", conn: Conn) -> None:
        self.dialer = dialer
        self.conn = conn
        self.fake_err: Optional[BaseException] = None

    def _record(self, command: Any, args: Tuple[Any, ...]) -> Tuple[Any, Tuple[Any, ...]]:
        if command == "ERR":  # the test's way to make the connection fail
            self.fake_err = args[0]
            command, args = "PING", ()
        if command != "":
            with self.dialer.lock:
                self.dialer.commands.append(command)
        return command, args

    def do(self, command: Any, *args: Any) -> Any:
        command, args = self._record(command, args)
        return self.conn.do(command, *args)

    def do_context(self, ctx: context.Context, command: Any, *args: Any) -> Any:
        command, args = self._record(command, args)
        return self.conn.do_context(ctx, command, *args)

    def send(self, command: Any, *args: Any) -> None:
        with self.dialer.lock:
            self.dialer.commands.append(command)
        self.conn.send(command, *args)

    def err(self) -> Optional[BaseException]:
        return self.fake_err or self.conn.err()

    def close(self) -> None:
        with self.dialer.lock:
            self.dialer.open -= 1
        self.conn.close()

    def __getattr__(self, name: str) -> Any:  # flush, receive, *_with_timeout, ...
        return getattr(self.conn, name)


class Dialer:
    """redigo's ``poolDialer``: counts dials and open connections."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.lock = threading.Lock()
        self.dialed = 0
        self.open = 0
        self.commands: List[str] = []
        self.dial_err: Optional[Exception] = None

    def dial(self) -> Conn:
        return self.dial_context(context.background())

    def dial_context(self, ctx: context.Context) -> Conn:
        with self.lock:
            self.dialed += 1
            dial_err = self.dial_err
        if dial_err is not None:
            raise dial_err
        c = dial_context(ctx, "tcp", self.address, database=DB, read_timeout=10, write_timeout=10)
        with self.lock:
            self.open += 1
        return RecordingConn(self, c)  # type: ignore[return-value]

    def take_commands(self) -> List[str]:
        with self.lock:
            commands, self.commands = self.commands, []
        return commands

    def check(self, p: Pool, dialed: int, open_: int, inuse: int,
              wait_count_max: int = 0, wait_duration_max: float = 0.0) -> None:
        """redigo's ``checkAll``: dials, open connections and the pool's stats agree."""
        stats = p.stats()
        with self.lock:
            assert (self.dialed, self.open) == (dialed, open_)
        assert stats.active_count == open_
        assert stats.idle_count == open_ - inuse
        assert stats.wait_count <= wait_count_max
        if wait_count_max == 0:
            assert stats.wait_duration == 0
        else:
            assert stats.wait_duration <= wait_duration_max


@pytest.fixture
def dialer(server: RedisServer) -> Dialer:
    return Dialer(server.address)


def start_threads(p: Pool, command: str, *args: Any) -> List[Optional[BaseException]]:
    """redigo's ``startGoroutines``: GOROUTINES threads each get, do, close; returns their results."""
    results: List[Optional[BaseException]] = []
    lock = threading.Lock()

    def run() -> None:
        c = p.get()
        try:
            c.do(command, *args)
            err: Optional[BaseException] = None
        except Exception as exc:
            err = exc
        c.close()
        with lock:
            results.append(err)

    for _ in range(GOROUTINES):
        threading.Thread(target=run, daemon=True).start()
    return results


# -- redigo's pool_test.go -------------------------------------------------------


def test_pool_reuse(dialer: Dialer) -> None:
    p = Pool(max_idle=2, dial=dialer.dial)
    for _ in range(10):
        c1 = p.get()
        c1.do("PING")
        c2 = p.get()
        c2.do("PING")
        c1.close()
        c2.close()
    dialer.check(p, 2, 2, 0)
    p.close()
    dialer.check(p, 2, 0, 0)


def test_pool_max_idle(dialer: Dialer) -> None:
    p = Pool(max_idle=2, dial=dialer.dial)
    for _ in range(10):
        conns = [p.get() for _ in range(3)]
        for c in conns:
            c.do("PING")
        for c in conns:
            c.close()
    dialer.check(p, 12, 2, 0)
    p.close()
    dialer.check(p, 12, 0, 0)


def test_pool_error(dialer: Dialer) -> None:
    """A connection whose err() is set is closed on return, never kept idle."""
    p = Pool(max_idle=2, dial=dialer.dial)
    c = p.get()
    c.do("ERR", EOFError())
    assert c.err() is not None
    c.close()
    c = p.get()
    c.do("ERR", EOFError())
    c.close()
    dialer.check(p, 2, 0, 0)
    p.close()


def test_pool_close(dialer: Dialer) -> None:
    p = Pool(max_idle=2, dial=dialer.dial)
    c1, c2, c3 = p.get(), p.get(), p.get()
    for c in (c1, c2, c3):
        c.do("PING")
    c1.close()
    with pytest.raises(ConnectionError):
        c1.do("PING")
    c2.close()
    c2.close()
    p.close()
    dialer.check(p, 3, 1, 1)
    with pytest.raises(ConnectionError):
        c1.do("PING")
    c3.do("PING")  # a connection lent out before close() still works
    c3.close()
    dialer.check(p, 3, 0, 0)
    c1 = p.get()
    with pytest.raises(PoolClosedError, match="redigo: get on closed pool"):
        c1.do("PING")
    p.close()  # idempotent


CLOSED_CONN_CALLS: List[Tuple[str, Callable[[Any], Any]]] = [
    ("do", lambda c: c.do("PING")),
    ("send", lambda c: c.send("PING")),
    ("flush", lambda c: c.flush()),
    ("receive", lambda c: c.receive()),
    ("do_with_timeout", lambda c: c.do_with_timeout(1.0, "PING")),
    ("receive_with_timeout", lambda c: c.receive_with_timeout(1.0)),
    ("do_context", lambda c: c.do_context(context.background(), "PING")),
    ("send_context", lambda c: c.send_context(context.background(), "PING")),
    ("flush_context", lambda c: c.flush_context(context.background())),
    ("receive_context", lambda c: c.receive_context(context.background())),
]


def test_pool_closed_conn(dialer: Dialer) -> None:
    p = Pool(max_idle=2, idle_timeout=300, dial=dialer.dial)
    c = p.get()
    assert c.err() is None
    c.close()
    err = c.err()
    assert isinstance(err, ConnectionError) and str(err) == "redigo: connection closed"
    for name, call in CLOSED_CONN_CALLS:
        with pytest.raises(ConnectionError, match="redigo: connection closed"):
            call(c)
    c.close()  # a second close is a no-op
    c.close_context(context.background())
    dialer.check(p, 1, 1, 0)
    p.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """A fake pool clock: ``clock[0]`` is now."""
    now = [1000.0]
    monkeypatch.setattr(pool_module, "_now", lambda: now[0])
    return now


def test_pool_idle_timeout(dialer: Dialer, clock: List[float]) -> None:
    p = Pool(max_idle=2, idle_timeout=300, dial=dialer.dial)
    c = p.get()
    c.do("PING")
    c.close()
    dialer.check(p, 1, 1, 0)
    clock[0] += 300  # exactly idle_timeout: still fresh (redigo closes only after it)
    with p.get() as c:
        c.do("PING")
    dialer.check(p, 1, 1, 0)
    clock[0] += 300.001
    with p.get() as c:
        c.do("PING")
    dialer.check(p, 2, 1, 0)
    assert p.stats().idle_closed_count == 1
    assert p.stats().lifetime_closed_count == 0
    p.close()


def test_pool_idle_timeout_prunes_only_expired(dialer: Dialer, clock: List[float]) -> None:
    """Pruning takes the oldest idle connections and leaves the recent ones."""
    p = Pool(max_idle=3, idle_timeout=10, dial=dialer.dial)
    conns = [p.get() for _ in range(3)]
    for c in conns:  # returned at t=1000, 1005, 1010
        c.do("PING")
        c.close()
        clock[0] += 5
    clock[0] = 1016  # the first two are more than 10 s idle
    with p.get() as c:
        c.do("PING")
    dialer.check(p, 3, 1, 0)
    assert p.stats().idle_closed_count == 2
    p.close()


def test_pool_max_lifetime(dialer: Dialer, clock: List[float]) -> None:
    p = Pool(max_idle=2, max_conn_lifetime=300, dial=dialer.dial)
    c = p.get()
    c.do("PING")
    c.close()
    dialer.check(p, 1, 1, 0)
    clock[0] += 300.001
    c = p.get()
    c.do("PING")
    c.close()
    dialer.check(p, 2, 1, 0)
    assert p.stats().lifetime_closed_count == 1
    assert p.stats().idle_closed_count == 0
    p.close()


def test_pool_concurrent_send_receive(server: RedisServer) -> None:
    """One thread receives while another sends on the same pooled connection."""
    p = Pool(dial=lambda: dial("tcp", server.address))
    c = p.get()
    result: List[Any] = []
    t = threading.Thread(target=lambda: result.append(c.receive()))
    t.start()
    c.send("PING")
    c.flush()
    t.join(5)
    assert result == ["PONG"]
    assert c.do("") is None
    c.close()
    p.close()


def ping_n(ctx: context.Context, p: Pool, n: int) -> None:
    for _ in range(n):
        c = p.get_context(ctx)
        try:
            c.do_context(ctx, "PING")
        finally:
            c.close()


@pytest.mark.parametrize("use_context", [False, True], ids=["test_on_borrow", "test_on_borrow_context"])
def test_pool_borrow_check_error(dialer: Dialer, use_context: bool) -> None:
    def reject(*_: Any) -> None:
        raise Error("BLAH")

    p = Pool(max_idle=2, dial_context=dialer.dial_context)
    if use_context:
        p.test_on_borrow_context = reject
    else:
        p.test_on_borrow = reject
    ping_n(context.background(), p, 10)
    dialer.check(p, 10, 1, 0)
    p.close()


@pytest.mark.parametrize("use_context", [False, True], ids=["test_on_borrow", "test_on_borrow_context"])
def test_pool_borrow_check_ok(dialer: Dialer, use_context: bool) -> None:
    """``last_used`` is the monotonic time the connection came back: increasing, within the run."""
    last_used: List[float] = []

    def check(c: Conn, t: float) -> None:
        last_used.append(t)
        c.do("PING")

    p = Pool(max_idle=2, dial_context=dialer.dial_context)
    if use_context:
        p.test_on_borrow_context = lambda ctx, c, t: check(c, t)
    else:
        p.test_on_borrow = check
    start = time.monotonic()
    ping_n(context.background(), p, 10)
    end = time.monotonic()
    assert len(last_used) == 9
    assert start < last_used[0] and last_used == sorted(set(last_used)) and last_used[-1] < end
    dialer.check(p, 1, 1, 0)
    p.close()


def test_pool_borrow_check_context_canceled(dialer: Dialer) -> None:
    borrow_errs: List[BaseException] = []

    def check(ctx: context.Context, c: Conn, _: float) -> None:
        try:
            c.do_context(ctx, "PING")
        except RedigoError as exc:
            borrow_errs.append(exc)
            raise

    p = Pool(max_idle=2, dial_context=dialer.dial_context, test_on_borrow_context=check)
    ctx, cancel = context.with_cancel(context.background())
    ping_n(ctx, p, 2)
    dialer.check(p, 1, 1, 0)
    assert borrow_errs == []
    cancel()
    with pytest.raises(context.Canceled):
        p.get_context(ctx)
    dialer.check(p, 2, 0, 0)  # the idle one failed its check; the dial was refused
    assert len(borrow_errs) == 1 and isinstance(borrow_errs[0], context.Canceled)
    p.close()


def test_pool_last_used_is_return_time(dialer: Dialer, clock: List[float]) -> None:
    seen: List[float] = []
    p = Pool(max_idle=1, dial=dialer.dial, test_on_borrow=lambda c, t: seen.append(t))
    p.get().close()
    clock[0] = 2000.0
    p.get().close()
    assert seen == [1000.0]
    p.close()


def test_pool_max_active(dialer: Dialer) -> None:
    p = Pool(max_idle=2, max_active=2, dial=dialer.dial)
    c1, c2 = p.get(), p.get()
    c1.do("PING")
    c2.do("PING")
    dialer.check(p, 2, 2, 2)
    c3 = p.get()
    with pytest.raises(ErrPoolExhausted, match="redigo: connection pool exhausted"):
        c3.do("PING")
    c3.close()
    dialer.check(p, 2, 2, 2)
    c2.close()
    dialer.check(p, 2, 2, 1)
    c3 = p.get()
    c3.do("PING")
    c3.close()
    dialer.check(p, 2, 2, 1)
    c1.close()
    p.close()


def test_pool_wait_stats(dialer: Dialer) -> None:
    p = Pool(wait=True, max_idle=2, max_active=2, dial=dialer.dial)
    c1, c2 = p.get(), p.get()
    c1.do("PING")
    c2.do("PING")
    dialer.check(p, 2, 2, 2)
    start = time.monotonic()

    def close_when_waited_for() -> None:
        wait_until(lambda: waiters(p) == 1, what="a waiting borrower")
        c1.close()

    threading.Thread(target=close_when_waited_for).start()
    c3 = p.get()
    dialer.check(p, 2, 2, 2, 1, time.monotonic() - start)
    assert p.stats().wait_duration > 0
    c3.do("PING")
    c2.close()
    c3.close()
    p.close()


def test_pool_monitor_cleanup(dialer: Dialer) -> None:
    p = Pool(max_idle=2, max_active=2, dial=dialer.dial)
    c = p.get()
    c.send("MONITOR")
    c.close()
    dialer.check(p, 1, 0, 0)
    p.close()


def test_pool_pubsub_cleanup(dialer: Dialer) -> None:
    p = Pool(max_idle=2, max_active=2, dial=dialer.dial)
    for command, arg in (("SUBSCRIBE", "x"), ("PSUBSCRIBE", "x*")):
        c = p.get()
        c.send(command, arg)
        c.close()
        assert dialer.take_commands() == [command, "UNSUBSCRIBE", "PUNSUBSCRIBE", "ECHO"]
    dialer.check(p, 1, 1, 0)
    p.close()


TRANSACTION_CASES = [
    (["WATCH", "PING"], ["WATCH", "PING", "UNWATCH"]),
    (["WATCH", "UNWATCH", "PING"], ["WATCH", "UNWATCH", "PING"]),
    (["WATCH", "MULTI", "PING"], ["WATCH", "MULTI", "PING", "DISCARD"]),
    (["WATCH", "MULTI", "DISCARD", "PING"], ["WATCH", "MULTI", "DISCARD", "PING"]),
    (["WATCH", "MULTI", "EXEC", "PING"], ["WATCH", "MULTI", "EXEC", "PING"]),
    (["multi", "PING"], ["multi", "PING", "DISCARD"]),
]


@pytest.mark.parametrize("commands,sent", TRANSACTION_CASES)
def test_pool_transaction_cleanup(dialer: Dialer, commands: List[str], sent: List[str]) -> None:
    p = Pool(max_idle=2, max_active=2, dial=dialer.dial)
    c = p.get()
    for command in commands:
        c.do(command, "key") if command.upper() == "WATCH" else c.do(command)
    c.close()
    assert dialer.take_commands() == sent
    dialer.check(p, 1, 1, 0)
    p.close()


def collect(results: List[Optional[BaseException]], n: int) -> List[Optional[BaseException]]:
    wait_until(lambda: len(results) == n, timeout=5, what=f"{n} blocked threads")
    return results


def test_wait_pool(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    c = p.get()
    start = time.monotonic()
    results = start_threads(p, "PING")
    dialer.check(p, 1, 1, 1)
    c.close()
    assert collect(results, GOROUTINES) == [None] * GOROUTINES
    dialer.check(p, 1, 1, 0, GOROUTINES, (time.monotonic() - start) * GOROUTINES)
    p.close()


def test_wait_pool_close(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    c = p.get()
    c.do("PING")
    start = time.monotonic()
    results = start_threads(p, "PING")
    wait_until(lambda: waiters(p) == GOROUTINES, what="all threads waiting")
    dialer.check(p, 1, 1, 1)
    p.close()
    for err in collect(results, GOROUTINES):
        assert isinstance(err, PoolClosedError)
    c.close()
    dialer.check(p, 1, 0, 0, GOROUTINES, (time.monotonic() - start) * GOROUTINES)


def test_wait_pool_command_error(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    c = p.get()
    start = time.monotonic()
    results = start_threads(p, "ERR", RuntimeError("test"))
    dialer.check(p, 1, 1, 1)
    c.close()
    assert collect(results, GOROUTINES) == [None] * GOROUTINES
    dialer.check(p, GOROUTINES, 0, 0, GOROUTINES, (time.monotonic() - start) * GOROUTINES)
    p.close()


def test_wait_pool_dial_error(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    c = p.get()
    start = time.monotonic()
    results = start_threads(p, "ERR", RuntimeError("test"))
    dialer.check(p, 1, 1, 1)
    dialer.dial_err = RuntimeError("dial")
    c.close()
    results = collect(results, GOROUTINES)
    assert results.count(None) == 1
    assert sum(err is dialer.dial_err for err in results) == GOROUTINES - 1
    dialer.check(p, GOROUTINES, 0, 0, GOROUTINES, (time.monotonic() - start) * GOROUTINES)
    p.close()


def test_locking_test_on_borrow_fails_pool_does_not_crash(dialer: Dialer) -> None:
    """Many threads iterating the idle list at once while every borrow check fails."""
    count = 100

    def reject(c: Conn, t: float) -> None:
        raise RuntimeError("No way back into the real world.")

    p = Pool(max_idle=count, max_active=count, dial=dialer.dial, test_on_borrow=reject)
    conns = [p.get() for _ in range(count)]
    for c in conns:
        c.close()
    errors: List[Optional[BaseException]] = []

    def run() -> None:
        c = p.get()
        errors.append(c.err())
        c.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [None] * count
    assert dialer.dialed == count * 2
    p.close()


def test_wait_pool_get_context(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    c = p.get_context(context.background())
    c.close()
    p.close()


def test_wait_pool_get_context_issue520(dialer: Dialer) -> None:
    """A context that expires before a slot is taken must not leak the slot."""
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    ctx1, cancel1 = context.with_timeout(context.background(), 1e-9)
    with pytest.raises(context.DeadlineExceeded):
        p.get_context(ctx1)
    ctx2, cancel2 = context.with_cancel(context.background())
    c2 = p.get_context(ctx2)
    c2.close()
    cancel1()
    cancel2()
    p.close()


def test_wait_pool_get_context_with_dial_context(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial_context=dialer.dial_context, wait=True)
    c = p.get_context(context.background())
    c.close()
    p.close()


def test_pool_get_context_dial_context(server: RedisServer) -> None:
    """The context given to get_context reaches dial_context and, through it, dial's socket hook."""
    passed: List[context.Context] = []

    def make_socket(ctx: context.Context, network: str, address: str) -> socket.socket:
        passed.append(ctx)
        host, port = address.rsplit(":", 1)
        return socket.create_connection((host, int(port)))

    p = Pool(dial_context=lambda ctx: dial_context(ctx, "tcp", server.address, dial_context_func=make_socket))
    ctx = context.with_value(context.background(), "k", "v")
    c = p.get_context(ctx)
    assert c.do("PING") == "PONG"
    assert [x.value("k") for x in passed] == ["v"]
    c.close()
    p.close()


def test_pool_get_context_dial_context_canceled(server: RedisServer) -> None:
    p = Pool(dial_context=lambda ctx: dial_context(ctx, "tcp", server.address))
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(context.Canceled):
        p.get_context(ctx)
    assert p.active_count() == 0
    p.close()


def test_wait_pool_get_after_close(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    p.close()
    with pytest.raises(PoolClosedError):
        p.get_context(context.background())


@pytest.mark.parametrize("vacant", [False, True], ids=["without-vacant-conn", "with-vacant-conn"])
def test_wait_pool_get_canceled_context(dialer: Dialer, vacant: bool) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    held = None if vacant else p.get()
    with pytest.raises(context.Canceled):
        p.get_context(ctx)
    if held is not None:
        held.close()
    p.close()


# -- beyond redigo's tests ----------------------------------------------------------


def test_new_pool_and_settable_attributes(dialer: Dialer) -> None:
    p = new_pool(dialer.dial, 3)
    assert (p.dial, p.max_idle, p.max_active, p.wait) == (dialer.dial, 3, 0, False)
    q = Pool()
    with pytest.raises(RedigoError, match="must pass Dial or DialContext"):
        q.get().do("PING")
    q.dial, q.max_idle = dialer.dial, 1  # as Go users set struct fields
    with q.get() as c:
        assert c.do("PING") == "PONG"
    assert q.stats() == PoolStats(1, 1, 0, 0.0, 0, 0)
    q.close()
    p.close()


def test_max_idle_zero_closes_on_return(dialer: Dialer) -> None:
    p = Pool(dial=dialer.dial)
    with p.get() as c:
        c.do("PING")
    dialer.check(p, 1, 0, 0)
    p.close()


def test_lifo_reuse(dialer: Dialer) -> None:
    """The most recently returned connection is lent out first."""
    p = Pool(max_idle=3, dial=dialer.dial)
    conns = [p.get() for _ in range(3)]
    ids = [c.do("CLIENT", "ID") for c in conns]
    for c in conns:
        c.close()
    with p.get() as c:
        assert c.do("CLIENT", "ID") == ids[-1]
    p.close()


def test_error_conn(dialer: Dialer) -> None:
    """What get() returns on failure: every call raises the one error; close is a no-op."""
    p = Pool(max_active=1, dial=dialer.dial)
    held = p.get()
    held.do("PING")
    with p.get() as c:
        err = c.err()
        assert isinstance(err, ErrPoolExhausted)
        for _, call in CLOSED_CONN_CALLS:
            with pytest.raises(ErrPoolExhausted) as info:
                call(c)
            assert info.value is err
        c.close()
        c.close_context(context.background())
    with pytest.raises(ErrPoolExhausted):
        p.get_context(context.background())
    held.close()
    p.close()


def test_get_with_context(dialer: Dialer) -> None:
    """The fork's name: get_context's bounds, get()'s error connection."""
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    ctx, cancel = context.with_cancel(context.background())
    with p.get_with_context(ctx) as c:
        assert c.do("PING") == "PONG"
        cancel()
        other = p.get_with_context(ctx)
        assert isinstance(other.err(), context.Canceled)
        with pytest.raises(context.Canceled):
            other.do("PING")
    p.close()


def test_pool_delegates_conn_methods(server: RedisServer) -> None:
    """The *_with_timeout and *_context calls reach the connection and track state too."""
    p = Pool(max_idle=1, dial=lambda: dial("tcp", server.address, database=DB))
    bg = context.background()
    with p.get() as c:
        c.send_context(bg, "SET", "pool:k", "v")
        c.flush_context(bg)
        assert c.receive_context(bg) == "OK"
        assert c.do_with_timeout(1.0, "GET", "pool:k") == b"v"
        c.send("PING")
        c.flush()
        assert c.receive_with_timeout(1.0) == "PONG"
        assert c.do_context(bg, "MULTI") == "OK"
        assert c.do_context(bg, "GET", "pool:k") == "QUEUED"
    with p.get() as c:  # the MULTI seen through do_context was discarded
        assert c.do("GET", "pool:k") == b"v"
    p.close()


# -- clean-up, verified against the server ---------------------------------------------


@pytest.fixture
def one_conn_pool(server: RedisServer) -> Any:
    """A pool that keeps one idle connection, so each borrow gets the same one back."""
    p = Pool(max_idle=1, dial=lambda: dial("tcp", server.address, database=DB, read_timeout=10))
    yield p
    p.close()


@pytest.fixture
def other(server: RedisServer) -> Any:
    """A separate connection, outside the pool."""
    with dial("tcp", server.address, database=DB, read_timeout=10) as c:
        yield c


def test_cleanup_multi_on_server(one_conn_pool: Pool) -> None:
    with one_conn_pool.get() as c:
        client_id = c.do("CLIENT", "ID")
        c.do("MULTI")
        assert c.do("SET", "pool:k", "1") == "QUEUED"
    with one_conn_pool.get() as c:
        assert c.do("CLIENT", "ID") == client_id
        assert c.do("GET", "pool:k") is None  # run, not queued; the SET never happened
        with pytest.raises(Error, match="EXEC without MULTI"):
            c.do("EXEC")


def test_cleanup_watch_on_server(one_conn_pool: Pool, other: Conn) -> None:
    with one_conn_pool.get() as c:
        client_id = c.do("CLIENT", "ID")
        c.do("WATCH", "pool:k")
    with one_conn_pool.get() as c:
        assert c.do("CLIENT", "ID") == client_id
        c.do("MULTI")
        other.do("SET", "pool:k", "changed")  # would abort the EXEC if the WATCH were still on
        c.do("SET", "pool:k2", "1")
        assert c.do("EXEC") == ["OK"]


@pytest.mark.parametrize("command,channel", [("SUBSCRIBE", "pool:ch"), ("PSUBSCRIBE", "pool:*")])
def test_cleanup_subscribe_on_server(one_conn_pool: Pool, other: Conn, command: str, channel: str) -> None:
    """Messages still arriving during the clean-up are read past, up to the ECHO sentinel."""
    with one_conn_pool.get() as c:
        client_id = c.do("CLIENT", "ID")
        c.send(command, channel, "pool:other")
        c.flush()
        c.receive()
        c.receive()
        for i in range(50):
            assert other.do("PUBLISH", "pool:ch", i) == 1
    with one_conn_pool.get() as c:
        assert c.do("CLIENT", "ID") == client_id
        assert c.do("PING") == "PONG"  # a subscribed RESP2 connection answers ["pong", ""]
        assert other.do("PUBLISH", "pool:ch", "x") == 0
        assert c.do("SET", "pool:k", "v") == "OK"
        assert c.do("GET", "pool:k") == b"v"


def test_cleanup_shard_subscribe_on_server(one_conn_pool: Pool, other: Conn) -> None:
    """SSUBSCRIBE (Redis 7) is undone too: a sharded message must never reach the next borrower."""
    if int(other.do("INFO", "server").split(b"redis_version:")[1].split(b".")[0]) < 7:
        pytest.skip("SSUBSCRIBE needs Redis 7")
    with one_conn_pool.get() as c:
        client_id = c.do("CLIENT", "ID")
        c.send("SSUBSCRIBE", "pool:sch")
        c.flush()
        c.receive()
        for i in range(20):
            assert other.do("SPUBLISH", "pool:sch", i) == 1
    with one_conn_pool.get() as c:
        assert c.do("CLIENT", "ID") == client_id
        assert other.do("SPUBLISH", "pool:sch", "x") == 0
        assert c.do("ECHO", "mine") == b"mine"


def test_cleanup_pending_replies(one_conn_pool: Pool) -> None:
    """Replies sent for but never read are drained, so the next borrower reads only its own."""
    with one_conn_pool.get() as c:
        c.send("SET", "pool:k", "v")
        c.send("GET", "pool:k")
        c.flush()
    with one_conn_pool.get() as c:
        assert c.do("ECHO", "mine") == b"mine"


def test_failed_cleanup_closes_conn_and_close_does_not_raise(one_conn_pool: Pool, other: Conn) -> None:
    """The with block's own exception comes out, not the clean-up's; the dead conn is not kept."""
    with pytest.raises(ValueError, match="the block's own"):
        with one_conn_pool.get() as c:
            client_id = c.do("CLIENT", "ID")
            c.send("SUBSCRIBE", "pool:ch")
            c.flush()
            c.receive()
            other.do("CLIENT", "KILL", "ID", client_id)
            raise ValueError("the block's own")
    assert one_conn_pool.stats().active_count == 0
    with one_conn_pool.get() as c:
        assert c.do("CLIENT", "ID") != client_id


def test_monitor_conn_is_closed_on_server(server: RedisServer, other: Conn) -> None:
    p = Pool(max_idle=1, dial=lambda: dial("tcp", server.address, read_timeout=10))
    with p.get() as c:
        client_id = c.do("CLIENT", "ID")
        assert c.do("MONITOR") == "OK"
    assert p.stats().active_count == 0
    with p.get() as c:
        assert c.do("CLIENT", "ID") != client_id
    wait_until(lambda: b"id=%d " % client_id not in other.do("CLIENT", "LIST"), what="the server to drop it")
    p.close()


# -- concurrency -----------------------------------------------------------------------


def test_threads_no_crosstalk(server: RedisServer) -> None:
    """32 threads on 8 connections: each reads back only its own values; nothing leaks."""
    threads_n, ops, max_active, max_idle = 32, 150, 8, 4
    p = Pool(dial=lambda: dial("tcp", server.address, database=DB, read_timeout=10),
             max_active=max_active, max_idle=max_idle, wait=True)
    failures: List[str] = []

    def run(tid: int) -> None:
        key = f"pool:t{tid}"
        try:
            for i in range(ops):
                value = f"{tid}:{i}".encode()
                with p.get() as c:
                    if i % 2:
                        c.send("SET", key, value)
                        c.send("GET", key)
                        got = c.do("")[1]
                    else:
                        c.do("SET", key, value)
                        got = c.do("GET", key)
                if got != value:
                    failures.append(f"thread {tid} op {i}: {got!r} != {value!r}")
                    return
        except Exception as exc:  # reported below, not lost in the thread
            failures.append(f"thread {tid}: {exc!r}")

    threads = [threading.Thread(target=run, args=(tid,)) for tid in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert not any(t.is_alive() for t in threads)
    stats = p.stats()
    assert stats.active_count <= max_idle and stats.idle_count == stats.active_count
    assert stats.wait_count > 0
    p.close()
    assert p.active_count() == 0


def test_waiters_all_progress(server: RedisServer) -> None:
    """Fairness: with 32 threads on 4 slots, freed slots go to the longest waiter."""
    threads_n, max_active = 32, 4
    p = Pool(dial=lambda: dial("tcp", server.address, read_timeout=10),
             max_active=max_active, max_idle=max_active, wait=True)
    counts = [0] * threads_n
    stop = threading.Event()

    def run(tid: int) -> None:
        while not stop.is_set():
            with p.get() as c:
                c.do("PING")
            counts[tid] += 1

    threads = [threading.Thread(target=run, args=(tid,)) for tid in range(threads_n)]
    for t in threads:
        t.start()
    target = threads_n * 60
    wait_until(lambda: sum(counts) >= target, timeout=30, what=f"{target} borrows")
    stop.set()
    for t in threads:
        t.join(10)
    assert min(counts) >= target // threads_n // 4, counts
    assert p.active_count() <= max_active
    p.close()


def test_server_restart_mid_run(make_server: Callable[..., RedisServer]) -> None:
    """Kill the server under load, restart it: the pool drops broken connections and recovers."""
    srv = make_server()
    threads_n, max_active = 8, 8
    p = Pool(dial=lambda: dial("tcp", srv.address, connect_timeout=2, read_timeout=5),
             max_active=max_active, max_idle=max_active, wait=True)
    ok = [0] * threads_n
    errors = [0] * threads_n
    wrong: List[str] = []
    stop = threading.Event()

    def run(tid: int) -> None:
        key, i = f"pool:r{tid}", 0
        while not stop.is_set():
            i += 1
            try:
                with p.get() as c:
                    c.do("SET", key, i)
                    got = c.do("GET", key)
                if got != b"%d" % i:
                    wrong.append(f"{tid}: {got!r} != {i}")
                ok[tid] += 1
            except RedigoError:
                errors[tid] += 1
                stop.wait(0.001)  # the server is down: do not spin

    threads = [threading.Thread(target=run, args=(tid,)) for tid in range(threads_n)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: min(ok) >= 20, timeout=20, what="traffic before the kill")
        srv.stop()
        wait_until(lambda: min(errors) >= 1 and p.idle_count() == 0, timeout=20,
                   what="every thread to see the outage")
        srv.start()
        ok_at_restart, errors_at_restart = list(ok), list(errors)
        wait_until(lambda: all(n - m >= 20 for n, m in zip(ok, ok_at_restart)), timeout=20,
                   what="traffic after the restart")
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert wrong == []
    # At most one failure per thread: one that raced the restart's bookkeeping.
    assert sum(errors) - sum(errors_at_restart) <= threads_n
    held = [p.get() for _ in range(max_active)]
    for c in held:
        assert c.do("PING") == "PONG"  # every connection the pool kept is alive
    for c in held:
        c.close()
    assert p.active_count() <= max_active
    p.close()


def test_get_context_deadline_while_exhausted(dialer: Dialer) -> None:
    """The wait ends at the deadline with DeadlineExceeded, and gives back no slot it did not take."""
    p = Pool(max_idle=2, max_active=2, dial=dialer.dial, wait=True)
    held = [p.get(), p.get()]
    for c in held:
        c.do("PING")
    results: List[Tuple[BaseException, float]] = []
    lock = threading.Lock()

    def borrow() -> None:
        ctx, cancel = context.with_timeout(context.background(), 0.2)
        start = time.monotonic()
        try:
            p.get_context(ctx).close()
        except BaseException as exc:
            with lock:
                results.append((exc, time.monotonic() - start))
        cancel()

    threads = [threading.Thread(target=borrow) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(results) == 4
    for exc, elapsed in results:
        assert isinstance(exc, context.DeadlineExceeded)
        assert 0.19 <= elapsed < 1.0
    assert waiters(p) == 0
    dialer.check(p, 2, 2, 2)
    for c in held:
        c.close()
    ctx, cancel = context.with_timeout(context.background(), 1.0)
    again = [p.get_context(ctx), p.get_context(ctx)]  # both slots are free again
    for c in again:
        c.do("PING")
        c.close()
    cancel()
    dialer.check(p, 2, 2, 0)
    p.close()


def test_get_context_cancel_wakes_waiter(dialer: Dialer) -> None:
    p = Pool(max_idle=1, max_active=1, dial=dialer.dial, wait=True)
    held = p.get()
    ctx, cancel = context.with_cancel(context.background())
    outcome: Dict[str, Any] = {}

    def borrow() -> None:
        try:
            p.get_context(ctx)
        except BaseException as exc:
            outcome["err"] = exc
            outcome["at"] = time.monotonic()

    t = threading.Thread(target=borrow)
    t.start()
    wait_until(lambda: waiters(p) == 1, what="the borrower to wait")
    cancelled_at = time.monotonic()
    cancel()
    t.join(5)
    assert isinstance(outcome["err"], context.Canceled)
    assert outcome["at"] - cancelled_at < 0.5
    held.close()
    with p.get() as c:  # the slot is free: no wait
        c.do("PING")
    assert p.stats().wait_count == 0
    p.close()


def test_borrowed_conn_says_where_it_goes(server: RedisServer) -> None:
    pool = Pool(dial=lambda: dial("tcp", server.address, database=DB))
    with pool.get() as c:
        assert (c.network, c.host, c.port, c.database) == ("tcp", "127.0.0.1", server.port, DB)
    with pytest.raises(ConnectionError, match="connection closed"):
        c.host
    pool.close()
