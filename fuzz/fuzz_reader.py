"""Fuzz ``redigo_py.resp.Reader`` with arbitrary bytes, arbitrarily chunked.

``REDIGO_FUZZ_PROTOCOL=3`` in the environment (fuzz/run.py's ``reader3``
target) fuzzes ``Reader(protocol=3)``, RESP3, with the same invariants;
otherwise RESP2.

What must hold for every input (each is a reason a client hands a caller
the wrong reply, hangs, or dies on hostile input):

1. The only exception that escapes ``feed``/``gets`` is ``ProtocolError``
   (no IndexError, ValueError, RecursionError, MemoryError...).
2. After a ``ProtocolError`` no reply ever comes out again, whatever is fed
   next: the stream position is lost, so any later "reply" could belong to
   another command.
3. Chunking does not matter: the replies (and whether the stream turns out
   malformed) are the same as when the whole input is fed at once.
4. Every reply is made only of the documented types (str, bytes, int, None,
   Error, list of those; under RESP3 also float, bool, dict, set, and tuple
   and frozenset where a value must be hashable, and a Push at the top
   level only) and respects the reader's limits (nesting depth, bulk and
   aggregate lengths).
6. ``consumed`` after each reply, and the RESP3 ``last_attributes``, do not
   depend on the chunking either; ``consumed`` grows with each reply and
   never passes the bytes fed.

Input layout (so that libFuzzer mutates the chunking and the limits too, and
the seeds in corpus/reader/ and corpus/reader3/ are real replies behind a
4-byte header):

- byte 0: limits and drain mode. Bits 0-1 pick ``max_depth`` from
  (128, 1, 2, 5); bits 2-3 ``max_bulk_len`` from (512 MiB, 0, 7, 300);
  bits 4-5 ``max_line_len`` from (64 MiB, 0, 5, 100); bits 6-7 when to call
  ``gets``: drain after every feed, drain after every other feed, one call
  per feed, or only at the end.
- bytes 1-3: chunk sizes, used in turn; 0 means "the rest at once".
- the rest: the bytes the "server" sends.

5. The split fast paths (``_bulk_run``, ``_bulk_array`` and its fixed-width
   ``_fixed_array``, ``_uniform_arrays``, for RESP3 the maps and sets of
   bulk strings, and large bulk strings cut from the pieces fed) agree with the general parser (the same
   input parsed with them switched off).

Replies are compared through :func:`canon`, which tells ``True`` from ``1``
and a Push from a list, and makes a NaN equal to a NaN (RESP3 ``,nan``).

Run: ``python fuzz/fuzz_reader.py fuzz/corpus-run/reader fuzz/corpus/reader``
(any libFuzzer flag works, e.g. ``-max_total_time=60``); or ``fuzz/run.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Tuple

import atheris

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with atheris.instrument_imports(include=["redigo_py"]):
    from redigo_py import resp
    from redigo_py.errors import Error, ProtocolError

PROTOCOL = int(os.environ.get("REDIGO_FUZZ_PROTOCOL", "2"))
# What gets() returns when no reply is complete: under RESP3 False is a reply (#f).
NOTHING = object()

DEPTHS = (128, 1, 2, 5)
BULK_LENS = (512 * 1024 * 1024, 0, 7, 300)
LINE_LENS = (64 * 1024 * 1024, 0, 5, 100)
HEADER_LEN = 4
# Unbounded for the fast-path differential: nesting only limited by the input size.
UNLIMITED = {"max_depth": 1 << 30, "max_bulk_len": 512 * 1024 * 1024, "max_line_len": 64 * 1024 * 1024}
# Fed after a ProtocolError: well-formed replies that must never come out of
# a reader that has failed.
PROBE = b"+PROBE\r\n:1\r\n$2\r\nok\r\n"


def parse_header(data: bytes) -> Tuple[dict, int, List[int], bytes]:
    """(Reader keyword limits, drain mode, chunk sizes, payload) of one input."""
    header = data[:HEADER_LEN].ljust(HEADER_LEN, b"\0")
    flags = header[0]
    limits = {
        "max_depth": DEPTHS[flags & 3],
        "max_bulk_len": BULK_LENS[(flags >> 2) & 3],
        "max_line_len": LINE_LENS[(flags >> 4) & 3],
    }
    return limits, flags >> 6, list(header[1:]), data[HEADER_LEN:]


def check_value(value: Any, limits: dict) -> None:
    """Invariant 4: documented types only, within the limits (iterative: no recursion limit).

    A frozen map is a frozenset of (key, value) pairs, a level the wire does
    not have, so a 2-tuple right inside a frozenset does not count towards
    the depth: the check may undercount a set of pairs, never overcount.
    """
    text_max = limits["max_line_len"] if PROTOCOL == 2 else max(limits["max_line_len"], limits["max_bulk_len"])
    stack = [(value, 0, False)]
    while stack:
        v, d, pair = stack.pop()
        t = type(v)
        if v is None or t is int or (PROTOCOL == 3 and t in (bool, float)):
            continue
        if t in (str, Error):
            # A decoded line has at most as many characters as it had bytes (RESP3: or a blob).
            assert len(str(v)) <= text_max, (len(str(v)), limits)
            continue
        if t is bytes:
            assert len(v) <= limits["max_bulk_len"], (len(v), limits)
            continue
        if PROTOCOL == 3:
            assert t in (list, dict, set, frozenset, tuple) or (t is resp.Push and d == 0), (t, d)
        else:
            assert t is list, t
        if pair and t is tuple and len(v) == 2:
            stack.extend((item, d, False) for item in v)
            continue
        assert d < limits["max_depth"], (d, limits)
        if t is dict:
            assert 2 * len(v) <= limits["max_bulk_len"], (len(v), limits)
            for key, item in v.items():
                stack.append((key, d + 1, False))
                stack.append((item, d + 1, False))
            continue
        assert len(v) <= limits["max_bulk_len"], (len(v), limits)
        stack.extend((item, d + 1, t is frozenset) for item in v)


def canon(value: Any) -> Any:
    """A comparable form of a reply: each value tagged with its type, a NaN equal to a NaN."""
    t = type(value)
    if t is float:
        return ("float", "nan" if value != value else repr(value))
    if t in (list, tuple, resp.Push):
        return (t.__name__, tuple([canon(v) for v in value]))
    if t is dict:
        return ("dict", tuple([(canon(k), canon(v)) for k, v in value.items()]))
    if t in (set, frozenset):
        return (t.__name__, frozenset([canon(v) for v in value]))
    if t is Error:
        return ("Error", str(value))
    return (t.__name__, value)


def read_all(reader: "resp.Reader", replies: List[Any]) -> bool:
    """Append every complete reply to ``replies`` (canonical, with ``consumed`` and
    ``last_attributes``); True if a ProtocolError ended the stream."""
    try:
        while True:
            reply = reader.gets()
            if reply is NOTHING:
                return False
            check_reply(reader, reply, replies)
    except ProtocolError:
        return True


def check_reply(reader: "resp.Reader", reply: Any, replies: List[Any]) -> None:
    """Invariant 4 for one reply, under the reader's own limits; and invariant 6's
    bookkeeping: ``consumed`` grows with every reply."""
    check_value(reply, {"max_depth": reader.max_depth, "max_bulk_len": reader.max_bulk_len,
                        "max_line_len": reader.max_line_len})
    assert not replies or reader.consumed > replies[-1][1], (reader.consumed, replies[-1])
    replies.append((canon(reply), reader.consumed, canon(reader.last_attributes)))


def assert_dead(reader: "resp.Reader") -> None:
    """Invariant 2: a failed reader raises ProtocolError on every later call, fed or not."""
    for _ in range(2):
        reader.feed(PROBE)
        try:
            reply = reader.gets()
        except ProtocolError:
            continue
        raise AssertionError(f"reply {reply!r} came out of a reader after a ProtocolError")


def one_shot(payload: bytes, limits: dict) -> Tuple[List[Any], bool]:
    """The reference: the whole payload fed at once."""
    reader = resp.Reader(**limits, protocol=PROTOCOL, not_enough_data=NOTHING)
    reader.feed(payload)
    replies: List[Any] = []
    failed = read_all(reader, replies)
    if failed:
        assert_dead(reader)
    return replies, failed


def chunked(payload: bytes, limits: dict, mode: int, sizes: List[int]) -> Tuple[List[Any], bool]:
    """The payload fed in chunks of ``sizes`` (cycled), calling gets as ``mode`` says."""
    reader = resp.Reader(**limits, protocol=PROTOCOL, not_enough_data=NOTHING)
    replies: List[Any] = []
    pos = 0
    n = 0
    failed = False
    while pos < len(payload) and not failed:
        size = sizes[n % len(sizes)] or len(payload)
        chunk = payload[pos:pos + size]
        # Alternate the types feed() accepts: it must copy a mutable buffer.
        if n % 3 == 1:
            buf = bytearray(chunk)
            reader.feed(buf)
            buf[:] = b"\xff" * len(buf)  # scribble: the reader must have copied
        elif n % 3 == 2:
            reader.feed(memoryview(b"\0" + chunk + b"\0"), 1, len(chunk))
        else:
            reader.feed(chunk)
        pos += len(chunk)
        n += 1
        if mode == 0 or (mode == 1 and n % 2 == 0):
            failed = read_all(reader, replies)
        elif mode == 2:
            try:
                reply = reader.gets()
                if reply is not NOTHING:
                    check_reply(reader, reply, replies)
            except ProtocolError:
                failed = True
    if not failed:
        failed = read_all(reader, replies)
    if failed:
        assert_dead(reader)
    assert not replies or replies[-1][1] <= len(payload), (replies[-1], len(payload))
    return replies, failed


class FastPaths:
    """Switch the reader's split fast paths off (module constants read at parse time); on,
    every top-level bulk string fed in pieces is cut from them (``_take_big``), which by
    default only values of 64 KiB and more are."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.saved = (resp._RUN_MIN, resp._SPLIT_MIN, resp._BIG_BULK)
        if self.enabled:
            resp._BIG_BULK = 0
        else:
            resp._RUN_MIN = resp._SPLIT_MIN = resp._BIG_BULK = sys.maxsize

    def __exit__(self, *exc: object) -> None:
        resp._RUN_MIN, resp._SPLIT_MIN, resp._BIG_BULK = self.saved


def test_one_input(data: bytes) -> None:
    limits, mode, sizes, payload = parse_header(data)
    with FastPaths(True):  # the chunked reads cut every bulk string from its pieces
        check_limits_and_chunking(payload, limits, mode, sizes)
    # Invariant 5: the fast paths agree with the general parser (no limit in play).
    with FastPaths(True):
        fast = one_shot(payload, UNLIMITED)
    with FastPaths(False):
        slow = one_shot(payload, UNLIMITED)
    assert fast == slow, (payload, fast, slow)


def check_limits_and_chunking(payload: bytes, limits: dict, mode: int, sizes: List[int]) -> None:
    """Invariants 1-4 and 6 for one payload under one set of limits."""
    expected, expected_failed = one_shot(payload, limits)
    got, got_failed = chunked(payload, limits, mode, sizes)
    if got_failed:
        # Failing early is allowed only where the one-shot read fails too, and
        # every reply returned before the failure must be a one-shot reply.
        assert expected_failed, (payload, got)
        assert got == expected[:len(got)], (payload, got, expected)
    else:
        assert not expected_failed, (payload, expected)
        assert got == expected, (payload, got, expected)


def main() -> None:
    sys.setrecursionlimit(100_000)  # comparing deeply nested replies (the harness, not the reader)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
