"""Fuzz round trips through the codec: values -> bytes -> ``resp.Reader`` -> the same values.

Two directions, both from one fuzz input:

- Commands: a list of arguments of every type ``resp.encode`` accepts
  (bytes, bytearray, memoryview, str, int, float, bool, None, an object with
  ``redis_arg()``, anything else via ``str``) is encoded, the commands are
  concatenated (a pipeline) and fed to a Reader in fuzz-chosen chunks. A
  server reads a command as an array of bulk strings, so the Reader must
  give back ``[name, *args]`` with each argument exactly as API.md's table
  says, computed here independently of the encoder. NaN must be refused
  with ``ValueError`` before anything is produced.
- Replies: a reply tree (simple string, error, integer, bulk, nil, array,
  nil array) is serialised canonically here and must parse back equal,
  whatever the chunking and whichever fast path the reader takes.

The only exception allowed out of the library is ``ProtocolError`` (and
``ValueError`` for NaN, checked explicitly); a ``ProtocolError`` on these
well-formed inputs is itself a finding.

Any bytes are a valid input: the input is read as a little program
(type tag, then the value's bytes), so the real replies in corpus/roundtrip/
are as good seeds as any. Run: ``python fuzz/fuzz_roundtrip.py
fuzz/corpus-run/roundtrip fuzz/corpus/roundtrip`` or ``fuzz/run.py``.
"""

from __future__ import annotations

import math
import os
import struct
import sys
from typing import Any, List, Tuple

import atheris

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["redigo_py"]):
    from redigo_py import resp
    from redigo_py.errors import Error


class Source:
    """Reads the fuzz input front to back; returns zeros once it is used up (never raises)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos] if self.pos < len(self.data) else 0
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def more(self) -> bool:
        return self.pos < len(self.data)


class Arg:
    """redigo's ``Argument``: encoded as what ``redis_arg()`` returns."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def redis_arg(self) -> Any:
        return self.value


class Printable:
    """Anything else: encoded as ``str(value)`` (redigo's ``fmt.Fprint``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def expected_bytes(value: Any, top: bool = True) -> bytes:
    """API.md's argument table, written out again (not by calling the encoder).

    As in redigo's ``writeArg(arg, argumentTypeOK)``, what ``redis_arg()``
    returns is not asked for ``redis_arg()`` again: a nested Argument is printed.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    if value is None:
        return b""
    if isinstance(value, Arg) and top:
        return expected_bytes(value.value, False)
    return str(value).encode("utf-8")


def make_arg(src: Source) -> Any:
    """One argument of a type picked by the input."""
    tag = src.byte() % 11
    size = src.byte()
    raw = src.take(size % 64 if tag != 0 else size * 8)
    if tag in (0, 1):
        return raw  # tag 0: up to 2 KiB, across the reader's fast-path table sizes
    if tag == 2:
        return bytearray(raw)
    if tag == 3:
        return memoryview(b"." + raw)[1:]
    if tag == 4:
        return raw.decode("utf-8", "replace")
    if tag == 5:
        return int.from_bytes(raw[:17], "little", signed=True)
    if tag == 6:
        return struct.unpack("<d", raw[:8].ljust(8, b"\0"))[0]  # includes inf, -0.0, NaN
    if tag == 7:
        return bool(size & 1)
    if tag == 8:
        return None
    if tag == 9:
        return Arg(make_arg(src) if size & 1 else raw.decode("latin-1"))
    return Printable(raw.decode("utf-8", "replace"))


def make_reply(src: Source, depth: int = 0) -> Tuple[Any, bytes]:
    """A reply value and its canonical RESP2 bytes."""
    tag = src.byte() % (8 if depth < 6 else 6)
    if tag == 0:  # simple string: any text without CR or LF
        text = src.take(src.byte() % 32).decode("utf-8", "replace").replace("\r", "").replace("\n", "")
        return text, b"+" + text.encode() + b"\r\n"
    if tag == 1:
        text = src.take(src.byte() % 32).decode("utf-8", "replace").replace("\r", "").replace("\n", "")
        return Error(text), b"-" + text.encode() + b"\r\n"
    if tag == 2:
        n = int.from_bytes(src.take(9), "little", signed=True)
        return n, b":%d\r\n" % n
    if tag == 3:
        data = src.take(src.byte() * (8 if src.byte() & 1 else 1))
        return data, b"$%d\r\n%s\r\n" % (len(data), data)
    if tag == 4:
        return None, b"$-1\r\n"
    if tag == 5:
        return None, b"*-1\r\n"
    n = src.byte() % (16 if tag == 6 else 3)
    items: List[Any] = []
    parts = [b"*%d\r\n" % n]
    for _ in range(n):
        value, data = make_reply(src, depth + 1)
        items.append(value)
        parts.append(data)
    return items, b"".join(parts)


def feed_chunked(data: bytes, sizes: List[int]) -> List[Any]:
    """Feed ``data`` in chunks of ``sizes`` (cycled, 0 = the rest) and collect every reply."""
    reader = resp.Reader()
    replies: List[Any] = []
    pos = 0
    n = 0
    while pos < len(data):
        size = sizes[n % len(sizes)] or len(data)
        reader.feed(data[pos:pos + size])
        pos += size
        n += 1
        while True:
            reply = reader.gets()
            if reply is False:
                break
            replies.append(reply)
    assert reader.gets() is False
    return replies


def test_one_input(data: bytes) -> None:
    src = Source(data)
    sizes = [src.byte() % 80 for _ in range(3)]
    if not any(sizes):
        sizes = [0]
    commands: List[bytes] = []
    expected: List[Any] = []
    for _ in range(1 + src.byte() % 8):
        if not src.more():
            break
        if src.byte() & 1:
            value, wire = make_reply(src)
            commands.append(wire)
            expected.append(value)
            continue
        name = src.take(src.byte() % 12).decode("utf-8", "replace") or "PING"
        args = [make_arg(src) for _ in range(src.byte() % 6)]
        if any(isinstance(a, float) and math.isnan(a) for a in args):
            try:
                resp.encode(name, *args)
            except ValueError:
                continue
            raise AssertionError(f"NaN encoded: {args!r}")
        try:
            wire = resp.encode(name, *args)
        except ValueError:
            # NaN can also hide behind redis_arg().
            assert any(isinstance(a, Arg) and isinstance(a.value, float) and math.isnan(a.value)
                       for a in args), args
            continue
        commands.append(wire)
        expected.append([name.encode()] + [expected_bytes(a) for a in args])
    wire = b"".join(commands)
    got = feed_chunked(wire, sizes)
    assert got == expected, (wire, got, expected)


def main() -> None:
    sys.setrecursionlimit(100_000)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
