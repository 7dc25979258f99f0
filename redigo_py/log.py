"""A connection wrapper that logs every call, as redigo's ``NewLoggingConn`` does.

Each call becomes one line at DEBUG on the given ``logging.Logger``, written
exactly as redigo writes it, so that the logs of a ported service read (and
are searched) the same as the Go service's:

.. code-block:: text

    cache.Do(SET, "k", "v") -> ("OK", <nil>)
    cache.Do(GET, "k") -> (NOAUTH Authentication required., NOAUTH Authentication required.)
    cache.Send(GET, "k") -> (<nil>)
    cache.Receive() -> ("v", <nil>)
    cache.Close() -> (<nil>)

A value prints as redigo's printValue prints it: a ``str`` or ``bytes`` with
Go's ``%q`` quoting, chopped at 32 bytes with ``...`` after the closing quote;
a list as ``[a, b]``, chopped at 32 elements with ``...]``; ``None`` as
``<nil>``; an ``int`` plain; an error (an :class:`~redigo_py.errors.Error`
nested in an EXEC reply, or the error of the call) as its message. Chopping
keeps a large value from flooding the log. A value Go has no counterpart for
prints as Go's ``fmt`` would print the nearest Go type: ``bool`` as
``true``/``false``, ``float`` as ``%v`` does (``0.5``, ``1e+06``, ``+Inf``),
``dict`` as a Go map (``map["k":1]``, chopped like a list), anything else as
its ``str()``.

A call that raises an error reply shows it as both the reply and the error:
redigo's ``Do`` returns the error reply as its reply too. ``Flush`` and
``Err`` are not logged, ``Close`` always is, both as in redigo.

Secrets are never logged: the arguments of AUTH, the AUTH part of HELLO and
MIGRATE, ACL SETUSER's password rules and CONFIG SET's passwords are replaced
by ``"(redacted)"``.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from typing import Callable, List, Optional, Sequence, Union

from . import context as _context
from ._gotext import quote as _quote
from .conn import do_context, do_with_timeout, optional_method, receive_context, receive_with_timeout
from .errors import Error
from .protocols import Conn
from ._types import Reply

__all__ = ["new_logging_conn", "new_logging_conn_filter", "redact_args"]

_CHOP = 32
_REDACTED = "(redacted)"


def redact_args(command: Union[str, bytes], args: Sequence[object]) -> List[object]:
    """``args`` with every secret replaced by ``"(redacted)"``.

    Shared by everything that shows a command to a person (this log, error
    messages): one place knows where Redis commands carry passwords.
    """
    name = command.decode("utf-8", "replace") if isinstance(command, bytes) else str(command)
    name = name.upper()
    out = list(args)
    words = [a.decode("utf-8", "replace").upper() if isinstance(a, (bytes, bytearray))
             else str(a).upper() for a in out]
    if name == "AUTH":
        return [_REDACTED] * len(out)
    if name == "HELLO" or name == "MIGRATE":
        for i, word in enumerate(words):
            if word == "AUTH" and i + 1 < len(out):
                out[i + 1] = _REDACTED
                if name == "HELLO" and i + 2 < len(out):  # HELLO ... AUTH username password
                    out[i + 2] = _REDACTED
            elif word == "AUTH2" and i + 2 < len(out):
                out[i + 1] = out[i + 2] = _REDACTED
        return out
    if name == "ACL" and words[:1] == ["SETUSER"]:
        for i in range(2, len(out)):
            if words[i][:1] in (">", "<", "#", "!"):
                out[i] = _REDACTED
        return out
    if name == "CONFIG" and words[:1] == ["SET"]:
        for i in range(1, len(out) - 1, 2):
            if words[i] in ("REQUIREPASS", "MASTERAUTH", "MASTERUSER"):
                out[i + 1] = _REDACTED
    return out


def _print_value(value: object) -> str:
    """``value`` as redigo's printValue prints it (see the module docstring)."""
    if isinstance(value, str):
        # A Go string is its UTF-8 bytes: chopped by bytes, then quoted. A lone
        # surrogate (which cannot be sent) still prints, as its invalid bytes.
        value = value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value[:_CHOP])
        return _quote(data) + "..." if len(value) > _CHOP else _quote(data)
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items = ", ".join(_print_value(v) for v in value[:_CHOP])
        return "[" + items + ("...]" if len(value) > _CHOP else "]")
    if isinstance(value, dict):
        pairs = list(value.items())
        items = " ".join(f"{_print_value(k)}:{_print_value(v)}" for k, v in pairs[:_CHOP])
        return "map[" + items + ("...]" if len(pairs) > _CHOP else "]")
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, BaseException):
        return _error_text(value)
    return str(value)


def _go_float(x: float) -> str:
    """``x`` as Go's ``%v`` prints a float64: the shortest digits that round-trip,
    in exponent form (``1e+06``, ``1.5e-05``) when the exponent is below -4 or
    at least 6, else plain (``0.0001``, ``123456``, ``3``)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    # repr gives the shortest round-tripping digits, as Go's formatting does.
    _, digit_tuple, exponent = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # the value is 0.<digits> * 10**point
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _error_text(err: Optional[BaseException]) -> str:
    """An error as Go's ``%v`` prints it: its message, or ``<nil>`` for none.

    A Go error always has a message; a Python exception may not (``TimeoutError()``),
    so an empty one prints its class name rather than nothing."""
    if err is None:
        return "<nil>"
    return str(err) or type(err).__name__


def _send_context(conn: Conn, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
    """``conn.send_context``, as redigo's helpers assert an optional interface (logged if missing)."""
    optional_method(conn, "send_context", "ConnWithContext")(ctx, command, *args)


class LoggingConn:
    """Delegates to a connection and logs each call; see the module docstring."""

    def __init__(self, conn: Conn, logger: logging.Logger, prefix: str,
                 skip: Optional[Callable[[str], bool]]) -> None:
        self._conn = conn
        self._logger = logger
        self._prefix = prefix + "." if prefix else ""
        self._skip = skip

    def _print(self, method: str, command: Union[str, bytes], args: Sequence[object], reply: Reply,
               err: Optional[BaseException]) -> None:
        """One line, as redigo's loggingConn.print writes it: ``Send`` shows no reply,
        and the receives show no command (theirs is empty). ``skip`` gets the
        command name as text, as Go's gets a string, even if it was given as bytes."""
        name = command.decode("utf-8", "backslashreplace") if isinstance(command, bytes) else command
        if self._skip is not None and self._skip(name):
            return
        if not self._logger.isEnabledFor(logging.DEBUG):
            return
        call = name + "".join(", " + _print_value(a) for a in redact_args(command, args))
        result = _error_text(err) if method == "Send" else f"{_print_value(reply)}, {_error_text(err)}"
        self._logger.debug("%s%s(%s) -> (%s)", self._prefix, method, call, result)

    # ``fn`` is any of the wrapped conn's methods: the "..." (an explicit Any) is its own arguments.
    def _call(self, method: str, fn: Callable[..., Reply], command: Union[str, bytes], args: Sequence[object],
              *call_args: object) -> Reply:
        try:
            reply = fn(*call_args)
        except Exception as exc:
            # redigo's Do returns an error reply as its reply and as its error;
            # its Receive returns a nil reply with it.
            shown = exc if method.startswith("Do") and isinstance(exc, Error) else None
            self._print(method, command, args, shown, exc)
            raise
        self._print(method, command, args, reply, None)
        return reply

    def do(self, command: Union[str, bytes], *args: object) -> Reply:
        return self._call("Do", self._conn.do, command, args, command, *args)

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        return self._call("DoWithTimeout", do_with_timeout, command, args, self._conn, timeout, command, *args)

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        return self._call("DoContext", do_context, command, args, self._conn, ctx, command, *args)

    def send(self, command: Union[str, bytes], *args: object) -> None:
        self._call("Send", self._conn.send, command, args, command, *args)

    def receive(self) -> Reply:
        return self._call("Receive", self._conn.receive, "", ())

    def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        return self._call("ReceiveWithTimeout", receive_with_timeout, "", (), self._conn, timeout)

    def receive_context(self, ctx: _context.Context) -> Reply:
        return self._call("ReceiveContext", receive_context, "", (), self._conn, ctx)

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        self._call("Send", _send_context, command, args, self._conn, ctx, command, *args)

    def flush(self) -> None:
        self._conn.flush()

    def flush_context(self, ctx: _context.Context) -> None:
        optional_method(self._conn, "flush_context", "ConnWithContext")(ctx)

    def close_context(self, ctx: _context.Context) -> None:
        """``close`` (the context only parents the close span), logged as ``Close``."""
        self.close()

    def err(self) -> Optional[BaseException]:
        return self._conn.err()

    def close(self) -> None:
        err: Optional[BaseException] = None
        try:
            self._conn.close()
        except Exception as exc:
            err = exc
            raise
        finally:
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug("%sClose() -> (%s)", self._prefix, _error_text(err))

    def __enter__(self) -> "LoggingConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def new_logging_conn(conn: Conn, logger: logging.Logger, prefix: str) -> LoggingConn:
    """Wrap ``conn`` so every call is logged at DEBUG on ``logger``."""
    return LoggingConn(conn, logger, prefix, None)


def new_logging_conn_filter(conn: Conn, logger: logging.Logger, prefix: str,
                            skip: Callable[[str], bool]) -> LoggingConn:
    """Like :func:`new_logging_conn`, but commands for which ``skip(name)`` is true are not logged."""
    return LoggingConn(conn, logger, prefix, skip)
