"""Redis Cluster: a port of Go's ``github.com/mna/redisc`` on top of redigo_py.

A Go program that uses redisc ports line by line::

    from redigo_py import cluster as redisc

    c = redisc.Cluster(["127.0.0.1:7000", "127.0.0.1:7001"],
                       dial_options={"connect_timeout": 1, "read_timeout": 2},
                       create_pool=lambda addr, **opts: redis.Pool(
                           dial=lambda: redis.dial("tcp", addr, **opts), max_idle=4))
    c.refresh()                                   # learn the slot map once
    conn = redisc.retry_conn(c.get(), 3, 0.1)     # follow MOVED/ASK, retry TRYAGAIN
    with conn:
        conn.do("SET", "user:{42}:name", "ann")

How it works, and why:

- The cluster keeps one slot map: a list of :data:`HASH_SLOTS` tuples of
  addresses, master first. Every thread reads it without a lock (reading one
  list item is atomic); the rare writers (a refresh, a MOVED) take the
  cluster's lock. A refresh builds a new list and swaps it in, so a
  ``layout_refresh(old, new)`` callback gets two lists that no one changes
  any more.
- A cluster :class:`Conn` is not connected until its first command: it then
  binds, for good, to the node that holds the slot of the command's first
  argument (the key, by convention), and every later call goes straight to
  that node's connection. That is what makes a bound conn cost about as
  much as a plain :class:`redigo_py.Conn`.
- A MOVED reply proves the map wrong for one slot: the slot is pointed at the
  new address before the reply is raised (so the next conn goes the right
  way), and a full refresh starts in a background thread, one at a time. An
  ASK is a one-command detour during a slot migration and never changes the
  map.
- Redirect and TRYAGAIN replies are raised, not followed, unless the conn is
  wrapped by :func:`retry_conn`; a MOVED or ASK is raised as a
  :class:`RedirError` (an :class:`~redigo_py.Error` subclass).
- With ``create_pool`` the cluster keeps one pool per node and ``get()``
  borrows from it; without it (redisc's default) each conn dials its own
  connection, and ``dial()`` always does.

Error texts are redisc's (``redisc: closed``, ``redisc: too many attempts``,
...), so log searches and ported tests still match.
"""

from __future__ import annotations

import contextvars
import enum
import random
import threading
import time
from binascii import crc_hqx
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _fork
from . import context as _context
from . import _recorder as _rec
from .conn import dial_context
from .errors import ConnectionError, Error, RedigoError
from .pool import Pool, PoolStats
from .protocols import Conn as RedisConn
from .resp import encode_arg

__all__ = [
    "HASH_SLOTS",
    "BgErrorSrc",
    "CLUSTER_REFRESH",
    "RETRY_CLOSE_CONN",
    "Cluster",
    "Conn",
    "RedirError",
    "bind_conn",
    "read_only_conn",
    "retry_conn",
    "slot",
    "split_by_slot",
    "parse_redir",
    "is_try_again",
    "is_cross_slot",
]

HASH_SLOTS = 16384
"""The number of hash slots of a Redis Cluster."""

Layout = List[Tuple[str, ...]]
"""The slot map: for each slot, the addresses that serve it, master first (empty: unknown)."""


class BgErrorSrc(enum.IntEnum):
    """Where an error that no caller would see happened (redisc's ``BgErrorSrc``)."""

    CLUSTER_REFRESH = 0  #: a background refresh of the slot map (after a MOVED) failed
    RETRY_CLOSE_CONN = 1  #: closing the old connection before a redirected retry failed


CLUSTER_REFRESH = BgErrorSrc.CLUSTER_REFRESH
RETRY_CLOSE_CONN = BgErrorSrc.RETRY_CLOSE_CONN

_BACKGROUND = _context.background()
_CLOSED = "redisc: closed"
_ALREADY_BOUND = "redisc: connection already bound to a node"

# redisc picks random nodes and replicas; a generator of the module's own so
# that an application seeding ``random`` does not steer (or break) it.
_rnd = random.Random()


def _closed() -> ConnectionError:
    """A fresh "redisc: closed" error: one raised object per caller, so no shared traceback."""
    return ConnectionError(_CLOSED)


def _again(err: BaseException) -> BaseException:
    """A stored error, without the traceback of where it was raised before."""
    return err.with_traceback(None)


# -- hashing -------------------------------------------------------------------

def slot(key: Any) -> int:
    """The hash slot of ``key``, exactly as the server's CLUSTER KEYSLOT computes it.

    The key is encoded as any command argument is (``str`` as UTF-8, ``int``
    in decimal, ...), and if it holds a non-empty ``{tag}`` only the tag is
    hashed, so that related keys can be put in one slot on purpose. The
    CRC16 is the XMODEM one that ``binascii.crc_hqx`` computes in C.
    """
    data = key if type(key) is bytes else encode_arg(key)
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return crc_hqx(data, 0) & (HASH_SLOTS - 1)


def split_by_slot(*keys: Any) -> List[List[Any]]:
    """Group keys by slot: groups in slot order, input order kept inside a group.

    Multi-key commands (MGET, DEL, ...) must not span slots in a cluster, so
    a batch is split with this and sent as one command per group.
    """
    groups: Dict[int, List[Any]] = {}
    for key in keys:
        s = slot(key)
        group = groups.get(s)
        if group is None:
            groups[s] = [key]
        else:
            group.append(key)
    return [groups[s] for s in sorted(groups)]


def _cmd_slot(args: Sequence[Any]) -> int:
    """The slot a command is routed by: its first argument's, or -1 (any node) without one."""
    return slot(args[0]) if args else -1


# -- redirections ----------------------------------------------------------------

class RedirError(Error):
    """A MOVED or ASK reply (redisc's ``RedirError``); ``str()`` is the server's message.

    ``type`` is ``"MOVED"`` (the slot lives at ``addr`` now) or ``"ASK"`` (this
    one command, preceded by ASKING, must go to ``addr`` while ``new_slot`` is
    migrating).
    """

    def __init__(self, message: str, type: str, new_slot: int, addr: str) -> None:  # noqa: A002 - redisc's field name
        super().__init__(message)
        self.type = type
        self.new_slot = new_slot
        self.addr = addr

    def __reduce__(self) -> Tuple[Any, ...]:
        """Pickle with every field (the default would call ``__init__`` with the message alone)."""
        return (RedirError, (str(self), self.type, self.new_slot, self.addr))

    def __repr__(self) -> str:
        return f"RedirError({str(self)!r})"


def parse_redir(exc: Optional[BaseException]) -> Optional[RedirError]:
    """``exc`` as a :class:`RedirError` if it is a MOVED or ASK error reply, else None."""
    if isinstance(exc, RedirError):
        return exc
    redirect = exc.redirect() if isinstance(exc, Error) else None
    if redirect is None:
        return None
    return RedirError(str(exc), *redirect)


def _is_redis_err(exc: Optional[BaseException], kind: str) -> bool:
    return isinstance(exc, Error) and exc.kind == kind


def is_try_again(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is a TRYAGAIN reply: valid command, slot mid-migration, retry later."""
    return _is_redis_err(exc, "TRYAGAIN")


def is_cross_slot(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is a CROSSSLOT reply: the command's keys are in different slots."""
    return _is_redis_err(exc, "CROSSSLOT")


class _NoNodeForSlot(RedigoError):
    """No address is known for a slot; the cluster falls back to a random node and refreshes."""

    def __init__(self) -> None:
        super().__init__("redisc: no node for slot")


# -- CLUSTER SLOTS ---------------------------------------------------------------

_SLOTS_SHAPE = "[start, end, [host, port, ...] (master), [host, port, ...] (replicas)...]"


def _malformed(what: str) -> RedigoError:
    return RedigoError(f"redisc: malformed CLUSTER SLOTS reply: {what}; expected an array of {_SLOTS_SHAPE}")


def _parse_cluster_slots(reply: Any, queried: str) -> List[Tuple[int, int, Tuple[str, ...]]]:
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


# -- the cluster -------------------------------------------------------------------

CreatePoolFunc = Callable[..., Pool]
BgErrorFunc = Callable[[BgErrorSrc, BaseException], Any]
LayoutRefreshFunc = Callable[[Layout, Layout], Any]


class Cluster:
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

    def __init__(
        self,
        startup_nodes: Sequence[str],
        dial_options: Optional[Dict[str, Any]] = None,
        create_pool: Optional[CreatePoolFunc] = None,
        pool_wait_time: float = 0,
        bg_error: Optional[BgErrorFunc] = None,
        layout_refresh: Optional[LayoutRefreshFunc] = None,
    ) -> None:
        if isinstance(startup_nodes, (str, bytes)):  # list("host:port") would be its characters
            raise TypeError('redisc: startup_nodes must be a list of "host:port" strings')
        self.startup_nodes = list(startup_nodes)
        self.dial_options: Dict[str, Any] = dict(dial_options or {})
        self.create_pool = create_pool
        self.pool_wait_time = pool_wait_time
        self.bg_error = bg_error
        self.layout_refresh = layout_refresh

        # The lock guards every write below; the hot path reads _mapping,
        # _pools and _err without it (single reads of a reference or an item).
        self._lock = threading.Lock()
        self._err: Optional[BaseException] = None
        self._pools: Dict[str, Pool] = {}
        # Known nodes, as insertion-ordered sets. Startup nodes count as
        # masters until the first refresh says who is who.
        self._masters: Dict[str, None] = dict.fromkeys(self.startup_nodes)
        self._replicas: Dict[str, None] = {}
        self._mapping: Layout = [()] * HASH_SLOTS
        self._refreshing = False
        _fork.track(self)

    def _forked(self) -> None:
        """In a forked child: a fresh lock, and no refresh running (its thread stayed in the parent).

        The node pools reset themselves (see :mod:`redigo_py.pool`); the slot map is kept.
        """
        self._lock = threading.Lock()
        self._refreshing = False

    # -- the slot map ----------------------------------------------------------

    def refresh(self) -> None:
        """Load the slot map with CLUSTER SLOTS from the known nodes, until one answers.

        Call it once after creating the cluster; afterwards the MOVED replies
        keep the map current. Raises ``RedigoError("redisc: all nodes
        failed ...")`` naming each address tried and its error.
        """
        with self._lock:
            if self._err is not None:
                raise _closed()
            self._refreshing = True
        err = self._refresh()
        if err is not None:
            raise err

    def _refresh(self) -> Optional[RedigoError]:
        """One refresh (``_refreshing`` already set) in a ``redis.Cluster.refresh`` span;
        returns its error instead of raising it."""
        span = _rec.start_span("redis.Cluster.refresh", {"db.system.name": "redis"})
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
        addrs, _ = self._node_addrs(False)
        if not addrs:
            addrs, _ = self._node_addrs(True)
            if not addrs:
                addrs = list(self.startup_nodes)
        failures: List[str] = [] if addrs else ["redisc: no startup nodes"]
        try:
            for addr in addrs:
                try:
                    ranges = self._cluster_slots(addr)
                except Exception as exc:
                    failures.append(f"{addr}: {exc}")
                    continue
                self._apply(ranges)  # clears _refreshing as it swaps the map in
                return None
        except BaseException:
            with self._lock:
                self._refreshing = False
            raise
        with self._lock:
            self._refreshing = False
        return RedigoError("redisc: all nodes failed\n" + "\n".join(failures))

    def _cluster_slots(self, addr: str) -> List[Tuple[int, int, Tuple[str, ...]]]:
        conn = self._conn_for_addr(addr, False, _BACKGROUND)
        try:
            return _parse_cluster_slots(conn.do("CLUSTER", "SLOTS"), addr)
        finally:
            conn.close()

    def _apply(self, ranges: List[Tuple[int, int, Tuple[str, ...]]]) -> None:
        """Swap in the map of a CLUSTER SLOTS reply; close the pools of nodes that left."""
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
        for pool in removed:
            pool.close()
        if self.layout_refresh is not None:
            self.layout_refresh(old, mapping)

    def _needs_refresh(self, redir: Optional[RedirError]) -> None:
        """A MOVED (or a slot with no node): fix that slot now, refresh the rest in the background.

        A MOVED to the address the map already has (a replica sending a
        write to its master, a random node guessing) changes nothing and
        starts no refresh.
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
        # In a copy of the caller's context, so that the refresh's span joins the
        # caller's trace (its parent: the span current when the MOVED came back).
        threading.Thread(target=contextvars.copy_context().run, args=(self._background_refresh,),
                         name="redisc-refresh", daemon=True).start()

    def _background_refresh(self) -> None:
        err = self._refresh()
        if err is not None and self.bg_error is not None:
            self.bg_error(CLUSTER_REFRESH, err)

    def _node_addrs(self, prefer_replicas: bool) -> Tuple[List[str], bool]:
        """The known masters, or the known replicas if asked and there are any; and which it is."""
        with self._lock:
            if prefer_replicas and self._replicas:
                return list(self._replicas), True
            return list(self._masters), False

    # -- connections -------------------------------------------------------------

    def _conn_for_addr(self, addr: str, force_dial: bool, ctx: _context.Context) -> Any:
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
        with self._lock:
            existing = self._pools.get(addr)
            if existing is None and self._err is None:
                self._pools[addr] = pool
                return pool
        pool.close()  # create_pool may have opened connections: always pair it with close
        if existing is None:
            raise _closed()
        return existing

    def _from_pool(self, pool: Pool, ctx: _context.Context) -> Any:
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
                       ctx: _context.Context) -> Tuple[Any, str]:
        """A connection to the slot's master, or to one of its replicas for a read-only conn."""
        addrs = self._mapping[slot_]
        if not addrs:
            raise _NoNodeForSlot()
        addr = addrs[0]
        if read_only and len(addrs) > 1:
            addr = addrs[1] if len(addrs) == 2 else addrs[1 + _rnd.randrange(len(addrs) - 1)]
        else:
            read_only = False
        conn = self._conn_for_addr(addr, force_dial, ctx)
        if read_only:
            _send_readonly(conn)
        return conn, addr

    def _random_conn(self, force_dial: bool, read_only: bool, ctx: _context.Context) -> Tuple[Any, str]:
        """A connection to any reachable known node (a replica for a read-only conn, if known)."""
        addrs, _ = self._node_addrs(read_only)
        _rnd.shuffle(addrs)
        failures = []
        for addr in addrs:
            try:
                conn = self._conn_for_addr(addr, force_dial, ctx)
            except Exception as exc:
                failures.append(f"{addr}: {exc}")
                continue
            if read_only:
                _send_readonly(conn)
            return conn, addr
        raise RedigoError("\n".join(["redisc: failed to get a connection", *failures]))

    def _get_conn(self, slot_: int, force_dial: bool, read_only: bool,
                  ctx: _context.Context) -> Tuple[Any, str]:
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

    def each_node(self, replicas: bool, fn: Callable[[str, "Conn"], Any]) -> None:
        """Call ``fn(address, conn)`` for each known master (or each known replica).

        ``conn`` is bound to that node and closed after ``fn`` returns; it is
        not read-only (send READONLY yourself on a replica) and not a retry
        conn. A node that cannot be reached still gets its call, with a conn
        that raises the error, so ``fn`` decides whether to go on; an
        exception from ``fn`` stops the walk and propagates. The nodes are
        those known now: no refresh is forced.
        """
        addrs, are_replicas = self._node_addrs(replicas)
        if not addrs or (replicas and not are_replicas):
            raise RedigoError("redisc: no known node address")
        for addr in addrs:
            try:
                conn = Conn(self, bound_addr=addr, rc=self._conn_for_addr(addr, False, _BACKGROUND))
            except Exception as exc:
                conn = Conn(self, bound_addr=addr, err=exc)
            try:
                fn(addr, conn)
            finally:
                conn.close()

    def stats(self) -> Dict[str, PoolStats]:
        """Each node pool's counters, by address (empty without ``create_pool``); works after ``close()``."""
        with self._lock:
            pools = list(self._pools.items())
        return {addr: pool.stats() for addr, pool in pools}

    def close(self) -> None:
        """Close the pools; afterwards new conns, ``dial`` and ``refresh`` raise "redisc: closed".

        Conns already bound keep working until closed. A second ``close()``
        does nothing.
        """
        with self._lock:
            if self._err is not None:
                return
            self._err = _closed()
            pools = list(self._pools.values())  # _pools is kept, so that stats() still answers
        for pool in pools:
            pool.close()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._err is not None else "open"
        return f"<redigo_py.cluster.Cluster {state} masters={list(self._masters)}>"


def _send_readonly(conn: RedisConn) -> None:
    """READONLY on a replica connection; a failure shows on the next command, as in redisc."""
    try:
        conn.do("READONLY")
    except Exception:
        pass


# -- the cluster conn ----------------------------------------------------------------

class Conn:
    """A connection to a cluster (redisc's ``Conn``), made by ``Cluster.get``/``dial``.

    It binds to one node on its first ``do``/``send``/``receive`` (the node of
    the first argument's slot; any node without one) or by :meth:`bind`, and
    stays there. MOVED and ASK replies are raised as :class:`RedirError`
    (wrap the conn with :func:`retry_conn` to follow them). As a redigo conn,
    one thread may send while another receives; ``bind``, ``read_only``,
    ``flush``, ``err`` and ``close`` take the conn's own lock.
    """

    __slots__ = ("_cluster", "_force_dial", "_lock", "_read_only", "_bound_addr", "_err", "_rc", "__weakref__")

    def __init__(self, cluster: Cluster, force_dial: bool = False, *, bound_addr: Optional[str] = None,
                 rc: Any = None, err: Optional[BaseException] = None) -> None:
        self._cluster = cluster
        self._force_dial = force_dial
        self._lock = threading.Lock()
        self._read_only = False
        self._bound_addr = bound_addr
        self._err = err
        self._rc = rc
        _fork.track(self)

    def _forked(self) -> None:
        """In a forked child: a fresh lock (the node connection fails on its own, as inherited)."""
        self._lock = threading.Lock()

    @property
    def bound_addr(self) -> Optional[str]:
        """The address of the node this conn is bound to, or None before it binds.

        Not in redisc's API (there it is a private field): for logs and
        diagnostics, "which node served this".
        """
        return self._bound_addr

    # -- binding ---------------------------------------------------------------

    def _bind(self, slot_: int, ctx: _context.Context) -> Tuple[Any, bool]:
        """The node connection, binding first if needed; and whether this call bound it."""
        with self._lock:
            if self._err is not None:
                raise _again(self._err)
            rc = self._rc
            if rc is not None:
                return rc, False
            rc, addr = self._cluster._get_conn(slot_, self._force_dial, self._read_only, ctx)
            self._rc, self._bound_addr = rc, addr
            return rc, True

    def bind(self, *keys: Any) -> None:
        """Bind now, to the node of the keys' slot (any node without keys).

        The keys must share a slot (use a ``{tag}``); a conn binds once.
        Either mistake raises and leaves the conn as it was.
        """
        slot_ = -1
        for key in keys:
            s = slot(key)
            if slot_ != -1 and s != slot_:
                raise RedigoError("redisc: keys do not belong to the same slot")
            slot_ = s
        if not self._bind(slot_, _BACKGROUND)[1]:
            raise RedigoError(_ALREADY_BOUND)

    def read_only(self) -> None:
        """Read from a replica of the slot (READONLY is sent on bind); before the conn binds.

        A replica may lag its master, and a write sent on such a conn comes
        back as a MOVED to the master.
        """
        with self._lock:
            if self._err is not None:
                raise _again(self._err)
            if self._rc is not None:
                raise RedigoError(_ALREADY_BOUND)
            self._read_only = True

    # -- what retry_conn asks of a conn --------------------------------------------------

    def redirect_target(self, redir: RedirError) -> Tuple[RedisConn, str, bool]:
        """The node connection to retry on after ``redir``, its address, and whether it is
        read-only (a MOVED has already pointed the slot at its new node)."""
        cluster = self._cluster
        read_only = self._read_only
        if read_only and self._bound_addr in cluster._mapping[redir.new_slot]:
            # The slot's node set did not change: the replica refused the
            # command (a write), so its master must serve it.
            read_only = False
        if redir.type == "ASK":
            return cluster._conn_for_addr(redir.addr, self._force_dial, _BACKGROUND), redir.addr, False
        conn, addr = cluster._conn_for_slot(redir.new_slot, self._force_dial, read_only, _BACKGROUND)
        return conn, addr, read_only

    def rebind(self, conn: RedisConn, addr: str, read_only: bool) -> None:
        """Move to ``conn`` (at ``addr``) after a redirect, closing the node connection it
        leaves (a failure to close goes to the cluster's ``bg_error``). Raises the conn's
        error, closing ``conn``, if the conn was closed meanwhile."""
        with self._lock:
            if self._err is not None:  # closed by another thread meanwhile
                _close_quietly(conn)
                raise _again(self._err)
            close_err = self._close_rc()
            self._rc, self._bound_addr, self._read_only = conn, addr, read_only
        if close_err is not None and self._cluster.bg_error is not None:
            self._cluster.bg_error(RETRY_CLOSE_CONN, close_err)

    def _redirected(self, exc: Error) -> Optional[RedirError]:
        """A MOVED/ASK reply as a RedirError; a MOVED fixes the cluster's map first."""
        redir = parse_redir(exc)
        if redir is not None and redir.type == "MOVED":
            self._cluster._needs_refresh(redir)
        return redir

    # -- redigo's Conn -------------------------------------------------------------

    def do(self, command: Union[str, bytes], *args: Any) -> Any:
        """Send a command and return its reply, binding first if needed.

        ``do("")`` on a conn that never bound has nothing to flush and
        returns None without binding (the pool's clean-up calls it).
        """
        rc = self._rc
        if rc is None or self._err is not None:
            if rc is None and not command and not args:
                return None
            rc = self._bind(_cmd_slot(args), _BACKGROUND)[0]
        try:
            return rc.do(command, *args)
        except Error as exc:
            redir = self._redirected(exc)
            if redir is None:
                raise
            raise redir from None

    def _call(self, slot_: int, ctx: _context.Context, method: str, interface: str, *args: Any) -> Any:
        """The other calls: bind as ``do`` does, then ``rc.<method>(*args)`` if the conn has it."""
        rc = self._rc
        if rc is None or self._err is not None:
            rc = self._bind(slot_, ctx)[0]
        call = getattr(rc, method, None)
        if call is None:
            raise RedigoError(f"redisc: connection does not support {interface}")
        try:
            return call(*args)
        except Error as exc:
            redir = self._redirected(exc)
            if redir is None:
                raise
            raise redir from None

    def send(self, command: Union[str, bytes], *args: Any) -> None:
        """Buffer a command, binding first if needed."""
        self._call(_cmd_slot(args), _BACKGROUND, "send", "Send", command, *args)

    def flush(self) -> None:
        """Write the buffered commands (nothing to do on a conn that never bound)."""
        with self._lock:
            if self._err is not None:
                raise _again(self._err)
            rc = self._rc
        if rc is not None:
            rc.flush()

    def receive(self) -> Any:
        """Read one reply (binding to any node first if needed)."""
        return self._call(-1, _BACKGROUND, "receive", "Receive")

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: Any) -> Any:
        """``do`` with this read timeout instead of the dial option's."""
        if not command and not args and self._rc is None and self._err is None:
            return None
        return self._call(_cmd_slot(args), _BACKGROUND, "do_with_timeout", "ConnWithTimeout",
                          timeout, command, *args)

    def receive_with_timeout(self, timeout: Optional[float]) -> Any:
        """``receive`` with this read timeout instead of the dial option's."""
        return self._call(-1, _BACKGROUND, "receive_with_timeout", "ConnWithTimeout", timeout)

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: Any) -> Any:
        """``do`` bounded by ``ctx`` (the bind's dial or pool wait too)."""
        if not command and not args and self._rc is None and self._err is None:
            return None
        return self._call(_cmd_slot(args), ctx, "do_context", "ConnWithContext", ctx, command, *args)

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: Any) -> None:
        """``send`` bounded by ``ctx``."""
        self._call(_cmd_slot(args), ctx, "send_context", "ConnWithContext", ctx, command, *args)

    def flush_context(self, ctx: _context.Context) -> None:
        """``flush`` bounded by ``ctx``."""
        with self._lock:
            if self._err is not None:
                raise _again(self._err)
            rc = self._rc
        if rc is not None:
            rc.flush_context(ctx)

    def receive_context(self, ctx: _context.Context) -> Any:
        """``receive`` bounded by ``ctx``."""
        return self._call(-1, ctx, "receive_context", "ConnWithContext", ctx)

    def err(self) -> Optional[BaseException]:
        """Why the conn is unusable (closed, or its node connection failed), or None."""
        err = self._err
        if err is None and self._rc is not None:
            err = self._rc.err()
        return err

    def close(self) -> None:
        """Release the node connection (READWRITE first on a read-only one); a second call does nothing."""
        with self._lock:
            if self._err is None:
                self._err = _closed()
                self._close_rc()

    def close_context(self, ctx: _context.Context) -> None:
        """``close()`` (the context only parents the close span)."""
        self.close()

    def _close_rc(self) -> Optional[Exception]:
        """Close the node connection (lock held); return what failed, for ``bg_error``.

        A pooled connection goes back to its pool, so a read-only one is
        switched back to READWRITE first: the next borrower expects a normal
        connection.
        """
        rc = self._rc
        if rc is None:
            return None
        if self._read_only:
            try:
                rc.do("READWRITE")
            except Exception:
                pass
        try:
            rc.close()
        except Exception as exc:
            return exc
        return None

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self._bound_addr or "unbound"
        state = "ok" if self._err is None else repr(self._err)
        mode = " readonly" if self._read_only else ""
        return f"<redigo_py.cluster.Conn {where}{mode} {state}>"


# -- helpers on any conn ---------------------------------------------------------------

def bind_conn(conn: RedisConn, *keys: Any) -> None:
    """``conn.bind(*keys)`` for a conn that has it (redisc's ``BindConn``)."""
    bind = getattr(conn, "bind", None)
    if bind is None:
        raise RedigoError("redisc: no Bind method")
    bind(*keys)


def read_only_conn(conn: RedisConn) -> None:
    """``conn.read_only()`` for a conn that has it (redisc's ``ReadOnlyConn``)."""
    read_only = getattr(conn, "read_only", None)
    if read_only is None:
        raise RedigoError("redisc: no ReadOnly method")
    read_only()


def retry_conn(conn: RedisConn, max_attempts: int, try_again_delay: float) -> "RetryConn":
    """Wrap a cluster conn so that ``do`` follows MOVED and ASK and retries TRYAGAIN.

    At most ``max_attempts`` attempts (<= 0: no limit), then
    ``RedigoError("redisc: too many attempts")``; ``try_again_delay`` seconds
    between TRYAGAIN retries. Only ``do``, ``err`` and ``close`` work on it:
    a pipeline cannot be replayed on another node.
    """
    if not isinstance(conn, Conn):
        raise RedigoError("redisc: connection is not a *Conn")
    return RetryConn(conn, max_attempts, try_again_delay)


class RetryConn:
    """What :func:`retry_conn` returns (redisc's ``retryConn``)."""

    __slots__ = ("_c", "_max_attempts", "_try_again_delay")

    def __init__(self, conn: Conn, max_attempts: int, try_again_delay: float) -> None:
        self._c = conn
        self._max_attempts = max_attempts
        self._try_again_delay = try_again_delay

    @property
    def bound_addr(self) -> Optional[str]:
        """The node the wrapped conn is bound to now (it moves with each redirect)."""
        return self._c.bound_addr

    def do(self, command: Union[str, bytes], *args: Any) -> Any:
        """``do`` on the right node: a MOVED rebinds to the slot's new node, an ASK to the
        migration target (with ASKING just before the command), a TRYAGAIN waits and retries.

        What it needs of the conn is :meth:`Conn.redirect_target` and
        :meth:`Conn.rebind`: the conn's own fields stay the conn's.
        """
        c = self._c
        attempts = 0
        asking = False
        while self._max_attempts <= 0 or attempts < self._max_attempts:
            if asking:
                c.send("ASKING")
                asking = False
            try:
                return c.do(command, *args)
            except RedirError as redir:
                conn, addr, read_only = c.redirect_target(redir)
                asking = redir.type == "ASK"
            except Error as exc:
                if not is_try_again(exc):
                    raise
                time.sleep(self._try_again_delay)  # the migration's progress is the server's, not ours to poll
                attempts += 1
                continue
            c.rebind(conn, addr, read_only)
            attempts += 1
        raise RedigoError("redisc: too many attempts")

    def err(self) -> Optional[BaseException]:
        return self._c.err()

    def close(self) -> None:
        self._c.close()

    def send(self, command: Union[str, bytes], *args: Any) -> None:
        raise RedigoError("redisc: unsupported call to Send")

    def receive(self) -> Any:
        raise RedigoError("redisc: unsupported call to Receive")

    def flush(self) -> None:
        raise RedigoError("redisc: unsupported call to Flush")

    def __enter__(self) -> "RetryConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<redigo_py.cluster retry {self._c!r}>"


def _close_quietly(conn: RedisConn) -> None:
    try:
        conn.close()
    except Exception:
        pass
