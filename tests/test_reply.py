"""Reply helpers: redigo's reply_test.go vectors, error texts, the server examples, properties."""

from __future__ import annotations

import datetime
import math
from fractions import Fraction
from typing import Any, Callable, Dict, Iterator, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redigo_py.conn import Conn, dial
from redigo_py.errors import Error, ErrNil, RedigoError
from redigo_py.resp import Push
from redigo_py.reply import (
    Latency,
    LatencyHistory,
    SlowLog,
    bool_,
    byte_slices,
    bytes_,
    float64,
    float64_map,
    float64s,
    int64,
    int64_map,
    int64s,
    int_,
    int_map,
    ints,
    latencies,
    latency_histories,
    multi_bulk,
    positions,
    slow_logs,
    string,
    string_map,
    strings,
    uint64,
    uint64_map,
    uint64s,
    values,
)

MAX_UINT64 = (1 << 64) - 1
MAX_UINT64_STR = str(MAX_UINT64).encode()
UTC = datetime.timezone.utc

# -- redigo's replyTests, then cases of our own in the same shape ----------------

REPLY_TESTS: List[Any] = [
    ("ints([bytes, bytes])", ints, [b"4", b"5"], [4, 5]),
    ("ints([int64, int64])", ints, [4, 5], [4, 5]),
    ("ints([bytes, nil, bytes])", ints, [b"4", None, b"5"], [4, 0, 5]),
    ("int64s([bytes, bytes])", int64s, [b"4", b"5"], [4, 5]),
    ("int64s([int64, int64])", int64s, [4, 5], [4, 5]),
    ("uint64s([bytes, bytes])", uint64s, [MAX_UINT64_STR, b"5"], [MAX_UINT64, 5]),
    ("Uint64Map([bytes, bytes])", uint64_map, [b"key1", MAX_UINT64_STR, b"key2", b"5"],
     {"key1": MAX_UINT64, "key2": 5}),
    ("strings([bytes, bytes])", strings, [b"v1", b"v2"], ["v1", "v2"]),
    ("strings([string, string])", strings, ["v1", "v2"], ["v1", "v2"]),
    ("byteslices([v1, v2])", byte_slices, [b"v1", b"v2"], [b"v1", b"v2"]),
    ("float64s([v1, v2])", float64s, [b"1.234", b"5.678"], [1.234, 5.678]),
    ("values([v1, v2])", values, [b"v1", b"v2"], [b"v1", b"v2"]),
    ("float64(1.0)", float64, b"1.0", 1.0),
    ("float64Map([bytes, bytes])", float64_map, [b"key1", b"1.234", b"key2", b"5.678"],
     {"key1": 1.234, "key2": 5.678}),
    ("uint64(1)", uint64, 1, 1),
    ("positions([[1, 2], nil, [3, 4]])", positions, [[b"1", b"2"], None, [b"3", b"4"]],
     [(1.0, 2.0), None, (3.0, 4.0)]),
    ("SlowLogs(1, 1579625870, 3, {set, x, y}, localhost:1234, testClient)", slow_logs,
     [[1, 1579625870, 3, ["set", "x", "y"], "localhost:1234", "testClient"]],
     [SlowLog(id=1, time=datetime.datetime.fromtimestamp(1579625870, UTC),
              execution_time=3e-06, args=["set", "x", "y"],
              client_addr="localhost:1234", client_name="testClient")]),
    # Beyond redigo's table.
    ("int(bytes)", int_, b"-12", -12),
    ("int(int)", int_, 7, 7),
    ("int64(min)", int64, b"-9223372036854775808", -(1 << 63)),
    ("int64(+1)", int64, b"+1", 1),
    ("int64(leading zeros)", int64, b"00000000000000000000000042", 42),
    ("uint64(max)", uint64, MAX_UINT64_STR, MAX_UINT64),
    ("float64(-inf)", float64, b"-inf", -math.inf),
    ("float64(+Inf)", float64, b"+Inf", math.inf),
    ("float64(Infinity)", float64, b"Infinity", math.inf),
    ("float64(exp)", float64, b"1.5e3", 1500.0),
    ("float64(.5)", float64, b".5", 0.5),
    ("float64(5.)", float64, b"5.", 5.0),
    ("float64(hex)", float64, b"0x1p-2", 0.25),
    ("float64(tiny)", float64, b"1e-400", 0.0),
    ("string(bulk)", string, b"hello", "hello"),
    ("string(simple)", string, "OK", "OK"),
    ("string(utf-8)", string, "héllo".encode(), "héllo"),
    ("bytes(bulk)", bytes_, b"\xff\x00", b"\xff\x00"),
    ("bytes(simple)", bytes_, "OK", b"OK"),
    ("bool(1)", bool_, 1, True),
    ("bool(0)", bool_, 0, False),
    ("bool(t)", bool_, b"t", True),
    ("bool(TRUE)", bool_, b"TRUE", True),
    ("bool(False)", bool_, b"False", False),
    ("values([])", values, [], []),
    ("multi_bulk", multi_bulk, [1, b"x"], [1, b"x"]),
    ("values keeps nested errors", values, [Error("ERR x"), 1], [Error("ERR x"), 1]),
    ("float64s(nil)", float64s, [None, b"1"], [0.0, 1.0]),
    ("strings(nil)", strings, [None, b"a"], ["", "a"]),
    ("byte_slices(nil)", byte_slices, [b"a", None], [b"a", None]),
    ("uint64s(integers)", uint64s, [1, None, 2], [1, 0, 2]),
    ("string_map", string_map, [b"a", b"1", b"b", b"x"], {"a": "1", "b": "x"}),
    ("int_map", int_map, [b"a", b"1", b"b", 2], {"a": 1, "b": 2}),
    ("int64_map", int64_map, [b"a", b"-1"], {"a": -1}),
    ("empty map", string_map, [], {}),
    ("positions([])", positions, [], []),
    ("SlowLogs, 4 elements (Redis < 4.0)", slow_logs, [[7, 0, 1000000, [b"GET", b"k"]]],
     [SlowLog(id=7, time=datetime.datetime(1970, 1, 1, tzinfo=UTC),
              execution_time=1.0, args=["GET", "k"])]),
    ("Latencies", latencies, [[b"command", 1700000000, 5, 12]],
     [Latency(name="command", time=datetime.datetime.fromtimestamp(1700000000, UTC),
              latest=0.005, max=0.012)]),
    ("Latencies, int64 max milliseconds", latencies, [[b"c", 0, (1 << 63) - 1, 0]],
     [Latency(name="c", time=datetime.datetime(1970, 1, 1, tzinfo=UTC), latest=9223372036854775.807, max=0.0)]),
    ("LatencyHistories", latency_histories, [[1700000000, 3], [1700000001, 4]],
     [LatencyHistory(time=datetime.datetime.fromtimestamp(1700000000, UTC), execution_time=0.003),
      LatencyHistory(time=datetime.datetime.fromtimestamp(1700000001, UTC), execution_time=0.004)]),
    # RESP3 shapes (resp.Reader(protocol=3)).
    ("float64(double)", float64, 1.5, 1.5),
    ("float64(-inf double)", float64, -math.inf, -math.inf),
    ("bool(#t)", bool_, True, True),
    ("bool(#f)", bool_, False, False),
    ("string(verbatim)", string, "Some string", "Some string"),
    ("bytes(verbatim)", bytes_, "héllo", "héllo".encode()),
    ("int64(big number)", int64, 1 << 62, 1 << 62),
    ("uint64(big number)", uint64, MAX_UINT64, MAX_UINT64),
    ("values(set)", values, {b"x"}, [b"x"]),
    ("strings(set)", strings, {b"a"}, ["a"]),
    ("strings(frozenset)", strings, frozenset({"a"}), ["a"]),
    ("byte_slices(set)", byte_slices, {None}, [None]),
    ("int64s(set)", int64s, {7}, [7]),
    ("ints(set of bulk)", ints, {b"7"}, [7]),
    ("uint64s(set)", uint64s, {MAX_UINT64}, [MAX_UINT64]),
    ("float64s(doubles)", float64s, [1.5, None, b"2", -math.inf], [1.5, 0.0, 2.0, -math.inf]),
    ("values(push)", values, Push([b"message", b"ch", b"hi"]), [b"message", b"ch", b"hi"]),
    ("values(tuple)", values, (1, 2), [1, 2]),
    ("string_map(map)", string_map, {b"a": b"1", b"b": b"x"}, {"a": "1", "b": "x"}),
    ("string_map(empty map)", string_map, {}, {}),
    ("int_map(map)", int_map, {b"a": 1, b"b": b"-2"}, {"a": 1, "b": -2}),
    ("int64_map(map)", int64_map, {b"a": (1 << 63) - 1}, {"a": (1 << 63) - 1}),
    ("uint64_map(map)", uint64_map, {b"a": MAX_UINT64, b"b": b"5"}, {"a": MAX_UINT64, "b": 5}),
    ("float64_map(map of doubles)", float64_map, {b"a": 1.5, b"b": b"2.5", b"c": math.inf},
     {"a": 1.5, "b": 2.5, "c": math.inf}),
    ("positions(doubles)", positions, [[13.5, 38.25], None], [(13.5, 38.25), None]),
]


@pytest.mark.parametrize("name, helper, reply, expected", REPLY_TESTS, ids=[t[0] for t in REPLY_TESTS])
def test_reply(name: str, helper: Callable[[Any], Any], reply: Any, expected: Any) -> None:
    assert helper(reply) == expected


def test_reply_nan() -> None:
    assert math.isnan(float64(b"NaN"))
    assert math.isnan(float64s([b"nan"])[0])


def test_times_are_aware_utc() -> None:
    (log,) = slow_logs([[1, 1579625870, 3, []]])
    assert log.time.tzinfo is not None and log.time.utcoffset() == datetime.timedelta(0)
    assert log.time == datetime.datetime(2020, 1, 21, 16, 57, 50, tzinfo=UTC)


INT64S = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


@given(n=INT64S)
def test_durations_are_float_seconds(n: int) -> None:
    """SLOWLOG's microseconds and LATENCY's milliseconds become float seconds, the
    library's one unit of duration, rounded once (Fraction is the exact value)."""
    (log,) = slow_logs([[1, 0, n, []]])
    (event,) = latencies([[b"command", 0, n, n]])
    (sample,) = latency_histories([[0, n]])
    assert type(log.execution_time) is float and log.execution_time == float(Fraction(n, 1_000_000))
    assert type(event.latest) is float and event.latest == event.max == float(Fraction(n, 1000))
    assert sample.execution_time == event.latest
    if abs(n) <= 1 << 50:  # any real duration (2**50 microseconds is 35 years): no unit lost
        assert round(log.execution_time * 1_000_000) == n
        assert round(event.latest * 1000) == n


# -- failures: (helper, reply, exception class, message or None) -----------------

E = Error("ERR boom")

ERROR_TESTS: List[Any] = [
    # redigo's replyTests with an error.
    ("ints(nil)", ints, None, ErrNil, "redigo: nil returned"),
    ("values(nil)", values, None, ErrNil, "redigo: nil returned"),
    ("float64(nil)", float64, None, ErrNil, "redigo: nil returned"),
    ("uint64(-1)", uint64, -1, RedigoError, "redigo: unexpected negative value -1 for Uint64"),
    # Unexpected types name the helper and the Python type.
    ("int(str)", int_, "1", RedigoError, "redigo: unexpected type for Int, got type str"),
    ("int64(float)", int64, 1.5, RedigoError, "redigo: unexpected type for Int64, got type float"),
    ("int64(list)", int64, [], RedigoError, "redigo: unexpected type for Int64, got type list"),
    ("uint64(str)", uint64, "1", RedigoError, "redigo: unexpected type for Uint64, got type str"),
    ("float64(int)", float64, 3, RedigoError, "redigo: unexpected type for Float64, got type int"),
    ("string(int)", string, 1, RedigoError, "redigo: unexpected type for String, got type int"),
    ("bytes(list)", bytes_, [], RedigoError, "redigo: unexpected type for Bytes, got type list"),
    ("bool(str)", bool_, "1", RedigoError, "redigo: unexpected type for Bool, got type str"),
    ("values(str)", values, "OK", RedigoError, "redigo: unexpected type for Values, got type str"),
    ("values(bytes)", values, b"x", RedigoError, "redigo: unexpected type for Values, got type bytes"),
    ("ints(int)", ints, 1, RedigoError, "redigo: unexpected type for Ints, got type int"),
    ("strings([int])", strings, [1], RedigoError,
     "redigo: unexpected element type for Strings, got type int"),
    ("byte_slices([str])", byte_slices, ["OK"], RedigoError,
     "redigo: unexpected element type for ByteSlices, got type str"),
    ("float64s([int])", float64s, [1], RedigoError,
     "redigo: unexpected element type for Float64s, got type int"),
    ("int64s([list])", int64s, [[]], RedigoError,
     "redigo: unexpected element type for Int64s, got type list"),
    ("uint64s([-1])", uint64s, [-1], RedigoError, "redigo: unexpected negative value -1 for Uint64"),
    # Go's strconv grammar and ranges.
    ("int64(space)", int64, b" 1", RedigoError, 'strconv.ParseInt: parsing " 1": invalid syntax'),
    ("int64(underscore)", int64, b"1_000", RedigoError, 'strconv.ParseInt: parsing "1_000": invalid syntax'),
    ("int64(arabic digits)", int64, "١".encode(), RedigoError, None),
    ("int64(float)", int64, b"1.0", RedigoError, 'strconv.ParseInt: parsing "1.0": invalid syntax'),
    ("int64(quoted as Go quotes)", int64, b'a"\\\n\xff\x00\xc2\xa0', RedigoError,
     r'strconv.ParseInt: parsing "a\"\\\n\xff\x00\u00a0": invalid syntax'),
    ("int64(overflow)", int64, b"9223372036854775808", RedigoError,
     'strconv.ParseInt: parsing "9223372036854775808": value out of range'),
    ("int64(huge)", int64, b"9" * 5000, RedigoError, None),
    ("int64(integer overflow)", int64, 1 << 63, RedigoError, None),
    ("ints(bytes)", ints, [b"x"], RedigoError, 'strconv.Atoi: parsing "x": invalid syntax'),
    ("uint64(sign)", uint64, b"+1", RedigoError, 'strconv.ParseUint: parsing "+1": invalid syntax'),
    ("uint64(overflow)", uint64, b"18446744073709551616", RedigoError,
     'strconv.ParseUint: parsing "18446744073709551616": value out of range'),
    ("float64(empty)", float64, b"", RedigoError, 'strconv.ParseFloat: parsing "": invalid syntax'),
    ("float64(space)", float64, b"1.5 ", RedigoError, None),
    ("float64(underscore)", float64, b"1_0.5", RedigoError, None),
    ("float64(hex without p)", float64, b"0x10", RedigoError, None),
    ("float64(overflow)", float64, b"1e400", RedigoError,
     'strconv.ParseFloat: parsing "1e400": value out of range'),
    ("float64(hex overflow)", float64, b"0x1p99999", RedigoError, None),
    ("bool(junk)", bool_, b"junk", RedigoError, 'strconv.ParseBool: parsing "junk": invalid syntax'),
    ("bool(yes)", bool_, b"yes", RedigoError, None),
    ("string(not utf-8)", string, b"\xff", RedigoError, None),
    ("strings(not utf-8)", strings, [b"\xff"], RedigoError, None),
    # Error replies are raised, at the top and inside arrays.
    ("int(Error)", int_, E, Error, "ERR boom"),
    ("string(Error)", string, E, Error, "ERR boom"),
    ("values(Error)", values, E, Error, "ERR boom"),
    ("strings([Error])", strings, [b"a", E], Error, "ERR boom"),
    ("int64s([Error])", int64s, [E], Error, "ERR boom"),
    ("int_map(Error value)", int_map, [b"k", E], Error, "ERR boom"),
    # Maps.
    ("string_map(odd)", string_map, [b"k"], RedigoError,
     "redigo: StringMap expects even number of values result, got 1"),
    ("string_map(key)", string_map, ["k", b"v"], RedigoError,
     "redigo: StringMap key[0] not a bulk string value, got str"),
    ("string_map(value)", string_map, [b"k", 1], RedigoError,
     'redigo: StringMap for "k" not a bulk string value, got int'),
    ("int_map(nil value)", int_map, [b"k", None], ErrNil, "redigo: nil returned"),
    ("float64_map(int value)", float64_map, [b"k", 1], RedigoError,
     "redigo: unexpected type for Float64, got type int"),
    ("uint64_map(nil)", uint64_map, None, ErrNil, "redigo: nil returned"),
    # GEOPOS, SLOWLOG, LATENCY.
    ("positions(element)", positions, [b"x"], RedigoError,
     "redigo: unexpected element type for interface slice, got type bytes"),
    ("positions(length)", positions, [[b"1"]], RedigoError,
     "redigo: unexpected number of values for a member position, got 1"),
    ("slow_logs(element)", slow_logs, [1], RedigoError, "redigo: slowlog element is not an array, got int"),
    ("slow_logs(short)", slow_logs, [[1, 2, 3]], RedigoError,
     "redigo: slowlog element has 3 elements, expected at least 4"),
    ("slow_logs(id)", slow_logs, [[b"1", 2, 3, []]], RedigoError,
     "redigo: slowlog element[0] not an int64, got bytes"),
    ("slow_logs(args)", slow_logs, [[1, 2, 3, 4]], RedigoError,
     "redigo: slowlog element[3] is not array of strings: redigo: unexpected type for Strings, got type int"),
    ("slow_logs(client)", slow_logs, [[1, 2, 3, [], 5, b"n"]], RedigoError,
     "redigo: slowlog element[4] is not a string: redigo: unexpected type for String, got type int"),
    ("slow_logs(time overflow)", slow_logs, [[1, 1 << 62, 3, []]], RedigoError, None),
    ("slow_logs(id beyond int64)", slow_logs, [[1 << 63, 0, 1, []]], RedigoError,
     "redigo: slowlog element[0] not an int64, got int"),
    ("latencies(length)", latencies, [[b"command", 1, 2]], RedigoError,
     "redigo: latencies element has 3 elements, expected 4"),
    ("latencies(name)", latencies, [[None, 1, 2, 3]], RedigoError,
     "redigo: latencies element[0] is not a string: redigo: nil returned"),
    ("latencies(max)", latencies, [[b"c", 1, 2, b"3"]], RedigoError,
     "redigo: latencies element[3] not an int64, got bytes"),
    ("latency_histories(short)", latency_histories, [[1]], RedigoError,
     "redigo: latency history element has 1 elements, expected 2"),
    ("latency_histories(element)", latency_histories, [b"x"], RedigoError,
     "redigo: latency history element is not an slice, got bytes"),
    # RESP3 shapes: each helper's own rules, and no more.
    ("int64(bool)", int64, True, RedigoError, "redigo: unexpected type for Int64, got type bool"),
    ("int64(big number)", int64, 1 << 64, RedigoError,
     "redigo: Int64: integer reply 18446744073709551616 out of range"),
    ("float64(bool)", float64, True, RedigoError, "redigo: unexpected type for Float64, got type bool"),
    ("bool(double)", bool_, 1.0, RedigoError, "redigo: unexpected type for Bool, got type float"),
    ("string(double)", string, 1.5, RedigoError, "redigo: unexpected type for String, got type float"),
    ("values(map)", values, {b"k": b"v"}, RedigoError, "redigo: unexpected type for Values, got type dict"),
    ("strings(map)", strings, {b"k": b"v"}, RedigoError, "redigo: unexpected type for Strings, got type dict"),
    ("strings(set of int)", strings, {1}, RedigoError, "redigo: unexpected element type for Strings, got type int"),
    ("float64s([bool])", float64s, [True], RedigoError, "redigo: unexpected element type for Float64s, got type bool"),
    ("int64s([double])", int64s, [1.0], RedigoError, "redigo: unexpected element type for Int64s, got type float"),
    ("string_map(map key)", string_map, {"k": b"v"}, RedigoError,
     "redigo: StringMap key[0] not a bulk string value, got str"),
    ("string_map(map second key)", string_map, {b"a": b"1", 5: b"v"}, RedigoError,
     "redigo: StringMap key[2] not a bulk string value, got int"),
    ("string_map(map value)", string_map, {b"k": 1}, RedigoError,
     'redigo: StringMap for "k" not a bulk string value, got int'),
    ("string_map(map not utf-8)", string_map, {b"k": b"\xff"}, RedigoError, None),
    ("int_map(map nil value)", int_map, {b"k": None}, ErrNil, "redigo: nil returned"),
    ("int_map(map error value)", int_map, {b"k": E}, Error, "ERR boom"),
    ("float64_map(map of int)", float64_map, {b"k": 1}, RedigoError,
     "redigo: unexpected type for Float64, got type int"),
    ("string_map(set)", string_map, {b"k", b"v"}, RedigoError,
     "redigo: unexpected type for StringMap, got type set"),
    ("int_map(frozenset)", int_map, frozenset(), RedigoError,
     "redigo: unexpected type for IntMap, got type frozenset"),
    ("string_map(push)", string_map, Push([b"k"]), RedigoError,
     "redigo: StringMap expects even number of values result, got 1"),
]


@pytest.mark.parametrize("name, helper, reply, exc_type, message", ERROR_TESTS,
                         ids=[t[0] for t in ERROR_TESTS])
def test_reply_error(name: str, helper: Callable[[Any], Any], reply: Any, exc_type: type,
                     message: Any) -> None:
    with pytest.raises(exc_type) as info:
        helper(reply)
    assert isinstance(info.value, RedigoError)
    if message is not None:
        assert str(info.value) == message


# -- redigo's server tests and examples ---------------------------------------------


def test_example_bool(conn: Conn) -> None:
    conn.do("SET", "foo", 1)
    assert bool_(conn.do("EXISTS", "foo")) is True


def test_example_int(conn: Conn) -> None:
    conn.do("SET", "k1", 1)
    assert int_(conn.do("GET", "k1")) == 1
    assert int_(conn.do("INCR", "k1")) == 2


def test_example_ints(conn: Conn) -> None:
    conn.do("SADD", "set_with_integers", 4, 5, 6)
    assert sorted(ints(conn.do("SMEMBERS", "set_with_integers"))) == [4, 5, 6]


def test_example_string(conn: Conn) -> None:
    conn.do("SET", "hello", "world")
    assert string(conn.do("GET", "hello")) == "world"


def test_nil_reply_from_server(conn: Conn) -> None:
    with pytest.raises(ErrNil):
        string(conn.do("GET", "missing"))
    assert string_map(conn.do("HGETALL", "missing")) == {}


def test_maps_and_positions_from_server(conn: Conn) -> None:
    conn.do("HSET", "h", "a", 1, "b", "2.5")
    assert string_map(conn.do("HGETALL", "h")) == {"a": "1", "b": "2.5"}
    assert float64_map(conn.do("HGETALL", "h")) == {"a": 1.0, "b": 2.5}
    conn.do("GEOADD", "g", 13.361389, 38.115556, "Palermo")
    (palermo, missing) = positions(conn.do("GEOPOS", "g", "Palermo", "Nowhere"))
    assert missing is None
    assert palermo is not None
    assert palermo[0] == pytest.approx(13.361389, abs=1e-5)
    assert palermo[1] == pytest.approx(38.115556, abs=1e-5)


@pytest.fixture
def debug_conn(make_server: Callable[..., Any]) -> Iterator[Conn]:
    """A server of this test's own: these tests change its config and need DEBUG."""
    srv = make_server("--enable-debug-command", "yes")
    c = dial("tcp", srv.address, read_timeout=10, write_timeout=10)
    yield c
    c.close()


def test_slow_log(debug_conn: Conn) -> None:
    c = debug_conn
    assert c.do("CONFIG", "SET", "slowlog-log-slower-than", "0") == "OK"
    logs = slow_logs(c.do("SLOWLOG", "GET"))
    assert logs[0].args == ["CONFIG", "SET", "slowlog-log-slower-than", "0"]
    assert logs[0].client_addr.startswith("127.0.0.1:")
    assert isinstance(logs[0].execution_time, float) and logs[0].execution_time >= 0
    now = datetime.datetime.now(UTC)
    assert now - datetime.timedelta(minutes=5) < logs[0].time <= now + datetime.timedelta(seconds=1)


def test_latency(debug_conn: Conn) -> None:
    c = debug_conn
    assert c.do("CONFIG", "SET", "latency-monitor-threshold", "1") == "OK"
    c.do("DEBUG", "SLEEP", 0.002)
    (event,) = latencies(c.do("LATENCY", "LATEST"))
    assert event.name == "command"
    assert event.latest >= 0.001  # DEBUG SLEEP 0.002: a spike of 2 ms or more, in seconds
    assert event.max >= 0.001


def test_latency_histories(debug_conn: Conn) -> None:
    c = debug_conn
    c.do("LATENCY", "RESET", "command")
    assert c.do("CONFIG", "SET", "latency-monitor-threshold", "1") == "OK"
    c.do("DEBUG", "SLEEP", 0.002)
    (event,) = latency_histories(c.do("LATENCY", "HISTORY", "command"))
    assert event.execution_time >= 0.001


# -- properties -------------------------------------------------------------------

HELPERS = [int_, int64, uint64, float64, string, bytes_, bool_, values, multi_bulk, float64s,
           strings, byte_slices, int64s, ints, uint64s, string_map, int_map, int64_map,
           float64_map, uint64_map, positions, slow_logs, latencies, latency_histories]

# Bulk strings that parse as something, so the strategy reaches past the type checks.
NUMERIC = st.sampled_from([b"0", b"1", b"-1", b"+7", b"1.5", b"-inf", b"nan", b"0x1p3", b"t",
                           b"false", MAX_UINT64_STR, b"9223372036854775808", b"1e400", b""])
LEAVES = st.one_of(
    st.none(),
    st.integers(min_value=-(1 << 65), max_value=1 << 65),
    st.binary(max_size=12),
    NUMERIC,
    st.text(max_size=8),
    st.builds(Error, st.text(max_size=8)),
)
# Every RESP2 reply shape: scalars and arbitrarily nested arrays of them.
REPLIES = st.recursive(LEAVES, lambda children: st.lists(children, max_size=7), max_leaves=24)


@settings(max_examples=400, deadline=None)
@given(reply=REPLIES)
def test_helpers_convert_or_raise_redigo_error(reply: Any) -> None:
    for helper in HELPERS:
        try:
            helper(reply)
        except RedigoError:
            pass


@given(n=st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_int64_round_trip(n: int) -> None:
    assert int64(str(n).encode()) == n
    assert int64(n) == n
    assert ints([str(n).encode(), n]) == [n, n]


@given(x=st.floats(allow_nan=False))
def test_float64_round_trip(x: float) -> None:
    assert float64(repr(x).encode()) == x
    assert float64(x.hex().encode()) == x


# -- RESP3 shapes: properties ---------------------------------------------------------

# Every RESP3 reply shape the reader returns (resp.Reader(protocol=3)): RESP2's, and
# doubles, booleans, big numbers, maps, sets (of hashable values), pushes.
HASHABLE_LEAVES = st.one_of(
    st.none(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.binary(max_size=12),
    NUMERIC,
    st.text(max_size=8),
    st.builds(Error, st.text(max_size=8)),
    st.floats(),
    st.booleans(),
)
REPLIES3 = st.recursive(
    HASHABLE_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=7),
        st.lists(children, max_size=4).map(Push),
        st.dictionaries(HASHABLE_LEAVES, children, max_size=5),
        st.sets(HASHABLE_LEAVES, max_size=5),
    ),
    max_leaves=24,
)
LIST_HELPERS = [values, multi_bulk, float64s, strings, byte_slices, int64s, ints, uint64s]
MAP_HELPERS = [string_map, int_map, int64_map, float64_map, uint64_map]


def outcome(helper: Callable[[Any], Any], reply: Any) -> Any:
    """What a helper does with a reply: ("ok", value) or (exception type, message)."""
    try:
        return ("ok", helper(reply))
    except RedigoError as exc:
        return (type(exc), str(exc))


def flattened(mapping: Dict[Any, Any]) -> List[Any]:
    """A RESP3 map as RESP2 sends the same reply: alternating keys and values."""
    return [x for pair in mapping.items() for x in pair]


@settings(max_examples=400, deadline=None)
@given(reply=REPLIES3)
def test_helpers_convert_resp3_shapes_or_raise_redigo_error(reply: Any) -> None:
    for helper in HELPERS:
        try:
            helper(reply)
        except RedigoError:
            pass


@given(x=st.floats())
def test_float64_takes_a_double_as_it_is(x: float) -> None:
    got = float64(x)
    assert got is x or (math.isnan(got) and math.isnan(x))
    assert float64s([x, None])[1] == 0.0
    assert float64s([x])[0] is x


@given(b=st.booleans())
def test_bool_takes_a_boolean_as_it_is(b: bool) -> None:
    assert bool_(b) is b


@given(text=st.text())
def test_string_takes_a_verbatim_string_as_it_is(text: str) -> None:
    assert string(text) is text
    assert bytes_(text) == text.encode()


@settings(max_examples=300, deadline=None)
@given(members=st.sets(HASHABLE_LEAVES, max_size=8))
def test_array_helpers_take_a_set_as_the_array_of_its_members(members: Any) -> None:
    """A set converts exactly as the array of its members in iteration order would, to a value
    or to the same error: SMEMBERS means the same under RESP2 and RESP3."""
    for helper in LIST_HELPERS:
        for shape in (members, frozenset(members)):
            assert repr(outcome(helper, shape)) == repr(outcome(helper, list(shape)))


@settings(max_examples=300, deadline=None)
@given(mapping=st.dictionaries(HASHABLE_LEAVES, HASHABLE_LEAVES, max_size=8))
def test_map_helpers_take_a_map_as_its_alternating_keys_and_values(mapping: Dict[Any, Any]) -> None:
    """A map converts exactly as RESP2's array of alternating keys and values would, to a value
    or to the same error (key positions included): HGETALL means the same under both."""
    for helper in MAP_HELPERS:
        assert repr(outcome(helper, mapping)) == repr(outcome(helper, flattened(mapping)))


@given(mapping=st.dictionaries(st.binary(max_size=8), st.binary(max_size=8), max_size=20))
def test_string_map_of_a_map_of_bulk_strings(mapping: Dict[bytes, bytes]) -> None:
    expected: Any
    try:
        expected = {k.decode(): v.decode() for k, v in mapping.items()}
    except UnicodeDecodeError:
        expected = RedigoError
    if expected is RedigoError:
        with pytest.raises(RedigoError, match="not valid UTF-8"):
            string_map(mapping)
    else:
        assert string_map(mapping) == expected


@given(n=st.integers(min_value=-(1 << 80), max_value=1 << 80))
def test_big_numbers_convert_within_each_helpers_range(n: int) -> None:
    assert outcome(int64, n)[0] == ("ok" if -(1 << 63) <= n < (1 << 63) else RedigoError)
    assert outcome(uint64, n)[0] == ("ok" if 0 <= n <= MAX_UINT64 else RedigoError)
