"""The sans-IO codec's RESP3 reader: tables, limits, properties, hiredis as an oracle.

``resp.Reader(protocol=3)`` is the RESP2 reader plus RESP3's types, so the
same guarantees are checked here as in test_resp.py: any chunking gives the
same replies, ``consumed`` is exact, limits are checked before anything is
allocated, a malformed input raises one ``ProtocolError`` and leaves the
reader unusable, nesting is bounded without recursion.

Replies are compared through :func:`canon`, which tells ``True`` from ``1``,
a :class:`~redigo_py.resp.Push` from a list and a tuple from a list, and
makes a NaN equal to a NaN (``,nan`` is a reply like any other).

hiredis 3.5 (``hiredis.Reader(notEnoughData=...)`` reads RESP3) is the
oracle where the two readers mean the same thing. Where they differ, on
purpose:

- representation: hiredis gives simple strings and verbatim strings as
  ``bytes`` (ours: ``str``), sets as lists (ours: ``set``), big numbers as
  the ``bytes`` of their digits (ours: ``int``), pushes as its
  ``PushNotification`` list (ours: :class:`Push`), error replies as
  ``ReplyError`` (ours: :class:`Error`); :func:`hiredis_as_ours` maps its
  values onto ours, guided by the encoded tree;
- hiredis's Python reader refuses a blob error (``!``) as an unknown type;
  ours returns an :class:`Error`, as for ``-``;
- hiredis returns an attribute map as a reply of its own; ours keeps it
  out of the reply, in ``last_attributes``;
- hiredis raises ``TypeError`` on a map key that is an aggregate (an
  unhashable list); ours freezes it (tuple, frozenset);
- hiredis reads ``%-1``, ``~-1``, ``>-1``, ``|-1`` and ``=-1`` as nil,
  an empty big number ``(`` as ``b""`` and a push nested in a reply as an
  element; ours refuses all of these (no server sends them; RESP3's nil is
  ``_``, and a push inside a reply would mix out-of-band data into it);
- hiredis refuses a double with a ``+`` sign, which RESP3's grammar allows.

So the oracle's examples have no blob errors, attributes or big numbers,
and their maps have distinct bulk-string keys; everything else is compared.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redigo_py import reply as helpers
from redigo_py import resp
from harness.server import RedisServer
from redigo_py.errors import ArgumentError, Error, ProtocolError, RedigoError
from redigo_py.resp import Push
from redigo_py.scan import scan, scan_slice, scan_struct

from .test_resp import read_chunked as read_chunked2

NOTHING = object()


def reader3(**limits: Any) -> resp.Reader:
    return resp.Reader(protocol=3, not_enough_data=NOTHING, **limits)


def canon(value: Any) -> Any:
    """A comparable form of a reply: each value tagged with its type, a NaN equal to a NaN."""
    t = type(value)
    if t is float:
        return ("float", "nan" if value != value else repr(value))
    if t in (list, tuple, Push):
        return (t.__name__, tuple(canon(v) for v in value))
    if t is dict:
        return ("dict", tuple((canon(k), canon(v)) for k, v in value.items()))
    if t in (set, frozenset):
        return (t.__name__, frozenset(canon(v) for v in value))
    if t is Error:
        return ("Error", str(value))
    return (t.__name__, value)


def read_all(data: bytes, **limits: Any) -> List[Any]:
    reader = reader3(**limits)
    reader.feed(data)
    got = []
    while (value := reader.gets()) is not NOTHING:
        got.append(value)
    return got


# -- the table: every type, edge cases -------------------------------------------

READ_CASES = [
    # RESP2's types, under protocol 3.
    (b"+OK\r\n", "OK"),
    (b"-ERR x\r\n", Error("ERR x")),
    (b":-42\r\n", -42),
    (b"$5\r\nhe\r\no\r\n", b"he\r\no"),
    (b"*2\r\n$1\r\na\r\n:1\r\n", [b"a", 1]),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    # Maps.
    (b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", {"first": 1, "second": 2}),
    (b"%0\r\n", {}),
    (b"%2\r\n:1\r\n+a\r\n:1\r\n+b\r\n", {1: "b"}),  # a key sent twice: the later value wins
    (b"%1\r\n*2\r\n:1\r\n:2\r\n+v\r\n", {(1, 2): "v"}),  # an array key is a tuple
    (b"%1\r\n%1\r\n:1\r\n*1\r\n:2\r\n+v\r\n", {frozenset({(1, (2,))}): "v"}),  # a map key: frozen pairs
    (b"%1\r\n~1\r\n:1\r\n+v\r\n", {frozenset({1}): "v"}),
    (b"%1\r\n+k\r\n*1\r\n%1\r\n+a\r\n*0\r\n", {"k": [{"a": []}]}),  # values stay mutable
    # Sets.
    (b"~3\r\n+a\r\n:1\r\n+a\r\n", {"a", 1}),
    (b"~0\r\n", set()),
    (b"~2\r\n*2\r\n:1\r\n*1\r\n:2\r\n~1\r\n:3\r\n", {(1, (2,)), frozenset({3})}),
    (b"~1\r\n%1\r\n*1\r\n:1\r\n~0\r\n", {frozenset({((1,), frozenset())})}),
    # Doubles.
    (b",1.5\r\n", 1.5),
    (b",inf\r\n", math.inf),
    (b",-inf\r\n", -math.inf),
    (b",1e10\r\n", 1e10),
    (b",-0\r\n", -0.0),
    (b",+1E+10\r\n", 1e10),
    (b",1.5e-300\r\n", 1.5e-300),
    (b",1e-400\r\n", 0.0),  # below the smallest subnormal: rounds to zero, as strtod does
    (b",13.35999995470046997\r\n", 13.35999995470046997),  # GEOPOS's 17 digits
    # Booleans, null, big numbers.
    (b"#t\r\n", True),
    (b"#f\r\n", False),
    (b"_\r\n", None),
    (b"(3492890328409238509324850943850943825024385\r\n", 3492890328409238509324850943850943825024385),
    (b"(-18446744073709551617\r\n", -18446744073709551617),
    (b"(0\r\n", 0),
    # Blob errors and verbatim strings.
    (b"!22\r\nSYNTAX invalid\r\nsyntax\r\n", Error("SYNTAX invalid\r\nsyntax")),
    (b"!0\r\n\r\n", Error("")),
    (b"=15\r\ntxt:Some string\r\n", "Some string"),
    (b"=4\r\nmkd:\r\n", ""),
    (b"=9\r\ntxt:a\r\nb\r\r\n", "a\r\nb\r"),
    (b"=7\r\ntxt:\xff\xfe!\r\n", "\ufffd\ufffd!"),  # not UTF-8: replaced, as a simple string is
    # Pushes.
    (b">2\r\n$7\r\nmessage\r\n~1\r\n:1\r\n", Push([b"message", {1}])),
    (b">0\r\n", Push()),
    # Aggregates of every kind inside each other.
    (b"*4\r\n%1\r\n:1\r\n~1\r\n,2.5\r\n_\r\n#t\r\n(99999999999999999999\r\n",
     [{1: {2.5}}, None, True, 99999999999999999999]),
]


@pytest.mark.parametrize("data,expected", READ_CASES)
def test_read_table(data: bytes, expected: Any) -> None:
    reader = reader3()
    reader.feed(data)
    got = reader.gets()
    assert canon(got) == canon(expected)
    assert reader.consumed == len(data)
    assert reader.gets() is NOTHING


def test_nan() -> None:
    (got,) = read_all(b",nan\r\n")
    assert type(got) is float and math.isnan(got)


def test_negative_zero_keeps_its_sign() -> None:
    (got,) = read_all(b",-0\r\n")
    assert math.copysign(1.0, got) == -1.0


def test_types_are_exact() -> None:
    got = read_all(b"#t\r\n:1\r\n>1\r\n:1\r\n*1\r\n:1\r\n!1\r\nE\r\n-E\r\n")
    assert [type(v) for v in got] == [bool, int, Push, list, Error, Error]
    assert repr(got[2]) == "Push([1])"


# -- not_enough_data and protocol ------------------------------------------------------

def test_not_enough_data_defaults_to_false_and_can_be_a_sentinel() -> None:
    assert resp.Reader().gets() is False
    assert resp.Reader(protocol=3).gets() is False
    sentinel = object()
    reader = resp.Reader(protocol=3, not_enough_data=sentinel)
    assert reader.not_enough_data is sentinel
    assert reader.gets() is sentinel
    reader.feed(b"#f\r\n#")
    assert reader.gets() is False  # a reply...
    assert reader.gets() is sentinel  # ...and then no reply
    reader.feed(b"t\r\n")
    assert reader.gets() is True
    resp2 = resp.Reader(not_enough_data=None)
    resp2.feed(b"$3\r\nab")
    assert resp2.gets() is None


@pytest.mark.parametrize("type_byte", b"%~,#(_!=|>")
def test_resp2_reader_refuses_resp3_types(type_byte: int) -> None:
    reader = resp.Reader()
    assert reader.protocol == 2
    reader.feed(bytes([type_byte]) + b"0\r\n")
    with pytest.raises(ProtocolError):
        reader.gets()


@pytest.mark.parametrize("protocol", [0, 1, 4, "3", None])
def test_protocol_must_be_2_or_3(protocol: Any) -> None:
    with pytest.raises(ArgumentError, match="protocol"):
        resp.Reader(protocol=protocol)


# -- attributes ----------------------------------------------------------------------

def test_attribute_before_a_reply() -> None:
    reader = reader3()
    assert reader.last_attributes is None
    attribute = b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
    value = b"*2\r\n:2039123\r\n:9543892\r\n"
    reader.feed(attribute + value)
    assert reader.gets() == [2039123, 9543892]
    assert reader.consumed == len(attribute) + len(value)  # the attribute's bytes count for its reply
    assert reader.last_attributes == {"key-popularity": {b"a": 0.1923, b"b": 0.0012}}


def test_attribute_nested_inside_an_array() -> None:
    data = b"*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n:3\r\n"
    reader = reader3()
    reader.feed(data)
    assert reader.gets() == [1, 2, 3]  # the attribute is not an element
    assert reader.last_attributes == {"ttl": 3600}
    assert reader.consumed == len(data)


def test_attribute_inside_a_map_before_a_key_and_an_empty_one() -> None:
    got = read_all(b"%1\r\n|1\r\n*1\r\n:1\r\n+list-key\r\n+k\r\n|0\r\n+v\r\n")
    assert got == [{"k": "v"}]
    reader = reader3()
    reader.feed(b"|1\r\n*1\r\n:1\r\n*1\r\n:2\r\n#t\r\n")  # an attribute key that must be hashable
    assert reader.gets() is True
    assert reader.last_attributes == {(1,): [2]}


def test_last_attributes_follow_the_replies_returned_not_those_parsed_ahead() -> None:
    reader = reader3()
    reader.feed(b":1\r\n|1\r\n+a\r\n:1\r\n:2\r\n:3\r\n|1\r\n+b\r\n:2\r\n|1\r\n+c\r\n:3\r\n*1\r\n:4\r\n")
    assert reader.gets() == 1
    assert reader.last_attributes is None  # parsed already, but it belongs to the next reply
    assert reader.gets() == 2
    assert reader.last_attributes == {"a": 1}
    assert reader.gets() == 3
    assert reader.last_attributes == {"a": 1}  # the latest one that came, until another comes
    assert reader.gets() == [4]
    assert reader.last_attributes == {"c": 3}  # two before one reply: the later one
    assert len(reader._attributes) == 1


def test_the_attribute_log_stays_short_without_readers() -> None:
    reader = reader3()
    for i in range(1000):
        reader.feed(b"|1\r\n:%d\r\n:0\r\n:%d\r\n" % (i, i))
        assert reader.gets() == i
    assert len(reader._attributes) <= 2  # the one returned, and the one before it
    assert reader.last_attributes == {999: 0}
    assert len(reader._attributes) == 1
    many = reader3()
    many.feed(b"*1000\r\n" + b"|1\r\n:1\r\n:2\r\n:0\r\n" * 1000)
    assert many.gets() == [0] * 1000
    assert len(many._attributes) == 1


def test_an_attribute_split_anywhere() -> None:
    data = b":0\r\n|2\r\n+a\r\n*1\r\n:1\r\n+b\r\n%1\r\n:1\r\n:2\r\n$3\r\nabc\r\n"
    for cut in range(len(data) + 1):
        reader = reader3()
        reader.feed(data[:cut])
        got = []
        while (v := reader.gets()) is not NOTHING:
            got.append(v)
        reader.feed(data[cut:])
        while (v := reader.gets()) is not NOTHING:
            got.append(v)
        assert got == [0, b"abc"]
        assert reader.last_attributes == {"a": [1], "b": {1: 2}}
        assert reader.consumed == len(data)


# -- pushes ----------------------------------------------------------------------

def test_pushes_between_replies() -> None:
    push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
    reader = reader3()
    reader.feed(b"+OK\r\n" + push + b":1\r\n")
    assert reader.gets() == "OK"
    before = reader.consumed
    got = reader.gets()
    assert type(got) is Push and got == [b"invalidate", [b"k"]]
    assert reader.consumed - before == len(push)
    assert reader.gets() == 1


def test_a_push_nested_in_a_reply_is_malformed() -> None:
    for data in (b"*1\r\n>0\r\n", b"%1\r\n:1\r\n>1\r\n:1\r\n", b">1\r\n>0\r\n", b"|1\r\n>0\r\n:1\r\n:1\r\n"):
        reader = reader3()
        reader.feed(data)
        with pytest.raises(ProtocolError, match="push nested"):
            reader.gets()


# -- malformed input, limits -------------------------------------------------------

MALFORMED = [
    b"?what\r\n",
    b"#x\r\n",
    b"#\r\n",
    b"#tt\r\n",
    b",abc\r\n",
    b",\r\n",
    b",1.\r\n",
    b",.5\r\n",
    b",1e\r\n",
    b", 1\r\n",
    b",0x10\r\n",
    b",infinity\r\n",
    b",1e400\r\n",  # finite on the wire, infinite as a float
    b"(12a\r\n",
    b"(\r\n",
    b"(+1\r\n",
    b"(-\r\n",
    b"(1.5\r\n",
    b"_x\r\n",
    b"_ \r\n",
    b"=3\r\ntxt\r\n",  # no room for the format and its ':'
    b"=5\r\ntxt-x\r\n",
    b"!3\r\nabcde\r\n",  # no CRLF after the declared length
    b"=-1\r\n",
    b"!-1\r\n",
    b"%-1\r\n",
    b"~-1\r\n",
    b">-1\r\n",
    b"|-1\r\n",
    b"%-2\r\n",
    b"~1x\r\n",
    b"%" + b"9" * 40 + b"\r\n",
    b"(" + b"1" * 4302 + b"\r\n",
    b"," + b"1" * 4302 + b"\r\n",
    b"%1\r\n:1\r\n?\r\n",
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_is_protocol_error_and_sticky(data: bytes) -> None:
    reader = reader3()
    reader.feed(data)
    with pytest.raises(ProtocolError):
        reader.gets()
    reader.feed(b"+OK\r\n")
    with pytest.raises(ProtocolError):  # unusable for good, as hiredis
        reader.gets()


@pytest.mark.parametrize("data", [b"#t", b"(123", b",1.5", b"=15\r\ntxt:Some", b"%2\r\n:1\r\n:2\r\n:3",
                                  b"|1\r\n:1\r\n:2\r\n", b"~1\r\n", b">1\r\n$1\r\n"])
def test_truncated_is_incomplete_not_an_error(data: bytes) -> None:
    reader = reader3()
    reader.feed(data)
    assert reader.gets() is NOTHING
    assert reader.consumed == 0


def test_lengths_over_the_limit_are_refused_before_allocation() -> None:
    # The headers alone, no payload: refused on the declared length.
    for header, limit in [(b"%6\r\n", 11), (b"|6\r\n", 11), (b"~12\r\n", 11), (b">12\r\n", 11),
                          (b"!12\r\n", 11), (b"=12\r\n", 11), (b"%268435457\r\n", 512 * 1024 * 1024)]:
        reader = reader3(max_bulk_len=limit)
        reader.feed(header)
        with pytest.raises(ProtocolError, match="exceeds the limit"):
            reader.gets()
    for header in (b"%5\r\n", b"|5\r\n", b"~10\r\n", b">10\r\n", b"!10\r\n", b"=10\r\n"):
        reader = reader3(max_bulk_len=10)  # at the limit: fine
        reader.feed(header)
        assert reader.gets() is NOTHING


def test_a_map_counts_twice_its_length_in_the_message() -> None:
    reader = reader3(max_bulk_len=5)
    reader.feed(b"%3\r\n")
    with pytest.raises(ProtocolError, match=r"map length 3 \(6 elements\) exceeds the limit of 5"):
        reader.gets()


def test_number_lines_are_bounded() -> None:
    digits = "7" * 4300
    (big,) = read_all(b"(-" + digits.encode() + b"\r\n")
    assert big == -int(digits)
    reader = reader3()
    reader.feed(b"(" + b"1" * 5000)  # no CRLF yet, already too long
    with pytest.raises(ProtocolError, match="too long"):
        reader.gets()
    (tiny,) = read_all(b",0." + b"0" * 4290 + b"1\r\n")
    assert tiny == 0.0


@pytest.mark.parametrize("opening", [b"%1\r\n:1\r\n", b"~1\r\n", b">1\r\n", b"|1\r\n:1\r\n", b"*1\r\n"])
def test_nesting_is_bounded_for_every_aggregate(opening: bytes) -> None:
    inner = b"%1\r\n:1\r\n" * 3
    ok = reader3(max_depth=4)
    ok.feed(opening + inner + b"_\r\n" + (b":0\r\n" if opening.startswith(b"|") else b""))
    assert ok.gets() is not NOTHING
    deep = reader3(max_depth=3)
    deep.feed(opening + inner + b"_\r\n")
    with pytest.raises(ProtocolError, match="nested deeper"):
        deep.gets()


def test_nesting_is_bounded_without_recursion() -> None:
    reader = reader3(max_depth=50_000)
    reader.feed(b"%1\r\n:1\r\n" * 30_000 + b"_\r\n")
    value = reader.gets()
    for _ in range(30_000):
        assert type(value) is dict
        (value,) = value.values()
    assert value is None
    reader = reader3()
    reader.feed(b"~1\r\n" * 100_000)
    with pytest.raises(ProtocolError, match="nested"):
        reader.gets()


def test_frozen_aggregates_nest_at_most_32_deep() -> None:
    """CPython hashes and compares tuples recursively: a deep one in a set would crash it."""
    for opening in (b"~1\r\n", b"%1\r\n", b"*1\r\n~1\r\n", b"|1\r\n"):
        ok = reader3(max_depth=1000)
        ok.feed(opening + b"*1\r\n" * 31 + b"%1\r\n:1\r\n:2\r\n" + b"+v\r\n:3\r\n")
        assert ok.gets() is not NOTHING
        deep = reader3(max_depth=1000)
        deep.feed(opening + b"*1\r\n" * 32 + b"~0\r\n")
        with pytest.raises(ProtocolError, match="nested deeper than 32 inside a set element or a map key"):
            deep.gets()
    # The 32 levels count from the set element or map key, however deep that is.
    reader = reader3(max_depth=1000)
    reader.feed(b"*1\r\n" * 500 + b"~1\r\n" + b"*1\r\n" * 32 + b"_\r\n")
    assert reader.gets() is not NOTHING


def test_a_huge_map_streams_without_quadratic_reparse() -> None:
    n = 100_000
    reader = reader3()
    reader.feed(b"%%%d\r\n" % n)
    assert reader.gets() is NOTHING
    entries = b"".join(b":%d\r\n,%d.5\r\n" % (i, i) for i in range(n))
    start = time.perf_counter()
    for i in range(0, len(entries), 997):  # pieces that cut entries anywhere
        reader.feed(entries[i:i + 997])
        result = reader.gets()
    assert time.perf_counter() - start < 10  # quadratic re-parsing would take minutes
    assert result == {i: i + 0.5 for i in range(n)}


# -- the fast paths ---------------------------------------------------------------

class FastPaths:
    """Switch the reader's split fast paths off (module constants read at parse time)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.saved = (resp._RUN_MIN, resp._SPLIT_MIN)
        if not self.enabled:
            resp._RUN_MIN = resp._SPLIT_MIN = 1 << 62

    def __exit__(self, *exc: object) -> None:
        resp._RUN_MIN, resp._SPLIT_MIN = self.saved


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def test_hgetall_and_smembers_take_the_split_path() -> None:
    calls = []
    original = resp._bulk_array

    def counting(*args: Any) -> Any:
        calls.append(args[2])
        return original(*args)

    resp._bulk_array = counting
    try:
        fields = [(b"field-%d" % i, b"value-%d" % i) for i in range(1000)]
        (hash_,) = read_all(b"%1000\r\n" + b"".join(bulk(k) + bulk(v) for k, v in fields))
        (members,) = read_all(b"~1000\r\n" + b"".join(bulk(k) for k, _ in fields))
        (push,) = read_all(b">8\r\n" + b"".join(bulk(k) for k, _ in fields[:8]))
    finally:
        resp._bulk_array = original
    assert hash_ == dict(fields)
    assert members == {k for k, _ in fields}
    assert type(push) is Push and push == [k for k, _ in fields[:8]]
    assert calls == [2000, 1000, 8]


_bulks = st.one_of(
    st.binary(max_size=20),
    st.sampled_from([b"\r\n", b"a\r\nb", b"$3", b"\r", b"%1", b""]),
    st.binary(min_size=2040, max_size=2100),
)


@settings(max_examples=200)
@given(st.sampled_from([b"%", b"~", b">", b"*"]), st.lists(st.one_of(_bulks, st.just(None)), min_size=8, max_size=40),
       st.booleans(), st.data())
def test_split_paths_agree_with_the_general_parser(type_byte: bytes, items: List[Optional[bytes]],
                                                   frozen: bool, data: st.DataObject) -> None:
    """Maps, sets, pushes and arrays of bulk strings (some of them nil, or with CRLFs inside),
    also where they must be hashable, any chunking: one value whichever path parses it."""
    if type_byte == b"%" and len(items) % 2:
        items.pop()
    n = len(items) // 2 if type_byte == b"%" else len(items)
    body = type_byte + b"%d\r\n" % n + b"".join(b"$-1\r\n" if v is None else bulk(v) for v in items)
    stream = (b"~1\r\n" + body if frozen and type_byte != b">" else body) + b"+END\r\n"
    with FastPaths(False):
        slow = read_all(stream)
    got = [value for value, _ in read_chunked(stream, data, 4)]
    assert canon(got) == canon(slow)
    assert got[-1] == "END"


# -- properties: an encoder on the test side ---------------------------------------

# A node is (kind, payload); wire() encodes it, python() is the value the reader must give.
_text = st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12)
_any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_doubles = st.one_of(st.floats(), st.sampled_from([math.inf, -math.inf, math.nan, -0.0, 0.0, 5e-324, 1e308]))

# The scalars hiredis reads too (the oracle section below), then the ones it does not.
_common_scalars = [
    st.binary(max_size=24).map(lambda b: ("bulk", b)),
    _text.map(lambda s: ("simple", s)),
    _text.filter(bool).map(lambda s: ("error", s)),
    st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1).map(lambda i: ("int", i)),
    st.just(("null", None)),
    st.booleans().map(lambda b: ("bool", b)),
    _doubles.map(lambda x: ("double", x)),
    st.tuples(st.sampled_from(["txt", "mkd"]), _any_text).map(lambda t: ("verbatim", t)),
]
_scalars = st.one_of(
    *_common_scalars,
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40).map(lambda i: ("big", i)),
    _any_text.map(lambda s: ("blob_error", s)),
)


def _aggregates(inner: Any) -> Any:
    return st.one_of(
        st.lists(inner, max_size=5).map(lambda xs: ("array", xs)),
        st.lists(st.tuples(inner, inner), max_size=4).map(lambda xs: ("map", xs)),
        st.lists(inner, max_size=5).map(lambda xs: ("set", xs)),
        st.tuples(st.lists(st.tuples(inner, inner), max_size=2), inner).map(lambda t: ("attr", t)),
    )


values = st.recursive(_scalars, _aggregates, max_leaves=30)
# Top-level replies: any value, or a push of values (pushes are never nested).
replies = st.one_of(values, st.lists(values, max_size=4).map(lambda xs: ("push", xs)))


def _double_text(x: float) -> bytes:
    if math.isnan(x):
        return b"nan"
    if math.isinf(x):
        return b"inf" if x > 0 else b"-inf"
    return repr(x).encode()


def wire(node: Any) -> bytes:
    kind, value = node
    if kind == "bulk":
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if kind == "simple":
        return b"+" + value.encode() + b"\r\n"
    if kind == "error":
        return b"-" + value.encode() + b"\r\n"
    if kind == "int":
        return b":%d\r\n" % value
    if kind == "null":
        return b"_\r\n"
    if kind == "bool":
        return b"#t\r\n" if value else b"#f\r\n"
    if kind == "double":
        return b"," + _double_text(value) + b"\r\n"
    if kind == "big":
        return b"(%d\r\n" % value
    if kind == "blob_error":
        data = value.encode()
        return b"!%d\r\n%s\r\n" % (len(data), data)
    if kind == "verbatim":
        data = value[0].encode() + b":" + value[1].encode()
        return b"=%d\r\n%s\r\n" % (len(data), data)
    if kind == "map":
        return b"%%%d\r\n" % len(value) + b"".join(wire(k) + wire(v) for k, v in value)
    if kind == "attr":
        pairs, inner = value
        return b"|%d\r\n" % len(pairs) + b"".join(wire(k) + wire(v) for k, v in pairs) + wire(inner)
    head = {"array": b"*", "set": b"~", "push": b">"}[kind]
    return head + b"%d\r\n" % len(value) + b"".join(wire(v) for v in value)


def python(node: Any, hashable: bool = False) -> Any:
    """The value the reader must return for ``node`` (``hashable``: as a set element or a map key)."""
    kind, value = node
    if kind in ("error", "blob_error"):
        return Error(value)
    if kind == "verbatim":
        return value[1]
    if kind == "array":
        items = [python(v, hashable) for v in value]
        return tuple(items) if hashable else items
    if kind == "push":
        return Push(python(v) for v in value)
    if kind == "set":
        elements = [python(v, True) for v in value]
        return frozenset(elements) if hashable else set(elements)
    if kind == "map":
        mapping = dict([(python(k, True), python(v, hashable)) for k, v in value])
        return frozenset(mapping.items()) if hashable else mapping
    if kind == "attr":
        return python(value[1], hashable)
    if kind == "double":
        # A new float per reply, as the reader makes one: two NaNs are then never the same
        # object, so equal-looking frozen keys holding them stay distinct on both sides.
        return float(_double_text(value))
    return value


def attributes(node: Any) -> List[Dict[Any, Any]]:
    """The attribute maps in ``node``, in the order the reader completes them."""
    kind, value = node
    found: List[Dict[Any, Any]] = []
    if kind == "attr":
        pairs, inner = value
        for k, v in pairs:
            found += attributes(k) + attributes(v)
        found.append(dict([(python(k, True), python(v)) for k, v in pairs]))
        return found + attributes(inner)
    if kind == "map":
        for k, v in value:
            found += attributes(k) + attributes(v)
    elif kind in ("array", "set", "push"):
        for v in value:
            found += attributes(v)
    return found


def read_chunked(stream: bytes, data: st.DataObject, max_cuts: int) -> List[Tuple[Any, int]]:
    """The RESP2 tests' chunked read, with a RESP3 reader."""
    return read_chunked2(stream, data, max_cuts, reader3())


@settings(max_examples=300)
@given(st.lists(replies, min_size=1, max_size=5), st.data())
def test_any_chunking_yields_the_same_replies_and_sizes(nodes: List[Any], data: st.DataObject) -> None:
    got = read_chunked(b"".join(wire(n) for n in nodes), data, 8)
    assert canon([value for value, _ in got]) == canon([python(n) for n in nodes])
    assert [size for _, size in got] == [len(wire(n)) for n in nodes]


@given(replies)
def test_every_single_byte_chunking(node: Any) -> None:
    stream = wire(node)
    reader = reader3()
    for i in range(len(stream)):
        assert reader.gets() is NOTHING
        reader.feed(stream[i:i + 1])
    assert canon(reader.gets()) == canon(python(node))
    assert reader.consumed == len(stream)


@given(st.lists(replies, min_size=1, max_size=5))
def test_last_attributes_after_each_reply(nodes: List[Any]) -> None:
    reader = reader3()
    reader.feed(b"".join(wire(n) for n in nodes))
    expected = None
    for node in nodes:
        reader.gets()
        found = attributes(node)
        if found:
            expected = found[-1]
        assert canon(reader.last_attributes) == canon(expected)


# -- hiredis as an oracle -----------------------------------------------------------

_oracle_scalars = st.one_of(*_common_scalars)


def _oracle_aggregates(inner: Any) -> Any:
    keys = st.lists(st.binary(max_size=8), unique=True, max_size=4).map(lambda ks: [("bulk", k) for k in ks])
    return st.one_of(
        st.lists(inner, max_size=5).map(lambda xs: ("array", xs)),
        st.tuples(keys, st.lists(inner, min_size=4, max_size=4)).map(lambda t: ("map", list(zip(t[0], t[1])))),
        st.lists(inner, max_size=5).map(lambda xs: ("set", xs)),
    )


oracle_values = st.recursive(_oracle_scalars, _oracle_aggregates, max_leaves=30)
oracle_replies = st.one_of(oracle_values, st.lists(oracle_values, max_size=4).map(lambda xs: ("push", xs)))


def hiredis_as_ours(node: Any, theirs: Any, hashable: bool = False) -> Any:
    """hiredis's value for ``node`` in our representation (the node says only which type was
    sent, for the types hiredis represents another way; the values are hiredis's)."""
    kind, _ = node
    if kind == "simple":
        return theirs.decode()
    if kind == "verbatim":
        return theirs.decode("utf-8", "replace")
    if kind == "error":
        assert isinstance(theirs, hiredis.ReplyError)
        return Error(str(theirs))
    if kind == "array":
        items = [hiredis_as_ours(n, v, hashable) for n, v in zip(node[1], theirs, strict=True)]
        return tuple(items) if hashable else items
    if kind == "push":
        assert isinstance(theirs, list)
        return Push(hiredis_as_ours(n, v) for n, v in zip(node[1], theirs, strict=True))
    if kind == "set":
        elements = [hiredis_as_ours(n, v, True) for n, v in zip(node[1], theirs, strict=True)]
        return frozenset(elements) if hashable else set(elements)
    if kind == "map":
        assert isinstance(theirs, dict) and len(theirs) == len(node[1])
        mapping = {}
        for (_, key), value_node in node[1]:  # distinct bulk-string keys: hiredis's dict has them all
            mapping[key] = hiredis_as_ours(value_node, theirs[key], hashable)
        return frozenset(mapping.items()) if hashable else mapping
    return theirs


@settings(max_examples=300)
@given(st.lists(oracle_replies, min_size=1, max_size=4))
def test_hiredis_agrees(nodes: List[Any]) -> None:
    stream = b"".join(wire(n) for n in nodes)
    theirs = hiredis.Reader(notEnoughData=NOTHING)
    theirs.feed(stream)
    ours = reader3()
    ours.feed(stream)
    for node in nodes:
        expected = hiredis_as_ours(node, theirs.gets())
        assert canon(ours.gets()) == canon(expected)
    assert theirs.gets() is NOTHING and ours.gets() is NOTHING


# -- a real server over RESP3, with the reply helpers ------------------------------

def _exchange(sock: Any, reader: resp.Reader, *command: Any) -> Any:
    sock.sendall(resp.encode(*command))
    while (value := reader.gets()) is NOTHING:
        data = sock.recv(1 << 16)
        assert data, "server went away"
        reader.feed(data)
    return value


def test_a_real_server_over_resp3(server: RedisServer) -> None:
    import socket

    reader = reader3()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        hello = _exchange(sock, reader, "HELLO", "3")
        assert type(hello) is dict and hello[b"proto"] == 3
        _exchange(sock, reader, "DEL", "r3:h", "r3:s", "r3:z")
        _exchange(sock, reader, "HSET", "r3:h", *[x for i in range(20) for x in (f"f{i}", f"v{i}")])
        assert helpers.string_map(_exchange(sock, reader, "HGETALL", "r3:h")) == {f"f{i}": f"v{i}" for i in range(20)}
        _exchange(sock, reader, "SADD", "r3:s", "a", "b", "c")
        members = _exchange(sock, reader, "SMEMBERS", "r3:s")
        assert type(members) is set and sorted(helpers.strings(members)) == ["a", "b", "c"]
        _exchange(sock, reader, "ZADD", "r3:z", "1.5", "m", "-inf", "n")
        assert helpers.float64(_exchange(sock, reader, "ZSCORE", "r3:z", "m")) == 1.5
        assert _exchange(sock, reader, "ZSCORE", "r3:z", "n") == -math.inf
        assert _exchange(sock, reader, "GET", "r3:missing") is None
        info = _exchange(sock, reader, "INFO", "server")
        assert type(info) is str and helpers.string(info).startswith("# Server")
        assert _exchange(sock, reader, "EVAL", "redis.setresp(3); return {double=0.5}", "0") == 0.5
        assert _exchange(sock, reader, "EVAL", "redis.setresp(3); return true", "0") is True
        assert _exchange(sock, reader, "EVAL", "redis.setresp(3); return false", "0") is False
        assert _exchange(sock, reader, "EVAL", "redis.setresp(3); return {big_number='123456789012345678901234567890'}",
                         "0") == 123456789012345678901234567890
        subscribed = _exchange(sock, reader, "SUBSCRIBE", "r3:channel")
        assert type(subscribed) is Push and subscribed == [b"subscribe", b"r3:channel", 1]


# -- scanning RESP3 replies -----------------------------------------------------------

@dataclass
class Record:
    name: str = ""
    count: int = 0
    score: float = 0.0
    flag: bool = False


def test_scan_takes_resp3_shapes() -> None:
    (mapping,) = read_all(b"%4\r\n$4\r\nname\r\n=7\r\ntxt:abc\r\n$5\r\ncount\r\n:5\r\n"
                          b"$5\r\nscore\r\n,1.5\r\n$4\r\nflag\r\n#t\r\n")
    assert scan_struct(mapping, Record) == Record("abc", 5, 1.5, True)
    (members,) = read_all(b"~2\r\n$1\r\n1\r\n$1\r\n2\r\n")
    assert sorted(scan_slice(members, int)) == [1, 2]
    assert scan([1.5, True, False, 7], float, bool, int, None) == ([1.5, True, False, None], [])
    for src, dest, name in [(1.5, int, "Redis double"), (True, str, "Redis boolean"), ({}, int, "Redis map"),
                            (set(), int, "Redis set")]:
        with pytest.raises(RedigoError, match=f"cannot convert from {name} to {dest.__qualname__}"):
            scan([src], dest)


@given(st.dictionaries(st.sampled_from([b"name", b"count", b"score", b"flag", b"other"]),
                       st.one_of(st.binary(max_size=6), st.sampled_from([b"1", b"-2", b"0.5", b"t"]),
                                 st.integers(-5, 5), st.floats(allow_nan=False), st.booleans(), st.none()),
                       max_size=5))
def test_scan_struct_takes_a_map_as_its_names_and_values(mapping: Dict[bytes, Any]) -> None:
    """A map scans exactly as RESP2's alternating names and values would: to the same record
    or to the same error."""
    def outcome(src: Any) -> Any:
        try:
            return ("ok", scan_struct(src, Record))
        except RedigoError as exc:
            return (type(exc), str(exc))

    assert outcome(mapping) == outcome([x for pair in mapping.items() for x in pair])
