"""Lua scripts for asyncio: :class:`Script`, awaited (EVALSHA, EVAL on NOSCRIPT)."""

from __future__ import annotations

from .. import context as _context
from ..errors import Error
from ..protocols import AsyncConn
from ..conn import optional_method
from ..script import ScriptBase
from ..script import _is_noscript
from .._types import Reply

__all__ = ["Script"]


class Script(ScriptBase):
    """A Lua script (see :class:`redigo_py.Script`) whose calls take an
    :mod:`redigo_py.aio` connection and are coroutines."""

    __slots__ = ()

    async def do(self, conn: AsyncConn, *keys_and_args: object) -> Reply:
        """Evaluate the script with EVALSHA, falling back to EVAL on NOSCRIPT."""
        try:
            return await conn.do("EVALSHA", *self._args(self._hash, keys_and_args))
        except Error as exc:
            if not _is_noscript(exc):
                raise
        return await conn.do("EVAL", *self._args(self._src, keys_and_args))

    async def do_context(self, ctx: _context.Context, conn: AsyncConn,
                         *keys_and_args: object) -> Reply:
        """``do`` bounded by ``ctx`` (the connection must have ``do_context``)."""
        do_context = optional_method(conn, "do_context", "ConnWithContext")
        try:
            return await do_context(ctx, "EVALSHA", *self._args(self._hash, keys_and_args))
        except Error as exc:
            if not _is_noscript(exc):
                raise
        return await do_context(ctx, "EVAL", *self._args(self._src, keys_and_args))

    async def send(self, conn: AsyncConn, *keys_and_args: object) -> None:
        """Queue an EVAL of the script (its reply comes from ``receive``)."""
        await conn.send("EVAL", *self._args(self._src, keys_and_args))

    async def send_hash(self, conn: AsyncConn, *keys_and_args: object) -> None:
        """Queue an EVALSHA; the script must already be loaded."""
        await conn.send("EVALSHA", *self._args(self._hash, keys_and_args))

    async def load(self, conn: AsyncConn) -> None:
        """Load the script into the server's cache without running it (SCRIPT LOAD)."""
        await conn.do("SCRIPT", "LOAD", self._src)
