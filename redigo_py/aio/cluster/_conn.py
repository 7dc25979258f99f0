"""The cluster conn for asyncio: binds to a node on its first command (redisc's ``conn.go``,
awaited). Its state and decisions are the blocking conn's (:class:`redigo_py.cluster._conn.ConnBase`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Tuple, Union

from ... import _fork
from ... import context as _context
from ..._exchange import again
from ..._types import Reply
from ...cluster._common import _ALREADY_BOUND, _BACKGROUND, RETRY_CLOSE_CONN, _closed, _conn_method, _node_method
from ...cluster._conn import ConnBase, _keys_slot
from ...cluster._hash import _cmd_slot
from ...cluster._redir import RedirError
from ...errors import Error, RedigoError
from ...protocols import AsyncConn
from ._common import _close_quietly, _maybe_await

if TYPE_CHECKING:
    from ._cluster import Cluster


class Conn(ConnBase["Cluster", AsyncConn]):
    """A connection to a cluster for asyncio (redisc's ``Conn``), made by ``await Cluster.get()``
    or ``dial()``.

    It binds to one node on its first ``do``/``send``/``receive`` (the node
    of the first argument's slot; any node without one) or by :meth:`bind`,
    and stays there; every call after that is the node connection's own.
    MOVED and ASK replies are raised as :class:`~redigo_py.cluster.RedirError`
    (wrap the conn with :func:`retry_conn` to follow them). The calls are
    coroutines, ``err`` is not; an async context manager that closes it.

    Tasks share it as they share an :class:`redigo_py.aio.NetConn` (one
    sending, one receiving). Binding awaits a pool or a dial, so two tasks
    may both start a bind: the first to finish binds, the other gives its
    connection back and uses the first one's; a ``close`` meanwhile wins
    over both.
    """

    __slots__ = ("_binding",)

    _NAME = "redigo_py.aio.cluster.Conn"

    def __init__(self, cluster: Cluster, force_dial: bool = False, *, bound_addr: Optional[str] = None,
                 rc: Optional[AsyncConn] = None, err: Optional[BaseException] = None) -> None:
        super().__init__(cluster, force_dial, bound_addr=bound_addr, rc=rc, err=err)
        self._binding = 0  # binds awaiting their node connection
        _fork.track(self)

    def _forked(self) -> None:
        """In a forked child: no bind in progress (it was awaited on the parent's event loop).
        The node connection fails on its own, as inherited."""
        self._binding = 0

    # -- binding ---------------------------------------------------------------

    async def _bind(self, slot_: int, ctx: _context.Context) -> Tuple[AsyncConn, bool]:
        """The node connection, binding first if needed; and whether this call bound it."""
        if self._err is not None:
            raise again(self._err)
        rc = self._rc
        if rc is not None:
            return rc, False
        self._binding += 1
        try:
            rc, addr = await self._cluster._get_conn(slot_, self._force_dial, self._read_only, ctx)
        finally:
            self._binding -= 1
        if self._err is not None or self._rc is not None:  # closed, or bound by another task, meanwhile
            await _release(rc, self._read_only)  # back to its pool as it came
            if self._err is not None:
                raise again(self._err)
            return self._rc, False
        self._rc, self._bound_addr = rc, addr
        return rc, True

    async def bind(self, *keys: object) -> None:
        """Bind now, to the node of the keys' slot (any node without keys).

        The keys must share a slot (use a ``{tag}``); a conn binds once.
        Either mistake raises and leaves the conn as it was.
        """
        if not (await self._bind(_keys_slot(keys), _BACKGROUND))[1]:
            raise RedigoError(_ALREADY_BOUND)

    async def read_only(self) -> None:
        """Read from a replica of the slot (READONLY is sent on bind); before the conn binds
        (or starts to: a bind in progress counts as bound).

        A replica may lag its master, and a write sent on such a conn comes
        back as a MOVED to the master.
        """
        self._set_read_only(self._binding > 0)

    # -- what retry_conn asks of a conn --------------------------------------------------

    async def redirect_target(self, redir: RedirError) -> Tuple[AsyncConn, str, bool]:
        """The node connection to retry on after ``redir``, its address, and whether it is
        read-only (a MOVED has already pointed the slot at its new node)."""
        cluster = self._cluster
        if redir.type == "ASK":
            return await cluster._conn_for_addr(redir.addr, self._force_dial, _BACKGROUND), redir.addr, False
        read_only = self._redirect_read_only(redir)
        conn, addr = await cluster._conn_for_slot(redir.new_slot, self._force_dial, read_only, _BACKGROUND)
        return conn, addr, read_only

    async def rebind(self, conn: AsyncConn, addr: str, read_only: bool) -> None:
        """Move to ``conn`` (at ``addr``) after a redirect, then close the node connection it
        leaves (a failure to close goes to the cluster's ``bg_error``). Raises the conn's
        error, closing ``conn``, if the conn was closed meanwhile.

        ``conn`` is the conn's before anything is awaited, so a cancellation
        cannot leave it borrowed by no one.
        """
        if self._err is not None:
            await _release(conn, read_only)
            raise again(self._err)
        old, old_read_only = self._rc, self._read_only
        self._rc, self._bound_addr, self._read_only = conn, addr, read_only
        close_err = await _release(old, old_read_only)
        if close_err is not None and self._cluster.bg_error is not None:
            await _maybe_await(self._cluster.bg_error(RETRY_CLOSE_CONN, close_err))

    # -- redigo's Conn, awaited ------------------------------------------------------

    async def do(self, command: Union[str, bytes], *args: object) -> Reply:
        """Send a command and return its reply, binding first if needed (as the blocking
        :meth:`redigo_py.cluster.Conn.do`, which says what ``do("")`` does)."""
        rc = self._rc
        if rc is None or self._err is not None:
            if rc is None and not command and not args:
                return None
            rc = (await self._bind(_cmd_slot(args), _BACKGROUND))[0]
        try:
            return await rc.do(command, *args)
        except Error as exc:
            redir = self._redirected(exc)
            if redir is None:
                raise
            raise redir from None

    async def _call(self, slot_: int, ctx: _context.Context, method: str, interface: str, *args: object) -> Reply:
        """The other calls: bind as ``do`` does, then ``await rc.<method>(*args)`` if the conn has it."""
        rc = self._rc
        if rc is None or self._err is not None:
            rc = (await self._bind(slot_, ctx))[0]
        call = _node_method(rc, method, interface)
        try:
            return await call(*args)
        except Error as exc:
            redir = self._redirected(exc)
            if redir is None:
                raise
            raise redir from None

    async def send(self, command: Union[str, bytes], *args: object) -> None:
        """Buffer a command, binding first if needed."""
        await self._call(_cmd_slot(args), _BACKGROUND, "send", "Send", command, *args)

    async def flush(self) -> None:
        """Write the buffered commands (nothing to do on a conn that never bound)."""
        if self._err is not None:
            raise again(self._err)
        rc = self._rc
        if rc is not None:
            await rc.flush()

    async def receive(self) -> Reply:
        """Read one reply (binding to any node first if needed)."""
        return await self._call(-1, _BACKGROUND, "receive", "Receive")

    async def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        """``do`` with this read timeout instead of the dial option's."""
        if not command and not args and self._rc is None and self._err is None:
            return None
        return await self._call(_cmd_slot(args), _BACKGROUND, "do_with_timeout", "ConnWithTimeout",
                                timeout, command, *args)

    async def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        """``receive`` with this read timeout instead of the dial option's."""
        return await self._call(-1, _BACKGROUND, "receive_with_timeout", "ConnWithTimeout", timeout)

    async def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        """``do`` bounded by ``ctx`` (the bind's dial or pool wait too)."""
        if not command and not args and self._rc is None and self._err is None:
            return None
        return await self._call(_cmd_slot(args), ctx, "do_context", "ConnWithContext", ctx, command, *args)

    async def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        """``send`` bounded by ``ctx``."""
        await self._call(_cmd_slot(args), ctx, "send_context", "ConnWithContext", ctx, command, *args)

    async def flush_context(self, ctx: _context.Context) -> None:
        """``flush`` bounded by ``ctx``."""
        if self._err is not None:
            raise again(self._err)
        rc = self._rc
        if rc is not None:
            # AsyncConnWithContext's, which each node connection the cluster makes has.
            await rc.flush_context(ctx)  # type: ignore[attr-defined]

    async def receive_context(self, ctx: _context.Context) -> Reply:
        """``receive`` bounded by ``ctx``."""
        return await self._call(-1, ctx, "receive_context", "ConnWithContext", ctx)

    async def close(self) -> None:
        """Release the node connection (READWRITE first on a read-only one); a second call does nothing."""
        if self._err is None:
            self._err = _closed()
            await _release(self._rc, self._read_only)

    async def close_context(self, ctx: _context.Context) -> None:
        """``close()`` (the context only parents the close span)."""
        await self.close()

    async def __aenter__(self) -> "Conn":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _release(rc: Optional[AsyncConn], read_only: bool) -> Optional[Exception]:
    """Close a node connection the conn leaves; return what failed, for ``bg_error``.

    A pooled connection goes back to its pool, so a read-only one is
    switched back to READWRITE first: the next borrower expects a normal
    connection. A cancellation during READWRITE still closes it (a pooled
    one, fatal by then, is discarded).
    """
    if rc is None:
        return None
    try:
        if read_only:
            try:
                await rc.do("READWRITE")
            except Exception:
                pass
    except BaseException:
        await _close_quietly(rc)
        raise
    try:
        await rc.close()
    except Exception as exc:
        return exc
    return None


# -- helpers on any conn ---------------------------------------------------------------

async def bind_conn(conn: AsyncConn, *keys: object) -> None:
    """``await conn.bind(*keys)`` for a conn that has it (redisc's ``BindConn``)."""
    await _conn_method(conn, "bind", "Bind")(*keys)


async def read_only_conn(conn: AsyncConn) -> None:
    """``await conn.read_only()`` for a conn that has it (redisc's ``ReadOnlyConn``)."""
    await _conn_method(conn, "read_only", "ReadOnly")()
