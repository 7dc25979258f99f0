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

from ._cluster import Cluster
from ._common import CLUSTER_REFRESH, HASH_SLOTS, RETRY_CLOSE_CONN, BgErrorSrc
from ._conn import Conn, bind_conn, read_only_conn
from ._redir import RedirError, is_cross_slot, is_try_again, parse_redir
from ._hash import slot, split_by_slot
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
