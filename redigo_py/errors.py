"""The library's exceptions.

Go's redigo returns ``(value, err)``; redigo_py raises instead. Each Go error
value becomes a class with the Go name, and every class derives from
:class:`RedigoError` so that one ``except`` clause catches all of them. The
messages keep redigo's texts so that ported tests and log searches still match.
"""

from __future__ import annotations

import builtins
from typing import Optional, Tuple

__all__ = [
    "RedigoError",
    "Error",
    "ErrNil",
    "ErrPoolExhausted",
    "ProtocolError",
    "ConnectionError",
    "TimeoutError",
    "PoolClosedError",
    "ArgumentError",
]


class RedigoError(Exception):
    """Base class of every exception that redigo_py raises."""


class Error(RedigoError):
    """An error reply from the server (``-ERR ...``); ``str()`` is its text.

    Raised when it is the reply of ``do``/``receive``; kept as a value when it
    is nested in an array (the replies of EXEC, or of ``do("")``).
    """

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.args == self.args

    def __hash__(self) -> int:
        return hash((type(self), self.args))

    def __repr__(self) -> str:
        return f"Error({str(self)!r})"

    @property
    def kind(self) -> str:
        """The first word of the message (``ERR``, ``WRONGTYPE``, ``MOVED``...)."""
        return str(self).split(" ", 1)[0]

    def redirect(self) -> Optional[Tuple[str, int, str]]:
        """A cluster redirect's (``"MOVED"`` or ``"ASK"``, slot, address), or None.

        The one reading of ``MOVED 3999 127.0.0.1:6381``: the cluster's
        :func:`~redigo_py.cluster.parse_redir` and the spans' ``redirect``
        event both use it.
        """
        parts = str(self).split()
        if len(parts) != 3 or parts[0] not in ("MOVED", "ASK") or not parts[1].isdigit():
            return None
        return parts[0], int(parts[1]), parts[2]


class ArgumentError(RedigoError, ValueError, TypeError):
    """Bad input from the caller: an invalid URL, address, network, timeout or argument.

    Raised before anything is sent, so the connection stays usable. It is also
    a ``ValueError`` and a ``TypeError``, so code that follows Python's habits
    (``except ValueError``) catches it as well as a Go-style ``except
    RedigoError`` does.
    """


class ErrNil(RedigoError):
    """A reply helper was given a nil reply (Go's ``ErrNil``)."""

    def __init__(self, message: str = "redigo: nil returned") -> None:
        super().__init__(message)


class ErrPoolExhausted(RedigoError):
    """The pool is at ``max_active`` and ``wait`` is false."""

    def __init__(self, message: str = "redigo: connection pool exhausted") -> None:
        super().__init__(message)


class PoolClosedError(RedigoError):
    """The pool was closed (Go's ``errPoolClosed``)."""

    def __init__(self, message: str = "redigo: get on closed pool") -> None:
        super().__init__(message)


class ProtocolError(RedigoError):
    """Malformed RESP from the server; the connection is unusable afterwards."""


class ConnectionError(RedigoError, builtins.ConnectionError):
    """A network failure, or use of a closed connection; fatal to the connection."""


class TimeoutError(RedigoError, builtins.TimeoutError):
    """A read or write deadline passed; fatal to the connection.

    A reply may be half-read at that point, so the connection cannot be used
    again: the next reply on it could belong to the command that timed out.
    """
