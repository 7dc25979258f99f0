"""What the rooms of the asyncio cluster share: a callback that may be a coroutine
function, and a close that must not raise."""

from __future__ import annotations

import inspect

from ...protocols import AsyncConn


async def _maybe_await(result: object) -> None:
    """Await what a callback returned if it is awaitable: ``bg_error``, ``layout_refresh``
    and ``each_node``'s ``fn`` may be coroutine functions or plain ones."""
    if inspect.isawaitable(result):
        await result


async def _close_quietly(conn: AsyncConn) -> None:
    try:
        await conn.close()
    except Exception:
        pass
