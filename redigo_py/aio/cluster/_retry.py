"""Following MOVED and ASK, retrying TRYAGAIN, for asyncio (redisc's ``retry_conn.go``, awaited).

The attempt budget and the error texts are the blocking retry conn's
(:class:`redigo_py.cluster._retry.RetryConnBase`).
"""

from __future__ import annotations

import asyncio
from typing import Union

from ..._types import Reply
from ...cluster._redir import RedirError, is_try_again
from ...cluster._retry import RetryConnBase, _not_a_conn, _too_many, _unsupported
from ...errors import Error
from ...protocols import AsyncConn
from ._conn import Conn


def retry_conn(conn: AsyncConn, max_attempts: int, try_again_delay: float) -> "RetryConn":
    """:func:`redigo_py.cluster.retry_conn` for an :mod:`redigo_py.aio.cluster` conn: ``do``
    follows MOVED and ASK and retries TRYAGAIN (waited out with ``asyncio.sleep``)."""
    if not isinstance(conn, Conn):
        raise _not_a_conn()
    return RetryConn(conn, max_attempts, try_again_delay)


class RetryConn(RetryConnBase[Conn]):
    """What :func:`retry_conn` returns (redisc's ``retryConn``, awaited); an async context
    manager that closes the conn it wraps."""

    __slots__ = ()

    _NAME = "redigo_py.aio.cluster retry"

    async def do(self, command: Union[str, bytes], *args: object) -> Reply:
        """``do`` on the right node, as the blocking retry conn's (MOVED, ASK, TRYAGAIN)."""
        c = self._c
        attempts = 0
        asking = False
        while self._may_try(attempts):
            if asking:
                await c.send("ASKING")
                asking = False
            try:
                return await c.do(command, *args)
            except RedirError as redir:
                conn, addr, read_only = await c.redirect_target(redir)
                asking = redir.type == "ASK"
            except Error as exc:
                if not is_try_again(exc):
                    raise
                await asyncio.sleep(self._try_again_delay)  # the migration's progress is the server's
                attempts += 1
                continue
            await c.rebind(conn, addr, read_only)
            attempts += 1
        raise _too_many()

    async def close(self) -> None:
        await self._c.close()

    async def send(self, command: Union[str, bytes], *args: object) -> None:
        raise _unsupported("Send")

    async def receive(self) -> Reply:
        raise _unsupported("Receive")

    async def flush(self) -> None:
        raise _unsupported("Flush")

    async def __aenter__(self) -> "RetryConn":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
