"""scan, scan_struct, scan_slice and Args: redigo's scan_test.go tables in Python types.

Go's sized integers (int8, uint, byte...) have no Python counterpart; their
rows become ``int`` rows, and the byte-range error rows become ``bytes``
from an array (Go's ``[]byte`` destination), the one place a byte range
still applies. Go's embedded structs become dataclass inheritance (which
flattens fields the same way); a nil embedded pointer becomes an Optional
field left at None. Go's recursive embedded struct cannot be written as
Python inheritance, so that row has no counterpart.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redigo_py.conn import Conn
from redigo_py.errors import Error, ErrNil, RedigoError
from redigo_py.reply import values
from redigo_py.scan import Args, scan, scan_slice, scan_struct

_GO_DURATION = re.compile(r"(\d+)(h|m|s|ms|us|ns)")
_UNITS = {"h": 3600e6, "m": 60e6, "s": 1e6, "ms": 1e3, "us": 1.0, "ns": 1e-3}


@dataclass(frozen=True)
class DurationScan:
    """redigo's durationScan: a Scanner that parses Go durations ("1m") or nanoseconds."""

    duration: datetime.timedelta

    @classmethod
    def redis_scan(cls, src: Any) -> "DurationScan":
        if isinstance(src, bytes):
            src = src.decode()
        if isinstance(src, str):
            parts = _GO_DURATION.findall(src)
            if not parts or "".join(n + u for n, u in parts) != src:
                raise ValueError(f"time: invalid duration {src!r}")
            return cls(datetime.timedelta(microseconds=sum(int(n) * _UNITS[u] for n, u in parts)))
        if isinstance(src, int) and not isinstance(src, Error):
            return cls(datetime.timedelta(microseconds=src / 1000))
        raise TypeError(f"cannot convert from {type(src).__name__} to DurationScan")


MINUTE = DurationScan(datetime.timedelta(minutes=1))

# -- TestScanConversion: (src, type, expected) ------------------------------------

SCAN_CONVERSION_TESTS: List[Any] = [
    (b"-inf", float, -math.inf),
    (b"+inf", float, math.inf),
    (b"0", float, 0.0),
    (b"3.14159", float, 3.14159),
    (b"3.14", float, 3.14),
    (b"-100", int, -100),
    (b"101", int, 101),
    (102, int, 102),
    (b"103", int, 103),
    (104, int, 104),
    (b"105", int, 105),
    (106, int, 106),
    (b"107", int, 107),
    (108, int, 108),
    (b"0", bool, False),
    (0, bool, False),
    (b"f", bool, False),
    (b"1", bool, True),
    (1, bool, True),
    (b"t", bool, True),
    ("hello", str, "hello"),
    (b"hello", str, "hello"),
    (b"world", bytes, b"world"),
    (None, str, None),  # Go leaves the destination alone; Python says None
    (None, bytes, None),
    ([b"b1"], list, [b"b1"]),
    ([b"b2"], List[str], ["b2"]),
    ([b"b3", b"b4"], List[str], ["b3", "b4"]),
    ([b"b5"], List[bytes], [b"b5"]),
    ([b"1"], List[int], [1]),
    ([b"1", b"2"], List[int], [1, 2]),
    ([b"1", b"2"], List[float], [1.0, 2.0]),
    ([b"1"], bytes, b"\x01"),
    ([b"1"], List[bool], [True]),
    (["s1"], list, ["s1"]),
    (["s2"], List[bytes], [b"s2"]),
    (["s3", "s4"], List[str], ["s3", "s4"]),
    (["s5"], List[bytes], [b"s5"]),
    (["1"], List[int], [1]),
    (["1", "2"], List[int], [1, 2]),
    (["1", "2"], List[float], [1.0, 2.0]),
    (["1"], bytes, b"\x01"),
    (["1"], List[bool], [True]),
    ([None, "2"], list, [None, "2"]),
    ([None, b"2"], List[bytes], [None, b"2"]),
    ([Error("e1")], list, [Error("e1")]),
    ([Error("e2")], List[bytes], [b"e2"]),
    ([Error("e3")], List[str], ["e3"]),
    ("1m", DurationScan, MINUTE),
    (b"1m", DurationScan, MINUTE),
    (60 * 10**9, DurationScan, MINUTE),
    ([b"1m"], List[DurationScan], [MINUTE]),
    ([b"1m"], List[Optional[DurationScan]], [MINUTE]),
    # Beyond redigo's table.
    (b"x", object, b"x"),
    ([1, [b"2"]], List[object], [1, [b"2"]]),
    ([[b"1", 2], []], List[List[int]], [[1, 2], []]),
    ([1, 255, b"0"], bytes, b"\x01\xff\x00"),
    (b"7", Optional[int], 7),
    (b"0x1p-2", float, 0.25),
    ("1.5", float, 1.5),
    ("TRUE", bool, True),
]


@pytest.mark.parametrize("src, dest, expected", SCAN_CONVERSION_TESTS)
def test_scan_conversion(src: Any, dest: Any, expected: Any) -> None:
    got, rest = scan([src], dest)
    assert got == [expected]
    assert rest == []


# -- TestScanConversionError: (src, type) -----------------------------------------

SCAN_CONVERSION_ERROR_TESTS: List[Any] = [
    ([b"1234"], bytes),  # redigo: byte(0) from "1234"
    ([1234], bytes),
    ([b"-1"], bytes),
    ([-1], bytes),
    (b"junk", bool),
    (Error("blah"), bool),
    (Error("blah"), DurationScan),
    ("invalid", DurationScan),
    # Beyond redigo's table.
    (1, float),  # redigo refuses an integer reply for a float, too
    (1, str),
    (1, bytes),
    (b"x", int),
    (b"1.5", int),
    (b" 1", int),
    (b"1e999", float),
    (b"\xff", str),
    (b"1", List[int]),
    ([b"1"], int),
    ([None], List[int]),
    ([b"x"], List[int]),
    ([Error("e")], List[int]),
    ([Error("e")], bytes),
    ([[]], bytes),
    (Error("e"), object),
    (Error("e"), None),  # as in redigo, even a skipped error element is raised
    (b"1", dict),
    (b"1", 5),
    (1.5, object.__class__),
]


@pytest.mark.parametrize("src, dest", SCAN_CONVERSION_ERROR_TESTS)
def test_scan_conversion_error(src: Any, dest: Any) -> None:
    with pytest.raises(RedigoError, match=r"^redigo\.Scan: cannot assign to dest 0: "):
        scan([src], dest)


def test_scan_error_texts() -> None:
    with pytest.raises(RedigoError) as info:
        scan([b"x", b"y"], str, int)
    assert str(info.value) == 'redigo.Scan: cannot assign to dest 1: strconv.ParseInt: parsing "y": invalid syntax'
    with pytest.raises(RedigoError) as info:
        scan([1], float)
    assert str(info.value) == "redigo.Scan: cannot assign to dest 0: cannot convert from Redis integer to float"
    with pytest.raises(RedigoError) as info:
        scan([Error("ERR x")], str)
    assert str(info.value) == "redigo.Scan: cannot assign to dest 0: ERR x"
    assert isinstance(info.value.__cause__, Error)
    with pytest.raises(RedigoError) as info:
        scan(["bad"], DurationScan)
    assert str(info.value) == "redigo.Scan: cannot assign to dest 0: ValueError: time: invalid duration 'bad'"
    assert isinstance(info.value.__cause__.__cause__, ValueError)


def test_scan_array_short_skip_and_rest() -> None:
    with pytest.raises(RedigoError, match=r"^redigo\.Scan: array short$"):
        scan([b"1"], int, int)
    assert scan([b"1", b"2", b"3"], None, int) == ([None, 2], [b"3"])
    assert scan((b"1", b"2"), int) == ([1], [b"2"])
    assert scan([]) == ([], [])
    with pytest.raises(ErrNil):
        scan(None, int)
    with pytest.raises(Error):
        scan(Error("ERR x"), int)
    with pytest.raises(RedigoError, match="src must be an array, got type bytes"):
        scan(b"1", int)


# -- TestScanPtrRedisScan ------------------------------------------------------------


@dataclass
class InnerStruct:
    foo: int = 0

    @classmethod
    def redis_scan(cls, src: Any) -> "InnerStruct":
        if isinstance(src, (bytes, str)):
            return cls(int(src))
        raise TypeError(f"invalid type {type(src).__name__}")


SCAN_PTR_REDIS_SCAN_TESTS: List[Any] = [
    ("value-to-nil", [b"1234", None], InnerStruct(foo=1234)),
    ("nil-to-nil", [None, None], None),
    ("value-to-value", [b"1234", None], InnerStruct(foo=1234)),
    ("nil-to-value", [None, None], None),
]


@pytest.mark.parametrize("name, src, expected", SCAN_PTR_REDIS_SCAN_TESTS)
def test_scan_ptr_redis_scan(name: str, src: List[Any], expected: Any) -> None:
    (got,), rest = scan(src, InnerStruct)
    assert got == expected
    assert rest == [None]


# -- TestScanStruct ------------------------------------------------------------------


@dataclass
class S0:
    X: int = 0
    Y: int = field(default=0, metadata={"redis": "y"})
    Bt: bool = False


@dataclass
class S1(S0):  # redigo's s1 embeds s0
    Skipped: int = field(default=0, metadata={"redis": "-"})
    I: int = field(default=0, metadata={"redis": "i"})
    U: int = field(default=0, metadata={"redis": "u"})
    S: str = field(default="", metadata={"redis": "s"})
    P: Optional[bytes] = field(default=None, metadata={"redis": "p"})
    B: bool = field(default=False, metadata={"redis": "b"})
    Bt: bool = False  # shadows S0.Bt, as s1.Bt shadows s0.Bt
    Bf: bool = False
    PtrB: Optional[bool] = None
    Sd: Optional[DurationScan] = field(default=None, metadata={"redis": "sd"})
    Sdp: Optional[DurationScan] = field(default=None, metadata={"redis": "sdp"})


@dataclass
class Ed:
    edi: int = 0


@dataclass
class Edp:
    edpi: Optional[int] = None


@dataclass
class Edp2(Edp):
    edp2i: Optional[int] = None


@dataclass
class Ed2(Edp2):
    ed2i: Optional[int] = None


@dataclass
class EdEdp(Edp, Ed):
    pass


@dataclass
class EdEd2(Ed2, Ed):
    pass


SCAN_STRUCT_TESTS: List[Any] = [
    ("basic",
     ["i", "-1234", "u", "5678", "s", "hello", "p", "world", "b", "t", "Bt", "1", "Bf", "0",
      "PtrB", "1", "X", "123", "y", "456", "sd", "1m", "sdp", "1m", "Skipped", "9"],
     S1(I=-1234, U=5678, S="hello", P=b"world", B=True, Bt=True, Bf=False, PtrB=True, X=123, Y=456,
        Sd=MINUTE, Sdp=MINUTE)),
    ("absent values", [], S1()),
    ("struct-anonymous-nil", ["edi", "2"], EdEdp(edi=2)),
    ("struct-anonymous-multi-nil-early", ["edi", "2"], EdEd2(edi=2)),
    ("struct-anonymous-multi-nil-late", ["edi", "2", "ed2i", "3", "edp2i", "4"],
     EdEd2(edi=2, ed2i=3, edp2i=4)),
]


@pytest.mark.parametrize("name, reply, expected", SCAN_STRUCT_TESTS, ids=[t[0] for t in SCAN_STRUCT_TESTS])
def test_scan_struct(name: str, reply: List[str], expected: Any) -> None:
    src = [v.encode() for v in reply]
    assert scan_struct(src, type(expected)) == expected
    obj = type(expected)()
    assert scan_struct(src, obj) is obj
    assert obj == expected


def test_scan_struct_string_keys() -> None:
    @dataclass
    class T:
        simple: str
        number: int

    assert scan_struct(["simple", b"value", "number", b"123"], T) == T(simple="value", number=123)


def test_scan_struct_nil_and_unknown_leave_fields_alone() -> None:
    @dataclass
    class T:
        a: int = 5
        b: str = "keep"

    assert scan_struct([b"a", None, b"zzz", b"1", b"b", b"new"], T) == T(a=5, b="new")


def test_scan_struct_is_all_or_nothing() -> None:
    @dataclass
    class T:
        a: int = 0
        b: int = 0

    obj = T()
    with pytest.raises(RedigoError) as info:
        scan_struct([b"a", b"1", b"b", b"x"], obj)
    assert str(info.value) == ('redigo.ScanStruct: cannot assign field b: '
                               'strconv.ParseInt: parsing "x": invalid syntax')
    assert obj == T()


@dataclass
class Plain:
    A: str = ""


@dataclass(frozen=True)
class Frozen:
    A: str = ""


@dataclass
class Checked:
    n: int = 0

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n must not be negative")


@dataclass
class BadTag:
    a: int = field(default=0, metadata={"redis": "a,bogus"})


BAD_SCAN_STRUCT_ARGS: List[Any] = [
    ("nil", ["A", b"b"], None, "value must be a dataclass"),
    ("int type", ["A", b"b"], int, "value must be a dataclass"),
    ("int value", ["A", b"b"], 5, "value must be a dataclass"),
    ("odd", ["A"], Plain, "number of values not a multiple of 2"),
    ("key type", [1, b"b"], Plain, "key 0 not a bulk string value got type: int"),
    ("frozen instance", ["A", b"b"], Frozen(), "frozen"),
    ("post_init", ["n", b"-1"], Checked, "cannot create Checked: n must not be negative"),
    ("unknown tag", ["a", b"1"], BadTag, "unknown field tag bogus for type BadTag"),
    ("not an array", b"x", Plain, "src must be an array"),
]


@pytest.mark.parametrize("name, src, dest, message", BAD_SCAN_STRUCT_ARGS,
                         ids=[t[0] for t in BAD_SCAN_STRUCT_ARGS])
def test_bad_scan_struct_args(name: str, src: Any, dest: Any, message: str) -> None:
    with pytest.raises(RedigoError, match=re.escape(message)):
        scan_struct(src, dest)


def test_scan_struct_into_frozen_type() -> None:
    assert scan_struct(["A", b"b"], Frozen) == Frozen("b")


# -- TestScanSlice ---------------------------------------------------------------------


@dataclass
class SliceScanner:
    Field: str = ""

    @classmethod
    def redis_scan(cls, src: Any) -> "SliceScanner":
        if not isinstance(src, list):
            raise TypeError(f"invalid type {type(src).__name__}")
        return scan_struct(src, cls)  # type: ignore[no-any-return]


@dataclass
class AB:
    A: str
    B: str


@dataclass
class ABC:
    A: str
    B: str
    C: str


@dataclass
class ACB:
    A: str
    C: str
    B: str


@dataclass
class NoFields:
    pass


SCAN_SLICE_TESTS: List[Any] = [
    ("scanner", [[b"Field", b"1"]], SliceScanner, (), True, [SliceScanner("1")]),
    ("int", [b"1", None, b"-1"], int, (), True, [1, 0, -1]),
    ("uint", [b"1", None, b"2"], int, (), True, [1, 0, 2]),
    ("int-error", [b"1.5"], int, (), False, None),  # redigo: "uint-error"
    ("[]byte", [b"hello", None, b"world"], bytes, (), True, [b"hello", None, b"world"]),
    ("string", [b"hello", None, b"world"], str, (), True, ["hello", "", "world"]),
    ("struct", [b"a1", b"b1", b"a2", b"b2"], AB, (), True, [AB("a1", "b1"), AB("a2", "b2")]),
    ("struct-error", [b"a1", b"b1"], ABC, (), False, None),
    ("struct-field-names", [b"a1", b"b1", b"a2", b"b2"], ACB, ("A", "B"), True,
     [ACB("a1", "", "b1"), ACB("a2", "", "b2")]),
    ("struct-no-fields", [b"a1", b"b1", b"a2", b"b2"], NoFields, (), False, None),
    # Beyond redigo's table.
    ("bad field name", [b"a1"], AB, ("Z",), False, None),
    ("struct nil field", [b"a1", None], AB, (), True, [AB("a1", "")]),
    ("struct bad value", [b"x"], Ed, (), False, None),
    ("float", [b"1.5", None], float, (), True, [1.5, 0.0]),
    ("bool", [1, None, b"f"], bool, (), True, [True, False, False]),
    ("scanner nil", [None], DurationScan, (), True, [None]),
    ("empty", [], AB, (), True, []),
]


@pytest.mark.parametrize("name, src, dest, field_names, ok, expected", SCAN_SLICE_TESTS,
                         ids=[t[0] for t in SCAN_SLICE_TESTS])
def test_scan_slice(name: str, src: List[Any], dest: Any, field_names: Any, ok: bool, expected: Any) -> None:
    if not ok:
        with pytest.raises(RedigoError, match=r"^redigo\.ScanSlice: "):
            scan_slice(src, dest, *field_names)
        return
    assert scan_slice(src, dest, *field_names) == expected


# -- TestArgs -----------------------------------------------------------------------------


@dataclass
class CustomTime:
    """redigo's CustomTime: an Argument that sends Unix seconds."""

    time: datetime.datetime

    def redis_arg(self) -> int:
        return int(self.time.timestamp())


@dataclass
class DurationArg:
    duration: datetime.timedelta

    def redis_arg(self) -> str:
        return f"{self.duration.total_seconds()}s"


@dataclass
class Flat:
    i: int
    u: int
    s: str
    p: bytes
    m: dict
    Bt: bool
    Bf: bool
    PtrB: Optional[bool]
    PtrI: Optional[int]
    PtrI2: Optional[int]


@dataclass
class OneInt:
    I: int


@dataclass
class WithTime:
    T: Optional[CustomTime]


@dataclass
class OmitDuration:
    Sdp: Optional[DurationArg] = field(default=None, metadata={"redis": "Sdp,omitempty"})


@dataclass
class OmitAll:
    s: str = field(default="", metadata={"redis": "s,omitempty"})
    b: bytes = field(default=b"", metadata={"redis": "b,omitempty"})
    i: int = field(default=0, metadata={"redis": "i,omitempty"})
    f: float = field(default=0.0, metadata={"redis": "f,omitempty"})
    t: bool = field(default=False, metadata={"redis": "t,omitempty"})
    l: list = field(default_factory=list, metadata={"redis": "l,omitempty"})
    d: dict = field(default_factory=dict, metadata={"redis": "d,omitempty"})
    kept: int = 0
    hidden: int = field(default=1, metadata={"redis": "-"})
    _private: int = 2


UNIX = datetime.datetime.fromtimestamp(1573231058, datetime.timezone.utc)

ARGS_TESTS: List[Any] = [
    ("struct-ptr",
     lambda: Args().add_flat(Flat(-1234, 5678, "hello", b"world", {"hello": "world"}, True, False, True,
                                  None, 5)),
     ["i", -1234, "u", 5678, "s", "hello", "p", b"world", "m", {"hello": "world"}, "Bt", True, "Bf", False,
      "PtrB", True, "PtrI2", 5]),
    ("struct", lambda: Args().add_flat(OneInt(123)), ["I", 123]),
    ("struct-with-RedisArg-direct", lambda: Args().add_flat(WithTime(CustomTime(UNIX))), ["T", 1573231058]),
    ("slice", lambda: Args().add(1).add_flat(["a", "b", "c"]).add(2), [1, "a", "b", "c", 2]),
    ("struct-omitempty", lambda: Args().add_flat(OmitDuration()), []),
    ("struct-anonymous", lambda: Args().add_flat(EdEdp(edi=2, edpi=3)), ["edi", 2, "edpi", 3]),
    ("struct-anonymous-nil", lambda: Args().add_flat(EdEdp(edi=2)), ["edi", 2]),
    ("struct-anonymous-multi-nil-early", lambda: Args().add_flat(EdEd2(edi=2)),
     ["edi", 2]),
    ("struct-anonymous-multi-nil-late", lambda: Args().add_flat(EdEd2(edi=2, ed2i=3, edp2i=4)),
     ["edi", 2, "edp2i", 4, "ed2i", 3]),  # base classes first
    # Beyond redigo's table.
    ("omitempty of every kind", lambda: Args().add_flat(OmitAll()), ["kept", 0]),
    ("omitempty kept when set", lambda: Args().add_flat(OmitAll(s="x", t=True, l=[1])),
     ["s", "x", "t", True, "l", [1], "kept", 0]),
    ("omitempty with an Argument", lambda: Args().add_flat(OmitDuration(DurationArg(datetime.timedelta(0)))),
     ["Sdp", "0.0s"]),
    ("dict", lambda: Args().add("id").add_flat({"a": 1, "b": b"2"}), ["id", "a", 1, "b", b"2"]),
    ("tuple", lambda: Args().add_flat((1, 2)), [1, 2]),
    ("bytes are not flattened", lambda: Args().add_flat(b"ab"), [b"ab"]),
    ("scalar", lambda: Args().add_flat(7).add_flat(None), [7, None]),
    ("dataclass type is a value", lambda: Args().add_flat(OneInt), [OneInt]),
    ("add nothing", lambda: Args().add(), []),
]


@pytest.mark.parametrize("title, fn, expected", ARGS_TESTS, ids=[t[0] for t in ARGS_TESTS])
def test_args(title: str, fn: Callable[[], Args], expected: List[Any]) -> None:
    args = fn()
    assert isinstance(args, Args)
    assert list(args) == expected


def test_args_chain_returns_self_and_unknown_tag() -> None:
    args = Args()
    assert args.add(1) is args
    assert args.add_flat([2]) is args
    with pytest.raises(RedigoError, match="unknown field tag bogus"):
        Args().add_flat(BadTag())


# -- redigo's examples against the server --------------------------------------------------


def _albums(conn: Conn, with_beat_rating: bool) -> List[Any]:
    conn.send("HMSET", "album:1", "title", "Red", "rating", 5)
    conn.send("HMSET", "album:2", "title", "Earthbound", "rating", 1)
    if with_beat_rating:
        conn.send("HMSET", "album:3", "title", "Beat", "rating", 4)
    else:
        conn.send("HMSET", "album:3", "title", "Beat")
    conn.send("LPUSH", "albums", "1")
    conn.send("LPUSH", "albums", "2")
    conn.send("LPUSH", "albums", "3")
    return values(conn.do("SORT", "albums", "BY", "album:*->rating",
                          "GET", "album:*->title", "GET", "album:*->rating"))


def test_example_scan(conn: Conn) -> None:
    items = _albums(conn, with_beat_rating=False)
    lines = []
    while items:
        (title, rating), items = scan(items, str, int)
        lines.append(f"{title} {'not-rated' if rating is None else rating}")
    assert lines == ["Beat not-rated", "Earthbound 1", "Red 5"]


@dataclass
class Album:
    Title: str
    Rating: int


def test_example_scan_slice(conn: Conn) -> None:
    albums = scan_slice(_albums(conn, with_beat_rating=True), Album)
    assert albums == [Album("Earthbound", 1), Album("Beat", 4), Album("Red", 5)]


@dataclass
class Post:
    title: str = ""
    author: str = ""
    body: str = ""


def test_example_args(conn: Conn) -> None:
    p1 = Post(title="Example", author="Gary", body="Hello")
    conn.do("HMSET", *Args().add("id1").add_flat(p1))
    m = {"title": "Example2", "author": "Steve", "body": "Map"}
    conn.do("HMSET", *Args().add("id2").add_flat(m))
    got = [scan_struct(values(conn.do("HGETALL", key)), Post) for key in ("id1", "id2")]
    assert got == [Post("Example", "Gary", "Hello"), Post("Example2", "Steve", "Map")]


# -- properties -------------------------------------------------------------------------------

LEAVES = st.one_of(
    st.none(),
    st.integers(min_value=-(1 << 65), max_value=1 << 65),
    st.binary(max_size=10),
    st.sampled_from([b"1", b"-1", b"1.5", b"t", b"256", b"1m", b"Field", b"A", b"i", b"sd"]),
    st.text(max_size=6),
    st.builds(Error, st.text(max_size=6)),
)
REPLIES = st.recursive(LEAVES, lambda children: st.lists(children, max_size=8), max_leaves=24)
TYPES = st.sampled_from([int, float, str, bytes, bool, object, None, list, List[int], List[bytes],
                         List[List[str]], Optional[int], DurationScan, InnerStruct, SliceScanner, dict])
DATACLASSES = st.sampled_from([S1, EdEd2, AB, ACB, Album, SliceScanner, Checked, Frozen, NoFields])


@settings(max_examples=300, deadline=None)
@given(reply=REPLIES, types=st.lists(TYPES, max_size=4), cls=DATACLASSES, element=TYPES)
def test_scanning_converts_or_raises_redigo_error(reply: Any, types: List[Any], cls: type, element: Any) -> None:
    calls: List[Callable[[], Any]] = [
        lambda: scan(reply, *types),
        lambda: scan_struct(reply, cls),
        lambda: scan_slice(reply, cls),
        lambda: scan_slice(reply, element),
        lambda: scan_slice(reply, cls, "A"),
    ]
    for call in calls:
        try:
            call()
        except RedigoError:
            pass


@given(items=st.lists(st.one_of(st.integers(), st.binary(), st.text(), st.none()), max_size=8))
def test_args_flat_round_trip(items: List[Any]) -> None:
    pairs = {str(i): v for i, v in enumerate(items)}
    assert list(Args().add_flat(pairs)) == [x for k, v in pairs.items() for x in (k, v)]
    assert list(Args().add_flat(items).add(*items)) == items + items
