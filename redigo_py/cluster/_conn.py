"""A connection to the cluster: binds to a node on its first command (redisc's ``conn.go``).

:class:`ConnBase` is the part without I/O, shared with :mod:`redigo_py.aio.cluster`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, ClassVar, Generic, Optional, Sequence, Tuple, TypeVar, Union

from .. import _fork
from .. import context as _context
from .._types import Reply
from ..errors import Error, RedigoError
from ..protocols import AsyncConn
from ..protocols import Conn as RedisConn
from .._exchange import again as _again
from ._common import (
    _ALREADY_BOUND,
    _BACKGROUND,
    RETRY_CLOSE_CONN,
    _closed,
    _conn_method,
    _node_method,
)
from ._hash import _cmd_slot, slot
from ._redir import RedirError, parse_redir

if TYPE_CHECKING:
    from ..aio.cluster._cluster import Cluster as AioCluster
    from ._cluster import Cluster

# -- what the blocking and the asyncio cluster conn share ---------------------------

CL = TypeVar("CL", bound="Union[Cluster, AioCluster]")  # the conn's cluster: blocking, or asyncio's
RC = TypeVar("RC", RedisConn, AsyncConn)  # its node connection, of the same kind


def _keys_slot(keys: Sequence[object]) -> int:
    """The one slot of ``keys`` for ``bind`` (-1, any node, without keys); keys of two slots are refused."""
    slot_ = -1
    for key in keys:
        s = slot(key)
        if slot_ != -1 and s != slot_:
            raise RedigoError("redisc: keys do not belong to the same slot")
        slot_ = s
    return slot_


class ConnBase(Generic[CL, RC]):
    """What :class:`Conn` and :class:`redigo_py.aio.cluster.Conn` share: the binding state
    (the node connection, its address, read-only or not, the conn's own error) and the
    decisions that need no I/O: read-only's refusals, where a redirect leads, what a
    MOVED does to the cluster's map."""

    __slots__ = ("_cluster", "_force_dial", "_read_only", "_bound_addr", "_err", "_rc", "__weakref__")

    _NAME: ClassVar[str]  # the class as __repr__ names it

    def __init__(self, cluster: CL, force_dial: bool = False, *, bound_addr: Optional[str] = None,
                 rc: Optional[RC] = None, err: Optional[BaseException] = None) -> None:
        self._cluster = cluster
        self._force_dial = force_dial
        self._read_only = False
        self._bound_addr = bound_addr
        self._err = err
        self._rc: Optional[RC] = rc

    @property
    def bound_addr(self) -> Optional[str]:
        """The address of the node this conn is bound to, or None before it binds.

        Not in redisc's API (there it is a private field): for logs and
        diagnostics, "which node served this".
        """
        return self._bound_addr

    def _set_read_only(self, binding: bool) -> None:
        """Make the conn read-only: refused once it is closed, bound or (``binding``) binding."""
        if self._err is not None:
            raise _again(self._err)
        if binding or self._rc is not None:
            raise RedigoError(_ALREADY_BOUND)
        self._read_only = True

    def _redirect_read_only(self, redir: RedirError) -> bool:
        """Whether the retry after a MOVED may stay on a replica (the MOVED has already
        pointed the slot at its new node)."""
        if self._read_only and self._bound_addr in self._cluster._mapping[redir.new_slot]:
            # The slot's node set did not change: the replica refused the
            # command (a write), so its master must serve it.
            return False
        return self._read_only

    def _redirected(self, exc: Error) -> Optional[RedirError]:
        """A MOVED/ASK reply as a RedirError; a MOVED fixes the cluster's map first."""
        redir = parse_redir(exc)
        if redir is not None and redir.type == "MOVED":
            self._cluster._needs_refresh(redir)
        return redir

    def err(self) -> Optional[BaseException]:
        """Why the conn is unusable (closed, or its node connection failed), or None."""
        err = self._err
        if err is None and self._rc is not None:
            err = self._rc.err()
        return err

    def __repr__(self) -> str:
        where = self._bound_addr or "unbound"
        state = "ok" if self._err is None else repr(self._err)
        mode = " readonly" if self._read_only else ""
        return f"<{self._NAME} {where}{mode} {state}>"


# -- the cluster conn ----------------------------------------------------------------

class Conn(ConnBase["Cluster", RedisConn]):
    """A connection to a cluster (redisc's ``Conn``), made by ``Cluster.get``/``dial``.

    It binds to one node on its first ``do``/``send``/``receive`` (the node of
    the first argument's slot; any node without one) or by :meth:`bind`, and
    stays there. MOVED and ASK replies are raised as :class:`RedirError`
    (wrap the conn with :func:`retry_conn` to follow them). As a redigo conn,
    one thread may send while another receives; ``bind``, ``read_only``,
    ``flush``, ``err`` and ``close`` take the conn's own lock.
    """

    __slots__ = ("_lock",)

    _NAME = "redigo_py.cluster.Conn"

    def __init__(self, cluster: Cluster, force_dial: bool = False, *, bound_addr: Optional[str] = None,
                 rc: Optional[RedisConn] = None, err: Optional[BaseException] = None) -> None:
        super().__init__(cluster, force_dial, bound_addr=bound_addr, rc=rc, err=err)
        self._lock = threading.Lock()
        _fork.track(self)

    def _forked(self) -> None:
        """In a forked child: a fresh lock (the node connection fails on its own, as inherited)."""
        self._lock = threading.Lock()

    # -- binding ---------------------------------------------------------------

    def _bind(self, slot_: int, ctx: _context.Context) -> Tuple[RedisConn, bool]:
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

    def bind(self, *keys: object) -> None:
        """Bind now, to the node of the keys' slot (any node without keys).

        The keys must share a slot (use a ``{tag}``); a conn binds once.
        Either mistake raises and leaves the conn as it was.
        """
        if not self._bind(_keys_slot(keys), _BACKGROUND)[1]:
            raise RedigoError(_ALREADY_BOUND)

    def read_only(self) -> None:
        """Read from a replica of the slot (READONLY is sent on bind); before the conn binds.

        A replica may lag its master, and a write sent on such a conn comes
        back as a MOVED to the master.
        """
        with self._lock:  # a bind in progress holds it: the conn is bound once it is free
            self._set_read_only(False)

    # -- what retry_conn asks of a conn --------------------------------------------------

    def redirect_target(self, redir: RedirError) -> Tuple[RedisConn, str, bool]:
        """The node connection to retry on after ``redir``, its address, and whether it is
        read-only (a MOVED has already pointed the slot at its new node)."""
        cluster = self._cluster
        if redir.type == "ASK":
            return cluster._conn_for_addr(redir.addr, self._force_dial, _BACKGROUND), redir.addr, False
        read_only = self._redirect_read_only(redir)
        conn, addr = cluster._conn_for_slot(redir.new_slot, self._force_dial, read_only, _BACKGROUND)
        return conn, addr, read_only

    def rebind(self, conn: RedisConn, addr: str, read_only: bool) -> None:
        """Move to ``conn`` (at ``addr``) after a redirect, closing the node connection it
        leaves (a failure to close goes to the cluster's ``bg_error``). Raises the conn's
        error, closing ``conn``, if the conn was closed meanwhile."""
        with self._lock:
            if self._err is not None:  # closed by another thread meanwhile
                _release(conn, read_only)
                raise _again(self._err)
            close_err = self._close_rc()
            self._rc, self._bound_addr, self._read_only = conn, addr, read_only
        if close_err is not None and self._cluster.bg_error is not None:
            self._cluster.bg_error(RETRY_CLOSE_CONN, close_err)

    # -- redigo's Conn -------------------------------------------------------------

    def do(self, command: Union[str, bytes], *args: object) -> Reply:
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

    def _call(self, slot_: int, ctx: _context.Context, method: str, interface: str, *args: object) -> Reply:
        """The other calls: bind as ``do`` does, then ``rc.<method>(*args)`` if the conn has it."""
        rc = self._rc
        if rc is None or self._err is not None:
            rc = self._bind(slot_, ctx)[0]
        call = _node_method(rc, method, interface)
        try:
            return call(*args)
        except Error as exc:
            redir = self._redirected(exc)
            if redir is None:
                raise
            raise redir from None

    def send(self, command: Union[str, bytes], *args: object) -> None:
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

    def receive(self) -> Reply:
        """Read one reply (binding to any node first if needed)."""
        return self._call(-1, _BACKGROUND, "receive", "Receive")

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        """``do`` with this read timeout instead of the dial option's."""
        if not command and not args and self._rc is None and self._err is None:
            return None
        return self._call(_cmd_slot(args), _BACKGROUND, "do_with_timeout", "ConnWithTimeout",
                          timeout, command, *args)

    def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        """``receive`` with this read timeout instead of the dial option's."""
        return self._call(-1, _BACKGROUND, "receive_with_timeout", "ConnWithTimeout", timeout)

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        """``do`` bounded by ``ctx`` (the bind's dial or pool wait too)."""
        if not command and not args and self._rc is None and self._err is None:
            return None
        return self._call(_cmd_slot(args), ctx, "do_context", "ConnWithContext", ctx, command, *args)

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        """``send`` bounded by ``ctx``."""
        self._call(_cmd_slot(args), ctx, "send_context", "ConnWithContext", ctx, command, *args)

    def flush_context(self, ctx: _context.Context) -> None:
        """``flush`` bounded by ``ctx``."""
        with self._lock:
            if self._err is not None:
                raise _again(self._err)
            rc = self._rc
        if rc is not None:
            # ConnWithContext's, which each node connection the cluster makes has.
            rc.flush_context(ctx)  # type: ignore[attr-defined]

    def receive_context(self, ctx: _context.Context) -> Reply:
        """``receive`` bounded by ``ctx``."""
        return self._call(-1, ctx, "receive_context", "ConnWithContext", ctx)

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
        """Close the node connection (lock held); return what failed, for ``bg_error``."""
        return _release(self._rc, self._read_only)

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- helpers on any conn ---------------------------------------------------------------

def _release(rc: Optional[RedisConn], read_only: bool) -> Optional[Exception]:
    """Close a node connection a conn leaves; return what failed, for ``bg_error``.

    A pooled connection goes back to its pool, so a read-only one is
    switched back to READWRITE first: the next borrower expects a normal
    connection.
    """
    if rc is None:
        return None
    if read_only:
        try:
            rc.do("READWRITE")
        except Exception:
            pass
    try:
        rc.close()
    except Exception as exc:
        return exc
    return None


def bind_conn(conn: RedisConn, *keys: object) -> None:
    """``conn.bind(*keys)`` for a conn that has it (redisc's ``BindConn``)."""
    _conn_method(conn, "bind", "Bind")(*keys)


def read_only_conn(conn: RedisConn) -> None:
    """``conn.read_only()`` for a conn that has it (redisc's ``ReadOnlyConn``)."""
    _conn_method(conn, "read_only", "ReadOnly")()
