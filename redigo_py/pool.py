"""A pool of connections to one server (redigo's ``Pool``).

Dialing costs a TCP (and maybe TLS and AUTH) handshake, so an application
borrows a connection per unit of work and gives it back::

    pool = Pool(dial=lambda: dial("tcp", address), max_idle=3, idle_timeout=240)

    with pool.get() as c:          # or: c = pool.get(); try: ... finally: c.close()
        c.do("SET", "k", "v")

As in Go, the configuration is a set of plain attributes that may also be
set after construction (``pool.max_active = 10``). ``get()`` never raises: on
failure it returns a connection whose methods raise the error (redigo's
``errorConn``), so a port's ``conn := pool.Get(); defer conn.Close()`` stays
two lines. ``get_context`` raises instead.

How it works:

- One lock guards all of the pool's state. Idle connections sit in a deque
  whose right end is the most recently returned: ``get`` reuses from the
  right (LIFO, so surplus connections age out at the left), and the
  ``idle_timeout`` pruning pops expired ones from the left.
- With ``wait`` and ``max_active``, at most ``max_active`` connections are
  lent out at once. A borrower that finds none free parks on a latch of
  its own (a held ``threading.Lock``) in a FIFO queue, and a returned
  connection's slot is handed straight to the longest waiter. Notifying a
  shared condition instead would let the returning thread, which still
  holds the GIL, take the slot back at once, and under load the same few
  threads would win every time. Opening the latch needs no pool lock, so a
  context's cancel callback can wake its waiter from any thread (even one
  inside the pool: a deadline found passed by ``ctx.err()`` runs it).
- Nothing slow happens under the lock: dialing, ``test_on_borrow`` and
  closing connections run outside it.
- A borrowed connection is wrapped (redigo's ``activeConn``), which tracks
  the connection's state through :mod:`redigo_py.commandinfo` and undoes it
  on ``close()`` so that the next borrower never inherits a transaction, a
  WATCH or a subscription.
- In the child of ``os.fork()`` the pool starts empty: its connections are
  the parent's (each made fatal, its socket given up without a byte, by its
  own fork hook), so the child forgets them and dials its own. Each
  connection carries the pool generation it was made in; one lent out
  before the fork and closed after it is dropped, not counted or kept.

Every connection the pool lends out leaves :meth:`Pool._get` at one of its
two ``return`` statements (``new`` or ``reused``), and every connection it
closes goes through :meth:`Pool._discard` with one of these reasons, which
are also the ``state`` of the ``redis/connections_closed`` metric:

=========  ================================================================
reason     why the pool closed the connection
=========  ================================================================
stale      ``test_on_borrow``/``test_on_borrow_context`` rejected it
idle       it sat idle longer than ``idle_timeout``
lifetime   it was older than ``max_conn_lifetime`` when borrowed
complete   it came back healthy but is not kept: ``max_idle`` idle
           connections already, or the pool is closed
error      it came back failed (``err()`` set), in MONITOR, or with state
           that its clean-up could not undo
=========  ================================================================
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Deque, Generic, List, NoReturn, Optional, Protocol, Tuple, TypeVar, Union

from . import _fork
from . import context as _context
from . import _recorder as _rec
from .commandinfo import (
    MONITOR_STATE,
    MULTI_STATE,
    SHARD_SUBSCRIBE_STATE,
    SUBSCRIBE_STATE,
    WATCH_STATE,
    lookup_command_info,
)
from .conn import (
    NetConn,
    do_context,
    do_with_timeout,
    join_host_port,
    optional_method,
    receive_context,
    receive_with_timeout,
)
from .protocols import AsyncConn, Conn
from ._exchange import Exchange
from .errors import ConnectionError, ErrPoolExhausted, PoolClosedError, RedigoError
from ._types import Reply

__all__ = ["Pool", "PoolStats", "PooledConn", "ErrorConn", "new_pool"]

# The clock of the pool's bookkeeping (idle time, connection age, the
# ``last_used`` given to test_on_borrow). A module global so that tests can
# replace it with a fake clock, as redigo's tests replace ``nowFunc``.
_now = time.monotonic


_BACKGROUND = _context.background()
_perf_ns = time.perf_counter_ns
_GET_ON_CLOSED_POOL = "redigo: get on closed pool"  # redigo's text

# ECHOed after UNSUBSCRIBE/PUNSUBSCRIBE: the reply that marks the end of a
# subscriber's message stream. Random, so no published message can fake it.
SENTINEL = os.urandom(64)

C = TypeVar("C", Conn, AsyncConn)  # the pool's kind of connection: blocking, or asyncio's

DialFunc = Callable[[], Conn]
DialContextFunc = Callable[[_context.Context], Conn]
TestOnBorrowFunc = Callable[[Conn, float], object]  # raises to reject; what it returns is ignored
TestOnBorrowContextFunc = Callable[[_context.Context, Conn, float], object]


@dataclass(frozen=True)
class PoolStats:
    """A snapshot of a pool's counters (redigo's ``PoolStats``, plus two close counts).

    ``wait_count`` and ``wait_duration`` (seconds) cover the borrowers that
    had to wait for a free slot; ``idle_closed_count`` counts connections
    closed for exceeding ``idle_timeout`` and ``lifetime_closed_count`` those
    closed for exceeding ``max_conn_lifetime``.
    """

    active_count: int  #: connections open: lent out plus idle
    idle_count: int  #: connections idle in the pool
    wait_count: int
    wait_duration: float
    idle_closed_count: int
    lifetime_closed_count: int


class _PoolConn(Generic[C]):
    """A connection the pool owns, with the times its bookkeeping needs."""

    __slots__ = ("c", "t", "created", "generation", "lent_ns")

    def __init__(self, c: C, created: float, generation: object) -> None:
        self.c: C = c
        self.t = created  # when it last went back to the pool (_now() seconds)
        self.created = created
        self.generation = generation  # the pool's generation: a new one in each forked child
        self.lent_ns = 0  # perf_counter_ns() when lent out, while metrics are on


class _Waiter:
    """A borrower queued for a free slot; ``granted`` is set under the pool lock.

    ``signal`` is a lock held until the waiter is woken: a latch that a
    wake-up before the wait leaves open, and cheaper than an Event.
    """

    __slots__ = ("signal", "granted")

    def __init__(self) -> None:
        self.signal = threading.Lock()
        self.signal.acquire()
        self.granted = False

    def wake(self, _err: Optional[BaseException] = None) -> None:
        """Open the latch. Needs no pool lock, so it also serves as the context's cancel callback."""
        try:
            self.signal.release()
        except RuntimeError:
            pass  # already open: a grant and a cancel (or close) raced

    def wait(self, timeout: Optional[float]) -> None:
        """Until woken or ``timeout`` seconds (None: no limit) have passed."""
        self.signal.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))


class _Waiting(Protocol):
    """A borrower queued for a slot, blocking (:class:`_Waiter`) or asyncio."""

    granted: bool

    def wake(self, _err: Optional[BaseException] = None) -> None: ...


class PoolBase(Generic[C]):
    """What the blocking :class:`Pool` and :class:`redigo_py.aio.Pool` share: the
    configuration, the state under one lock, the slot queue's bookkeeping and the
    counters. Nothing here waits or does I/O."""

    def __init__(self, max_idle: int, max_active: int, idle_timeout: float, wait: bool,
                 max_conn_lifetime: float, name: Optional[str]) -> None:
        self.max_idle = max_idle
        self.max_active = max_active
        self.idle_timeout = idle_timeout
        self.wait = wait
        self.max_conn_lifetime = max_conn_lifetime
        self.name = name  #: the pool's name in metrics (None: host:port/db of what it dials)
        self._dialled_name = ""
        self._closed = False
        self._start()
        _fork.track(self)
        _rec.track_pool(self)

    def _start(self) -> None:
        """The pool's state, empty: at construction and in a forked child."""
        self._lock = threading.Lock()
        self._idle: Deque[_PoolConn[C]] = deque()
        self._waiters: Deque[_Waiting] = deque()
        self._active = 0  # open connections: lent out, idle, or being dialed
        self._in_use = 0  # borrows in progress; with wait, at most max_active
        self._generation = object()
        self._wait_count = 0
        self._wait_duration = 0.0
        self._idle_closed = 0
        self._lifetime_closed = 0

    def _forked(self) -> None:
        """In a forked child: forget the parent's connections (see the module docstring)."""
        self._start()

    def _pool_name(self) -> str:
        """The ``name`` given, else ``host:port/db`` of the first connection dialled (or "")."""
        return self.name or self._dialled_name

    def _dialled(self, c: C) -> None:
        """A new connection: the first one names the pool, if it was given no name."""
        if not self._dialled_name and isinstance(c, Exchange):
            self._dialled_name = f"{join_host_port(c.host, c.port)}/{c.database}"

    def _new_slot(self, span: Optional[_rec.SpanLike]) -> int:
        """Room for a new connection, before dialling it (refused on a closed or exhausted
        pool); the dial's start for its metric."""
        with self._lock:
            if self._closed:
                raise _refused(PoolClosedError(_GET_ON_CLOSED_POOL))
            if not self.wait and 0 < self.max_active <= self._active:
                raise _refused(ErrPoolExhausted())
            self._active += 1
        if span is not None:
            span.event("dial")
        return _perf_ns()

    def _dial_failed(self) -> None:
        """The dial :meth:`_new_slot` made room for failed: the room is given back."""
        with self._lock:
            self._active -= 1

    def _new_conn(self, c: C, started: int) -> _PoolConn[C]:
        """A connection just dialled (counted as opened new by its dial), going out."""
        self._dialled(c)
        _rec.record_pool_time(self._pool_name(), _rec.POOL_CREATE, _perf_ns() - started)
        return self._lent(_PoolConn(c, _now(), self._generation))

    def _wait_ended(self, ctx: _context.Context) -> None:
        """Raise ``ctx``'s error, if it has one, for a borrower waiting for a slot (lock held
        or not); a deadline that ran out is counted as a pool timeout."""
        err = ctx.err()
        if err is not None:
            if isinstance(err, _context.DeadlineExceeded):
                _rec.record_pool_timeout(self._pool_name())
            raise _refused(err)

    def _lent(self, pc: _PoolConn[C]) -> _PoolConn[C]:
        """``pc`` going out: when it went, for the use time the recorder reports at its return."""
        pc.lent_ns = _perf_ns() if _rec.ENABLED else 0
        return pc

    def _slot_free(self) -> bool:
        """Whether a borrower may take a slot now without jumping the queue (lock held)."""
        return not self._waiters and self._in_use < self.max_active

    def _release_slot(self) -> None:
        """A borrow ended (lock held): hand its slot to the longest waiter, if any."""
        waiters = self._waiters
        if waiters and (self.max_active <= 0 or self._in_use <= self.max_active):
            waiter = waiters.popleft()
            waiter.granted = True
            waiter.wake()
        else:
            self._in_use -= 1

    def _pop_expired(self) -> List[_PoolConn[C]]:
        """Take the connections idle longer than ``idle_timeout`` (lock held); the oldest are on the left."""
        idle = self._idle
        oldest_kept = _now() - self.idle_timeout
        expired = []
        while idle and idle[0].t < oldest_kept:
            expired.append(idle.popleft())
        return expired

    def _too_old(self, pc: _PoolConn[C]) -> bool:
        return self.max_conn_lifetime > 0 and _now() - pc.created >= self.max_conn_lifetime

    def _waited(self, start: float, started_ns: int) -> None:
        """A borrower got its slot after waiting (lock held)."""
        self._wait_count += 1
        self._wait_duration += time.monotonic() - start
        _rec.record_pool_time(self._pool_name(), _rec.POOL_WAIT, _perf_ns() - started_ns)

    def _keep(self, pc: _PoolConn[C], broken: bool) -> Optional[_PoolConn[C]]:
        """A borrowed connection came back, cleaned up: kept idle (its slot released), or
        returned for the caller to discard (and then release the slot)."""
        if pc.lent_ns:
            _rec.record_pool_time(self._pool_name(), _rec.POOL_USE, _perf_ns() - pc.lent_ns)
        with self._lock:
            if not broken and not self._closed:
                pc.t = _now()
                idle = self._idle
                idle.append(pc)
                if len(idle) <= self.max_idle:
                    self._release_slot()
                    return None
                return idle.popleft()
        return pc

    def _closed_one(self, reason: str) -> None:
        """A connection the pool owned was closed, for ``reason``: counted."""
        with self._lock:
            self._active -= 1
            if reason is _rec.STATE_IDLE:
                self._idle_closed += 1
            elif reason is _rec.STATE_LIFETIME:
                self._lifetime_closed += 1

    def _closing(self) -> List[_PoolConn[C]]:
        """Mark the pool closed and wake its waiters; the idle connections, to close (or none,
        if it was closed already)."""
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            idle = list(self._idle)
            self._idle.clear()
            for waiter in self._waiters:
                waiter.wake()
        return idle

    def stats(self) -> PoolStats:
        """The pool's counters, read together under the lock."""
        with self._lock:
            return PoolStats(
                active_count=self._active,
                idle_count=len(self._idle),
                wait_count=self._wait_count,
                wait_duration=self._wait_duration,
                idle_closed_count=self._idle_closed,
                lifetime_closed_count=self._lifetime_closed,
            )

    def waiting(self) -> int:
        """Borrowers waiting for a free connection now."""
        with self._lock:
            return len(self._waiters)

    def active_count(self) -> int:
        """Open connections: lent out plus idle."""
        with self._lock:
            return self._active

    def idle_count(self) -> int:
        """Idle connections in the pool."""
        with self._lock:
            return len(self._idle)

    def __repr__(self) -> str:
        s = self.stats()
        state = "closed" if self._closed else "open"
        return f"<redigo_py.{type(self).__qualname__} {state} active={s.active_count} idle={s.idle_count}>"


class Pool(PoolBase[Conn]):
    """A thread-safe pool of connections (redigo's ``Pool``).

    ``dial()`` or ``dial_context(ctx)`` makes a connection (``dial_context``
    wins when both are set); it must not leave the connection in a special
    state (subscribed, in a transaction). ``test_on_borrow(conn, last_used)``
    and ``test_on_borrow_context(ctx, conn, last_used)`` check an idle
    connection before it is lent out (``last_used`` is the ``time.monotonic()``
    instant it came back); raising rejects and closes it. ``max_idle`` caps
    the idle connections kept; ``max_active`` (0: no limit) caps the open
    ones; with ``wait``, ``get`` waits for a free one instead of failing with
    ``ErrPoolExhausted``. ``idle_timeout`` and ``max_conn_lifetime`` (seconds,
    0: never) close connections idle or open for longer than that.
    """

    def __init__(
        self,
        dial: Optional[DialFunc] = None,
        dial_context: Optional[DialContextFunc] = None,
        test_on_borrow: Optional[TestOnBorrowFunc] = None,
        test_on_borrow_context: Optional[TestOnBorrowContextFunc] = None,
        max_idle: int = 0,
        max_active: int = 0,
        idle_timeout: float = 0,
        wait: bool = False,
        max_conn_lifetime: float = 0,
        name: Optional[str] = None,
    ) -> None:
        self.dial = dial
        self.dial_context = dial_context
        self.test_on_borrow = test_on_borrow
        self.test_on_borrow_context = test_on_borrow_context
        super().__init__(max_idle, max_active, idle_timeout, wait, max_conn_lifetime, name)

    # -- borrowing ------------------------------------------------------------

    def get(self) -> Union["PooledConn", "ErrorConn"]:
        """A connection; on failure one whose methods raise the error. Close it when done."""
        try:
            return self._borrow(_BACKGROUND)
        except Exception as exc:
            return ErrorConn(exc)

    def get_context(self, ctx: _context.Context) -> "PooledConn":
        """A connection, or raise; ``ctx`` bounds the wait for a free slot (and the
        dial, when the pool has ``dial_context``).

        Once returned, the connection no longer depends on ``ctx``.
        """
        return self._borrow(ctx)

    def get_with_context(self, ctx: _context.Context) -> Union["PooledConn", "ErrorConn"]:
        """``get_context`` that returns an error connection instead of raising (the fork's name)."""
        try:
            return self._borrow(ctx)
        except Exception as exc:
            return ErrorConn(exc)

    def _borrow(self, ctx: _context.Context) -> "PooledConn":
        """``_get`` inside a ``redis.Pool.get`` span (a dial it makes is the span's child)."""
        if not _rec.traced():
            return self._get(ctx, None)
        span = _rec.start_span("redis.Pool.get", {"db.system.name": "redis",
                                                  "db.client.connection.pool.name": self._pool_name()})
        if span is None:
            return self._get(ctx, None)
        try:
            return self._get(ctx, span)
        except BaseException as exc:
            _rec.fail(span, exc)
            raise
        finally:
            span.end()

    def _get(self, ctx: _context.Context, span: Optional[_rec.SpanLike]) -> "PooledConn":
        """Borrow: a slot, then the newest idle connection that passes the checks, else a new one.

        ``span`` (the get's, when traced) hears of a wait for a slot and of a dial.
        """
        lock = self._lock
        lock.acquire()
        if self.wait and self.max_active > 0 and (ctx is not _BACKGROUND or not self._slot_free()):
            lock.release()
            self._take_slot(ctx, span)  # returns with the lock held and the slot taken
        else:
            self._in_use += 1
        expired = self._pop_expired() if self.idle_timeout > 0 and self._idle else None
        pc = self._idle.pop() if self._idle else None
        lock.release()
        try:
            if expired:
                for old in expired:
                    self._discard(old, _rec.STATE_IDLE)
            while pc is not None:
                try:
                    reason = self._unfit(ctx, pc)
                except BaseException:
                    self._discard(pc, _rec.STATE_ERROR)
                    raise
                if reason is None:
                    _rec.record_open(_rec.STATE_REUSED)
                    return PooledConn(self, self._lent(pc))
                self._discard(pc, reason)
                with lock:
                    pc = self._idle.pop() if self._idle else None
            started = self._new_slot(span)
            try:
                c = self._dial(ctx)
            except BaseException:
                self._dial_failed()
                raise
            return PooledConn(self, self._new_conn(c, started))
        except BaseException:
            with lock:
                self._release_slot()
            raise

    def _take_slot(self, ctx: _context.Context, span: Optional[_rec.SpanLike]) -> None:
        """Wait, first come first served, until fewer than ``max_active`` are lent out.

        Called without the lock; returns holding it, the slot taken. Raises
        ``ctx``'s error (even with a slot free, as redigo does) or
        ``PoolClosedError`` instead, with the lock released.
        """
        err = ctx.err()
        if err is not None:
            raise _refused(err)
        lock = self._lock
        lock.acquire()
        if self._slot_free():
            self._in_use += 1
            return
        lock.release()
        waiter = _Waiter()
        # Registered without the lock: on a context cancelled meanwhile, the
        # callback runs right here.
        unregister = ctx.on_cancel(waiter.wake) if ctx.cancellable() else None
        start = time.monotonic()
        started = _perf_ns()
        lock.acquire()
        try:
            if self._slot_free():  # freed while the lock was down
                self._in_use += 1
                return
            self._waiters.append(waiter)
            if span is not None:
                span.event("wait")
            try:
                while True:
                    # A grant or cancel that lands after these checks has
                    # opened the latch, so the wait below returns at once.
                    if self._closed:
                        raise _refused(PoolClosedError(_GET_ON_CLOSED_POOL))
                    self._wait_ended(ctx)
                    if waiter.granted:
                        break
                    lock.release()
                    try:
                        waiter.wait(ctx.remaining())
                    finally:
                        lock.acquire()
            except BaseException:
                if waiter.granted:
                    self._release_slot()  # pass it on rather than lose it
                else:
                    self._waiters.remove(waiter)
                raise
            self._waited(start, started)
        except BaseException:
            lock.release()
            raise
        finally:
            if unregister is not None:
                unregister()

    def _unfit(self, ctx: _context.Context, pc: _PoolConn[Conn]) -> Optional[str]:
        """Why an idle connection must not be lent out, or None if it may."""
        if self._too_old(pc):
            return _rec.STATE_LIFETIME  # checked first: no point testing a connection that is too old anyway
        try:
            if self.test_on_borrow is not None:
                self.test_on_borrow(pc.c, pc.t)
            if self.test_on_borrow_context is not None:
                self.test_on_borrow_context(ctx, pc.c, pc.t)
        except Exception:
            return _rec.STATE_STALE
        return None

    def _dial(self, ctx: _context.Context) -> Conn:
        if self.dial_context is not None:
            return self.dial_context(ctx)
        if self.dial is not None:
            return self.dial()
        raise RedigoError("redigo: must pass Dial or DialContext to pool")

    # -- returning --------------------------------------------------------------

    def _put(self, pc: _PoolConn[Conn], broken: bool) -> None:
        """A borrowed connection came back, cleaned up; keep it idle or close it."""
        if pc.generation is not self._generation:
            return  # lent out before a fork, in the parent: nothing of this process's to give back
        surplus = self._keep(pc, broken)
        if surplus is None:
            return
        try:
            self._discard(surplus, _rec.STATE_ERROR if broken else _rec.STATE_COMPLETE)
        finally:
            with self._lock:
                self._release_slot()

    def _discard(self, pc: _PoolConn[Conn], reason: str) -> None:
        """Close a connection the pool owns (called without the lock): the one place that does."""
        try:
            if isinstance(pc.c, NetConn):
                pc.c._close(reason)  # counted in redis/connections_closed under the reason
            else:
                pc.c.close()  # a wrapper the dial function made: its own close() decides
        except Exception:
            pass  # as redigo: the connection is gone either way, and the caller wants its own result
        self._closed_one(reason)

    # -- the rest of the Go API ---------------------------------------------

    def close(self) -> None:
        """Close the idle connections and refuse new borrows; waiting borrowers get ``PoolClosedError``.

        Connections lent out stay usable; their ``close()`` then closes them.
        A second ``close()`` does nothing.
        """
        for pc in self._closing():
            self._discard(pc, _rec.STATE_COMPLETE)


#: A pool of either kind of connection, as the metrics read them (redigo_py.aio's pool too).
EitherPool = Union[PoolBase[Conn], PoolBase[AsyncConn]]


def _refused(err: BaseException) -> BaseException:
    """Count a borrow the pool itself refused (closed, exhausted, context ended)."""
    _rec.record_error("POOL.GET", _rec.KIND_POOL_GET, _rec.error_detail(err))
    return err


def new_pool(new_fn: DialFunc, max_idle: int) -> Pool:
    """``Pool(dial=new_fn, max_idle=max_idle)`` (redigo's deprecated ``NewPool``)."""
    return Pool(dial=new_fn, max_idle=max_idle)


def _conn_closed() -> ConnectionError:
    return ConnectionError("redigo: connection closed")


class PooledConnBase(Generic[C]):
    """What a borrowed connection is without its I/O (shared with ``aio.PooledConn``):
    the connection it wraps, the state its commands leave on it, and where it goes."""

    __slots__ = ("_pool", "_pc", "_state")

    def __init__(self, pool: PoolBase[C], pc: _PoolConn[C]) -> None:
        self._pool: PoolBase[C] = pool  # its Pool: the blocking one, or aio's
        self._pc: Optional[_PoolConn[C]] = pc
        self._state = 0

    # Where the connection goes, as Conn says it (so a borrower can tell, say,
    # which master a Sentinel-backed pool gave it). Empty for a dial function
    # that returns some other connection type.
    @property
    def network(self) -> str:
        return str(getattr(self._live(), "network", ""))

    @property
    def host(self) -> str:
        return str(getattr(self._live(), "host", ""))

    @property
    def port(self) -> int:
        return int(getattr(self._live(), "port", 0))

    @property
    def database(self) -> int:
        return int(getattr(self._live(), "database", 0))

    def _tracked(self, command: object) -> C:
        """The connection, after noting the state that ``command`` leaves on it."""
        pc = self._pc
        if pc is None:
            raise _conn_closed()
        info = lookup_command_info(command)
        if info.set or info.clear:
            self._state = (self._state | info.set) & ~info.clear
        return pc.c

    def _live(self) -> C:
        """The connection, for calls that send no command."""
        pc = self._pc
        if pc is None:
            raise _conn_closed()
        return pc.c

    def _returning(self) -> Optional[Tuple[_PoolConn[C], Optional[_rec.SpanLike]]]:
        """The connection on its way back to the pool (None if it already went), and the span
        of the borrower's close (the clean-up and the return trip) when traced: from now on
        every method raises "connection closed"."""
        pc, self._pc = self._pc, None
        if pc is None:
            return None
        return pc, _rec.method_span(pc.c, "close") if isinstance(pc.c, Exchange) and _rec.traced() else None

    def err(self) -> Optional[BaseException]:
        """The connection's fatal error, or the "connection closed" error after ``close()``."""
        pc = self._pc
        if pc is None:
            return _conn_closed()
        return pc.c.err()

    def __repr__(self) -> str:
        return f"<redigo_py pooled {self._pc.c if self._pc is not None else 'closed'}>"


class PooledConn(PooledConnBase[Conn]):
    """A borrowed connection (redigo's ``activeConn``): ``Conn``'s methods, plus the return trip.

    Tracks the state that commands leave on the connection so that
    ``close()`` can undo it before the pool lends the connection again.
    After ``close()`` every method raises ``ConnectionError("redigo:
    connection closed")``.
    """

    __slots__ = ()
    _pool: Pool

    def do(self, command: Union[str, bytes], *args: object) -> Reply:
        return self._tracked(command).do(command, *args)

    def send(self, command: Union[str, bytes], *args: object) -> None:
        self._tracked(command).send(command, *args)

    def flush(self) -> None:
        self._live().flush()

    def receive(self) -> Reply:
        return self._live().receive()

    # The optional interfaces: the pooled connection's own, if it has them (a dial
    # function may return any Conn), as redigo's activeConn asserts them.
    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        return do_with_timeout(self._tracked(command), timeout, command, *args)

    def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        return receive_with_timeout(self._live(), timeout)

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        return do_context(self._tracked(command), ctx, command, *args)

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        optional_method(self._tracked(command), "send_context", "ConnWithContext")(ctx, command, *args)

    def flush_context(self, ctx: _context.Context) -> None:
        optional_method(self._live(), "flush_context", "ConnWithContext")(ctx)

    def receive_context(self, ctx: _context.Context) -> Reply:
        return receive_context(self._live(), ctx)

    def close(self) -> None:
        """Undo the connection's state and give it back to the pool; a second call does nothing.

        A connection that fails its clean-up, or is in MONITOR (which cannot
        be undone), is closed instead of being reused. Unlike redigo's
        ``Close``, the clean-up's error is not raised, as ``Conn.close()``
        raises nothing: from the ``__exit__`` of a ``with`` block it would
        replace the exception that the block is propagating, which is
        usually the one that broke the connection.
        """
        returning = self._returning()
        if returning is None:
            return
        pc, span = returning
        c = pc.c
        state = self._state
        broken = True
        try:
            if not state & MONITOR_STATE:
                if state:
                    _reset_state(c, state)
                c.do("")  # read the replies still pending, so the next borrower gets only its own
                broken = c.err() is not None
        except Exception:
            pass  # broken: the connection failed on the way back
        finally:
            self._pool._put(pc, broken)
            if span is not None:
                span.end()

    def close_context(self, ctx: _context.Context) -> None:
        """``close()`` (the context only parents the close span)."""
        self.close()

    def __enter__(self) -> "PooledConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def reset_commands(state: int) -> List[Tuple[str, Tuple[object, ...]]]:
    """redigo's clean-up of what a borrower left on a connection (any state but MONITOR),
    as the commands to send. When it was subscribed, the last is the ECHO of
    :data:`SENTINEL`: messages may still arrive until the server has processed the
    unsubscribes, and its reply comes after all of them, so the caller reads up to it."""
    commands: List[Tuple[str, Tuple[object, ...]]] = []
    if state & MULTI_STATE:
        commands.append(("DISCARD", ()))  # also ends WATCH
    elif state & WATCH_STATE:
        commands.append(("UNWATCH", ()))
    if state & SUBSCRIBE_STATE:
        commands += [("UNSUBSCRIBE", ()), ("PUNSUBSCRIBE", ())]
        if state & SHARD_SUBSCRIBE_STATE:
            commands.append(("SUNSUBSCRIBE", ()))  # only then: Redis 6.2 does not know it
        commands.append(("ECHO", (SENTINEL,)))
    return commands


def _reset_state(c: Conn, state: int) -> None:
    """Send :func:`reset_commands` and, after a subscription, read up to the sentinel.

    Raises if the connection fails or answers with an error reply (the
    ECHO itself may be refused), and the caller then closes the connection.
    """
    for command, args in reset_commands(state):
        c.send(command, *args)
    if state & SUBSCRIBE_STATE:
        c.flush()
        while True:
            reply = c.receive()
            if type(reply) is bytes and reply == SENTINEL:
                break
        if isinstance(c, Exchange):
            c._forget_pushes()  # RESP3: notifications queued while the sentinel was owed


class ErrorConn:
    """What ``get()`` returns when it cannot lend a connection (redigo's ``errorConn``).

    Every method raises the error; ``err()`` returns it; ``close()`` does nothing.
    """

    __slots__ = ("_err",)

    def __init__(self, err: BaseException) -> None:
        self._err = err

    def _raise(self) -> NoReturn:
        raise self._err.with_traceback(None)

    def do(self, command: Union[str, bytes], *args: object) -> Reply:
        return self._raise()

    def send(self, command: Union[str, bytes], *args: object) -> None:
        self._raise()

    def flush(self) -> None:
        self._raise()

    def receive(self) -> Reply:
        return self._raise()

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        return self._raise()

    def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        return self._raise()

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        return self._raise()

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        self._raise()

    def flush_context(self, ctx: _context.Context) -> None:
        self._raise()

    def receive_context(self, ctx: _context.Context) -> Reply:
        return self._raise()

    def err(self) -> Optional[BaseException]:
        return self._err

    def close(self) -> None:
        """Nothing to give back."""

    def close_context(self, ctx: _context.Context) -> None:
        """Nothing to give back."""

    def __enter__(self) -> "ErrorConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"<redigo_py pooled error {self._err!r}>"
