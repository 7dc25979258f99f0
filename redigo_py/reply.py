"""Reply helpers: turn a raw reply into the Python value a caller wants.

A Go program writes ``n, err := redis.Int(c.Do("INCR", "k"))``; the port
writes ``n = redis.int_(c.do("INCR", "k"))``. Each helper takes one reply (a
``str``, ``bytes``, ``int``, ``list``, ``None`` or :class:`Error`) and keeps
redigo's conversion rules, so a ported program behaves the same way:

- a nil reply raises :class:`ErrNil` (``redigo: nil returned``), so a missing
  key is told apart from an empty value;
- an :class:`Error` reply (one nested in an EXEC array, say) is raised;
- a reply of a shape the helper cannot convert raises :class:`RedigoError`
  naming the helper and the Python type (``redigo: unexpected type for Int64,
  got type bytes``), never a bare ``TypeError`` or ``ValueError``.

Numbers in bulk strings are parsed with Go's ``strconv`` grammar (no spaces,
no underscores, a 64-bit range), not Python's more lenient ``int()`` and
``float()``, so that a value redigo refuses is refused here too; the error
text is Go's (``strconv.ParseInt: parsing "x": invalid syntax``). A bulk
string becomes a ``str`` only if it is valid UTF-8: Python's ``str`` is text,
and binary data should be read with :func:`bytes_` instead.

RESP3 replies (``resp.Reader(protocol=3)``) convert as their RESP2
counterparts do, so that a program keeps its helpers when it switches
protocol: :func:`float64` takes a double (``float``; ZSCORE),
:func:`bool_` a boolean, :func:`string` a verbatim string (``str``), the
integer helpers a big number within their range; the map helpers take a map
(``dict``; HGETALL, CONFIG GET) with the rules they apply to an array of
alternating keys and values, keys bulk strings; the array helpers take a set
(SMEMBERS), in its iteration order, as RESP2's array of members is in no
meaningful order either, and :func:`float64s` takes doubles as elements. A
map is refused by the array helpers (flattening it would hide which of its
values belongs to which key), a set by the map helpers (its order pairs
nothing).
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, NoReturn, Optional, Sequence, Tuple, TypeVar

from ._gotext import quote as _quote
from ._types import Reply
from .errors import Error, ErrNil, RedigoError

if TYPE_CHECKING:  # typing.TypeGuard is new in Python 3.10; an annotation needs no import at run time
    from typing import TypeGuard

__all__ = [
    "int_",
    "int64",
    "uint64",
    "float64",
    "string",
    "bytes_",
    "bool_",
    "values",
    "multi_bulk",
    "float64s",
    "strings",
    "byte_slices",
    "int64s",
    "ints",
    "uint64s",
    "string_map",
    "int_map",
    "int64_map",
    "float64_map",
    "uint64_map",
    "positions",
    "slow_logs",
    "latencies",
    "latency_histories",
    "SlowLog",
    "Latency",
    "LatencyHistory",
]

T = TypeVar("T")

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1

# Go's strconv grammars. Base 10 integers take no underscores, no spaces and
# no other Unicode digits, all of which Python's int() would accept.
_INT_RE = re.compile(rb"[+-]?[0-9]+\Z")
_UINT_RE = re.compile(rb"[0-9]+\Z")
_DEC_FLOAT_RE = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_HEX_FLOAT_RE = re.compile(
    rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+\Z"
)
_SPECIAL_FLOATS = {
    b"inf": math.inf, b"+inf": math.inf, b"-inf": -math.inf,
    b"infinity": math.inf, b"+infinity": math.inf, b"-infinity": -math.inf,
    b"nan": math.nan, b"+nan": math.nan, b"-nan": math.nan,
}
_BOOLS = {
    b"1": True, b"t": True, b"T": True, b"TRUE": True, b"true": True, b"True": True,
    b"0": False, b"f": False, b"F": False, b"FALSE": False, b"false": False, b"False": False,
}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# -- Go's strconv, as redigo uses it -------------------------------------------
# These are shared with scan.py, which converts bulk strings by the same rules.

def _syntax(func: str, data: bytes) -> NoReturn:
    raise RedigoError(f"strconv.{func}: parsing {_quote(data)}: invalid syntax")


def _range(func: str, data: bytes) -> NoReturn:
    raise RedigoError(f"strconv.{func}: parsing {_quote(data)}: value out of range")


def _decimal(data: bytes) -> int:
    """The value of a string already matched by a decimal grammar above.

    Python refuses to convert very long digit strings (a ValueError past
    ``sys.get_int_max_str_digits()``); anything past 20 significant digits is
    out of any 64-bit range anyway, so it is clamped to a value that fails
    the caller's range check.
    """
    digits = data.lstrip(b"+-").lstrip(b"0")
    if len(digits) > 20:
        return -(1 << 70) if data.startswith(b"-") else 1 << 70
    return int(data)


def parse_int(data: bytes, func: str = "ParseInt") -> int:
    """Go's ``strconv.ParseInt(s, 10, 64)`` (``func`` names it in errors: Atoi for Ints)."""
    if not _INT_RE.match(data):
        _syntax(func, data)
    n = _decimal(data)
    if not _INT64_MIN <= n <= _INT64_MAX:
        _range(func, data)
    return n


def parse_uint(data: bytes, high: int = _UINT64_MAX) -> int:
    """Go's ``strconv.ParseUint(s, 10, 64)``: an unsigned decimal (no sign allowed)."""
    if not _UINT_RE.match(data):
        _syntax("ParseUint", data)
    n = _decimal(data)
    if n > high:
        _range("ParseUint", data)
    return n


def parse_float(data: bytes) -> float:
    """Go's ``strconv.ParseFloat(s, 64)``: decimal or hex, inf/infinity/nan in any case.

    A finite literal too large for a float64 is a range error, as in Go,
    rather than Python's silent ``inf``.
    """
    special = _SPECIAL_FLOATS.get(data.lower())
    if special is not None:
        return special
    if _DEC_FLOAT_RE.match(data):
        x = float(data)
    elif _HEX_FLOAT_RE.match(data):
        try:
            x = float.fromhex(data.decode("ascii"))
        except OverflowError:
            _range("ParseFloat", data)
    else:
        _syntax("ParseFloat", data)
    if math.isinf(x):
        _range("ParseFloat", data)
    return x


def parse_bool(data: bytes) -> bool:
    """Go's ``strconv.ParseBool``: 1 t T TRUE true True, 0 f F FALSE false False."""
    value = _BOOLS.get(data)
    if value is None:
        _syntax("ParseBool", data)
    return value


def decode(data: bytes, what: str) -> str:
    """A bulk string as text; ``what`` names the caller in the error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RedigoError(
            f"redigo: {what}: bulk string is not valid UTF-8 (read it as bytes): {_quote(data[:64])}"
        ) from None


def type_name(value: object) -> str:
    """The Python type of a reply, for Go's ``%T`` in error messages."""
    return type(value).__name__


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _unexpected(name: str, reply: object) -> NoReturn:
    raise RedigoError(f"redigo: unexpected type for {name}, got type {type_name(reply)}")


# -- scalars -------------------------------------------------------------------

def _int64(reply: object, name: str) -> int:
    if _is_int(reply):
        if not _INT64_MIN <= reply <= _INT64_MAX:
            raise RedigoError(f"redigo: {name}: integer reply {reply} out of range")
        return int(reply)
    if isinstance(reply, bytes):
        return parse_int(reply)
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected(name, reply)


def int_(reply: object) -> int:
    """An integer reply, or a bulk string holding a decimal integer (Go's ``Int``)."""
    return _int64(reply, "Int")


def int64(reply: object) -> int:
    """An integer reply, or a decimal bulk string, within the int64 range."""
    return _int64(reply, "Int64")


def _uint64_int(value: int, where: str) -> int:
    """An integer reply or element within the uint64 range (``where`` names it in errors)."""
    if value < 0:
        raise RedigoError(f"redigo: unexpected negative value {value} for Uint64")
    if value > _UINT64_MAX:
        raise RedigoError(f"redigo: {where} {value} out of range")
    return int(value)


def uint64(reply: object) -> int:
    """A non-negative integer reply, or a bulk string holding a uint64."""
    if _is_int(reply):
        return _uint64_int(reply, "Uint64: integer reply")
    if isinstance(reply, bytes):
        return parse_uint(reply)
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected("Uint64", reply)


def float64(reply: object) -> float:
    """A bulk string holding a float (ZSCORE, INCRBYFLOAT), or a RESP3 double.

    As in redigo, an integer reply is refused: no Redis command answers a
    float as an integer, so one here means the wrong helper was chosen.
    """
    if isinstance(reply, bytes):
        return parse_float(reply)
    if type(reply) is float:
        return reply
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected("Float64", reply)


def string(reply: object) -> str:
    """A bulk string (UTF-8), a simple string or a RESP3 verbatim string as ``str``."""
    if isinstance(reply, bytes):
        return decode(reply, "String")
    if isinstance(reply, str):
        return reply
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected("String", reply)


def bytes_(reply: object) -> bytes:
    """A bulk string, or a simple string encoded as UTF-8, as ``bytes``."""
    if isinstance(reply, bytes):
        return reply
    if isinstance(reply, str):
        return reply.encode("utf-8")
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected("Bytes", reply)


def bool_(reply: object) -> bool:
    """An integer reply (non-zero is true), a bulk string in Go's ParseBool syntax, or a
    RESP3 boolean."""
    if type(reply) is bool:
        return reply
    if _is_int(reply):
        return bool(reply != 0)
    if isinstance(reply, bytes):
        return parse_bool(reply)
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected("Bool", reply)


def _array(reply: object, name: str) -> List[Reply]:
    """An array reply's elements: the list itself; a RESP3 set (or, inside one, a frozen
    array or set) as a list in iteration order."""
    if isinstance(reply, list):
        return reply
    if isinstance(reply, (set, frozenset, tuple)):
        return list(reply)
    if reply is None:
        raise ErrNil()
    if isinstance(reply, Error):
        raise reply
    _unexpected(name, reply)


def values(reply: object) -> List[Reply]:
    """An array reply as the list itself (its elements unconverted); a RESP3 set as a list."""
    return _array(reply, "Values")


def multi_bulk(reply: object) -> List[Reply]:
    """Deprecated alias of :func:`values`, kept because redigo keeps ``MultiBulk``."""
    return _array(reply, "Values")


# -- arrays --------------------------------------------------------------------

def _slice(reply: object, name: str, nil: T, convert: Callable[[object], T]) -> List[T]:
    """Convert each element; a nil element becomes ``nil`` (Go's zero value)."""
    result: List[T] = []
    for item in _array(reply, name):
        if item is None:
            result.append(nil)
        elif isinstance(item, Error):
            raise item
        else:
            result.append(convert(item))
    return result


def _unexpected_element(name: str, item: object) -> NoReturn:
    raise RedigoError(f"redigo: unexpected element type for {name}, got type {type_name(item)}")


def float64s(reply: object) -> List[float]:
    """An array of float bulk strings or RESP3 doubles; a nil element is 0.0."""
    def convert(item: object) -> float:
        if isinstance(item, bytes):
            return parse_float(item)
        if type(item) is float:
            return item
        _unexpected_element("Float64s", item)
    return _slice(reply, "Float64s", 0.0, convert)


def strings(reply: object) -> List[str]:
    """An array of bulk or simple strings; a nil element is ``""``."""
    fast = _all_text(reply)
    if fast is not None:
        return fast

    def convert(item: object) -> str:
        if isinstance(item, bytes):
            return decode(item, "Strings")
        if isinstance(item, str):
            return item
        _unexpected_element("Strings", item)
    return _slice(reply, "Strings", "", convert)


def byte_slices(reply: object) -> List[Optional[bytes]]:
    """An array of bulk strings; a nil element stays ``None``."""
    if isinstance(reply, (list, set)) and _element_types(reply) <= _BYTES_OR_NIL:
        return list(reply)  # nothing to convert: a copy, as the general path makes

    def convert(item: object) -> bytes:
        if isinstance(item, bytes):
            return item
        _unexpected_element("ByteSlices", item)
    return _slice(reply, "ByteSlices", None, convert)


def _int64_element(name: str) -> Callable[[object], int]:
    def convert(item: object) -> int:
        if _is_int(item):
            if not _INT64_MIN <= item <= _INT64_MAX:
                raise RedigoError(f"redigo: {name}: integer element {item} out of range")
            return int(item)
        if isinstance(item, bytes):
            return parse_int(item, "Atoi" if name == "Ints" else "ParseInt")
        _unexpected_element(name, item)
    return convert


def int64s(reply: object) -> List[int]:
    """An array of integers or decimal bulk strings; a nil element is 0."""
    return _slice(reply, "Int64s", 0, _int64_element("Int64s"))


def ints(reply: object) -> List[int]:
    """Like :func:`int64s` (Go's ``int`` is 64 bits wide); a nil element is 0."""
    return _slice(reply, "Ints", 0, _int64_element("Ints"))


def uint64s(reply: object) -> List[int]:
    """An array of non-negative integers or uint64 bulk strings; a nil element is 0.

    redigo's ``Uint64s`` looks for a Go ``uint64`` element, which a reply never
    holds, so it refuses integer elements; here they convert, as intended.
    """
    def convert(item: object) -> int:
        if _is_int(item):
            return _uint64_int(item, "Uint64s: integer element")
        if isinstance(item, bytes):
            return parse_uint(item)
        _unexpected_element("Uint64s", item)
    return _slice(reply, "Uint64s", 0, convert)


# -- maps ----------------------------------------------------------------------

# The usual replies need no check per element: an array of bulk strings only
# (HGETALL, LRANGE, CONFIG GET) is converted with C-level map/zip; anything
# else (a nil, an integer, invalid UTF-8) takes the general path below,
# which also names what is wrong.
_BYTES_OR_NIL = frozenset((bytes, type(None)))


def _element_types(items: Iterable[object]) -> "frozenset[type]":
    return frozenset(map(type, items))


def _all_text(reply: object) -> Optional[List[str]]:
    """Every element decoded, if ``reply`` is a list (or a RESP3 set) of bulk strings of
    valid UTF-8; else None."""
    if not isinstance(reply, (list, set)):
        return None
    try:  # no type pass first: bytes.decode refuses anything but bytes with a TypeError
        return list(map(bytes.decode, reply))
    except (TypeError, UnicodeDecodeError):
        return None


def _map(reply: object, name: str, convert: Callable[[str, object], T]) -> Dict[str, T]:
    """Alternating key, value (HGETALL, CONFIG GET), or a RESP3 map, as a dict; keys must be
    bulk strings (a map's key is named by its index in the equivalent array)."""
    if isinstance(reply, dict):
        pairs: Iterable[Tuple[object, object]] = reply.items()
    elif isinstance(reply, (set, frozenset)):
        _unexpected(name, reply)  # a set's order is no order of keys and values
    else:
        items = _array(reply, name)
        if len(items) % 2 != 0:
            raise RedigoError(f"redigo: {name} expects even number of values result, got {len(items)}")
        pairs = zip(items[0::2], items[1::2])
    result: Dict[str, T] = {}
    for i, (key, value) in enumerate(pairs):
        if not isinstance(key, bytes):
            raise RedigoError(f"redigo: {name} key[{2 * i}] not a bulk string value, got {type_name(key)}")
        text = decode(key, name)
        result[text] = convert(text, value)
    return result


def string_map(reply: object) -> Dict[str, str]:
    """Alternating bulk-string keys and values, or a RESP3 map of them, as ``{str: str}``."""
    if isinstance(reply, list) and len(reply) % 2 == 0:
        texts = _all_text(reply)
        if texts is not None:
            pairs = iter(texts)
            return dict(zip(pairs, pairs))
    elif type(reply) is dict:
        # No type check first (two passes over a map's views): bytes.decode refuses
        # anything but bytes with a TypeError, and the general path then names it.
        try:
            return dict(zip(map(bytes.decode, reply), map(bytes.decode, reply.values())))
        except (TypeError, UnicodeDecodeError):
            pass

    def convert(key: str, value: object) -> str:
        if not isinstance(value, bytes):
            raise RedigoError(
                f"redigo: StringMap for {_quote(key.encode())} not a bulk string value, got {type_name(value)}"
            )
        return decode(value, "StringMap")
    return _map(reply, "StringMap", convert)


def int_map(reply: object) -> Dict[str, int]:
    """Alternating keys and integer values (each as :func:`int_`)."""
    return _map(reply, "IntMap", lambda key, value: int_(value))


def int64_map(reply: object) -> Dict[str, int]:
    """Alternating keys and int64 values (each as :func:`int64`)."""
    return _map(reply, "Int64Map", lambda key, value: int64(value))


def float64_map(reply: object) -> Dict[str, float]:
    """Alternating keys and float values (each as :func:`float64`)."""
    return _map(reply, "Float64Map", lambda key, value: float64(value))


def uint64_map(reply: object) -> Dict[str, int]:
    """Alternating keys and uint64 values (each as :func:`uint64`)."""
    return _map(reply, "Uint64Map", lambda key, value: uint64(value))


def positions(reply: object) -> List[Optional[Tuple[float, float]]]:
    """GEOPOS: a (longitude, latitude) pair per member, ``None`` for a missing member."""
    result: List[Optional[Tuple[float, float]]] = []
    for item in _array(reply, "Positions"):
        if item is None:
            result.append(None)
            continue
        if not isinstance(item, list):
            raise RedigoError(
                f"redigo: unexpected element type for interface slice, got type {type_name(item)}"
            )
        if len(item) != 2:
            raise RedigoError(f"redigo: unexpected number of values for a member position, got {len(item)}")
        result.append((float64(item[0]), float64(item[1])))
    return result


# -- SLOWLOG and LATENCY -------------------------------------------------------
# Times are wall-clock instants, so aware UTC datetimes. Durations are float
# seconds, the unit of every other duration in the library (timeouts, pool
# waits), so that one can be compared with or added to another as it is.

@dataclass
class SlowLog:
    """One entry of SLOWLOG GET."""

    id: int
    """A unique, increasing identifier of the entry."""
    time: datetime.datetime
    """When the command was processed (UTC, whole seconds)."""
    execution_time: float
    """How long the command ran, in seconds (the server reports microseconds)."""
    args: List[str] = field(default_factory=list)
    """The command name and its arguments (as the server abbreviates them)."""
    client_addr: str = ""
    """The client's address (Redis 4.0 and later)."""
    client_name: str = ""
    """The name set by CLIENT SETNAME (Redis 4.0 and later)."""


@dataclass
class Latency:
    """One event of LATENCY LATEST."""

    name: str
    """The event name (``command``, ``fast-command``, ...)."""
    time: datetime.datetime
    """When the latest spike happened (UTC, whole seconds)."""
    latest: float
    """The latency of the latest spike, in seconds (the server reports milliseconds)."""
    max: float
    """The largest latency recorded for the event, in seconds."""


@dataclass
class LatencyHistory:
    """One sample of LATENCY HISTORY."""

    time: datetime.datetime
    """When the event happened (UTC, whole seconds)."""
    execution_time: float
    """The latency of the event, in seconds (the server reports milliseconds)."""


def _timestamp(seconds: int, what: str) -> datetime.datetime:
    """Unix seconds as an aware UTC datetime; an absurd value is a RedigoError, not an OverflowError."""
    try:
        return _EPOCH + datetime.timedelta(seconds=seconds)
    except OverflowError:
        raise RedigoError(f"redigo: {what}: timestamp {seconds} out of range") from None


def _seconds(amount: int, per_second: int) -> float:
    """``amount`` units (``per_second`` to a second) as float seconds.

    Dividing the integers rounds once, correctly, even past 2**53, where
    converting ``amount`` to a float first would round twice."""
    return amount / per_second


def _int_field(items: Sequence[object], index: int, what: str) -> int:
    value = items[index]
    if not (_is_int(value) and _INT64_MIN <= value <= _INT64_MAX):
        raise RedigoError(f"redigo: {what} element[{index}] not an int64, got {type_name(value)}")
    return int(value)


def _converted(what: str, index: int, kind: str, convert: Callable[[object], T], value: object) -> T:
    """Go's ``fmt.Errorf("...: %w", err)``: the element's own error, with its position."""
    try:
        return convert(value)
    except RedigoError as exc:
        raise RedigoError(f"redigo: {what} element[{index}] is not {kind}: {exc}") from exc


def slow_logs(reply: object) -> List[SlowLog]:
    """SLOWLOG GET as a list of :class:`SlowLog`."""
    logs = []
    for item in _array(reply, "SlowLogs"):
        if not isinstance(item, list):
            raise RedigoError(f"redigo: slowlog element is not an array, got {type_name(item)}")
        if len(item) < 4:
            raise RedigoError(f"redigo: slowlog element has {len(item)} elements, expected at least 4")
        log = SlowLog(
            id=_int_field(item, 0, "slowlog"),
            time=_timestamp(_int_field(item, 1, "slowlog"), "slowlog"),
            execution_time=_seconds(_int_field(item, 2, "slowlog"), 1_000_000),
            args=_converted("slowlog", 3, "array of strings", strings, item[3]),
        )
        if len(item) >= 6:
            log.client_addr = _converted("slowlog", 4, "a string", string, item[4])
            log.client_name = _converted("slowlog", 5, "a string", string, item[5])
        logs.append(log)
    return logs


def latencies(reply: object) -> List[Latency]:
    """LATENCY LATEST as a list of :class:`Latency`."""
    events = []
    for item in _array(reply, "Latencies"):
        if not isinstance(item, list):
            raise RedigoError(f"redigo: latencies element is not slice, got {type_name(item)}")
        if len(item) != 4:
            raise RedigoError(f"redigo: latencies element has {len(item)} elements, expected 4")
        events.append(Latency(
            name=_converted("latencies", 0, "a string", string, item[0]),
            time=_timestamp(_int_field(item, 1, "latencies"), "latencies"),
            latest=_seconds(_int_field(item, 2, "latencies"), 1000),
            max=_seconds(_int_field(item, 3, "latencies"), 1000),
        ))
    return events


def latency_histories(reply: object) -> List[LatencyHistory]:
    """LATENCY HISTORY as a list of :class:`LatencyHistory`.

    redigo indexes the two fields without checking the length (a panic on a
    short element); here a short element is a RedigoError.
    """
    events = []
    for item in _array(reply, "LatencyHistories"):
        if not isinstance(item, list):
            raise RedigoError(f"redigo: latency history element is not an slice, got {type_name(item)}")
        if len(item) < 2:
            raise RedigoError(f"redigo: latency history element has {len(item)} elements, expected 2")
        events.append(LatencyHistory(
            time=_timestamp(_int_field(item, 0, "latency history"), "latency history"),
            execution_time=_seconds(_int_field(item, 1, "latency history"), 1000),
        ))
    return events
