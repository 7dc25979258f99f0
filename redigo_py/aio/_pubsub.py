"""Pub/sub for asyncio: :class:`PubSubConn` with ``await`` and ``async for``.

The notifications (:class:`~redigo_py.pubsub.Message`,
:class:`~redigo_py.pubsub.Subscription`, :class:`~redigo_py.pubsub.Pong`)
and their decoding are the blocking module's. One task receives (``async
for msg in psc``); other tasks may subscribe, unsubscribe and ping, since
those only send and flush::

    psc = aio.PubSubConn(await aio.dial("tcp", address))
    await psc.subscribe("news")
    async for msg in psc:          # until psc.close()
        match msg:
            case Message(channel=ch, data=data): ...
"""

from __future__ import annotations

from typing import Optional

from .. import context as _context
from ..protocols import AsyncConn
from ..pubsub import Notification, PongCounter

__all__ = ["PubSubConn"]


class PubSubConn(PongCounter):
    """Wraps an :mod:`redigo_py.aio` connection with the subscriber's methods."""

    __slots__ = ("conn", "_closed")

    def __init__(self, conn: AsyncConn) -> None:
        PongCounter.__init__(self)
        self.conn = conn  #: the wrapped connection
        self._closed = False

    async def close(self) -> None:
        """Close the wrapped connection; an ``async for`` over this ends."""
        self._closed = True
        await self.conn.close()

    async def _command(self, command: str, *args: object) -> None:
        await self.conn.send(command, *args)
        await self.conn.flush()

    async def subscribe(self, *channels: object) -> None:
        """Subscribe to the channels."""
        await self._command("SUBSCRIBE", *channels)

    async def psubscribe(self, *patterns: object) -> None:
        """Subscribe to the glob-style patterns."""
        await self._command("PSUBSCRIBE", *patterns)

    async def unsubscribe(self, *channels: object) -> None:
        """Unsubscribe from the channels, or from every channel if none is given."""
        await self._command("UNSUBSCRIBE", *channels)

    async def punsubscribe(self, *patterns: object) -> None:
        """Unsubscribe from the patterns, or from every pattern if none is given."""
        await self._command("PUNSUBSCRIBE", *patterns)

    async def ping(self, data: str = "") -> None:
        """Send a PING; the :class:`~redigo_py.pubsub.Pong` comes through ``receive``."""
        await self._command("PING", data)
        self._pings += 1

    async def receive(self) -> Notification:
        """The next notification (bounded by the connection's read timeout)."""
        return self._notification(await self.conn.receive())

    async def receive_with_timeout(self, timeout: Optional[float]) -> Notification:
        """``receive`` with this read timeout (seconds) instead of the connection's."""
        return self._notification(await self.conn.receive_with_timeout(timeout))  # type: ignore[attr-defined]

    async def receive_context(self, ctx: _context.Context) -> Notification:
        """``receive`` that ``ctx`` can end; the connection is closed if it does."""
        return self._notification(await self.conn.receive_context(ctx))  # type: ignore[attr-defined]

    def __aiter__(self) -> "PubSubConn":
        return self

    async def __anext__(self) -> Notification:
        """The next notification; the iteration ends once :meth:`close` was called (also
        when that close is what interrupted the wait). Other errors are raised."""
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self.receive()
        except Exception:
            if self._closed:
                raise StopAsyncIteration from None
            raise
