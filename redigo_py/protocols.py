"""The spine: redigo's ``Conn``, ``ConnWithTimeout`` and ``ConnWithContext`` interfaces.

redigo is held together by its ``Conn`` interface (``redis.go``): a dialled
connection, a pooled one, a logging wrapper and a cluster connection are all
``redis.Conn``, and the package-level helpers (``DoContext``,
``DoWithTimeout``) ask for the optional interfaces. These are the same
interfaces as ``typing.Protocol``\\s, so that a typed port of
``func f(conn redis.Conn)`` is ``def f(conn: redis.Conn)`` and type-checks
for every connection the library hands out, and ``isinstance(c, redis.Conn)``
holds for each (they are runtime-checkable). The concrete classes
(:class:`~redigo_py.conn.NetConn`, :class:`~redigo_py.pool.PooledConn`, the
logging, cluster and retry conns) are implementations of these.

Every connection is also a context manager: ``with pool.get() as c:`` closes
it (or returns it to its pool).

:mod:`redigo_py.aio` has the same three interfaces with coroutine methods
(``AsyncConn``, ``AsyncConnWithTimeout``, ``AsyncConnWithContext``, exported
there as ``aio.Conn``, ``aio.ConnWithTimeout`` and ``aio.ConnWithContext``);
``err`` stays a plain method, and the connections are async context managers.
"""

from __future__ import annotations

from typing import Optional, Protocol, TypeVar, Union, runtime_checkable

from . import context as _context
from ._types import Reply

__all__ = ["Conn", "ConnWithTimeout", "ConnWithContext", "AsyncConn", "AsyncConnWithTimeout", "AsyncConnWithContext"]

_Self = TypeVar("_Self")


@runtime_checkable
class Conn(Protocol):
    """A connection to Redis (redigo's ``Conn``).

    ``do`` sends a command, flushes, and returns its reply (raising an error
    reply); ``send`` buffers, ``flush`` writes, ``receive`` reads one reply;
    ``err`` is the error that made the connection unusable, or None.
    """

    def do(self, command: Union[str, bytes], *args: object) -> Reply: ...

    def send(self, command: Union[str, bytes], *args: object) -> None: ...

    def flush(self) -> None: ...

    def receive(self) -> Reply: ...

    def err(self) -> Optional[BaseException]: ...

    def close(self) -> None: ...

    def __enter__(self: _Self) -> _Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


@runtime_checkable
class ConnWithTimeout(Conn, Protocol):
    """A ``Conn`` whose calls take a read timeout of their own (redigo's ``ConnWithTimeout``)."""

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply: ...

    def receive_with_timeout(self, timeout: Optional[float]) -> Reply: ...


@runtime_checkable
class ConnWithContext(Conn, Protocol):
    """A ``Conn`` whose calls are bounded by a Go-style context (redigo's ``ConnWithContext``)."""

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply: ...

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None: ...

    def flush_context(self, ctx: _context.Context) -> None: ...

    def receive_context(self, ctx: _context.Context) -> Reply: ...

    def close_context(self, ctx: _context.Context) -> None: ...


@runtime_checkable
class AsyncConn(Protocol):
    """A connection of :mod:`redigo_py.aio`: ``Conn`` with ``await`` (``err`` is not a coroutine)."""

    async def do(self, command: Union[str, bytes], *args: object) -> Reply: ...

    async def send(self, command: Union[str, bytes], *args: object) -> None: ...

    async def flush(self) -> None: ...

    async def receive(self) -> Reply: ...

    def err(self) -> Optional[BaseException]: ...

    async def close(self) -> None: ...

    async def __aenter__(self: _Self) -> _Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


@runtime_checkable
class AsyncConnWithTimeout(AsyncConn, Protocol):
    """An ``AsyncConn`` whose calls take a read timeout of their own."""

    async def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply: ...

    async def receive_with_timeout(self, timeout: Optional[float]) -> Reply: ...


@runtime_checkable
class AsyncConnWithContext(AsyncConn, Protocol):
    """An ``AsyncConn`` whose calls are bounded by a Go-style context."""

    async def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply: ...

    async def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None: ...

    async def flush_context(self, ctx: _context.Context) -> None: ...

    async def receive_context(self, ctx: _context.Context) -> Reply: ...

    async def close_context(self, ctx: _context.Context) -> None: ...
