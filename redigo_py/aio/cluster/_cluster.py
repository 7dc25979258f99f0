"""The cluster for asyncio: its refresh and its node pools (redisc's ``cluster.go``, awaited).

The slot map, the known nodes, the choice of a node and the refresh's
bookkeeping are the blocking cluster's (:class:`redigo_py.cluster._cluster.ClusterBase`);
this module fetches CLUSTER SLOTS, borrows and dials with ``await``, and runs
the refresh a MOVED starts as a task.
"""

from __future__ import annotations

import asyncio
from typing import Callable, List, Mapping, Optional, Sequence, Set, Tuple

from ... import _recorder as _rec
from ... import context as _context
from ...cluster._cluster import (
    BgErrorFunc,
    ClusterBase,
    CreatePoolFunc as _CreatePoolFunc,
    LayoutRefreshFunc,
    _NoNodeForSlot,
    _parse_cluster_slots,
    _refresh_span,
)
from ...cluster._common import _BACKGROUND, CLUSTER_REFRESH, _closed, _node_failures
from ...errors import RedigoError
from ...protocols import AsyncConn
from .._conn import dial_context
from .._pool import Pool
from ._common import _close_quietly, _maybe_await
from ._conn import Conn

CreatePoolFunc = _CreatePoolFunc[Pool]


class Cluster(ClusterBase[Pool]):
    """A Redis Cluster for asyncio (redisc's ``Cluster``, awaited); belongs to one event loop.

    The arguments are :class:`redigo_py.cluster.Cluster`'s, for
    :mod:`redigo_py.aio`: ``dial_options`` are :func:`redigo_py.aio.dial`
    keywords, and ``create_pool(address, **dial_options)`` returns the
    :class:`redigo_py.aio.Pool` of a node. ``bg_error`` and
    ``layout_refresh`` may be coroutine functions. ``refresh``, ``get``,
    ``dial``, ``each_node`` and ``close`` are coroutines; an async context
    manager that closes the cluster. ::

        from redigo_py import aio

        cl = aio.cluster.Cluster(["127.0.0.1:7000", "127.0.0.1:7001"],
                                 dial_options={"connect_timeout": 1, "read_timeout": 2},
                                 create_pool=lambda addr, **opts: aio.Pool(
                                     dial=lambda: aio.dial("tcp", addr, **opts), max_idle=4))
        await cl.refresh()
        async with aio.cluster.retry_conn(await cl.get(), 3, 0.1) as conn:
            await conn.do("SET", "user:{42}:name", "ann")

    A MOVED starts the refresh of the whole map as a task of the loop (one at
    a time; the cluster holds it until it ends), in the context of the call
    that got the MOVED, so its span joins that call's trace.
    """

    _NAME = "redigo_py.aio.cluster.Cluster"

    def __init__(
        self,
        startup_nodes: Sequence[str],
        dial_options: Optional[Mapping[str, object]] = None,
        create_pool: Optional[CreatePoolFunc] = None,
        pool_wait_time: float = 0,
        bg_error: Optional[BgErrorFunc] = None,
        layout_refresh: Optional[LayoutRefreshFunc] = None,
    ) -> None:
        super().__init__(startup_nodes, dial_options, create_pool, pool_wait_time, bg_error, layout_refresh)
        # The background refreshes running: the loop holds its tasks weakly only.
        self._refreshes: Set[asyncio.Task[None]] = set()

    def _forked(self) -> None:
        """In a forked child: the parent loop's refresh tasks are not this process's to hold."""
        super()._forked()
        self._refreshes = set()

    # -- the slot map ----------------------------------------------------------

    async def refresh(self) -> None:
        """Load the slot map with CLUSTER SLOTS from the known nodes, until one answers (as the
        blocking :meth:`redigo_py.cluster.Cluster.refresh`, which says when to call it)."""
        self._begin_refresh()
        err = await self._refresh()
        if err is not None:
            raise err

    async def _refresh(self) -> Optional[RedigoError]:
        """One refresh (``_refreshing`` already set) in a ``redis.Cluster.refresh`` span;
        returns its error instead of raising it."""
        span = _refresh_span()
        if span is None:
            return await self._refresh_slots()
        try:
            err = await self._refresh_slots()
            if err is not None:
                _rec.fail(span, err)
            return err
        finally:
            span.end()

    async def _refresh_slots(self) -> Optional[RedigoError]:
        failures: List[Tuple[str, BaseException]] = []
        try:
            for addr in self._refresh_addrs():
                try:
                    ranges = await self._cluster_slots(addr)
                except Exception as exc:
                    failures.append((addr, exc))
                    continue
                await self._apply(ranges)  # ends the refresh as it swaps the map in
                return None
        except BaseException:
            self._end_refresh()
            raise
        return self._refresh_failed(failures)

    async def _cluster_slots(self, addr: str) -> List[Tuple[int, int, Tuple[str, ...]]]:
        conn = await self._conn_for_addr(addr, False, _BACKGROUND)
        try:
            return _parse_cluster_slots(await conn.do("CLUSTER", "SLOTS"), addr)
        finally:
            await conn.close()

    async def _apply(self, ranges: List[Tuple[int, int, Tuple[str, ...]]]) -> None:
        """Swap in the map of a CLUSTER SLOTS reply; close the pools of nodes that left."""
        old, mapping, removed = self._swap_in(ranges)
        for pool in removed:
            await pool.close()
        if self.layout_refresh is not None:
            await _maybe_await(self.layout_refresh(old, mapping))

    def _refresh_in_background(self) -> None:
        # A task runs in a copy of the caller's context: the refresh's span joins
        # the caller's trace.
        task = asyncio.get_running_loop().create_task(self._background_refresh())
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    async def _background_refresh(self) -> None:
        err = await self._refresh()
        if err is not None and self.bg_error is not None:
            await _maybe_await(self.bg_error(CLUSTER_REFRESH, err))

    # -- connections -------------------------------------------------------------

    async def _conn_for_addr(self, addr: str, force_dial: bool, ctx: _context.Context) -> AsyncConn:
        """A connection to ``addr``: borrowed from its pool, or dialed."""
        if self._err is not None:
            raise _closed()
        if self.create_pool is None or force_dial:
            return await dial_context(ctx, "tcp", addr, **self.dial_options)
        pool = self._pools.get(addr)
        if pool is None:
            pool = await self._new_pool(addr)
        return await self._from_pool(pool, ctx)

    async def _new_pool(self, addr: str) -> Pool:
        """Create ``addr``'s pool; the first of racing creators wins."""
        assert self.create_pool is not None
        pool = self.create_pool(addr, **self.dial_options)
        kept = self._adopt_pool(addr, pool)
        if kept is not pool:
            await pool.close()
        if kept is None:
            raise _closed()
        return kept

    async def _from_pool(self, pool: Pool, ctx: _context.Context) -> AsyncConn:
        """Borrow; ``pool_wait_time`` bounds the wait for a free slot of a ``wait`` pool."""
        if self.pool_wait_time <= 0:
            return await pool.get_context(ctx)
        bounded, cancel = _context.with_timeout(ctx, self.pool_wait_time)
        try:
            return await pool.get_context(bounded)
        finally:
            cancel()

    async def _conn_for_slot(self, slot_: int, force_dial: bool, read_only: bool,
                             ctx: _context.Context) -> Tuple[AsyncConn, str]:
        """A connection to the slot's master, or to one of its replicas for a read-only conn."""
        addr, read_only = self._slot_addr(slot_, read_only)
        conn = await self._conn_for_addr(addr, force_dial, ctx)
        if read_only:
            await _send_readonly(conn)
        return conn, addr

    async def _random_conn(self, force_dial: bool, read_only: bool,
                           ctx: _context.Context) -> Tuple[AsyncConn, str]:
        """A connection to any reachable known node (a replica for a read-only conn, if known)."""
        failures: List[Tuple[str, BaseException]] = []
        for addr in self._random_addrs(read_only):
            try:
                conn = await self._conn_for_addr(addr, force_dial, ctx)
            except Exception as exc:
                failures.append((addr, exc))
                continue
            if read_only:
                await _send_readonly(conn)
            return conn, addr
        raise _node_failures("redisc: failed to get a connection", failures)

    async def _get_conn(self, slot_: int, force_dial: bool, read_only: bool,
                        ctx: _context.Context) -> Tuple[AsyncConn, str]:
        """The connection a conn binds to: the slot's node, else (unknown, unreachable) any node."""
        if slot_ >= 0:
            try:
                return await self._conn_for_slot(slot_, force_dial, read_only, ctx)
            except _NoNodeForSlot:
                self._needs_refresh(None)
            except Exception:
                pass  # as redisc: a random node will answer with a MOVED if it must
        return await self._random_conn(force_dial, read_only, ctx)

    # -- the public API ------------------------------------------------------------

    async def get(self) -> Conn:
        """A cluster conn (pooled with ``create_pool``); never raises: a closed cluster's conn raises on use."""
        return Conn(self, err=_closed() if self._err is not None else None)

    async def dial(self) -> Conn:
        """A cluster conn that dials its own connection even with ``create_pool``."""
        if self._err is not None:
            raise _closed()
        return Conn(self, force_dial=True)

    async def each_node(self, replicas: bool, fn: Callable[[str, Conn], object]) -> None:
        """Call ``fn(address, conn)`` (awaited if it is a coroutine function) for each
        known master (or each known replica), as the blocking
        :meth:`redigo_py.cluster.Cluster.each_node` does."""
        for addr in self._each_node_addrs(replicas):
            try:
                conn = Conn(self, bound_addr=addr, rc=await self._conn_for_addr(addr, False, _BACKGROUND))
            except Exception as exc:
                conn = Conn(self, bound_addr=addr, err=exc)
            try:
                await _maybe_await(fn(addr, conn))
            finally:
                await conn.close()

    async def close(self) -> None:
        """Close the pools; afterwards new conns, ``dial`` and ``refresh`` raise "redisc: closed".

        Conns already bound keep working until closed. A second ``close()``
        does nothing. A background refresh already running ends on its own
        (its failure, if any, goes to ``bg_error``).
        """
        for pool in self._mark_closed():
            await pool.close()

    async def __aenter__(self) -> "Cluster":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _send_readonly(conn: AsyncConn) -> None:
    """READONLY on a replica connection; a failure shows on the next command, as in redisc.

    Cancelled, it closes the connection: no caller holds it yet.
    """
    try:
        await conn.do("READONLY")
    except Exception:
        pass
    except BaseException:
        await _close_quietly(conn)
        raise
