"""A pool of asyncio connections (``aio.Pool``): redigo's ``Pool`` for tasks.

The configuration, the idle deque (LIFO), the first-come-first-served slot
queue, the counters and the metrics are the blocking pool's
(:class:`redigo_py.pool.PoolBase`); this module adds the borrowing and the
return trip with ``await``. ``pool.get()`` is awaitable and an async context
manager::

    async with pool.get() as c:         # or: c = await pool.get(); ...; await c.close()
        await c.do("SET", "k", "v")

A borrowed connection that comes back fatal (a call on it was cancelled
after its command was written, or it failed) is discarded, never lent again;
one that comes back in a transaction, WATCHing or subscribed is cleaned up
first, as the blocking pool does it. A pool belongs to one event loop; its
counters may be read from any thread (the metrics exporters do).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Awaitable, Callable, Generator, NoReturn, Optional, Union

from .. import _recorder as _rec
from .. import context as _context
from .._exchange import again
from ..commandinfo import MONITOR_STATE, SUBSCRIBE_STATE
from ..conn import optional_method
from ..errors import PoolClosedError, RedigoError
from ..pool import (
    _BACKGROUND,
    _GET_ON_CLOSED_POOL,
    SENTINEL,
    PoolBase,
    PooledConnBase,
    _PoolConn,
    _refused,
    reset_commands,
)
from ..protocols import AsyncConn
from ._conn import NetConn
from .._exchange import Exchange
from .._types import Reply

__all__ = ["Pool", "PooledConn", "ErrorConn"]

_perf_ns = time.perf_counter_ns

DialFunc = Callable[[], Awaitable[AsyncConn]]
DialContextFunc = Callable[[_context.Context], Awaitable[AsyncConn]]
# test_on_borrow may be a coroutine function or a plain one.
TestOnBorrowFunc = Callable[[AsyncConn, float], object]  # may return an awaitable
TestOnBorrowContextFunc = Callable[[_context.Context, AsyncConn, float], object]


class _Waiter:
    """A borrower queued for a free slot: a future of the pool's loop. ``wake`` may be
    called from any thread (it is also a context's cancel callback)."""

    __slots__ = ("future", "granted", "_loop", "_thread")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()  # the loop's
        self.future: asyncio.Future[None] = loop.create_future()
        self.granted = False

    def wake(self, _err: Optional[BaseException] = None) -> None:
        if threading.get_ident() == self._thread:
            self._open()
            return
        try:
            self._loop.call_soon_threadsafe(self._open)
        except RuntimeError:
            pass  # the loop is closed: nobody waits any more

    def _open(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


class Pool(PoolBase[AsyncConn]):
    """A pool of :mod:`redigo_py.aio` connections (redigo's ``Pool``, awaited).

    ``dial()`` or ``dial_context(ctx)`` is a coroutine function that makes a
    connection; ``test_on_borrow(conn, last_used)`` and
    ``test_on_borrow_context(ctx, conn, last_used)`` may be coroutine
    functions or plain ones (raising rejects the connection). The other
    options are the blocking :class:`redigo_py.Pool`'s.
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

    # -- borrowing ------------------------------------------------------------------

    def get(self) -> "_Borrow":
        """A connection (``await pool.get()`` or ``async with pool.get() as c``); on failure
        one whose methods raise the error. Close it (or leave the ``async with``) when done."""
        return _Borrow(self, _BACKGROUND, False)

    def get_context(self, ctx: _context.Context) -> "_Borrow":
        """A connection, or raise; ``ctx`` bounds the wait for a slot (and a ``dial_context``)."""
        return _Borrow(self, ctx, True)

    def get_with_context(self, ctx: _context.Context) -> "_Borrow":
        """``get_context`` that gives an error connection instead of raising (the fork's name)."""
        return _Borrow(self, ctx, False)

    async def _borrow(self, ctx: _context.Context) -> "PooledConn":
        """``_get`` inside a ``redis.Pool.get`` span."""
        if not _rec.traced():
            return await self._get(ctx, None)
        span = _rec.start_span("redis.Pool.get", {"db.system.name": "redis",
                                                  "db.client.connection.pool.name": self._pool_name()})
        if span is None:
            return await self._get(ctx, None)
        try:
            return await self._get(ctx, span)
        except BaseException as exc:
            _rec.fail(span, exc)
            raise
        finally:
            span.end()

    async def _get(self, ctx: _context.Context, span: Optional[_rec.SpanLike]) -> "PooledConn":
        """Borrow: a slot, then the newest idle connection that passes the checks, else a new one."""
        lock = self._lock
        with lock:
            must_wait = self.wait and self.max_active > 0 and (ctx is not _BACKGROUND or not self._slot_free())
            if not must_wait:
                self._in_use += 1
        if must_wait:
            await self._take_slot(ctx, span)
        with lock:
            expired = self._pop_expired() if self.idle_timeout > 0 and self._idle else None
            pc = self._idle.pop() if self._idle else None
        try:
            if expired:
                for old in expired:
                    await self._discard(old, _rec.STATE_IDLE)
            while pc is not None:
                try:
                    reason = await self._unfit(ctx, pc)
                except BaseException:
                    await self._discard(pc, _rec.STATE_ERROR)
                    raise
                if reason is None:
                    _rec.record_open(_rec.STATE_REUSED)
                    return PooledConn(self, self._lent(pc))
                await self._discard(pc, reason)
                with lock:
                    pc = self._idle.pop() if self._idle else None
            started = self._new_slot(span)
            try:
                c = await self._dial(ctx)
            except BaseException:
                self._dial_failed()
                raise
            return PooledConn(self, self._new_conn(c, started))
        except BaseException:
            with lock:
                self._release_slot()
            raise

    async def _take_slot(self, ctx: _context.Context, span: Optional[_rec.SpanLike]) -> None:
        """Wait, first come first served, until fewer than ``max_active`` are lent out;
        raise ``ctx``'s error or ``PoolClosedError`` instead. A cancelled waiter leaves the
        queue, and a slot granted to it as it was cancelled is passed on."""
        err = ctx.err()
        if err is not None:
            raise _refused(err)
        lock = self._lock
        with lock:
            if self._slot_free():
                self._in_use += 1
                return
            waiter = _Waiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        unregister = ctx.on_cancel(waiter.wake) if ctx.cancellable() else None
        start = time.monotonic()
        started = _perf_ns()
        if span is not None:
            span.event("wait")
        try:
            while True:
                with lock:
                    if waiter.granted:
                        self._waited(start, started)
                        return
                    if self._closed:
                        raise _refused(PoolClosedError(_GET_ON_CLOSED_POOL))
                self._wait_ended(ctx)
                remaining = ctx.remaining()
                if remaining is None:
                    await waiter.future
                else:
                    # The deadline wakes the waiter; the loop above then finds ctx ended.
                    handle = asyncio.get_running_loop().call_later(max(remaining, 0.0), waiter._open)
                    try:
                        await waiter.future
                    finally:
                        handle.cancel()
                waiter.future = asyncio.get_running_loop().create_future()
        except BaseException:
            with lock:
                if waiter.granted:
                    self._release_slot()  # pass it on rather than lose it
                else:
                    try:
                        self._waiters.remove(waiter)
                    except ValueError:
                        pass
            raise
        finally:
            if unregister is not None:
                unregister()

    async def _unfit(self, ctx: _context.Context, pc: _PoolConn[AsyncConn]) -> Optional[str]:
        """Why an idle connection must not be lent out, or None if it may."""
        if self._too_old(pc):
            return _rec.STATE_LIFETIME
        try:
            if self.test_on_borrow is not None:
                result = self.test_on_borrow(pc.c, pc.t)
                if inspect.isawaitable(result):
                    await result
            if self.test_on_borrow_context is not None:
                result = self.test_on_borrow_context(ctx, pc.c, pc.t)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            return _rec.STATE_STALE
        return None

    async def _dial(self, ctx: _context.Context) -> AsyncConn:
        if self.dial_context is not None:
            return await self.dial_context(ctx)
        if self.dial is not None:
            return await self.dial()
        raise RedigoError("redigo: must pass Dial or DialContext to pool")

    # -- returning ------------------------------------------------------------------

    async def _put(self, pc: _PoolConn[AsyncConn], broken: bool) -> None:
        """A borrowed connection came back, cleaned up; keep it idle or close it."""
        if pc.generation is not self._generation:
            return  # lent out before a fork, in the parent
        surplus = self._keep(pc, broken)
        if surplus is None:
            return
        try:
            await self._discard(surplus, _rec.STATE_ERROR if broken else _rec.STATE_COMPLETE)
        finally:
            with self._lock:
                self._release_slot()

    async def _discard(self, pc: _PoolConn[AsyncConn], reason: str) -> None:
        """Close a connection the pool owns: the one place that does."""
        try:
            if isinstance(pc.c, NetConn):
                pc.c._close(reason)  # counted under the reason
            else:
                await pc.c.close()  # a wrapper the dial function made
        except Exception:
            pass
        self._closed_one(reason)

    async def close(self) -> None:
        """Close the idle connections and refuse new borrows; waiting borrowers get
        ``PoolClosedError``. Connections lent out stay usable until their ``close()``."""
        for pc in self._closing():
            await self._discard(pc, _rec.STATE_COMPLETE)


class _Borrow:
    """What ``Pool.get()`` returns: awaitable (the connection) and an async context manager
    (the connection, given back on exit)."""

    __slots__ = ("_pool", "_ctx", "_raising", "_conn")

    def __init__(self, pool: Pool, ctx: _context.Context, raising: bool) -> None:
        self._pool = pool
        self._ctx = ctx
        self._raising = raising
        self._conn: Optional[Union[PooledConn, ErrorConn]] = None

    async def _take(self) -> "Union[PooledConn, ErrorConn]":
        if self._raising:
            return await self._pool._borrow(self._ctx)
        try:
            return await self._pool._borrow(self._ctx)
        except Exception as exc:
            return ErrorConn(exc)

    def __await__(self) -> Generator[object, None, "Union[PooledConn, ErrorConn]"]:
        return self._take().__await__()

    async def __aenter__(self) -> "Union[PooledConn, ErrorConn]":
        self._conn = await self._take()
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            await self._conn.close()


class PooledConn(PooledConnBase[AsyncConn]):
    """A borrowed connection (redigo's ``activeConn``, awaited): tracks the state commands
    leave on it, and ``close()`` undoes it before giving the connection back."""

    __slots__ = ()
    _pool: Pool

    async def do(self, command: Union[str, bytes], *args: object) -> Reply:
        return await self._tracked(command).do(command, *args)

    async def send(self, command: Union[str, bytes], *args: object) -> None:
        await self._tracked(command).send(command, *args)

    async def flush(self) -> None:
        await self._live().flush()

    async def receive(self) -> Reply:
        return await self._live().receive()

    async def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        return await optional_method(self._tracked(command), "do_with_timeout", "ConnWithTimeout")(timeout, command, *args)

    async def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        return await optional_method(self._live(), "receive_with_timeout", "ConnWithTimeout")(timeout)

    async def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        return await optional_method(self._tracked(command), "do_context", "ConnWithContext")(ctx, command, *args)

    async def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        await optional_method(self._tracked(command), "send_context", "ConnWithContext")(ctx, command, *args)

    async def flush_context(self, ctx: _context.Context) -> None:
        await optional_method(self._live(), "flush_context", "ConnWithContext")(ctx)

    async def receive_context(self, ctx: _context.Context) -> Reply:
        return await optional_method(self._live(), "receive_context", "ConnWithContext")(ctx)

    async def close(self) -> None:
        """Undo the connection's state and give it back; a second call does nothing.

        A connection that is fatal, fails its clean-up or is in MONITOR is
        closed instead of being reused. A cancellation of the closing task
        that cuts the clean-up off leaves the connection fatal: it is
        discarded, and the cancellation goes on.
        """
        returning = self._returning()
        if returning is None:
            return
        pc, span = returning
        c = pc.c
        state = self._state
        broken = True
        try:
            if not state & MONITOR_STATE and c.err() is None:
                if state:
                    await _reset_state(c, state)
                await c.do("")  # the replies still pending, so the next borrower gets only its own
                broken = c.err() is not None
        except Exception:
            pass  # broken: the connection failed on the way back
        finally:
            await self._pool._put(pc, broken)
            if span is not None:
                span.end()

    async def close_context(self, ctx: _context.Context) -> None:
        """``close()`` (the context only parents the close span)."""
        await self.close()

    async def __aenter__(self) -> "PooledConn":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _reset_state(c: AsyncConn, state: int) -> None:
    """The blocking pool's clean-up (:func:`redigo_py.pool.reset_commands`), awaited."""
    for command, args in reset_commands(state):
        await c.send(command, *args)
    if state & SUBSCRIBE_STATE:
        await c.flush()
        while True:
            reply = await c.receive()
            if type(reply) is bytes and reply == SENTINEL:
                break
        if isinstance(c, Exchange):
            c._forget_pushes()  # RESP3: notifications queued while the sentinel was owed


class ErrorConn:
    """What ``get()`` gives when it cannot lend a connection: every method raises the error."""

    __slots__ = ("_err",)

    def __init__(self, err: BaseException) -> None:
        self._err = err

    def _raise(self) -> NoReturn:
        raise again(self._err)

    async def do(self, command: Union[str, bytes], *args: object) -> Reply:
        return self._raise()

    async def send(self, command: Union[str, bytes], *args: object) -> None:
        self._raise()

    async def flush(self) -> None:
        self._raise()

    async def receive(self) -> Reply:
        return self._raise()

    async def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        return self._raise()

    async def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        return self._raise()

    async def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        return self._raise()

    async def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        self._raise()

    async def flush_context(self, ctx: _context.Context) -> None:
        self._raise()

    async def receive_context(self, ctx: _context.Context) -> Reply:
        return self._raise()

    def err(self) -> Optional[BaseException]:
        return self._err

    async def close(self) -> None:
        """Nothing to give back."""

    async def close_context(self, ctx: _context.Context) -> None:
        """Nothing to give back."""

    async def __aenter__(self) -> "ErrorConn":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def __repr__(self) -> str:
        return f"<redigo_py aio pooled error {self._err!r}>"
