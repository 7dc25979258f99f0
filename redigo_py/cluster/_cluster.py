"""The cluster: its slot map, its refresh, its node pools (redisc's ``cluster.go``).

:class:`ClusterBase` is the part without I/O, shared with :mod:`redigo_py.aio.cluster`.
"""

from __future__ import annotations

import abc
import contextvars
import threading
from typing import Callable, ClassVar, Dict, Generic, List, Mapping, Optional, Sequence, Tuple, TypeVar

from .. import _fork
from .. import _recorder as _rec
from .. import context as _context
from .._types import Reply
from ..conn import dial_context
from ..errors import RedigoError
from ..pool import EitherPool, Pool, PoolStats
from ..protocols import Conn as RedisConn
from .._exchange import again as _again
from ._common import _BACKGROUND, CLUSTER_REFRESH, HASH_SLOTS, BgErrorSrc, Layout, _closed, _node_failures, _rnd
from ._conn import Conn
from ._redir import RedirError


class _NoNodeForSlot(RedigoError):
    """No address is known for a slot; the cluster falls back to a random node and refreshes."""

    def __init__(self) -> None:
        super().__init__("redisc: no node for slot")


# -- CLUSTER SLOTS ---------------------------------------------------------------

_SLOTS_SHAPE = "[start, end, [host, port, ...] (master), [host, port, ...] (replicas)...]"


def _malformed(what: str) -> RedigoError:
    return RedigoError(f"redisc: malformed CLUSTER SLOTS reply: {what}; expected an array of {_SLOTS_SHAPE}")


def _parse_cluster_slots(reply: Reply, queried: str) -> List[Tuple[int, int, Tuple[str, ...]]]:
    """Check and convert a CLUSTER SLOTS reply into (start, end, addresses) ranges.

    A reply of the wrong shape is refused as a whole: a half-applied map
    would route keys to nodes that do not hold them. A node with an empty
    host is the queried node itself, as the server documents.
    """
    if not isinstance(reply, list):
        raise _malformed(f"got {type(reply).__name__}")
    ranges = []
    for i, entry in enumerate(reply):
        if not isinstance(entry, list) or len(entry) < 3:
            raise _malformed(f"entry {i} is not an array of at least 3 elements")
        start, end = entry[0], entry[1]
        if type(start) is not int or type(end) is not int or not 0 <= start <= end < HASH_SLOTS:
            raise _malformed(f"entry {i} has slot range {start!r}..{end!r}")
        nodes = []
        for j, node in enumerate(entry[2:]):
            if (not isinstance(node, list) or len(node) < 2 or not isinstance(node[0], (bytes, str))
                    or type(node[1]) is not int):
                raise _malformed(f"entry {i}, node {j} is not [host, port, ...]")
            host = node[0].decode("utf-8", "replace") if isinstance(node[0], bytes) else node[0]
            if not host:
                host = queried.rpartition(":")[0]
            nodes.append(f"{host}:{node[1]}")
        ranges.append((start, end, tuple(nodes)))
    return ranges


# -- what the blocking and the asyncio cluster share ------------------------------------

P = TypeVar("P", bound=EitherPool)  # the node pools: blocking, or asyncio's
# ``create_pool(address, **dial_options)``, the pool of a node. Its parameters are ``...``: the
# precise signature would refuse ``def f(addr, **opts)``, as a dial option could be named ``addr``.
CreatePoolFunc = Callable[..., P]  # explicit Any (the ...): see above
# What the callbacks return is ignored (awaited first by the asyncio cluster, if awaitable).
BgErrorFunc = Callable[[BgErrorSrc, BaseException], object]
LayoutRefreshFunc = Callable[[Layout, Layout], object]


def _refresh_span() -> Optional[_rec.SpanLike]:
    """The span of one refresh (None when no world traces it)."""
    return _rec.start_span("redis.Cluster.refresh", {"db.system.name": "redis"})


class ClusterBase(abc.ABC, Generic[P]):
    """What :class:`Cluster` and :class:`redigo_py.aio.cluster.Cluster` share: the
    configuration, the slot map and the known nodes under one lock, the node pools'
    registry, the refresh's bookkeeping and the choice of a node. Nothing here waits
    or does I/O: the subclasses fetch CLUSTER SLOTS, borrow and dial, and run the
    background refresh (a thread, resp. a task).

    The arguments are the :class:`Cluster`'s; ``create_pool`` makes the pool type
    of the subclass.
    """

    _NAME: ClassVar[str]  # the class as __repr__ names it

    def __init__(
        self,
        startup_nodes: Sequence[str],
        dial_options: Optional[Mapping[str, object]] = None,
        create_pool: Optional[CreatePoolFunc[P]] = None,
        pool_wait_time: float = 0,
        bg_error: Optional[BgErrorFunc] = None,
        layout_refresh: Optional[LayoutRefreshFunc] = None,
    ) -> None:
        if isinstance(startup_nodes, (str, bytes)):  # list("host:port") would be its characters
            raise TypeError('redisc: startup_nodes must be a list of "host:port" strings')
        self.startup_nodes = list(startup_nodes)
        self.dial_options: Dict[str, object] = dict(dial_options or {})
        self.create_pool = create_pool
        self.pool_wait_time = pool_wait_time
        self.bg_error = bg_error
        self.layout_refresh = layout_refresh

        # The lock guards every write below; the hot path reads _mapping,
        # _pools and _err without it (single reads of a reference or an item).
        # It is never held across I/O, so the asyncio cluster takes it too.
        self._lock = threading.Lock()
        self._err: Optional[BaseException] = None
        self._pools: Dict[str, P] = {}
        # Known nodes, as insertion-ordered sets. Startup nodes count as
        # masters until the first refresh says who is who.
        self._masters: Dict[str, None] = dict.fromkeys(self.startup_nodes)
        self._replicas: Dict[str, None] = {}
        self._mapping: Layout = [()] * HASH_SLOTS
        self._refreshing = False
        _fork.track(self)

    def _forked(self) -> None:
        """In a forked child: a fresh lock, and no refresh running (it stayed in the parent).

        The node pools reset themselves (see :mod:`redigo_py.pool`); the slot map is kept.
        """
        self._lock = threading.Lock()
        self._refreshing = False

    # -- the refresh's bookkeeping ------------------------------------------------

    def _begin_refresh(self) -> None:
        """A refresh the caller asked for: refused on a closed cluster."""
        with self._lock:
            if self._err is not None:
                raise _closed()
            self._refreshing = True

    def _end_refresh(self) -> None:
        with self._lock:
            self._refreshing = False

    def _refresh_addrs(self) -> List[str]:
        """Where to ask CLUSTER SLOTS: the known masters, else the replicas, else the startup nodes."""
        addrs, _ = self._node_addrs(False)
        if not addrs:
            addrs, _ = self._node_addrs(True)
            if not addrs:
                addrs = list(self.startup_nodes)
        return addrs

    def _refresh_failed(self, failures: List[Tuple[str, BaseException]]) -> RedigoError:
        """Every node failed to answer: the refresh ends, with each node's error."""
        self._end_refresh()
        if not failures:
            return RedigoError("redisc: all nodes failed\nredisc: no startup nodes")
        return _node_failures("redisc: all nodes failed", failures)

    def _swap_in(self, ranges: List[Tuple[int, int, Tuple[str, ...]]]) -> Tuple[Layout, Layout, List[P]]:
        """Swap in the map of a CLUSTER SLOTS reply and end the refresh; the old and new
        maps (for ``layout_refresh``) and the pools of nodes that left, for the caller to close."""
        mapping: Layout = [()] * HASH_SLOTS
        masters: Dict[str, None] = {}
        replicas: Dict[str, None] = {}
        for start, end, nodes in ranges:
            if nodes:
                masters[nodes[0]] = None
                replicas.update(dict.fromkeys(nodes[1:]))
            mapping[start:end + 1] = [nodes] * (end - start + 1)
        with self._lock:
            old = self._mapping
            self._mapping = mapping
            self._masters, self._replicas = masters, replicas
            gone = [addr for addr in self._pools if addr not in masters and addr not in replicas]
            removed = [self._pools.pop(addr) for addr in gone]
            self._refreshing = False
        return old, mapping, removed

    def _needs_refresh(self, redir: Optional[RedirError]) -> None:
        """A MOVED (or a slot with no node): fix that slot now, refresh the rest in the background.

        A MOVED to the address the map already has (a replica sending a
        write to its master, a random node guessing) changes nothing and
        starts no refresh; nor does one that comes while a refresh runs.
        """
        with self._lock:
            if redir is not None:
                current = self._mapping[redir.new_slot]
                if current and current[0] == redir.addr:
                    return
                self._mapping[redir.new_slot] = (redir.addr,)
            if self._refreshing:
                return
            self._refreshing = True
        self._refresh_in_background()

    @abc.abstractmethod
    def _refresh_in_background(self) -> None:
        """Start a refresh (``_refreshing`` already set) that no caller waits for; its failure
        goes to ``bg_error``, and its span joins the trace of the caller."""

    # -- choosing a node --------------------------------------------------------------

    def _node_addrs(self, prefer_replicas: bool) -> Tuple[List[str], bool]:
        """The known masters, or the known replicas if asked and there are any; and which it is."""
        with self._lock:
            if prefer_replicas and self._replicas:
                return list(self._replicas), True
            return list(self._masters), False

    def _slot_addr(self, slot_: int, read_only: bool) -> Tuple[str, bool]:
        """The slot's master, or one of its replicas for a read-only conn; and whether it is
        a replica (READONLY is then due)."""
        addrs = self._mapping[slot_]
        if not addrs:
            raise _NoNodeForSlot()
        if read_only and len(addrs) > 1:
            return (addrs[1] if len(addrs) == 2 else addrs[1 + _rnd.randrange(len(addrs) - 1)]), True
        return addrs[0], False

    def _random_addrs(self, read_only: bool) -> List[str]:
        """The known nodes (replicas for a read-only conn, if known) in random order: the
        fallback when a slot's node is unknown or unreachable, as redisc does it."""
        addrs, _ = self._node_addrs(read_only)
        _rnd.shuffle(addrs)
        return addrs

    def _each_node_addrs(self, replicas: bool) -> List[str]:
        """The nodes ``each_node`` visits: the known masters, or the known replicas."""
        addrs, are_replicas = self._node_addrs(replicas)
        if not addrs or (replicas and not are_replicas):
            raise RedigoError("redisc: no known node address")
        return addrs

    # -- the node pools -----------------------------------------------------------------

    def _adopt_pool(self, addr: str, pool: P) -> Optional[P]:
        """Register ``pool``, just made for ``addr`` outside the lock, unless a racing
        creator's came first (that one is returned) or the cluster closed (None). A
        ``pool`` not returned is the caller's to close: ``create_pool`` may have opened
        connections."""
        with self._lock:
            existing = self._pools.get(addr)
            if existing is None and self._err is None:
                self._pools[addr] = pool
                return pool
        return existing

    def _mark_closed(self) -> List[P]:
        """Close the cluster: the pools to close (none if it was closed already)."""
        with self._lock:
            if self._err is not None:
                return []
            self._err = _closed()
            return list(self._pools.values())  # _pools is kept, so that stats() still answers

    def stats(self) -> Dict[str, PoolStats]:
        """Each node pool's counters, by address (empty without ``create_pool``); works after ``close()``."""
        with self._lock:
            pools = list(self._pools.items())
        return {addr: pool.stats() for addr, pool in pools}

    def __repr__(self) -> str:
        state = "closed" if self._err is not None else "open"
        return f"<{self._NAME} {state} masters={list(self._masters)}>"


# -- the cluster -------------------------------------------------------------------

class Cluster(ClusterBase[Pool]):
    """A Redis Cluster (redisc's ``Cluster``); thread-safe.

    ``startup_nodes`` are "host:port" addresses to learn the cluster from;
    ``dial_options`` are :func:`redigo_py.dial` keywords for every connection;
    ``create_pool(address, **dial_options)`` makes the :class:`Pool` of a
    node (None: no pools, each conn dials); ``pool_wait_time`` (seconds, 0:
    no limit) bounds a wait for a pool's free slot; ``bg_error(src, exc)``
    hears of errors that happen away from any caller; ``layout_refresh(old,
    new)`` is called after each successful refresh with the old and new slot
    maps. As in Go, these are plain attributes, to be set before use.
    """

    _NAME = "redigo_py.cluster.Cluster"

    # -- the slot map ----------------------------------------------------------

    def refresh(self) -> None:
        """Load the slot map with CLUSTER SLOTS from the known nodes, until one answers.

        Call it once after creating the cluster; afterwards the MOVED replies
        keep the map current. Raises ``RedigoError("redisc: all nodes
        failed ...")`` naming each address tried and its error.
        """
        self._begin_refresh()
        err = self._refresh()
        if err is not None:
            raise err

    def _refresh(self) -> Optional[RedigoError]:
        """One refresh (``_refreshing`` already set) in a ``redis.Cluster.refresh`` span;
        returns its error instead of raising it."""
        span = _refresh_span()
        if span is None:
            return self._refresh_slots()
        try:
            err = self._refresh_slots()
            if err is not None:
                _rec.fail(span, err)
            return err
        finally:
            span.end()

    def _refresh_slots(self) -> Optional[RedigoError]:
        failures: List[Tuple[str, BaseException]] = []
        try:
            for addr in self._refresh_addrs():
                try:
                    ranges = self._cluster_slots(addr)
                except Exception as exc:
                    failures.append((addr, exc))
                    continue
                self._apply(ranges)  # ends the refresh as it swaps the map in
                return None
        except BaseException:
            self._end_refresh()
            raise
        return self._refresh_failed(failures)

    def _cluster_slots(self, addr: str) -> List[Tuple[int, int, Tuple[str, ...]]]:
        conn = self._conn_for_addr(addr, False, _BACKGROUND)
        try:
            return _parse_cluster_slots(conn.do("CLUSTER", "SLOTS"), addr)
        finally:
            conn.close()

    def _apply(self, ranges: List[Tuple[int, int, Tuple[str, ...]]]) -> None:
        """Swap in the map of a CLUSTER SLOTS reply; close the pools of nodes that left."""
        old, mapping, removed = self._swap_in(ranges)
        for pool in removed:
            pool.close()
        if self.layout_refresh is not None:
            self.layout_refresh(old, mapping)

    def _refresh_in_background(self) -> None:
        # In a copy of the caller's context, so that the refresh's span joins the
        # caller's trace (its parent: the span current when the MOVED came back).
        threading.Thread(target=contextvars.copy_context().run, args=(self._background_refresh,),
                         name="redisc-refresh", daemon=True).start()

    def _background_refresh(self) -> None:
        err = self._refresh()
        if err is not None and self.bg_error is not None:
            self.bg_error(CLUSTER_REFRESH, err)

    # -- connections -------------------------------------------------------------

    def _conn_for_addr(self, addr: str, force_dial: bool, ctx: _context.Context) -> RedisConn:
        """A connection to ``addr``: borrowed from its pool, or dialed."""
        if self._err is not None:
            raise _closed()
        if self.create_pool is None or force_dial:
            return dial_context(ctx, "tcp", addr, **self.dial_options)
        pool = self._pools.get(addr)
        if pool is None:
            pool = self._new_pool(addr)
        return self._from_pool(pool, ctx)

    def _new_pool(self, addr: str) -> Pool:
        """Create ``addr``'s pool outside the lock; the first of racing creators wins."""
        assert self.create_pool is not None
        pool = self.create_pool(addr, **self.dial_options)
        kept = self._adopt_pool(addr, pool)
        if kept is not pool:
            pool.close()
        if kept is None:
            raise _closed()
        return kept

    def _from_pool(self, pool: Pool, ctx: _context.Context) -> RedisConn:
        """Borrow; ``pool_wait_time`` bounds the wait for a free slot of a ``wait`` pool."""
        if self.pool_wait_time <= 0:
            if ctx is _BACKGROUND:
                conn = pool.get()
                err = conn.err()
                if err is not None:
                    raise _again(err)
                return conn
            return pool.get_context(ctx)
        bounded, cancel = _context.with_timeout(ctx, self.pool_wait_time)
        try:
            return pool.get_context(bounded)
        finally:
            cancel()

    def _conn_for_slot(self, slot_: int, force_dial: bool, read_only: bool,
                       ctx: _context.Context) -> Tuple[RedisConn, str]:
        """A connection to the slot's master, or to one of its replicas for a read-only conn."""
        addr, read_only = self._slot_addr(slot_, read_only)
        conn = self._conn_for_addr(addr, force_dial, ctx)
        if read_only:
            _send_readonly(conn)
        return conn, addr

    def _random_conn(self, force_dial: bool, read_only: bool, ctx: _context.Context) -> Tuple[RedisConn, str]:
        """A connection to any reachable known node (a replica for a read-only conn, if known)."""
        failures: List[Tuple[str, BaseException]] = []
        for addr in self._random_addrs(read_only):
            try:
                conn = self._conn_for_addr(addr, force_dial, ctx)
            except Exception as exc:
                failures.append((addr, exc))
                continue
            if read_only:
                _send_readonly(conn)
            return conn, addr
        raise _node_failures("redisc: failed to get a connection", failures)

    def _get_conn(self, slot_: int, force_dial: bool, read_only: bool,
                  ctx: _context.Context) -> Tuple[RedisConn, str]:
        """The connection a conn binds to: the slot's node, else (unknown, unreachable) any node."""
        if slot_ >= 0:
            try:
                return self._conn_for_slot(slot_, force_dial, read_only, ctx)
            except _NoNodeForSlot:
                self._needs_refresh(None)
            except Exception:
                pass  # as redisc: a random node will answer with a MOVED if it must
        return self._random_conn(force_dial, read_only, ctx)

    # -- the public API ------------------------------------------------------------

    def get(self) -> "Conn":
        """A cluster conn (pooled with ``create_pool``); never raises: a closed cluster's conn raises on use."""
        return Conn(self, err=_closed() if self._err is not None else None)

    def dial(self) -> "Conn":
        """A cluster conn that dials its own connection even with ``create_pool``."""
        if self._err is not None:
            raise _closed()
        return Conn(self, force_dial=True)

    def each_node(self, replicas: bool, fn: Callable[[str, "Conn"], object]) -> None:
        """Call ``fn(address, conn)`` for each known master (or each known replica).

        ``conn`` is bound to that node and closed after ``fn`` returns; it is
        not read-only (send READONLY yourself on a replica) and not a retry
        conn. A node that cannot be reached still gets its call, with a conn
        that raises the error, so ``fn`` decides whether to go on; an
        exception from ``fn`` stops the walk and propagates. The nodes are
        those known now: no refresh is forced.
        """
        for addr in self._each_node_addrs(replicas):
            try:
                conn = Conn(self, bound_addr=addr, rc=self._conn_for_addr(addr, False, _BACKGROUND))
            except Exception as exc:
                conn = Conn(self, bound_addr=addr, err=exc)
            try:
                fn(addr, conn)
            finally:
                conn.close()

    def close(self) -> None:
        """Close the pools; afterwards new conns, ``dial`` and ``refresh`` raise "redisc: closed".

        Conns already bound keep working until closed. A second ``close()``
        does nothing.
        """
        for pool in self._mark_closed():
            pool.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _send_readonly(conn: RedisConn) -> None:
    """READONLY on a replica connection; a failure shows on the next command, as in redisc."""
    try:
        conn.do("READONLY")
    except Exception:
        pass
