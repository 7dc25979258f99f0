"""RESP2, sans-IO: bytes in, values out; values in, bytes out. No sockets.

The reader has hiredis's interface (``feed``/``gets``) so that hiredis can be
a differential oracle in the tests, and so that the connection code is the
only place that knows about sockets. Like hiredis's ``read.c`` it is one
incremental state machine: a reply that arrives in pieces is resumed where it
stopped (elements already parsed are kept, nothing is parsed twice), nesting
is an explicit stack (no recursion), every declared length is checked before
anything is allocated, and a malformed input leaves the reader unusable
instead of half-parsed.

Reply mapping (RESP2 -> Python): ``+OK`` -> ``str``; ``-ERR x`` ->
:class:`~redigo_py.errors.Error` instance (returned, not raised); ``:1`` ->
``int``; ``$3 foo`` -> ``bytes``; ``$-1`` -> ``None``; ``*n`` -> ``list``;
``*-1`` -> ``None``.
"""

from __future__ import annotations

import math
from typing import Any, List, Optional, Union

from .errors import Error, ProtocolError

__all__ = ["encode", "encode_arg", "Reader", "Reply"]

Reply = Union[str, bytes, int, list, None, Error]
"""A decoded reply (an :class:`Error` stays a value inside arrays)."""

_CRLF = b"\r\n"

# ``b"$%d" % n`` is the hot path of encode; small lengths are looked up instead.
_BULK_HEADERS = [b"$%d" % i for i in range(1024)]
_ARRAY_HEADERS = [b"*%d" % i for i in range(64)]


def encode_arg(arg: Any) -> bytes:
    """One argument as the bytes of its bulk string (API.md's argument table).

    ``bytes``-likes as is, ``str`` as UTF-8, ``int`` in decimal, ``float`` as
    its shortest round-tripping ``repr`` (NaN is refused: Redis has no NaN),
    ``bool`` as ``1``/``0``, ``None`` as the empty string, an object with
    ``redis_arg()`` (redigo's ``Argument``) as what that returns, anything
    else as ``str(arg)`` (redigo's ``fmt.Fprint``).
    """
    t = type(arg)
    if t is bytes:
        return arg  # type: ignore[no-any-return]
    if t is str:
        return arg.encode()  # type: ignore[no-any-return]
    if t is int:
        return b"%d" % arg
    return _encode_other(arg, True)


def _encode_other(arg: Any, argument_ok: bool) -> bytes:
    if isinstance(arg, (bytes, bytearray)):
        return bytes(arg)
    if isinstance(arg, memoryview):
        return arg.tobytes()
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        return b"1" if arg else b"0"
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        if math.isnan(arg):
            raise ValueError("redigo: cannot send NaN as a Redis argument")
        return repr(float(arg)).encode()
    if arg is None:
        return b""
    if argument_ok:
        redis_arg = getattr(arg, "redis_arg", None)
        if redis_arg is not None and callable(redis_arg):
            return _encode_other(redis_arg(), False)
    return str(arg).encode()


def encode(command: Union[str, bytes], *args: Any) -> bytes:
    """One command as a RESP array of bulk strings.

    The command name is sent as given (case preserved). Raises ``ValueError``
    (NaN) before producing anything, so a caller can encode before it touches
    any connection state.
    """
    bulk_headers = _BULK_HEADERS
    n = len(args) + 1
    name = command.encode() if type(command) is str else _encode_other(command, False)
    parts = [_ARRAY_HEADERS[n] if n < 64 else b"*%d" % n,
             bulk_headers[len(name)] if len(name) < 1024 else b"$%d" % len(name), name]
    append = parts.append
    for arg in args:
        t = type(arg)
        if t is bytes:
            b = arg
        elif t is str:
            b = arg.encode()
        elif t is int:
            b = b"%d" % arg
        else:
            b = _encode_other(arg, True)
        size = len(b)
        append(bulk_headers[size] if size < 1024 else b"$%d" % size)
        append(b)
    append(b"")
    return _CRLF.join(parts)


class Reader:
    """Incremental RESP2 reply parser with hiredis's ``Reader`` interface.

    ``feed(data)`` adds bytes (any chunking; the data is copied if mutable),
    ``gets()`` returns the next complete reply or ``False``. Limits, each a
    :class:`ProtocolError` raised before the memory is committed:

    - ``max_bulk_len``: largest declared bulk-string or array length;
    - ``max_line_len``: longest simple-string or error line (integers and
      length headers are capped at 32 bytes, far above any valid value);
    - ``max_depth``: deepest array nesting.

    After a ``ProtocolError`` every later ``gets()`` raises again: the stream
    position is lost, and guessing would hand a reply to the wrong caller.
    """

    __slots__ = (
        "max_bulk_len", "max_line_len", "max_depth",
        "_buf", "_pos", "_chunks", "_chunks_len", "_need", "_stack", "_error",
    )

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        max_line_len: int = 64 * 1024 * 1024,
        max_depth: int = 128,
    ) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_line_len = max_line_len
        self.max_depth = max_depth
        self._buf = b""           # parsed from _pos on
        self._pos = 0
        self._chunks: List[bytes] = []  # fed but not yet joined into _buf
        self._chunks_len = 0
        self._need = 1            # bytes past _pos that gets() needs before it can progress
        self._stack: List[list] = []     # open arrays: [items, declared length]
        self._error: Optional[str] = None

    def feed(self, data: Union[bytes, bytearray, memoryview], offset: int = 0, length: int = -1) -> None:
        """Append ``data[offset:offset+length]`` to the input (copied if mutable)."""
        if offset or length >= 0:
            view = memoryview(data)
            data = view[offset:] if length < 0 else view[offset:offset + length]
        chunk = data if type(data) is bytes else bytes(data)
        if chunk:
            self._chunks.append(chunk)
            self._chunks_len += len(chunk)

    def buffered(self) -> int:
        """Bytes fed but not yet consumed by a complete reply or element."""
        return len(self._buf) - self._pos + self._chunks_len

    def needed(self) -> int:
        """A lower bound of the bytes to feed before ``gets()`` can make progress.

        Lets an I/O loop size its next read (a 1 MiB bulk string in one
        ``recv_into`` instead of sixteen 64 KiB reads and joins).
        """
        return max(self._need - self.buffered(), 1)

    def has_pending_reply(self) -> bool:
        """True while a reply has begun but is not complete (array or bulk in progress)."""
        return bool(self._stack) or self.buffered() > 0

    def gets(self) -> Any:
        """Return the next complete reply, or ``False`` if more input is needed."""
        if self._error is not None:
            raise ProtocolError(self._error)
        if self._chunks:
            buf = self._buf
            if len(buf) - self._pos + self._chunks_len < self._need:
                return False
            chunks = self._chunks
            if self._pos < len(buf):
                chunks.insert(0, buf[self._pos:] if self._pos else buf)
            self._buf = buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._chunks = []
            self._chunks_len = 0
            self._pos = 0
        elif len(self._buf) - self._pos < self._need:
            return False
        try:
            return self._parse()
        except ProtocolError as exc:
            self._error = str(exc)
            self._buf = b""
            self._pos = 0
            self._stack = []
            raise

    def _parse(self) -> Any:
        buf = self._buf
        pos = self._pos
        stack = self._stack
        size = len(buf)
        while True:
            if pos >= size:
                return self._incomplete(pos, 1)
            kind = buf[pos]
            if kind == 36:  # '$' bulk string
                end = buf.find(b"\r\n", pos + 1, pos + 34)
                if end < 0:
                    if size - pos >= 34:
                        raise ProtocolError("redigo: malformed length (line too long)")
                    return self._incomplete(pos, size - pos + 1)
                digits = buf[pos + 1:end]
                if digits.isdigit():
                    n = int(digits)
                    if n > self.max_bulk_len:
                        raise ProtocolError(
                            f"redigo: bulk string length {n} exceeds the limit of {self.max_bulk_len}")
                    start = end + 2
                    stop = start + n
                    if stop + 2 > size:
                        return self._incomplete(pos, stop + 2 - pos)
                    if buf[stop:stop + 2] != b"\r\n":
                        raise ProtocolError("redigo: bad bulk string format")
                    value: Any = buf[start:stop]
                    pos = stop + 2
                elif digits == b"-1":
                    value = None
                    pos = end + 2
                else:
                    raise ProtocolError("redigo: illegal bytes in length")
            elif kind == 42:  # '*' array
                end = buf.find(b"\r\n", pos + 1, pos + 34)
                if end < 0:
                    if size - pos >= 34:
                        raise ProtocolError("redigo: malformed length (line too long)")
                    return self._incomplete(pos, size - pos + 1)
                digits = buf[pos + 1:end]
                pos = end + 2
                if digits.isdigit():
                    n = int(digits)
                    if n > self.max_bulk_len:
                        raise ProtocolError(
                            f"redigo: array length {n} exceeds the limit of {self.max_bulk_len}")
                    if n:
                        if len(stack) >= self.max_depth:
                            raise ProtocolError(
                                f"redigo: arrays nested deeper than {self.max_depth}")
                        stack.append([[], n])
                        continue
                    value = []
                elif digits == b"-1":
                    value = None
                else:
                    raise ProtocolError("redigo: illegal bytes in length")
            elif kind == 58 or kind == 43 or kind == 45:  # ':' '+' '-'
                limit = 34 if kind == 58 else self.max_line_len + 3
                end = buf.find(b"\r\n", pos + 1, pos + limit)
                if end < 0:
                    if size - pos >= limit:
                        raise ProtocolError("redigo: response line too long")
                    return self._incomplete(pos, size - pos + 1)
                line = buf[pos + 1:end]
                pos = end + 2
                if kind == 58:
                    if not (line.isdigit() or (line[:1] == b"-" and line[1:].isdigit())):
                        raise ProtocolError("redigo: malformed integer")
                    value = int(line)
                elif kind == 43:
                    value = _SIMPLE.get(line) or line.decode("utf-8", "replace")
                else:
                    value = Error(line.decode("utf-8", "replace"))
            else:
                raise ProtocolError("redigo: unexpected response line")
            # A value is complete: close every array that it completes.
            while stack:
                top = stack[-1]
                items = top[0]
                items.append(value)
                if len(items) < top[1]:
                    break
                stack.pop()
                value = items
            else:
                self._pos = pos
                self._need = 1
                return value

    def _incomplete(self, pos: int, need: int) -> bool:
        self._pos = pos
        self._need = need
        return False


_SIMPLE = {b"OK": "OK", b"PONG": "PONG", b"QUEUED": "QUEUED"}
