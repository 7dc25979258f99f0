"""What every room of the cluster package shares: constants, the background-error sources,
the "closed" error."""

from __future__ import annotations

import enum
import random
from typing import List, Tuple

from .. import context as _context
from ..errors import ConnectionError
from ..protocols import Conn as RedisConn

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


def _close_quietly(conn: RedisConn) -> None:
    try:
        conn.close()
    except Exception:
        pass
