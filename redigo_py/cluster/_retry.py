"""Following MOVED and ASK, retrying TRYAGAIN (redisc's ``retry_conn.go``).

:class:`RetryConnBase` is the part without I/O, shared with :mod:`redigo_py.aio.cluster`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, Generic, Optional, TypeVar, Union

from .._types import Reply
from ..errors import Error, RedigoError
from ..protocols import Conn as RedisConn
from ._conn import Conn
from ._redir import RedirError, is_try_again

if TYPE_CHECKING:
    from ..aio.cluster._conn import Conn as AioConn

# -- what the blocking and the asyncio retry conn share -----------------------------

C = TypeVar("C", bound="Union[Conn, AioConn]")  # the wrapped cluster conn: blocking, or asyncio's


def _not_a_conn() -> RedigoError:
    return RedigoError("redisc: connection is not a *Conn")


def _too_many() -> RedigoError:
    return RedigoError("redisc: too many attempts")


def _unsupported(call: str) -> RedigoError:
    """A pipeline call on a retry conn: its replies could not be replayed on another node."""
    return RedigoError(f"redisc: unsupported call to {call}")


class RetryConnBase(Generic[C]):
    """What :class:`RetryConn` and :class:`redigo_py.aio.cluster.RetryConn` share: the
    wrapped conn, the attempt budget, and the accessors."""

    __slots__ = ("_c", "_max_attempts", "_try_again_delay")

    _NAME: ClassVar[str]  # the class as __repr__ names it

    def __init__(self, conn: C, max_attempts: int, try_again_delay: float) -> None:
        self._c = conn
        self._max_attempts = max_attempts
        self._try_again_delay = try_again_delay

    @property
    def bound_addr(self) -> Optional[str]:
        """The node the wrapped conn is bound to now (it moves with each redirect)."""
        return self._c.bound_addr

    def _may_try(self, attempts: int) -> bool:
        """Whether another attempt is within ``max_attempts`` (<= 0: no limit)."""
        return self._max_attempts <= 0 or attempts < self._max_attempts

    def err(self) -> Optional[BaseException]:
        return self._c.err()

    def __repr__(self) -> str:
        return f"<{self._NAME} {self._c!r}>"


# -- the retry conn ------------------------------------------------------------------

def retry_conn(conn: RedisConn, max_attempts: int, try_again_delay: float) -> "RetryConn":
    """Wrap a cluster conn so that ``do`` follows MOVED and ASK and retries TRYAGAIN.

    At most ``max_attempts`` attempts (<= 0: no limit), then
    ``RedigoError("redisc: too many attempts")``; ``try_again_delay`` seconds
    between TRYAGAIN retries. Only ``do``, ``err`` and ``close`` work on it:
    a pipeline cannot be replayed on another node.
    """
    if not isinstance(conn, Conn):
        raise _not_a_conn()
    return RetryConn(conn, max_attempts, try_again_delay)


class RetryConn(RetryConnBase[Conn]):
    """What :func:`retry_conn` returns (redisc's ``retryConn``)."""

    __slots__ = ()

    _NAME = "redigo_py.cluster retry"

    def do(self, command: Union[str, bytes], *args: object) -> Reply:
        """``do`` on the right node: a MOVED rebinds to the slot's new node, an ASK to the
        migration target (with ASKING just before the command), a TRYAGAIN waits and retries.

        What it needs of the conn is :meth:`Conn.redirect_target` and
        :meth:`Conn.rebind`: the conn's own fields stay the conn's.
        """
        c = self._c
        attempts = 0
        asking = False
        while self._may_try(attempts):
            if asking:
                c.send("ASKING")
                asking = False
            try:
                return c.do(command, *args)
            except RedirError as redir:
                conn, addr, read_only = c.redirect_target(redir)
                asking = redir.type == "ASK"
            except Error as exc:
                if not is_try_again(exc):
                    raise
                time.sleep(self._try_again_delay)  # the migration's progress is the server's, not ours to poll
                attempts += 1
                continue
            c.rebind(conn, addr, read_only)
            attempts += 1
        raise _too_many()

    def close(self) -> None:
        self._c.close()

    def send(self, command: Union[str, bytes], *args: object) -> None:
        raise _unsupported("Send")

    def receive(self) -> Reply:
        raise _unsupported("Receive")

    def flush(self) -> None:
        raise _unsupported("Flush")

    def __enter__(self) -> "RetryConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
