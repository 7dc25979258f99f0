"""Scanning array replies into typed values, dataclasses and lists; building arguments.

Go's ``Scan`` writes through pointers; Python has none, so each function here
*returns* what it converted and takes the wanted types instead of pointers:

- ``scan(src, *types) -> (values, rest)`` converts the leading elements of an
  array reply (SORT ... GET, MGET, HMGET) and hands back the remainder, so it
  can be called in a loop as redigo's ``Scan`` is.
- ``scan_struct(src, obj_or_type)`` fills a dataclass from alternating
  name/value pairs (HGETALL, CONFIG GET).
- ``scan_slice(src, type, *field_names)`` turns a flat array into a list of
  values or of dataclasses.
- :class:`Args` flattens dicts, lists and dataclasses into command arguments.

A type is ``int``, ``float``, ``str``, ``bytes``, ``bool``, ``object`` (the
element unconverted, Go's ``interface{}``), ``list`` or ``list[T]`` (an
array, element by element), ``Optional[T]``, or a class with a
``redis_scan(src)`` classmethod that returns the converted value (redigo's
``Scanner``); ``None`` skips an element in ``scan``. The conversions are
redigo's: bulk and simple strings parse with Go's strconv grammar (see
:mod:`redigo_py.reply`), an integer reply converts to ``int`` and ``bool``
only, an error element converts to ``str`` and ``bytes`` only.

A dataclass field's Redis name is ``field(metadata={"redis": "name"})`` or
else the field's own name; ``"-"`` leaves the field out and ``",omitempty"``
(for :class:`Args`) leaves out an empty value. Fields whose names start with
``_`` (Go's unexported fields) and ``init=False`` fields take no part.

RESP3 replies (``resp.Reader(protocol=3)``) scan as their RESP2
counterparts: a set is an array in its iteration order, a map given to
``scan_struct`` is its names and values in order, a double converts to
``float`` (and only to it, as an integer converts only to ``int`` and
``bool``), a boolean as the integer 1 or 0 does.

Every conversion failure is a :class:`RedigoError` whose text follows
redigo's (``redigo.Scan: cannot assign to dest 1: strconv.ParseInt: parsing
"x": invalid syntax``); nothing leaks a bare ``TypeError`` or ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Mapping
from typing import (
    TYPE_CHECKING, Any, Dict, List, NoReturn, Optional, Protocol, Sequence, Tuple, Type, TypeVar, Union, overload,
)

from ._types import Reply
from .errors import Error, ErrNil, RedigoError
from .reply import decode, parse_bool, parse_float, parse_int, parse_uint, type_name

if TYPE_CHECKING:  # for the checker only: typing.TypeGuard is new in Python 3.10; _typeshed is stubs only
    from typing import TypeGuard

    from _typeshed import DataclassInstance

__all__ = ["scan", "scan_struct", "scan_slice", "Args"]

T = TypeVar("T")
_T_co = TypeVar("_T_co", covariant=True)
_D = TypeVar("_D", bound="DataclassInstance")  # a dataclass (the instance, or the class as Type[_D])
_Zeroed = TypeVar("_Zeroed", int, float, str, bool)  # the types with a Go zero value (see _ZEROS)


class _ScannerType(Protocol[_T_co]):
    """A class with a ``redis_scan(src)`` classmethod (redigo's ``Scanner``), which
    converts an element ``src`` of a reply to what it returns."""

    def redis_scan(self, src: Reply) -> _T_co: ...


_NONE_TYPE = type(None)
# Go's zero values, which a dataclass field that has no default starts from
# (ScanSlice with a subset of fields, ScanStruct with absent names).
_ZEROS: Dict[object, object] = {int: 0, float: 0.0, str: "", bool: False}


def _text_bytes(text: str) -> bytes:
    """A str as UTF-8; lone surrogates pass through rather than raise UnicodeEncodeError."""
    return text.encode("utf-8", "surrogatepass")


# How redigo names the kind of a reply in "cannot convert" errors; the first type that
# matches names it (an Error is a str, a bool an int).
_SOURCE_NAMES: Tuple[Tuple[Union[type, Tuple[type, ...]], str], ...] = (
    (type(None), "Redis nil"), (Error, "Redis error"), (str, "Redis simple string"),
    (bytes, "Redis bulk string"), (bool, "Redis boolean"), (int, "Redis integer"),
    (float, "Redis double"), (list, "Redis array"), (dict, "Redis map"), ((set, frozenset), "Redis set"),
)


def _source_name(src: object) -> str:
    """How redigo names the kind of a reply in "cannot convert" errors."""
    for kind, name in _SOURCE_NAMES:
        if isinstance(src, kind):
            return name
    return type_name(src)


def _dest_name(dest: object) -> str:
    if isinstance(dest, type) and typing.get_origin(dest) is None:
        return dest.__qualname__
    return repr(dest)


def _cannot(src: object, dest: object) -> NoReturn:
    raise RedigoError(f"cannot convert from {_source_name(src)} to {_dest_name(dest)}")


def _is_scanner(dest: object) -> TypeGuard[_ScannerType[object]]:
    return isinstance(dest, type) and callable(getattr(dest, "redis_scan", None))


def _unwrap_optional(dest: object) -> object:
    """``Optional[T]`` -> ``T``: the None half is what a nil reply gives anyway."""
    if typing.get_origin(dest) is Union:
        args = [a for a in typing.get_args(dest) if a is not _NONE_TYPE]
        if len(args) == 1:
            return args[0]
    return dest


def _element_type(dest: object) -> object:
    """The element type of ``list``/``list[T]``/``List[T]`` (``object`` if bare), else None."""
    if dest is list:
        return object
    if typing.get_origin(dest) is list:
        args = typing.get_args(dest)
        return args[0] if args else object
    return None


def _zero(dest: object) -> object:
    """Go's zero value of a destination type; None where Python has no natural one."""
    return _ZEROS.get(dest)


def _scan_with(dest: _ScannerType[T], src: object) -> T:
    """Call a Scanner; what it raises becomes a RedigoError (the cause is kept)."""
    try:
        return dest.redis_scan(src)
    except RedigoError:
        raise
    except Exception as exc:
        raise RedigoError(f"{type(exc).__name__}: {exc}") from exc


def _convert(src: object, dest: object) -> object:
    """One element to ``dest`` (redigo's convertAssignValue); ``src`` may be nil."""
    dest = _unwrap_optional(dest)
    if _is_scanner(dest):
        return _scan_with(dest, src)
    if dest is object or dest is Any:
        return src
    element = _element_type(dest)
    if src is None:
        if dest is bytes or element is not None:
            return None
        _cannot(src, dest)
    if isinstance(src, bytes):
        return _from_text(src, src, dest)
    if isinstance(src, str):
        return _from_text(src, _text_bytes(src), dest)
    if isinstance(src, Error):
        if dest is str:
            return str(src)
        if dest is bytes:
            return _text_bytes(str(src))
        _cannot(src, dest)
    if isinstance(src, int):
        if dest is int:
            return int(src)
        if dest is bool:
            return src != 0
        _cannot(src, dest)
    if isinstance(src, float):
        if dest is float:
            return src
        _cannot(src, dest)
    if isinstance(src, list):
        if element is not None:
            return src if element is object or element is Any else [_convert(s, element) for s in src]
        if dest is bytes:
            return bytes(_uint8(s) for s in src)
    _cannot(src, dest)


def _from_text(src: Union[str, bytes], data: bytes, dest: object) -> object:
    """A bulk or simple string (``data`` is its bytes) to a scalar type."""
    if dest is str:
        return src if isinstance(src, str) else decode(data, "Scan")
    if dest is bytes:
        return data
    if dest is int:
        return parse_int(data)
    if dest is float:
        return parse_float(data)
    if dest is bool:
        return parse_bool(data)
    _cannot(src, dest)


def _uint8(src: object) -> int:
    """One array element of a ``bytes`` destination (Go's ``[]byte`` from an array)."""
    if isinstance(src, (bytes, str)):
        return parse_uint(src if isinstance(src, bytes) else _text_bytes(src), 255)
    if isinstance(src, int):
        if 0 <= src <= 255:
            return int(src)
        raise RedigoError(f"integer {src} out of range for a byte")
    _cannot(src, "uint8")


def _array(src: object, where: str) -> Sequence[Reply]:
    """The array being scanned (a RESP3 set as a list); a nil or error reply is raised as
    the reply helpers do."""
    if isinstance(src, (list, tuple)):
        return src
    if isinstance(src, (set, frozenset)):
        return list(src)
    if src is None:
        raise ErrNil()
    if isinstance(src, Error):
        raise src
    raise RedigoError(f"{where}: src must be an array, got type {type_name(src)}")


# explicit Any: each value has the type that its entry of ``types`` names (a str for str, a list
# for list[int], what a redis_scan returns...), which no list type can say position by position;
# object would make a caller cast every value it unpacks.
def scan(src: object, *types: object) -> Tuple[List[Any], List[Reply]]:  # explicit Any: see above
    """Convert ``src[0]``, ``src[1]``... to ``types``; return them and the rest of ``src``.

    A nil element gives ``None`` whatever its type (redigo leaves the
    destination unmodified), so a caller can tell "absent" from a value. An
    error element is raised unless a Scanner takes it. A ``None`` type skips
    its element::

        while values:
            (title, rating), values = scan(values, str, int)
    """
    items = _array(src, "redigo.Scan")
    if len(items) < len(types):
        raise RedigoError("redigo.Scan: array short")
    result: List[object] = []
    for i, (dest, value) in enumerate(zip(types, items)):
        try:
            if value is None:
                result.append(None)
            elif isinstance(value, Error) and not _is_scanner(dest):
                raise value
            elif dest is None:
                result.append(None)
            else:
                result.append(_convert(value, dest))
        except RedigoError as exc:
            raise RedigoError(f"redigo.Scan: cannot assign to dest {i}: {exc}") from exc
    return result, list(items[len(types):])


# -- dataclasses -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Field:
    name: str  # the Redis name
    attr: str  # the Python attribute
    type: object  # a type, or a typing form such as Optional[int] or list[int]
    omit_empty: bool


@dataclasses.dataclass(frozen=True)
class _Spec:
    fields: Tuple[_Field, ...]  # in declaration order, base classes first
    by_name: Dict[bytes, _Field]
    zeros: Dict[str, object]  # init fields without a default: Go's zero value


@functools.lru_cache(maxsize=1024)
def _spec(cls: type) -> _Spec:
    """The Redis view of a dataclass, compiled once per class (redigo's structSpec)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a forward reference to a local class; resolved per field below
        hints = {}
    candidates: List[_Field] = []
    zeros: Dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        ftype = hints.get(f.name, f.type)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            zeros[f.name] = _zero(ftype)
        if f.name.startswith("_"):
            continue
        tag = f.metadata.get("redis", "")
        if not isinstance(tag, str):
            raise RedigoError(f"redigo: field tag of {cls.__qualname__}.{f.name} is not a str")
        parts = tag.split(",")
        if "-" in parts:
            continue
        omit_empty = False
        for option in parts[1:]:
            if option == "omitempty":
                omit_empty = True
            elif option:
                raise RedigoError(f"redigo: unknown field tag {option} for type {cls.__qualname__}")
        if isinstance(ftype, str):
            raise RedigoError(
                f"compile struct: {cls.__qualname__}: cannot resolve the type {ftype!r} of field {f.name}"
            )
        candidates.append(_Field(parts[0] or f.name, f.name, ftype, omit_empty))
    # Two fields with one Redis name: neither wins (redigo drops both).
    counts: Dict[str, int] = {}
    for fs in candidates:
        counts[fs.name] = counts.get(fs.name, 0) + 1
    fields = tuple(fs for fs in candidates if counts[fs.name] == 1)
    return _Spec(fields, {_text_bytes(fs.name): fs for fs in fields}, zeros)


def _dataclass_spec(cls: type, where: str) -> _Spec:
    try:
        return _spec(cls)
    except RedigoError as exc:
        raise RedigoError(f"{where}: {exc}") from exc


def _build(cls: type, spec: _Spec, values: Dict[str, object], where: str) -> object:
    """A new instance: the scanned values over defaults over Go zero values."""
    kwargs = dict(spec.zeros)
    kwargs.update(values)
    try:
        return cls(**kwargs)
    except Exception as exc:  # a __post_init__ refusing the values, say
        raise RedigoError(f"{where}: cannot create {cls.__qualname__}: {exc}") from exc


def _assign(src: object, fs: _Field, message: str) -> object:
    try:
        return _convert(src, fs.type)
    except RedigoError as exc:
        raise RedigoError(f"{message}: {exc}") from exc


@overload
def scan_struct(src: object, dest: Type[_D]) -> _D: ...
@overload
def scan_struct(src: object, dest: _D) -> _D: ...
def scan_struct(src: object, dest: object) -> object:
    """Fill a dataclass from alternating names and values, or a RESP3 map; return it.

    ``dest`` is an instance (updated in place; it must not be frozen) or a
    dataclass type (a new instance is made; fields without a default that
    ``src`` does not name start at Go's zero value: 0, 0.0, "", False or
    None). A nil value or an unknown name leaves its field alone. Nothing is
    assigned unless every value converts.
    """
    cls = dest if isinstance(dest, type) else type(dest)
    if not dataclasses.is_dataclass(cls):
        raise RedigoError("redigo.ScanStruct: value must be a dataclass instance or a dataclass type")
    items = [x for pair in src.items() for x in pair] if isinstance(src, dict) else _array(src, "redigo.ScanStruct")
    if len(items) % 2 != 0:
        raise RedigoError("redigo.ScanStruct: number of values not a multiple of 2")
    spec = _dataclass_spec(cls, "redigo.ScanStruct")
    values: Dict[str, object] = {}
    for i in range(0, len(items), 2):
        value = items[i + 1]
        if value is None:
            continue
        key = items[i]
        if isinstance(key, str):
            key = _text_bytes(key)
        elif not isinstance(key, bytes):
            raise RedigoError(f"redigo.ScanStruct: key {i} not a bulk string value got type: {type_name(key)}")
        fs = spec.by_name.get(key)
        if fs is not None:
            values[fs.attr] = _assign(value, fs, f"redigo.ScanStruct: cannot assign field {fs.name}")
    if dest is cls:
        return _build(cls, spec, values, "redigo.ScanStruct")
    try:
        for attr, value in values.items():
            setattr(dest, attr, value)
    except dataclasses.FrozenInstanceError:
        raise RedigoError(
            "redigo.ScanStruct: cannot fill a frozen dataclass instance; pass its type instead"
        ) from None
    return dest


@overload
def scan_slice(src: object, dest: _ScannerType[T], *field_names: str) -> List[Optional[T]]: ...
@overload
def scan_slice(src: object, dest: Type[_D], *field_names: str) -> List[_D]: ...
@overload
def scan_slice(src: object, dest: Type[_Zeroed], *field_names: str) -> List[_Zeroed]: ...
@overload
def scan_slice(src: object, dest: Type[T], *field_names: str) -> List[Optional[T]]: ...
@overload
def scan_slice(src: object, dest: object, *field_names: str) -> List[object]: ...
def scan_slice(src: object, dest: object, *field_names: str) -> Sequence[object]:
    """A flat array as a list of ``dest`` values.

    For a dataclass type (without ``redis_scan``), each run of N elements
    fills one instance, N being its field count or the number of
    ``field_names`` (Redis names, in the order the elements come). For any
    other type, each element converts on its own and a nil element gives the
    type's Go zero value (0, 0.0, "", False; None for others).
    """
    items = _array(src, "redigo.ScanSlice")
    if _is_scanner(dest) or not (isinstance(dest, type) and dataclasses.is_dataclass(dest)):
        zero = _zero(_unwrap_optional(dest))
        result = []
        for i, value in enumerate(items):
            if value is None:
                result.append(zero)
            else:
                result.append(_convert_element(value, dest, i))
        return result
    spec = _dataclass_spec(dest, "redigo.ScanSlice")
    fields: Sequence[_Field] = spec.fields
    if field_names:
        chosen = []
        for name in field_names:
            fs = spec.by_name.get(_text_bytes(name))
            if fs is None:
                raise RedigoError(f"redigo.ScanSlice: ScanSlice bad field name {name}")
            chosen.append(fs)
        fields = chosen
    if not fields:
        raise RedigoError("redigo.ScanSlice: no struct fields")
    width = len(fields)
    if len(items) % width != 0:
        raise RedigoError("redigo.ScanSlice: length not a multiple of struct field count")
    result = []
    for start in range(0, len(items), width):
        values: Dict[str, object] = {}
        for j, fs in enumerate(fields):
            value = items[start + j]
            if value is not None:
                values[fs.attr] = _assign(
                    value, fs, f"redigo.ScanSlice: cannot assign element {start + j} to field {fs.name}"
                )
        result.append(_build(dest, spec, values, "redigo.ScanSlice"))
    return result


def _convert_element(value: object, dest: object, index: int) -> object:
    try:
        return _convert(value, dest)
    except RedigoError as exc:
        raise RedigoError(f"redigo.ScanSlice: cannot assign element {index}: {exc}") from exc


# -- Args ------------------------------------------------------------------------

def _is_empty(value: object) -> bool:
    """Go's omitempty test: false, 0, an empty string or container, or nil."""
    if value is None:
        return True
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (str, bytes, bytearray, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


class Args(List[object]):
    """Command arguments built from structured values (redigo's ``Args``).

    A list, so ``conn.do("HSET", *Args().add("id").add_flat(obj))`` works;
    ``add`` and ``add_flat`` extend it in place and return it for chaining.
    """

    def add(self, *values: object) -> "Args":
        """Append each value as it is."""
        self.extend(values)
        return self

    def add_flat(self, value: object) -> "Args":
        """Append ``value`` flattened.

        A dict adds its keys and values alternately; a list or tuple adds its
        items; a dataclass instance adds each field's Redis name and value,
        where a field that is None (Go's nil pointer) is left out, so is an
        empty one marked ``omitempty``, and a value with ``redis_arg()`` adds
        what that returns. Anything else is appended as it is.
        """
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            self._add_struct(value)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.append(key)
                self.append(item)
        elif isinstance(value, (list, tuple)):
            self.extend(value)
        else:
            self.append(value)
        return self

    def _add_struct(self, obj: object) -> None:
        spec = _dataclass_spec(type(obj), "redigo.AddFlat")
        for fs in spec.fields:
            value = getattr(obj, fs.attr)
            if value is None or (fs.omit_empty and _is_empty(value)):
                continue
            redis_arg = getattr(value, "redis_arg", None)
            self.append(fs.name)
            self.append(redis_arg() if callable(redis_arg) else value)
