"""The logging conn: redigo's line format value by value, every method, and no secret ever logged."""

from __future__ import annotations

import logging
import math
import re
from decimal import Decimal
from typing import Any, Callable, Iterator, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

import redigo_py as redis
from redigo_py import context
from harness.server import RedisServer
from redigo_py.errors import Error
from redigo_py.log import _go_float, _print_value, new_logging_conn, new_logging_conn_filter, redact_args

from .conftest import SECRET

# -- values: (value, what redigo's printValue prints) --------------------------------

# Go's strconv.Quote of these bytes (the %q that printValue uses).
GO_QUOTES: List[Tuple[bytes, str]] = [
    (b"", '""'),
    (b"hello world", '"hello world"'),
    ('"Fran & Freddie\'s Diner\t☺"'.encode(), r'"\"Fran & Freddie' "'" r's Diner\t☺\""'),  # Go's ExampleQuote
    (b"a\\b", r'"a\\b"'),
    (b"\a\b\f\n\r\t\v", r'"\a\b\f\n\r\t\v"'),
    (b"\x00\x1b\x7f", r'"\x00\x1b\x7f"'),
    (b"\xff", r'"\xff"'),
    (b"\x80abc", r'"\x80abc"'),
    ("é".encode()[:1] + b"A", r'"\xc3A"'),  # a truncated sequence: one escape per byte
    (b"\xe2\x82A", r'"\xe2\x82A"'),
    (b"\xed\xa0\x80", r'"\xed\xa0\x80"'),  # UTF-8 of a surrogate is not valid UTF-8
    (b"\xc0\xaf", r'"\xc0\xaf"'),  # overlong
    (b"\xf4\x90\x80\x80", r'"\xf4\x90\x80\x80"'),  # beyond U+10FFFF
    ("héllo, 世界 😀 \ufffd".encode(), '"héllo, 世界 😀 \ufffd"'),  # printable: as is
    ("\u00a0".encode(), r'"\u00a0"'),  # a space other than ' '
    ("\u2028".encode(), r'"\u2028"'),  # line separator
    ("\ufeff".encode(), r'"\ufeff"'),  # format character
    ("\ue000".encode(), r'"\ue000"'),  # private use
    ("\U000e0001".encode(), r'"\U000e0001"'),  # format character beyond the BMP
    ("\u0085".encode(), r'"\u0085"'),  # a C1 control is not an ASCII control: \u, not \x
]

VALUES: List[Tuple[str, Any, str]] = [
    ("str", "v", '"v"'),
    ("bytes", b"v", '"v"'),
    ("bytearray", bytearray(b"v"), '"v"'),
    ("memoryview", memoryview(b"v"), '"v"'),
    ("32 bytes: whole", b"x" * 32, '"' + "x" * 32 + '"'),
    ("33 bytes: chopped", b"x" * 33, '"' + "x" * 32 + '"...'),
    ("str chopped by its UTF-8 bytes", "é" * 17, '"' + "é" * 16 + '"...'),
    ("a character cut in two", "a" + "é" * 16, '"a' + "é" * 15 + r'\xc3"...'),
    ("escapes count after chopping", b"\n" * 33, '"' + r"\n" * 32 + '"...'),
    ("lone surrogate", "\udc80", r'"\xed\xb2\x80"'),
    ("None", None, "<nil>"),
    ("int", 1, "1"),
    ("negative int", -42, "-42"),
    ("big int", 1 << 70, str(1 << 70)),
    ("True", True, "true"),
    ("False", False, "false"),
    ("float", 1.5, "1.5"),
    ("whole float", 3.0, "3"),
    ("float 1e6", 1e6, "1e+06"),
    ("float 123456", 123456.0, "123456"),
    ("float 1234567", 1234567.0, "1.234567e+06"),
    ("float 1e-4", 0.0001, "0.0001"),
    ("float 1e-5", 0.00001, "1e-05"),
    ("float 1.5e-7", 1.5e-7, "1.5e-07"),
    ("float 0.1+0.2", 0.1 + 0.2, "0.30000000000000004"),
    ("float max", 1.7976931348623157e308, "1.7976931348623157e+308"),
    ("float min subnormal", 5e-324, "5e-324"),
    ("float 0", 0.0, "0"),
    ("float -0", -0.0, "-0"),
    ("float -2.5", -2.5, "-2.5"),
    ("inf", math.inf, "+Inf"),
    ("-inf", -math.inf, "-Inf"),
    ("nan", math.nan, "NaN"),
    ("empty list", [], "[]"),
    ("list", [b"a", 1, None], '["a", 1, <nil>]'),
    ("nested list", [[b"a"], []], '[["a"], []]'),
    ("tuple", ("a", 2), '["a", 2]'),
    ("32 elements: whole", [1] * 32, "[" + ", ".join(["1"] * 32) + "]"),
    ("33 elements: chopped", list(range(33)), "[" + ", ".join(map(str, range(32))) + "...]"),
    ("error reply", Error("ERR value is not an integer or out of range"),
     "ERR value is not an integer or out of range"),
    ("EXEC reply", [Error("WRONGTYPE Operation"), "PONG"], '[WRONGTYPE Operation, "PONG"]'),
    ("empty dict", {}, "map[]"),
    ("dict", {"a": 1, b"b": [b"x"]}, 'map["a":1 "b":["x"]]'),
    ("33 entries: chopped", {i: i for i in range(33)},
     "map[" + " ".join(f"{i}:{i}" for i in range(32)) + "...]"),
    ("other object: its str()", Decimal("1.50"), "1.50"),
]


@pytest.mark.parametrize("data, expected", GO_QUOTES, ids=[repr(q[0]) for q in GO_QUOTES])
def test_bytes_are_quoted_as_go_quotes_them(data: bytes, expected: str) -> None:
    assert _print_value(data) == expected
    assert go_unquote(expected) == data


@pytest.mark.parametrize("name, value, expected", VALUES, ids=[v[0] for v in VALUES])
def test_values_print_as_redigo_prints_them(name: str, value: Any, expected: str) -> None:
    assert _print_value(value) == expected


# A small decoder of Go-quoted strings (strconv.Unquote), which also checks that
# every character is written the way Go's Quote writes it and no other way.
_NAMED = {"a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B, '"': 0x22, "\\": 0x5C}


def go_unquote(quoted: str) -> bytes:
    assert len(quoted) >= 2 and quoted[0] == quoted[-1] == '"', quoted
    body, out, i = quoted[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            assert ch.isprintable() and ch != '"', f"{ch!r} should be escaped"
            out += ch.encode()
            i += 1
            continue
        kind = body[i + 1]
        if kind in _NAMED:
            out.append(_NAMED[kind])
            i += 2
        elif kind == "x":
            byte = int(body[i + 2:i + 4], 16)
            assert byte not in _NAMED.values(), f"\\x{byte:02x} has a named escape"
            assert byte < 0x20 or byte == 0x7F or byte >= 0x80, f"\\x{byte:02x} is printable"
            out.append(byte)
            i += 4
        else:
            assert kind in "uU", f"unknown escape \\{kind}"
            width = 4 if kind == "u" else 8
            code = int(body[i + 2:i + 2 + width], 16)
            assert code >= 0x80 and not chr(code).isprintable(), f"U+{code:04X} needs no escape"
            assert (code < 0x10000) == (kind == "u"), f"U+{code:04X} in the wrong width"
            out += chr(code).encode()
            i += 2 + width
    return bytes(out)


# Byte strings of every kind: arbitrary bytes, UTF-8 text, and the two spliced.
ANY_BYTES = st.one_of(
    st.binary(max_size=48),
    st.text(max_size=24).map(str.encode),
    st.lists(st.one_of(st.binary(max_size=4), st.text(max_size=4).map(str.encode)), max_size=10).map(b"".join),
)


@given(data=ANY_BYTES)
def test_any_bytes_print_as_a_go_quoted_string_that_round_trips(data: bytes) -> None:
    text = _print_value(data)
    quoted = text[:-3] if len(data) > 32 else text
    assert text.endswith('"...') == (len(data) > 32)
    assert go_unquote(quoted) == data[:32]
    valid = True
    try:
        data[:32].decode("utf-8")
    except UnicodeDecodeError:
        valid = False
    if valid:  # only bytes outside valid UTF-8 get a high \x escape
        assert not re.search(r"(?<!\\)(\\\\)*\\x[89a-f]", quoted), quoted


@given(text=st.text(max_size=40))
def test_any_str_prints_as_its_utf8_bytes(text: str) -> None:
    assert _print_value(text) == _print_value(text.encode())


@given(x=st.floats())
def test_floats_print_as_go_percent_v(x: float) -> None:
    """Go's %v: the shortest digits that round-trip (Python's repr finds the same
    ones), in exponent form when the decimal exponent is below -4 or at least 6."""
    text = _go_float(x)
    if math.isnan(x):
        assert text == "NaN"
        return
    assert float(text) == x and math.copysign(1, float(text)) == math.copysign(1, x)
    if math.isinf(x) or x == 0:
        return
    shortest = Decimal(repr(x))
    assert _significant(text) == _significant(repr(x))
    assert ("e" in text) == (shortest.adjusted() < -4 or shortest.adjusted() >= 6), text
    if "e" in text:
        assert re.fullmatch(r"-?\d(\.\d+)?e[+-]\d{2,3}", text), text


def _significant(number: str) -> str:
    """The significant digits of a decimal numeral."""
    mantissa = number.lstrip("-").split("e")[0].replace(".", "")
    return mantissa.strip("0")


# -- the lines: each method, as redigo writes it ------------------------------------


class ScriptedConn:
    """Answers each call with the next scripted result, or raises it if it is an exception."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)

    def _next(self) -> Any:
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result

    def do(self, command: Any, *args: Any) -> Any:
        return self._next()

    def do_with_timeout(self, timeout: Any, command: Any, *args: Any) -> Any:
        return self._next()

    def do_context(self, ctx: Any, command: Any, *args: Any) -> Any:
        return self._next()

    def send(self, command: Any, *args: Any) -> None:
        self._next()

    def flush(self) -> None:
        self._next()

    def receive(self) -> Any:
        return self._next()

    def receive_with_timeout(self, timeout: Any) -> Any:
        return self._next()

    def receive_context(self, ctx: Any) -> Any:
        return self._next()

    def err(self) -> Any:
        return self._next()

    def close(self) -> None:
        self._next()


ERR = Error("ERR value is not an integer or out of range")
BG = context.background()

# (id, the call, what the connection answers, the line logged or None)
LINES: List[Tuple[str, Callable[[Any], Any], Any, Any]] = [
    ("Do", lambda c: c.do("LPUSH", "k", "v"), 1, 'p.Do(LPUSH, "k", "v") -> (1, <nil>)'),
    ("Do nil", lambda c: c.do("GET", "missing"), None, 'p.Do(GET, "missing") -> (<nil>, <nil>)'),
    ("Do bytes command", lambda c: c.do(b"GET", b"k"), b"v", 'p.Do(GET, "k") -> ("v", <nil>)'),
    ("Do every argument type", lambda c: c.do("SET", "k", 1.5, True, None, 7), "OK",
     'p.Do(SET, "k", 1.5, true, <nil>, 7) -> ("OK", <nil>)'),
    ("Do error reply", lambda c: c.do("INCR", "k"), ERR,
     f"p.Do(INCR, \"k\") -> ({ERR}, {ERR})"),
    ("Do other failure", lambda c: c.do("GET", "k"), redis.ConnectionError("redigo: closed"),
     'p.Do(GET, "k") -> (<nil>, redigo: closed)'),
    ("Do failure without a message", lambda c: c.do("GET", "k"), TimeoutError(),
     'p.Do(GET, "k") -> (<nil>, TimeoutError)'),
    ("Do all pending", lambda c: c.do(""), [1, b"x"], 'p.Do() -> ([1, "x"], <nil>)'),
    ("DoWithTimeout", lambda c: c.do_with_timeout(1, "PING"), "PONG", 'p.DoWithTimeout(PING) -> ("PONG", <nil>)'),
    ("DoWithTimeout error reply", lambda c: c.do_with_timeout(1, "INCR", "k"), ERR,
     f"p.DoWithTimeout(INCR, \"k\") -> ({ERR}, {ERR})"),
    ("DoContext", lambda c: c.do_context(BG, "PING"), "PONG", 'p.DoContext(PING) -> ("PONG", <nil>)'),
    ("Send", lambda c: c.send("SET", "k", b"v"), None, 'p.Send(SET, "k", "v") -> (<nil>)'),
    ("Send failure", lambda c: c.send("SET", "k"), redis.ConnectionError("redigo: closed"),
     'p.Send(SET, "k") -> (redigo: closed)'),
    ("Receive", lambda c: c.receive(), [b"message", b"ch", b"hi"],
     'p.Receive() -> (["message", "ch", "hi"], <nil>)'),
    ("Receive error reply: no reply", lambda c: c.receive(), ERR, f"p.Receive() -> (<nil>, {ERR})"),
    ("ReceiveWithTimeout", lambda c: c.receive_with_timeout(1), 5, "p.ReceiveWithTimeout() -> (5, <nil>)"),
    ("ReceiveContext", lambda c: c.receive_context(BG), "OK", 'p.ReceiveContext() -> ("OK", <nil>)'),
    ("Close", lambda c: c.close(), None, "p.Close() -> (<nil>)"),
    ("Close failure", lambda c: c.close(), OSError("bad file descriptor"), "p.Close() -> (bad file descriptor)"),
    ("Flush is not logged", lambda c: c.flush(), None, None),
    ("Err is not logged", lambda c: c.err(), None, None),
]


@pytest.mark.parametrize("name, call, result, expected", LINES, ids=[t[0] for t in LINES])
def test_each_method_logs_redigos_line(name: str, call: Callable[[Any], Any], result: Any, expected: Any,
                                       caplog: pytest.LogCaptureFixture) -> None:
    lc = new_logging_conn(ScriptedConn(result), logging.getLogger("redigo-log"), "p")
    with caplog.at_level(logging.DEBUG, logger="redigo-log"):
        try:
            call(lc)
        except Exception as exc:
            assert exc is result  # the call's own exception, re-raised
    assert [r.getMessage() for r in caplog.records] == ([expected] if expected else [])
    assert all(r.levelno == logging.DEBUG for r in caplog.records)


def test_no_prefix_and_filter(caplog: pytest.LogCaptureFixture) -> None:
    """An empty prefix adds no dot; skip gets the command name as text, even when given bytes."""
    seen: List[str] = []

    def skip(name: str) -> bool:
        seen.append(name)
        return name == "PING"

    lc = new_logging_conn_filter(ScriptedConn("PONG", "PONG", b"x", None), logging.getLogger("redigo-log"), "", skip)
    with caplog.at_level(logging.DEBUG, logger="redigo-log"):
        lc.do("PING")
        lc.do(b"PING")
        lc.do("ECHO", "x")
        lc.close()
    assert [r.getMessage() for r in caplog.records] == ['Do(ECHO, "x") -> ("x", <nil>)', "Close() -> (<nil>)"]
    assert seen == ["PING", "PING", "ECHO"]


def test_nothing_is_formatted_above_debug() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise AssertionError("formatted although DEBUG is off")

    logger = logging.getLogger("redigo-log-quiet")
    logger.setLevel(logging.INFO)
    lc = new_logging_conn(ScriptedConn(Unprintable()), logger, "p")
    assert isinstance(lc.do("GET", Unprintable()), Unprintable)


def test_lines_from_a_real_server(conn: redis.Conn, caplog: pytest.LogCaptureFixture) -> None:
    lc = new_logging_conn(conn, logging.getLogger("redigo-log"), "c")
    with caplog.at_level(logging.DEBUG, logger="redigo-log"):
        lc.do("SET", "k", "v" * 100)
        lc.send("GET", "k")
        lc.flush()
        lc.receive()
        with pytest.raises(redis.Error):
            lc.do("INCR", "k")
        lc.do("RPUSH", "l", 1, 2.5, b"\xff\n")
        lc.do("LRANGE", "l", 0, -1)
        lc.send("MULTI")
        lc.send("INCR", "k")
        lc.send("PING")
        lc.do("EXEC")
    v32 = '"' + "v" * 32 + '"...'
    incr = "ERR value is not an integer or out of range"
    assert [r.getMessage() for r in caplog.records] == [
        f'c.Do(SET, "k", {v32}) -> ("OK", <nil>)',
        'c.Send(GET, "k") -> (<nil>)',
        f"c.Receive() -> ({v32}, <nil>)",
        f'c.Do(INCR, "k") -> ({incr}, {incr})',
        r'c.Do(RPUSH, "l", 1, 2.5, "\xff\n") -> (3, <nil>)',
        r'c.Do(LRANGE, "l", 0, -1) -> (["1", "2.5", "\xff\n"], <nil>)',
        "c.Send(MULTI) -> (<nil>)",
        'c.Send(INCR, "k") -> (<nil>)',
        "c.Send(PING) -> (<nil>)",
        f'c.Do(EXEC) -> ([{incr}, "PONG"], <nil>)',
    ]


# -- secrets ---------------------------------------------------------------------------

REDACTIONS = [
    ("AUTH", ["pw"], ["(redacted)"]),
    ("auth", ["user", "pw"], ["(redacted)", "(redacted)"]),
    ("HELLO", [3, "AUTH", "u", "pw", "SETNAME", "n"], [3, "AUTH", "(redacted)", "(redacted)", "SETNAME", "n"]),
    ("MIGRATE", ["h", 1, "", 0, 5, "AUTH", "pw", "KEYS", "a"],
     ["h", 1, "", 0, 5, "AUTH", "(redacted)", "KEYS", "a"]),
    ("MIGRATE", ["h", 1, "k", 0, 5, "AUTH2", "u", "pw"], ["h", 1, "k", 0, 5, "AUTH2", "(redacted)", "(redacted)"]),
    ("ACL", ["SETUSER", "u", "on", ">pw", "#abc", "<old", "~*"],
     ["SETUSER", "u", "on", "(redacted)", "(redacted)", "(redacted)", "~*"]),
    ("CONFIG", ["SET", "masterauth", "pw"], ["SET", "masterauth", "(redacted)"]),
    ("GET", ["AUTH"], ["AUTH"]),
]


@pytest.mark.parametrize("command,args,expected", REDACTIONS)
def test_redact_args(command: str, args: list, expected: list) -> None:
    assert redact_args(command, args) == expected




LOGGED_CALLS: List[Tuple[str, Tuple[Any, ...]]] = [
    ("do", ("AUTH", SECRET)),
    ("do", ("AUTH", "default", SECRET)),
    ("do", ("HELLO", "2", "AUTH", "default", SECRET)),
    ("do", ("HELLO", "2", "auth", "default", SECRET.encode())),
    ("do", ("ACL", "SETUSER", "carol", "on", ">" + SECRET, "~*", "+@all")),
    ("do", ("acl", "setuser", "carol", "<" + SECRET)),
    ("do", ("MIGRATE", "127.0.0.1", "1", "k", "0", "100", "AUTH", SECRET)),
    ("do", ("MIGRATE", "127.0.0.1", "1", "", "0", "100", "AUTH2", "user", SECRET, "KEYS", "k")),
    ("do", ("CONFIG", "SET", "requirepass", SECRET)),
    ("do", ("AUTH", SECRET + "-wrong")),
    ("send", ("AUTH", SECRET)),
    ("send", ("HELLO", "2", "AUTH", "default", SECRET)),
    ("do_with_timeout", ("AUTH", SECRET)),
    ("do_context", ("AUTH", SECRET)),
]


def test_password_never_in_logging_conn_output(auth_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """Every path of the logging conn (do, send/receive, with timeout, with context), success and failure."""
    logger = logging.getLogger("redigo-log-secrets")
    lc = new_logging_conn(redis.dial("tcp", auth_server.address, password=SECRET, read_timeout=5), logger, "c")
    with caplog.at_level(logging.DEBUG, logger="redigo-log-secrets"):
        for method, (command, *args) in LOGGED_CALLS:
            try:
                if method == "do":
                    lc.do(command, *args)
                elif method == "send":
                    lc.send(command, *args)
                    lc.flush()
                    lc.receive()
                elif method == "do_with_timeout":
                    lc.do_with_timeout(5, command, *args)
                else:
                    lc.do_context(context.background(), command, *args)
            except redis.Error:
                pass  # MIGRATE to nowhere, a wrong password: the failure is logged too
        lc.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) >= len(LOGGED_CALLS)
    text = "\n".join(lines)
    assert SECRET not in text, text
    assert text.count('"(redacted)"') >= len(LOGGED_CALLS)
