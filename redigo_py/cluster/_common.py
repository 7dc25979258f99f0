"""What every room of the cluster package shares (and :mod:`redigo_py.aio.cluster` with it):
constants, the background-error sources, redisc's error texts."""

from __future__ import annotations

import enum
import random
from typing import Awaitable, List, Protocol, Sequence, Tuple, TypeVar, overload

from .. import context as _context
from .._types import Reply
from ..errors import ConnectionError, RedigoError
from ..protocols import AsyncConn
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


def _node_failures(head: str, failures: Sequence[Tuple[str, BaseException]]) -> RedigoError:
    """``head``, then one "address: error" line per node tried: what failed where, in one error."""
    return RedigoError("\n".join([head, *(f"{addr}: {exc}" for addr, exc in failures)]))


R_co = TypeVar("R_co", covariant=True)


class _Method(Protocol[R_co]):
    """A method found by name (``getattr``), called with the arguments of the call it serves."""

    def __call__(self, *args: object) -> R_co: ...


@overload
def _node_method(rc: RedisConn, method: str, interface: str) -> _Method[Reply]: ...
@overload
def _node_method(rc: AsyncConn, method: str, interface: str) -> _Method[Awaitable[Reply]]: ...


def _node_method(rc: object, method: str, interface: str) -> _Method[object]:
    """The node connection's ``method`` of an optional interface, or redisc's "does not support"."""
    call = getattr(rc, method, None)
    if call is None:
        raise RedigoError(f"redisc: connection does not support {interface}")
    return call  # type: ignore[no-any-return]  # getattr: the interface's method


@overload
def _conn_method(conn: RedisConn, method: str, go_name: str) -> _Method[None]: ...
@overload
def _conn_method(conn: AsyncConn, method: str, go_name: str) -> _Method[Awaitable[None]]: ...


def _conn_method(conn: object, method: str, go_name: str) -> _Method[object]:
    """``conn``'s ``bind``/``read_only`` for the module-level helpers, or redisc's "no ... method"."""
    call = getattr(conn, method, None)
    if call is None:
        raise RedigoError(f"redisc: no {go_name} method")
    return call  # type: ignore[no-any-return]  # getattr: a cluster conn's method
