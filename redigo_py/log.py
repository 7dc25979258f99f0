"""A connection wrapper that logs every call (redigo's ``NewLoggingConn``).

Each call becomes one line, ``prefix.Do(SET, 'k', 'v') -> ('OK', None)``, at
DEBUG level on the given ``logging.Logger``. Strings and arrays are chopped
at 32 items/characters, as redigo's printValue does, so a large value cannot
flood the log. Secrets are never logged: the arguments of AUTH, the AUTH
part of HELLO and MIGRATE, and ACL SETUSER's password rules are replaced by
``'(redacted)'``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, List, Optional, Sequence, Union

from . import context as _context
from .conn import do_context, do_with_timeout, receive_context, receive_with_timeout

__all__ = ["new_logging_conn", "new_logging_conn_filter", "redact_args"]

_CHOP = 32
_REDACTED = "(redacted)"


def redact_args(command: Union[str, bytes], args: Sequence[Any]) -> List[Any]:
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


def _format(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, str)):
        return repr(value[:_CHOP]) + "..." if len(value) > _CHOP else repr(value)
    if isinstance(value, list):
        items = ", ".join(_format(v) for v in value[:_CHOP])
        return "[" + items + ("...]" if len(value) > _CHOP else "]")
    return repr(value)


class LoggingConn:
    """Delegates to a connection and logs each call; see the module docstring."""

    def __init__(self, conn: Any, logger: logging.Logger, prefix: str,
                 skip: Optional[Callable[[str], bool]]) -> None:
        self._conn = conn
        self._logger = logger
        self._prefix = prefix + "." if prefix else ""
        self._skip = skip

    def _print(self, method: str, command: Any, args: Sequence[Any], reply: Any,
               err: Optional[BaseException], with_reply: bool = True) -> None:
        if self._skip is not None and self._skip(command):
            return
        if not self._logger.isEnabledFor(logging.DEBUG):
            return
        call = ""
        if not method.startswith("Receive"):
            shown = [str(command)] + [_format(a) for a in redact_args(command, args)]
            call = ", ".join(shown)
        result = f"{_format(reply)}, {err!r}" if with_reply else repr(err)
        self._logger.debug("%s%s(%s) -> (%s)", self._prefix, method, call, result)

    def _call(self, method: str, fn: Callable[..., Any], command: Any, args: Sequence[Any],
              *call_args: Any) -> Any:
        try:
            reply = fn(*call_args)
        except Exception as exc:
            self._print(method, command, args, None, exc)
            raise
        self._print(method, command, args, reply, None)
        return reply

    def do(self, command: Union[str, bytes], *args: Any) -> Any:
        return self._call("Do", self._conn.do, command, args, command, *args)

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: Any) -> Any:
        return self._call("DoWithTimeout", do_with_timeout, command, args, self._conn, timeout, command, *args)

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: Any) -> Any:
        return self._call("DoContext", do_context, command, args, self._conn, ctx, command, *args)

    def send(self, command: Union[str, bytes], *args: Any) -> None:
        try:
            self._conn.send(command, *args)
        except Exception as exc:
            self._print("Send", command, args, None, exc, with_reply=False)
            raise
        self._print("Send", command, args, None, None, with_reply=False)

    def receive(self) -> Any:
        return self._call("Receive", self._conn.receive, "", ())

    def receive_with_timeout(self, timeout: Optional[float]) -> Any:
        return self._call("ReceiveWithTimeout", receive_with_timeout, "", (), self._conn, timeout)

    def receive_context(self, ctx: _context.Context) -> Any:
        return self._call("ReceiveContext", receive_context, "", (), self._conn, ctx)

    def flush(self) -> None:
        self._conn.flush()

    def err(self) -> Optional[BaseException]:
        return self._conn.err()  # type: ignore[no-any-return]

    def close(self) -> None:
        err: Optional[BaseException] = None
        try:
            self._conn.close()
        except Exception as exc:
            err = exc
            raise
        finally:
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug("%sClose() -> (%r)", self._prefix, err)

    def __enter__(self) -> "LoggingConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def new_logging_conn(conn: Any, logger: logging.Logger, prefix: str) -> LoggingConn:
    """Wrap ``conn`` so every call is logged at DEBUG on ``logger``."""
    return LoggingConn(conn, logger, prefix, None)


def new_logging_conn_filter(conn: Any, logger: logging.Logger, prefix: str,
                            skip: Callable[[str], bool]) -> LoggingConn:
    """Like :func:`new_logging_conn`, but commands for which ``skip(name)`` is true are not logged."""
    return LoggingConn(conn, logger, prefix, skip)
