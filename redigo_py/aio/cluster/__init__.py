"""Redis Cluster for asyncio (``redigo_py.aio.cluster``): redisc's API, awaited.

The blocking :mod:`redigo_py.cluster` with ``await``; a ported program keeps
its names::

    from redigo_py import aio

    cl = aio.cluster.Cluster(["127.0.0.1:7000", "127.0.0.1:7001"],
                             create_pool=lambda addr, **opts: aio.Pool(
                                 dial=lambda: aio.dial("tcp", addr, **opts), max_idle=4))
    await cl.refresh()                                          # learn the slot map once
    conn = aio.cluster.retry_conn(await cl.get(), 3, 0.1)       # follow MOVED/ASK, retry TRYAGAIN
    async with conn:
        await conn.do("SET", "user:{42}:name", "ann")
    await cl.close()

Everything that does no I/O is the blocking package's own code: the slot
map and its updates, the parsing of CLUSTER SLOTS, the choice of a node,
what a redirect means, the hashing, the error texts (``redisc: closed``,
...). What differs is only how it waits: a conn binds by awaiting a pool or
a dial; a MOVED points its slot at the new node before the call returns and
starts one background refresh as a task (its failure goes to ``bg_error``);
a TRYAGAIN is waited out with ``asyncio.sleep``. A call cancelled after its
command was written leaves the node connection fatal, as with any
:mod:`redigo_py.aio` connection, and its pool discards it when the cluster
conn is closed.
"""

from ...cluster import (
    CLUSTER_REFRESH,
    HASH_SLOTS,
    RETRY_CLOSE_CONN,
    BgErrorSrc,
    RedirError,
    is_cross_slot,
    is_try_again,
    parse_redir,
    slot,
    split_by_slot,
)
from ._cluster import Cluster
from ._conn import Conn, bind_conn, read_only_conn
from ._retry import RetryConn, retry_conn

__all__ = [
    "HASH_SLOTS",
    "BgErrorSrc",
    "CLUSTER_REFRESH",
    "RETRY_CLOSE_CONN",
    "Cluster",
    "Conn",
    "RedirError",
    "RetryConn",
    "bind_conn",
    "read_only_conn",
    "retry_conn",
    "slot",
    "split_by_slot",
    "parse_redir",
    "is_try_again",
    "is_cross_slot",
]
