"""asyncio: the same client for async services (``redigo_py.aio``).

A ported Go program keeps its names and adds ``await``::

    from redigo_py import aio

    c = await aio.dial("tcp", "127.0.0.1:6379")
    await c.do("SET", "k", "v")
    await c.send("INCR", "n"); await c.flush(); print(await c.receive())

    pool = aio.Pool(dial=lambda: aio.dial("tcp", "127.0.0.1:6379"), max_idle=3)
    async with pool.get() as c:
        await c.do("GET", "k")

The codec, the command-state table, the reply helpers (``redigo_py.int_``,
``values``, ``scan``... take the awaited reply), the errors and the
observability recorder are the blocking client's; only the I/O differs.
A call cancelled or timed out after its command was written makes its
connection fatal, so its reply can never reach another caller; a pooled
connection so broken is discarded.
"""

from ..protocols import AsyncConn as Conn
from ..protocols import AsyncConnWithContext as ConnWithContext
from ..protocols import AsyncConnWithTimeout as ConnWithTimeout
from ..pubsub import Message, Pong, Subscription
from ._conn import NetConn, dial, dial_context, dial_url, dial_url_context
from ._pool import ErrorConn, Pool, PooledConn
from ._pubsub import PubSubConn
from ._script import Script
from . import cluster

__all__ = [
    "Conn",
    "ConnWithContext",
    "ConnWithTimeout",
    "ErrorConn",
    "Message",
    "NetConn",
    "Pong",
    "Pool",
    "PooledConn",
    "PubSubConn",
    "Script",
    "Subscription",
    "cluster",
    "dial",
    "dial_context",
    "dial_url",
    "dial_url_context",
]
