"""The sans-IO codec: tables, limits, and properties (hiredis as an oracle)."""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Any, Iterator, List, Optional, Tuple

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redigo_py import resp
from redigo_py.errors import Error, ProtocolError

# -- encode ---------------------------------------------------------------


class _Arg:
    def redis_arg(self) -> Any:
        return 42


class _Inner:
    def redis_arg(self) -> Any:
        return 42

    def __str__(self) -> str:
        return "inner"


class _Nested:
    def redis_arg(self) -> Any:
        return _Inner()  # redigo applies RedisArg once; the inner one is printed


class _Printable:
    def __str__(self) -> str:
        return "printed"


ENCODE_CASES = [
    (("SET", "key", "value"), b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"),
    (("set", b"\x00\xff"), b"*2\r\n$3\r\nset\r\n$2\r\n\x00\xff\r\n"),
    (("X", bytearray(b"ab"), memoryview(b"cd")), b"*3\r\n$1\r\nX\r\n$2\r\nab\r\n$2\r\ncd\r\n"),
    (("X", -1234567890123456789012), b"*2\r\n$1\r\nX\r\n$23\r\n-1234567890123456789012\r\n"),
    (("X", 1.5, 0.1, 1e100), b"*4\r\n$1\r\nX\r\n$3\r\n1.5\r\n$3\r\n0.1\r\n$6\r\n1e+100\r\n"),
    (("X", math.inf, -math.inf), b"*3\r\n$1\r\nX\r\n$3\r\ninf\r\n$4\r\n-inf\r\n"),
    (("X", True, False), b"*3\r\n$1\r\nX\r\n$1\r\n1\r\n$1\r\n0\r\n"),
    (("X", None), b"*2\r\n$1\r\nX\r\n$0\r\n\r\n"),
    (("X", "é"), b"*2\r\n$1\r\nX\r\n$2\r\n\xc3\xa9\r\n"),
    (("X", _Arg()), b"*2\r\n$1\r\nX\r\n$2\r\n42\r\n"),
    (("X", _Nested()), b"*2\r\n$1\r\nX\r\n$5\r\ninner\r\n"),
    (("X", _Printable()), b"*2\r\n$1\r\nX\r\n$7\r\nprinted\r\n"),
    (("X", "a" * 2000), b"*2\r\n$1\r\nX\r\n$2000\r\n" + b"a" * 2000 + b"\r\n"),
]


@pytest.mark.parametrize("args,expected", ENCODE_CASES)
def test_encode_table(args: tuple, expected: bytes) -> None:
    assert resp.encode(*args) == expected


def test_encode_many_args_uses_long_header() -> None:
    data = resp.encode("DEL", *range(100))
    assert data.startswith(b"*101\r\n")
    assert resp_decode(data) == [b"DEL"] + [str(i).encode() for i in range(100)]


def test_encode_nan_is_value_error() -> None:
    with pytest.raises(ValueError, match="NaN"):
        resp.encode("SET", "k", math.nan)


def resp_decode(data: bytes) -> Any:
    reader = resp.Reader()
    reader.feed(data)
    return reader.gets()


@given(st.floats(allow_nan=False))
def test_float_round_trips(x: float) -> None:
    encoded = resp.encode_arg(x)
    assert float(encoded) == x


# -- reader tables ----------------------------------------------------------

READ_CASES = [
    (b"+OK\r\n", "OK"),
    (b"+PONG\r\n", "PONG"),
    (b"+hello world\r\n", "hello world"),
    (b"-ERR unknown\r\n", Error("ERR unknown")),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 9223372036854775807),
    (b"$0\r\n\r\n", b""),
    (b"$5\r\nhe\r\no\r\n", b"he\r\no"),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"*2\r\n$1\r\na\r\n:1\r\n", [b"a", 1]),
    (b"*3\r\n*1\r\n*0\r\n-E x\r\n$-1\r\n", [[[]], Error("E x"), None]),
]


@pytest.mark.parametrize("data,expected", READ_CASES)
def test_read_table(data: bytes, expected: Any) -> None:
    reader = resp.Reader()
    reader.feed(data)
    assert reader.gets() == expected
    assert reader.gets() is False


MALFORMED = [
    b"?what\r\n",
    b"$abc\r\n",
    b"$-2\r\n",
    b"*-2\r\n",
    b"$+5\r\nhello\r\n",
    b":12a\r\n",
    b":\r\n",
    b": 1\r\n",
    b"$3\r\nabcde\r\n",  # missing CRLF after the declared length
    b"*1x\r\n",
    b"$" + b"9" * 40 + b"\r\n",  # a length line longer than any valid one
    b":" + b"1" * 40 + b"\r\n",
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_is_protocol_error_and_sticky(data: bytes) -> None:
    reader = resp.Reader()
    reader.feed(data)
    with pytest.raises(ProtocolError):
        reader.gets()
    reader.feed(b"+OK\r\n")
    with pytest.raises(ProtocolError):  # unusable for good, as hiredis
        reader.gets()


def test_length_over_limit_is_refused_before_allocation() -> None:
    reader = resp.Reader(max_bulk_len=1000)
    reader.feed(b"$1001\r\n")  # no payload at all: refused on the header alone
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        reader.gets()
    reader = resp.Reader(max_bulk_len=1000)
    reader.feed(b"*1001\r\n")
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        reader.gets()
    reader = resp.Reader()
    reader.feed(b"$536870913\r\n")  # default limit: 512 MiB
    with pytest.raises(ProtocolError):
        reader.gets()


def test_line_length_cap() -> None:
    reader = resp.Reader(max_line_len=10)
    reader.feed(b"+" + b"x" * 20)  # no CRLF yet, already too long
    with pytest.raises(ProtocolError, match="too long"):
        reader.gets()
    reader = resp.Reader(max_line_len=10)
    reader.feed(b"+" + b"x" * 10 + b"\r\n")
    assert reader.gets() == "x" * 10


def test_nesting_is_bounded_without_recursion() -> None:
    reader = resp.Reader(max_depth=1000)
    reader.feed(b"*1\r\n" * 999 + b":1\r\n")
    value = reader.gets()
    for _ in range(999):
        assert isinstance(value, list)
        value = value[0]
    assert value == 1
    reader = resp.Reader()
    reader.feed(b"*1\r\n" * 100_000)
    with pytest.raises(ProtocolError, match="nested"):
        reader.gets()


def test_huge_array_of_nils_streams_without_quadratic_reparse() -> None:
    reader = resp.Reader()
    n = 200_000
    reader.feed(b"*%d\r\n" % n)
    assert reader.gets() is False
    for _ in range(n // 1000):
        reader.feed(b"$-1\r\n" * 1000)
        result = reader.gets()
    assert result == [None] * n


def test_feed_copies_mutable_input_and_takes_offset_length() -> None:
    reader = resp.Reader()
    data = bytearray(b"$3\r\nabc\r\n")
    reader.feed(data)
    data[4:7] = b"xyz"
    assert reader.gets() == b"abc"
    reader.feed(b"junk+OK\r\njunk", 4, 5)
    assert reader.gets() == "OK"


def test_split_inside_crlf() -> None:
    reader = resp.Reader()
    reader.feed(b"$2\r\nab\r")
    assert reader.gets() is False
    reader.feed(b"\n+OK\r")
    assert reader.gets() == b"ab"
    assert reader.gets() is False
    reader.feed(b"\n")
    assert reader.gets() == "OK"


# -- properties -------------------------------------------------------------

_scalars = st.one_of(
    st.binary(max_size=64).map(lambda b: ("bulk", b)),
    st.none().map(lambda _: ("nil", None)),
    st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1).map(lambda i: ("int", i)),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
            max_size=30).map(lambda s: ("status", s)),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
            min_size=1, max_size=30).map(lambda s: ("error", s)),
)
replies = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=6).map(lambda xs: ("array", xs)),
                       max_leaves=40)


def wire(node: Any) -> bytes:
    kind, value = node
    if kind == "bulk":
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if kind == "nil":
        return b"$-1\r\n"
    if kind == "int":
        return b":%d\r\n" % value
    if kind == "status":
        return b"+" + value.encode() + b"\r\n"
    if kind == "error":
        return b"-" + value.encode() + b"\r\n"
    return b"*%d\r\n" % len(value) + b"".join(wire(v) for v in value)


def python(node: Any) -> Any:
    kind, value = node
    if kind == "error":
        return Error(value)
    if kind == "array":
        return [python(v) for v in value]
    return value


def read_chunked(stream: bytes, data: st.DataObject, max_cuts: int,
                 reader: Optional[resp.Reader] = None) -> List[Tuple[Any, int]]:
    """Feed ``stream`` cut where hypothesis says to ``reader`` (a new RESP2 one by default);
    every reply with its size by ``consumed``."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=max_cuts)))
    reader = reader or resp.Reader()
    got: List[Tuple[Any, int]] = []
    start = 0
    for cut in cuts + [len(stream)]:
        reader.feed(stream[start:cut])
        start = cut
        before = reader.consumed
        while (value := reader.gets()) is not reader.not_enough_data:
            got.append((value, reader.consumed - before))
            before = reader.consumed
    return got


@given(st.lists(replies, min_size=1, max_size=5), st.data())
def test_any_chunking_yields_the_same_replies(nodes: List[Any], data: st.DataObject) -> None:
    got = [value for value, _ in read_chunked(b"".join(wire(n) for n in nodes), data, 8)]
    assert got == [python(n) for n in nodes]


@given(replies)
def test_every_single_byte_chunking(node: Any) -> None:
    stream = wire(node)
    reader = resp.Reader()
    for i in range(len(stream)):
        assert reader.gets() is False
        reader.feed(stream[i:i + 1])
    assert reader.gets() == python(node)


def _hiredis_to_ours(value: Any) -> Any:
    if isinstance(value, hiredis.ReplyError):
        return Error(str(value))
    if isinstance(value, list):
        return [_hiredis_to_ours(v) for v in value]
    return value


@given(replies)
def test_hiredis_agrees(node: Any) -> None:
    stream = wire(node)
    ours = resp.Reader()
    ours.feed(stream)
    theirs = hiredis.Reader()
    theirs.feed(stream)
    expected = _hiredis_to_ours(theirs.gets())
    got = ours.gets()
    # hiredis returns status replies as bytes; ours are str (API.md).
    assert _statuses_as_bytes(got) == expected


def _statuses_as_bytes(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [_statuses_as_bytes(v) for v in value]
    return value


@pytest.mark.parametrize("protocol", [2, 3])
@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(1, 16))
def test_arbitrary_bytes_yield_values_nothing_or_protocol_error(protocol: int, data: bytes, step: int) -> None:
    nothing = object()  # RESP3 has a False reply
    reader = resp.Reader(max_bulk_len=10_000, max_line_len=1000, max_depth=8, protocol=protocol,
                         not_enough_data=nothing)
    try:
        for i in range(0, len(data), step):
            reader.feed(data[i:i + step])
            while reader.gets() is not nothing:
                pass
    except ProtocolError:
        pass


@given(st.lists(st.one_of(st.binary(max_size=40), st.text(max_size=20),
                          st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
                max_size=10))
def test_encode_decode_round_trip(args: List[Any]) -> None:
    decoded = resp_decode(resp.encode("CMD", *args))
    assert decoded == [b"CMD"] + [resp.encode_arg(a) for a in args]
    for arg, raw in zip(args, decoded[1:]):
        if isinstance(arg, bytes):
            assert raw == arg
        elif isinstance(arg, str):
            assert raw.decode() == arg
        elif isinstance(arg, bool):
            assert raw == (b"1" if arg else b"0")
        elif isinstance(arg, int):
            assert int(raw) == arg
        elif isinstance(arg, float):
            assert float(raw) == arg
        else:
            assert raw == b""


# The split fast paths (long arrays of bulk strings, runs of top-level bulk
# replies) must agree with the general parser on every input, including
# values that contain CRLF, nils that break a run, and any chunking.
_bulks = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r\n", b"a\r\nb", b"$3", b"\r", b"\n", b"*1", b""]),
    st.binary(min_size=2040, max_size=2100),
)


@settings(max_examples=200)
@given(st.lists(st.one_of(_bulks.map(lambda b: ("bulk", b)), st.just(("nil", None))), min_size=8, max_size=60),
       st.booleans(), st.data())
def test_split_fast_paths_agree(items: List[Any], as_array: bool, data: st.DataObject) -> None:
    nodes = [("array", items)] if as_array else items
    stream = b"".join(wire(n) for n in nodes) + b"+END\r\n"
    got = [value for value, _ in read_chunked(stream, data, 4)]
    assert got == [python(n) for n in nodes] + ["END"]
    oracle = hiredis.Reader()
    oracle.feed(stream)
    assert _statuses_as_bytes(got) == [_hiredis_to_ours(oracle.gets()) for _ in got]


# Shapes of entries (a stream entry is ("array", [id, ("array", [f, v, ...])])): the uniform
# fast path takes arrays of >= 8 entries of one shape; each example may break the
# uniformity in one entry (another shape, a nil, a CRLF in a value, a long value).
_leaf = _bulks.map(lambda b: ("bulk", b))


def _shape(draw: Any, depth: int) -> Any:
    if depth >= 3 or draw(st.booleans()):
        return "$"
    return [_shape(draw, depth + 1) for _ in range(draw(st.integers(1, 4)))]


def _fill(draw: Any, shape: Any) -> Any:
    if shape == "$":
        return ("bulk", draw(st.binary(max_size=12)))
    return ("array", [_fill(draw, s) for s in shape])


@st.composite
def uniform_arrays(draw: Any) -> Any:
    shape = [_shape(draw, 1) for _ in range(draw(st.integers(1, 4)))]
    entries = [_fill(draw, shape) for _ in range(draw(st.integers(8, 40)))]
    if draw(st.booleans()):  # one entry that breaks the pattern
        i = draw(st.integers(0, len(entries) - 1))
        entries[i] = draw(st.one_of(_leaf, st.just(("nil", None)), st.just(("array", [])),
                                    replies, st.just(("array", [("int", 5)]))))
    return ("array", entries)


@settings(max_examples=300)
@given(st.lists(uniform_arrays(), min_size=1, max_size=3), st.data())
def test_uniform_nested_fast_path_agrees(nodes: List[Any], data: st.DataObject) -> None:
    """Any chunking, exact sizes, and hiredis's values, for arrays of many same-shaped entries."""
    assert_chunked_reads_agree(nodes, data)


def assert_chunked_reads_agree(nodes: List[Any], data: st.DataObject) -> None:
    """``nodes`` then a status, cut where hypothesis says: the values, the sizes by
    ``consumed``, and hiredis's values on the same stream."""
    stream = b"".join(wire(n) for n in nodes) + b"+END\r\n"
    got = read_chunked(stream, data, 4)
    assert [value for value, _ in got] == [python(n) for n in nodes] + ["END"]
    assert [size for _, size in got] == [len(wire(n)) for n in nodes] + [6]
    oracle = hiredis.Reader()
    oracle.feed(stream)
    assert _statuses_as_bytes([v for v, _ in got]) == [_hiredis_to_ours(oracle.gets()) for _ in got]


# Arrays of values of one length take the fixed-width path (strided checks of the header
# and CRLF byte columns, then struct). Values here are drawn from bytes that look like RESP
# (a CRLF, a "$", digits) so that the columns can match by accident; one element may break
# the width, and the stream may be corrupted at one byte.
_resp_looking = st.sampled_from([b"\r", b"\n", b"$", b"1", b"2", b"*", b"a"])


@st.composite
def fixed_width_arrays(draw: Any) -> Any:
    length = draw(st.one_of(st.integers(0, 24), st.sampled_from([99, 100, 2046, 2047, 2048])))
    value = (st.lists(_resp_looking, min_size=length, max_size=length).map(b"".join) if length <= 24
             else st.binary(min_size=length, max_size=length))
    items = [("bulk", v) for v in draw(st.lists(value, min_size=8, max_size=150 if length <= 24 else 10))]
    if draw(st.booleans()):
        i = draw(st.integers(0, len(items) - 1))
        items[i] = draw(st.one_of(st.just(("nil", None)), st.just(("int", 5)), st.just(("array", [])),
                                  st.binary(min_size=max(0, length - 1), max_size=length + 1)
                                  .map(lambda b: ("bulk", b))))
    return ("array", items)


def _outcome(stream: bytes, step: int) -> List[Any]:
    """Each reply with its size, then "error" at a ProtocolError; the stream fed ``step`` bytes
    at a time (one byte at a time keeps every fast path out: the general parser's answer)."""
    reader = resp.Reader()
    got: List[Any] = []
    try:
        for i in range(0, len(stream), step):
            reader.feed(stream[i:i + step])
            before = reader.consumed
            while (value := reader.gets()) is not False:
                got.append((value, reader.consumed - before))
                before = reader.consumed
    except ProtocolError:
        got.append("error")
    return got


@settings(max_examples=300)
@given(st.lists(fixed_width_arrays(), min_size=1, max_size=3), st.data())
def test_fixed_width_fast_path_agrees(nodes: List[Any], data: st.DataObject) -> None:
    """Any chunking gives the general parser's values and sizes; hiredis agrees on the values."""
    assert_chunked_reads_agree(nodes, data)


@contextlib.contextmanager
def big_bulk_threshold(size: int) -> Iterator[None]:
    """Bulk strings from ``size`` bytes take the reader's cut-from-the-pieces path."""
    saved, resp._BIG_BULK = resp._BIG_BULK, size
    try:
        yield
    finally:
        resp._BIG_BULK = saved


@settings(max_examples=300)
@given(st.lists(st.one_of(_bulks.map(lambda b: ("bulk", b)), replies), min_size=1, max_size=6), st.data())
def test_big_bulk_path_agrees(nodes: List[Any], data: st.DataObject) -> None:
    """Large bulk strings cut straight from the pieces fed (the threshold lowered so that
    every bulk takes that path): any chunking gives the values and sizes; and with one
    byte corrupted anywhere, the outcome of the general parser fed byte by byte."""
    stream = b"".join(wire(n) for n in nodes) + b"+END\r\n"
    with big_bulk_threshold(data.draw(st.sampled_from([0, 1, 5, 64]))):
        got = read_chunked(stream, data, 6)
        assert [value for value, _ in got] == [python(n) for n in nodes] + ["END"]
        assert [size for _, size in got] == [len(wire(n)) for n in nodes] + [6]
        corrupted = bytearray(stream)
        at = data.draw(st.integers(0, len(stream) - 1))
        corrupted[at] = data.draw(st.sampled_from(b"\r\n$0123456789*:-+a"))
        step = data.draw(st.integers(1, 64))
        fast = _outcome(bytes(corrupted), step)
    with big_bulk_threshold(sys.maxsize):
        assert fast == _outcome(bytes(corrupted), 1)


def test_a_1_mib_value_in_64_kib_pieces_is_cut_from_them() -> None:
    """The path the connections take for a large GET: its value, its size, and what follows."""
    value = bytes(range(256)) * 4096
    stream = b"$%d\r\n%s\r\n+OK\r\n" % (len(value), value)
    reader = resp.Reader()
    got = []
    for i in range(0, len(stream), 65536):
        reader.feed(stream[i:i + 65536])
        while (reply := reader.gets()) is not False:
            got.append((reply, reader.consumed))
    assert got == [(value, len(stream) - 5), ("OK", len(stream))]


@pytest.mark.parametrize("trailer", [b"XY", b"\r\r", b"\n\n", b"\rX", b"\n\r"])
@pytest.mark.parametrize("head", [b"*8", b"%4", b"~8", b">8"])
def test_a_fixed_width_array_with_the_same_bad_trailer_everywhere_is_refused(head: bytes, trailer: bytes) -> None:
    """Every element alike, but none ends with CRLF: each byte column agrees with the first
    element's, so the first element's own CRLF must be checked too (found by review)."""
    stream = head + b"\r\n" + b"$3\r\nfoo" + trailer + (b"$3\r\nfoo" + trailer) * 7
    protocol = 2 if head == b"*8" else 3
    reader = resp.Reader(protocol=protocol)
    reader.feed(stream)
    with pytest.raises(ProtocolError):
        reader.gets()


@settings(max_examples=500)
@given(st.one_of(fixed_width_arrays(), uniform_arrays()), st.data())
def test_a_corrupted_array_reads_as_the_general_parser_reads_it(node: Any, data: st.DataObject) -> None:
    """One byte changed anywhere (a header digit, a CR, a value byte): the fast paths, given
    the whole stream at once, answer exactly as the general parser fed byte by byte."""
    stream = bytearray(wire(node) + b"+END\r\n")
    at = data.draw(st.integers(0, len(stream) - 1))
    stream[at] = data.draw(st.sampled_from(b"\r\n$0123456789*:-+a"))
    assert _outcome(bytes(stream), len(stream)) == _outcome(bytes(stream), 1)


@pytest.mark.parametrize("last", [b"*0\r\n", b"*-1\r\n", b"$-1\r\n", b":7\r\n", b"*2\r\n$1\r\nx\r\n:1\r\n",
                                  b"*2\r\n$1\r\nx\r\n*1\r\n$1\r\ny\r\n"])
def test_a_shorter_last_entry_is_never_waited_for(last: bytes) -> None:
    """Entries of one shape, then a last one that breaks it: whatever the cut, the reply comes
    out as soon as its last byte is in (waiting would hang the caller)."""
    entry = b"*2\r\n$1\r\nx\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    stream = b"*8\r\n" + entry * 7 + last
    expected = resp.Reader()
    expected.feed(stream)
    want = expected.gets()
    for cut in range(len(stream)):
        reader = resp.Reader()
        reader.feed(stream[:cut])
        assert reader.gets() is False
        reader.feed(stream[cut:])
        assert reader.gets() == want


def test_a_trickled_uniform_array_costs_a_bounded_number_of_cuts() -> None:
    entry = b"*2\r\n$3\r\nid1\r\n*2\r\n$5\r\nfield\r\n$5\r\nvalue\r\n"
    stream = b"*300\r\n" + entry * 300
    calls = []
    original = resp._uniform_arrays

    def counting(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    resp._uniform_arrays = counting
    try:
        reader = resp.Reader()
        for i in range(len(stream)):
            reader.feed(stream[i:i + 1])
            got = reader.gets()
        assert got == [[b"id1", [b"field", b"value"]]] * 300
    finally:
        resp._uniform_arrays = original
    assert len(calls) <= resp._MAX_WAITS + 1


def test_uniform_nested_fast_path_respects_the_nesting_limit() -> None:
    entry = b"*1\r\n*1\r\n$1\r\na\r\n"
    stream = b"*8\r\n" + entry * 8
    assert resp.Reader(max_depth=3).gets() is False
    ok = resp.Reader(max_depth=3)
    ok.feed(stream)
    assert ok.gets() == [[[b"a"]]] * 8
    deep = resp.Reader(max_depth=2)
    deep.feed(stream)
    with pytest.raises(ProtocolError, match="nested deeper"):
        deep.gets()


def test_error_after_good_replies_in_one_buffer() -> None:
    reader = resp.Reader()
    reader.feed(b"+A\r\n:1\r\n?bad\r\n+B\r\n")
    assert reader.gets() == "A"
    assert reader.gets() == 1
    with pytest.raises(ProtocolError):
        reader.gets()
    with pytest.raises(ProtocolError):
        reader.gets()  # +B after the malformed line is never returned


@given(st.lists(replies, min_size=1, max_size=30), st.data())
def test_consumed_measures_each_reply_exactly(nodes: List[Any], data: st.DataObject) -> None:
    """``consumed`` advances by each reply's exact wire size, whatever path parsed it."""
    wires = [wire(n) for n in nodes]
    sizes = [size for _, size in read_chunked(b"".join(wires), data, 5)]
    assert sizes == [len(w) for w in wires]


def test_consumed_on_a_pipelined_run() -> None:
    reader = resp.Reader()
    replies = [b"$3\r\nabc\r\n", b"$0\r\n\r\n", b"$10\r\n0123456789\r\n"] * 100 + [b"$-1\r\n"]
    reader.feed(b"".join(replies))
    sizes = []
    for _ in replies:
        before = reader.consumed
        reader.gets()
        sizes.append(reader.consumed - before)
    assert sizes == [len(r) for r in replies]
    assert sizes[-1] == 5  # a nil bulk is 5 bytes on the wire, never -1
