"""RESP2 and RESP3, sans-IO: bytes in, values out; values in, bytes out. No sockets.

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

``Reader(protocol=3)`` reads RESP3 as well (to a RESP2 reader these type
bytes are malformed): map ``%`` -> ``dict``; set ``~`` -> ``set``; double
``,`` -> ``float`` (``inf``, ``-inf``, ``nan``); boolean ``#`` -> ``bool``;
big number ``(`` -> ``int``; null ``_`` -> ``None``; blob error ``!`` ->
:class:`~redigo_py.errors.Error`, as ``-``; verbatim string ``=`` -> ``str``
(its 3-byte format dropped); push ``>`` -> :class:`Push`, only between
replies; attributes ``|`` -> not a value, kept in
:attr:`Reader.last_attributes`. A set element or a map key must be hashable,
so an aggregate there is frozen all the way down: array -> ``tuple``, set ->
``frozenset``, map -> ``frozenset`` of its (key, value) pairs (``dict(key)``
gives the map back).
"""

from __future__ import annotations

import math
import re
import struct
from collections import deque
from functools import lru_cache
from itertools import accumulate
from operator import add
from typing import Deque, Dict, List, Literal, Optional, Tuple, Union

from ._types import Reply
from .errors import ArgumentError, Error, ProtocolError

__all__ = ["encode", "encode_command", "encode_arg", "Reader", "Reply", "Push"]


class Push(List[Reply]):
    """A RESP3 push (``>``): out-of-band data such as a pub/sub message or a
    client-tracking invalidation, which a server sends between replies.

    A ``list``, since that is what it holds, but a type of its own, so that a
    connection routes it with ``type(reply) is Push`` instead of handing it
    to the caller waiting for a reply. The reader returns pushes only at the
    top level: one nested in a reply is a :class:`ProtocolError`.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Push({list.__repr__(self)})"


# ``Reply`` (exported here too) is the library's one name for a decoded reply, defined in
# ``_types``: a str, bytes, int or None, an :class:`Error` (a value, also inside arrays), a list
# of these; under RESP3 also a float, bool, dict, set or :class:`Push` (a tuple, frozenset or
# frozenset of pairs inside a set element or a map key).

# An open aggregate on the reader's stack: (items, declared length, frame kind); its items
# list grows in place.
_Frame = Tuple[List[Reply], int, int]

_CRLF = b"\r\n"

# ``b"$%d" % n`` is the hot path of encode; small lengths are looked up instead.
_BULK_HEADERS = [b"$%d" % i for i in range(1024)]
_ARRAY_HEADERS = [b"*%d" % i for i in range(64)]


def encode_arg(arg: object) -> bytes:
    """One argument as the bytes of its bulk string (API.md's argument table).

    ``bytes``-likes as is, ``str`` as UTF-8, ``int`` in decimal, ``float`` as
    its shortest round-tripping ``repr`` (NaN is refused: Redis has no NaN),
    ``bool`` as ``1``/``0``, ``None`` as the empty string, an object with
    ``redis_arg()`` (redigo's ``Argument``) as what that returns, anything
    else as ``str(arg)`` (redigo's ``fmt.Fprint``).
    """
    # The checks go through ``t`` (one type() call), which mypy does not narrow ``arg`` by.
    t = type(arg)
    if t is bytes:
        return arg  # type: ignore[return-value]  # t is bytes
    if t is str:
        return arg.encode()  # type: ignore[attr-defined,no-any-return]  # t is str
    if t is int:
        return b"%d" % arg  # type: ignore[str-format]  # t is int
    return _encode_other(arg, True)


def _encode_other(arg: object, argument_ok: bool) -> bytes:
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
            raise ArgumentError("redigo: cannot send NaN as a Redis argument")
        return repr(float(arg)).encode()
    if arg is None:
        return b""
    if argument_ok:
        redis_arg = getattr(arg, "redis_arg", None)
        if redis_arg is not None and callable(redis_arg):
            return _encode_other(redis_arg(), False)
    return str(arg).encode()


# Command name -> its encoded bulk string without the final CRLF (b"$3\r\nGET"):
# an application uses a few dozen names, so each is encoded once. Bounded, so
# that made-up names cannot grow it without end.
_COMMAND_HEADS: Dict[Union[str, bytes], bytes] = {}
_COMMAND_HEADS_MAX = 1024


def _command_head(command: Union[str, bytes], args: Tuple[object, ...]) -> bytes:
    name = command.encode() if type(command) is str else _encode_other(command, False)
    head = b"$%d\r\n%s" % (len(name), name)
    if name.upper() == b"CLIENT":
        _check_client(args)  # never cached: every CLIENT command comes through here
    elif type(command) in (str, bytes) and len(_COMMAND_HEADS) < _COMMAND_HEADS_MAX:
        _COMMAND_HEADS[command] = head
    return head


def _check_client(args: Tuple[object, ...]) -> None:
    """Refuse CLIENT REPLY OFF/SKIP: the server would stop answering commands,
    so every later reply would go to the wrong caller (or a caller would wait
    for a reply that never comes)."""
    words = [_encode_other(a, True).upper() for a in args[:2]]
    if words[:1] == [b"REPLY"] and words[1:] != [b"ON"]:
        raise ArgumentError("redigo: CLIENT REPLY OFF/SKIP is not supported: replies would no longer "
                         "match their commands")


def encode(command: Union[str, bytes], *args: object) -> bytes:
    """One command as a RESP array of bulk strings.

    The command name is sent as given (case preserved). Raises
    :class:`~redigo_py.ArgumentError` (NaN, a ``str`` that is not valid
    text, CLIENT REPLY OFF/SKIP) before producing anything, so a caller can encode before it touches
    any connection state.
    """
    return encode_command(command, args)


def encode_command(command: Union[str, bytes], args: Tuple[object, ...]) -> bytes:
    """``encode`` for a caller that already holds the arguments as a tuple
    (``Conn.do``/``send``): no second packing of ``*args`` per command."""
    bulk_headers = _BULK_HEADERS
    n = len(args) + 1
    try:
        head = _COMMAND_HEADS.get(command)
    except TypeError:  # an unhashable name (a bytearray): sent as is, never cached
        head = None
    try:
        if head is None:
            head = _command_head(command, args)
        parts = [_ARRAY_HEADERS[n] if n < 64 else b"*%d" % n, head]
        append = parts.append
        b: bytes  # ``arg`` is narrowed through ``t`` (one type() call), which mypy does not follow
        for arg in args:
            t = type(arg)
            if t is bytes:
                b = arg  # type: ignore[assignment]  # t is bytes
            elif t is str:
                b = arg.encode()  # type: ignore[attr-defined]  # t is str
            elif t is int:
                b = b"%d" % arg  # type: ignore[str-format]  # t is int
            else:
                b = _encode_other(arg, True)
            size = len(b)
            append(bulk_headers[size] if size < 1024 else b"$%d" % size)
            append(b)
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 for it
        raise ArgumentError(f"redigo: cannot send a str that is not valid text as UTF-8 ({exc.reason} "
                            f"at position {exc.start})") from None
    append(b"")
    return _CRLF.join(parts)


class Reader:
    """Incremental RESP2 (or RESP3) reply parser with hiredis's ``Reader`` interface.

    ``feed(data)`` adds bytes (any chunking; the data is copied if mutable),
    ``gets()`` returns the next complete reply or ``not_enough_data``
    (hiredis's ``notEnoughData``, default ``False``). Under ``protocol=3`` a
    ``#f`` reply is ``False`` too, so a caller that reads RESP3 passes a
    sentinel of its own. Limits, each a :class:`ProtocolError` raised before
    the memory is committed:

    - ``max_bulk_len``: largest declared bulk-string or array length (a map
      or an attribute map counts twice its declared length: each entry is two
      elements);
    - ``max_line_len``: longest simple-string or error line (integers and
      length headers are capped at 32 bytes, far above any valid value;
      RESP3 doubles and big numbers at 4301 bytes, a sign and the 4300 digits
      that Python converts to an ``int`` by default);
    - ``max_depth``: deepest nesting of arrays (and of RESP3 maps, sets,
      pushes and attributes). Inside a set element or a map key, where
      aggregates are frozen, they nest at most 32 deep whatever the limit:
      CPython hashes and compares tuples recursively, in C, so a deeper one
      could crash the interpreter or raise ``RecursionError``.

    After a ``ProtocolError`` every later ``gets()`` raises again: the stream
    position is lost, and guessing would hand a reply to the wrong caller.

    Speed: one ``gets()`` parses every complete reply in the buffer into a
    queue (a pipeline's replies cost one pass, not one call each), and an
    array of plain bulk strings (a RESP3 map or set of them too: HGETALL,
    SMEMBERS) is cut with one ``bytes.split`` and checked with C-level
    ``map`` calls instead of a Python loop per element; values of one
    width are checked a byte column at a time and cut by ``struct``;
    arrays of same-shaped entries (XRANGE) are checked a column at a time;
    a large bulk string that arrives in pieces is cut straight from them.
    A reply that follows a malformed one is never returned: the error is
    raised when the queue reaches it.

    RESP3 text is decoded as the simple strings of RESP2 are: UTF-8, an
    invalid sequence replaced by U+FFFD. That holds for verbatim strings
    (INFO, CLIENT LIST, LATENCY DOCTOR: text for people, which one stray
    byte should neither turn into a dead connection nor into a ``str`` that
    raises when it is printed or encoded) and for blob errors.
    """

    __slots__ = (
        "max_bulk_len", "max_line_len", "max_depth", "protocol", "not_enough_data",
        "_buf", "_pos", "_base", "_chunks", "_chunks_len", "_need", "_stack", "_ready", "_ends",
        "_error", "consumed", "_scanned", "_waits", "_attributes", "_big",
    )

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        max_line_len: int = 64 * 1024 * 1024,
        max_depth: int = 128,
        *,
        protocol: int = 2,
        not_enough_data: object = False,
    ) -> None:
        if protocol not in (2, 3):
            raise ArgumentError(f"redigo: protocol must be 2 or 3, got {protocol!r}")
        self.max_bulk_len = max_bulk_len
        self.max_line_len = max_line_len
        self.max_depth = max_depth
        self.protocol = protocol
        """2 (RESP2) or 3 (RESP2 and RESP3's types)."""
        self.not_enough_data = not_enough_data
        """What ``gets()`` returns when no reply is complete."""
        self._buf = b""           # parsed from _pos on
        self._pos = 0
        self._chunks: List[bytes] = []  # fed but not yet joined into _buf
        self._chunks_len = 0
        self._need = 1            # bytes past _pos that parsing needs before it can progress
        self._stack: List[_Frame] = []  # open aggregates: (items, declared length, frame kind)
        self._ready: Deque[Reply] = deque()  # complete replies not yet returned
        self._ends: Deque[int] = deque()   # stream offset just past each reply in _ready
        self._base = 0            # stream offset of _buf[0]
        self._scanned = (-1, 0)   # (stream offset of an incomplete line, bytes of it searched)
        self.consumed = 0
        """Stream offset just past the last reply ``gets()`` returned: the
        difference across a ``gets()`` is that reply's exact size on the wire
        (headers and CRLFs included, and the attributes that came with it),
        which the metrics report."""
        self._error: Optional[str] = None
        self._waits = 0  # times the array at _pos was found surely incomplete by the uniform path
        # (offset of the value from _pos, its length) of a large top-level bulk string whose
        # header is parsed and whose value is still coming (see _take_big); else None.
        self._big: Optional[Tuple[int, int]] = None
        # RESP3 attribute maps, each with the stream offset where it ended: it
        # belongs to the first reply that ends after that offset.
        self._attributes: Deque[Tuple[int, Dict[Reply, Reply]]] = deque()

    @property
    def last_attributes(self) -> Optional[Dict[Reply, Reply]]:
        """The latest RESP3 attribute map (``|``) that came with a reply ``gets()`` has
        returned, before it or inside it; None until one arrives.

        Attributes are metadata about a reply (popularity of a key, say), not
        part of it, so the reply itself stays the value a caller expects. An
        attribute map parsed ahead, with a reply still in the queue, shows up
        only once that reply is returned.
        """
        log = self._attributes
        consumed = self.consumed
        while len(log) > 1 and log[1][0] < consumed:
            log.popleft()
        if log and log[0][0] < consumed:
            return log[0][1]
        return None

    def feed(self, data: Union[bytes, bytearray, memoryview], offset: int = 0, length: int = -1) -> None:
        """Append ``data[offset:offset+length]`` to the input (copied if mutable)."""
        if offset or length >= 0:
            view = memoryview(data)
            data = view[offset:] if length < 0 else view[offset:offset + length]
        chunk = data if type(data) is bytes else bytes(data)
        if chunk:
            self._chunks.append(chunk)
            self._chunks_len += len(chunk)

    def gets(self) -> Reply:
        """Return the next complete reply, or ``not_enough_data`` if more input is needed."""
        ready = self._ready
        if ready:
            self.consumed = self._ends.popleft()
            return ready.popleft()
        if self._error is not None:
            raise ProtocolError(self._error)
        big = None
        if self._chunks:
            buf = self._buf
            if len(buf) - self._pos + self._chunks_len < self._need:
                return self.not_enough_data
            big, self._big = self._big, None
            chunks = self._chunks
            if self._pos < len(buf):
                chunks.insert(0, buf[self._pos:] if self._pos else buf)
            self._chunks = []
            self._chunks_len = 0
            self._base += self._pos
            self._pos = 0
            if big is None:
                self._buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            else:
                self._buf = b""
        elif len(self._buf) - self._pos < self._need:
            return self.not_enough_data
        try:
            if big is not None:
                self._take_big(chunks, *big)
            self._parse()
        except ProtocolError as exc:
            self._error = str(exc)
            self._buf = b""
            self._pos = 0
            self._stack = []
            if not ready:
                raise
        if ready:
            self.consumed = self._ends.popleft()
            return ready.popleft()
        return self.not_enough_data

    def _parse(self) -> None:
        """Parse every complete reply from ``_pos`` into ``_ready``; keep partial state.

        RESP3's types take the branches after RESP2's, guarded by ``resp3``,
        so that a RESP2 reader pays nothing for them.
        """
        buf = self._buf
        pos = self._pos
        stack = self._stack
        ready = self._ready
        ends = self._ends
        base = self._base
        size = len(buf)
        find = buf.find
        max_bulk_len = self.max_bulk_len
        resp3 = self.protocol == 3
        try_run = True  # one attempt per call: a failed split must not repeat per reply
        # The split paths accept only values the header table covers; under a
        # lower max_bulk_len they could pass a value the limit forbids.
        fast_ok = max_bulk_len >= _TABLE_MAX
        while True:
            if pos >= size:
                self._pos = pos
                self._need = 1
                return
            kind = buf[pos]
            if kind == 36 and try_run and fast_ok and not stack and size - pos >= _RUN_MIN:
                try_run = False
                run = _bulk_run(buf, pos, base)
                if run is not None:
                    ready.extend(run[0])
                    ends.extend(run[1])
                    pos = run[1][-1] - base
                    continue
            bulk = kind == 36 or (resp3 and (kind == 33 or kind == 61))  # '$' bulk; RESP3 '!' '='
            if bulk or kind == 42 or (resp3 and kind in _AGGREGATES):  # '*' array; RESP3 '%' '~' '>' '|'
                end = find(b"\r\n", pos + 1, pos + 34)
                if end < 0:
                    if size - pos >= 34:
                        raise ProtocolError("redigo: malformed length (line too long)")
                    self._incomplete(pos, size - pos + 1)
                    return
                digits = buf[pos + 1:end]
                if digits.isdigit():
                    n = int(digits)
                    if bulk:
                        if n > max_bulk_len:
                            raise ProtocolError(
                                f"redigo: {_NAMES[kind]} length {n} exceeds the limit of {max_bulk_len}")
                        start = end + 2
                        stop = start + n
                        if stop + 2 > size:
                            self._incomplete(pos, stop + 2 - pos)
                            if n >= _BIG_BULK and kind == 36 and not stack:
                                self._big = (start - pos, n)  # see _take_big
                            return
                        if buf[stop:stop + 2] != b"\r\n":
                            raise ProtocolError(f"redigo: bad {_NAMES[kind]} format")
                        value: Reply = buf[start:stop]
                        pos = stop + 2
                        if kind != 36:
                            value = _blob(kind, value)
                    else:
                        count = n
                        if resp3 and (kind == 37 or kind == 124):
                            count = 2 * n  # elements: a map entry is two
                        if count > max_bulk_len:
                            raise ProtocolError(f"redigo: {_NAMES[kind]} length {n}"
                                                f"{'' if count == n else f' ({count} elements)'}"
                                                f" exceeds the limit of {max_bulk_len}")
                        if len(stack) >= self.max_depth:  # every aggregate counts, an empty one too
                            raise ProtocolError(f"redigo: arrays nested deeper than {self.max_depth}")
                        header = pos
                        pos = end + 2
                        hashable = False
                        if resp3:
                            if kind == 62 and stack:
                                raise ProtocolError("redigo: push nested inside a reply")
                            hashable = _must_hash(stack)
                            if hashable and _frozen_depth(stack) >= _MAX_FROZEN_DEPTH:
                                raise ProtocolError(f"redigo: aggregates nested deeper than {_MAX_FROZEN_DEPTH} "
                                                    "inside a set element or a map key")
                        fast = None
                        if count >= _SPLIT_MIN and fast_ok and pos < size and not hashable and kind != 124:
                            first = buf[pos]
                            if first == 36 and find(b"\r\n", pos, pos + 7) >= 0:
                                fast = _bulk_array(buf, pos, count)
                            elif first == 42 and kind == 42 and self._waits < _MAX_WAITS:
                                uniform = _uniform_arrays(buf, pos, n, self.max_depth - len(stack) - 1)
                                if isinstance(uniform, _Wait):
                                    # Back to the header until more bytes come; a bounded number
                                    # of times, since each try cuts the array again.
                                    self._waits += 1
                                    self._incomplete(header, size - header + 1)
                                    return
                                fast = uniform
                        self._waits = 0
                        if fast is not None:
                            value, pos = fast
                            if kind == 62:
                                value = Push(value)
                            elif kind != 42:
                                value = _finish(_FRAMES[kind][0], value)
                        elif not resp3:
                            if n:
                                stack.append(([], n, 0))  # 0 is _LIST, spelled out on the RESP2 path
                                continue
                            value = []
                        elif kind == 124:
                            if n:
                                stack.append(([], count, _ATTRIBUTES))
                            else:
                                self._attributes_arrived([], base + pos)
                            continue  # attributes are not a value: the reply is what follows
                        elif n:
                            stack.append((Push() if kind == 62 else [], count, _FRAMES[kind][hashable]))
                            continue
                        else:
                            value = _finish(_FRAMES[kind][hashable], Push() if kind == 62 else [])
                elif digits == b"-1" and (kind == 36 or kind == 42):
                    value = None
                    pos = end + 2
                else:
                    raise ProtocolError("redigo: illegal bytes in length")
            elif kind == 58 or kind == 43 or kind == 45 or (resp3 and kind in _LINES):  # ':' '+' '-'
                if kind == 58:
                    limit = 34
                elif kind == 43 or kind == 45:
                    limit = self.max_line_len + 3
                else:
                    limit = _LINES[kind]
                # A long line arriving in pieces is searched for its CRLF only
                # where it has not been searched yet (one byte back, for a CR
                # at the end of the last piece): linear, not quadratic.
                scanned_at, scanned = self._scanned
                from_ = pos + scanned - 1 if scanned and scanned_at == base + pos else pos + 1
                end = find(b"\r\n", from_, pos + limit)
                if end < 0:
                    if size - pos >= limit:
                        raise ProtocolError("redigo: response line too long")
                    self._scanned = (base + pos, size - pos)
                    self._incomplete(pos, size - pos + 1)
                    return
                line = buf[pos + 1:end]
                pos = end + 2
                if kind == 58:
                    if not (line.isdigit() or (line[:1] == b"-" and line[1:].isdigit())):
                        raise ProtocolError("redigo: malformed integer")
                    value = int(line)
                elif kind == 43:
                    value = _SIMPLE.get(line) or line.decode("utf-8", "replace")
                elif kind == 45:
                    value = Error(line.decode("utf-8", "replace"))
                else:
                    value = _line(kind, line)
            else:
                raise ProtocolError("redigo: unexpected response line")
            # A value is complete: close every aggregate that it completes.
            while stack:
                top = stack[-1]
                items = top[0]
                items.append(value)
                if len(items) < top[1]:
                    break
                stack.pop()
                value = items
                if top[2]:
                    if top[2] == _ATTRIBUTES:
                        self._attributes_arrived(items, base + pos)
                        break  # not a value: its parent still waits for one
                    value = _finish(top[2], items)
            else:
                ready.append(value)
                ends.append(base + pos)

    def _take_big(self, pieces: List[bytes], start: int, n: int) -> None:
        """The large top-level bulk string that begins the input (its value ``n`` bytes from
        offset ``start`` of ``pieces``, all here), cut straight from the pieces fed: one
        copy of the value, where joining them into one buffer and slicing it would make
        two. The bytes after it become the buffer that :meth:`_parse` goes on with.

        Two live allocations of the value's size per reply also make the C allocator give
        its heap back and take it again at every reply (page faults on a megabyte each
        time): measured 1.6 ms for a 1 MiB GET's parse, against 0.05 ms this way.
        """
        value: List[bytes] = []
        skip, want = start, n
        rest = b""
        for i, piece in enumerate(pieces):
            if skip >= len(piece):
                skip -= len(piece)
                continue
            end = skip + want
            if end < len(piece):
                value.append(piece[skip:end])
                rest = piece[end:] + b"".join(pieces[i + 1:])
                break
            value.append(piece[skip:] if skip else piece)
            want -= len(piece) - skip
            skip = 0
            if not want:
                rest = b"".join(pieces[i + 1:])
                break
        if rest[:2] != b"\r\n":
            raise ProtocolError("redigo: bad bulk string format")
        self._ready.append(b"".join(value))
        self._base += start + n
        self._ends.append(self._base + 2)
        self._buf = rest
        self._pos = 2
        self._need = 1

    def _incomplete(self, pos: int, need: int) -> None:
        self._pos = pos
        self._need = need

    def _attributes_arrived(self, items: List[Reply], end: int) -> None:
        """Log an attribute map that ended at stream offset ``end``.

        The log stays short whether or not anyone reads
        :attr:`last_attributes`: an earlier map of the reply still being read
        is replaced (the latest one wins), and maps of replies already
        returned are dropped but the newest.
        """
        pairs = iter(items)
        log = self._attributes
        replies_end = self._ends[-1] if self._ends else self.consumed
        if log and log[-1][0] > replies_end:
            log.pop()
        log.append((end, dict(zip(pairs, pairs))))
        consumed = self.consumed
        while len(log) > 1 and log[1][0] < consumed:
            log.popleft()


# Frame kinds, the third item of an open aggregate on the stack: what its
# items become once the last one is in.
_LIST = 0         # an array (or a push: its items list is already a Push)
_TUPLE = 1        # an array that must be hashable
_DICT = 2         # a map: items alternate key, value
_FROZEN_DICT = 3  # a map that must be hashable: the frozenset of its (key, value) pairs
_SET = 4
_FROZENSET = 5
_ATTRIBUTES = 6   # an attribute map: logged, never a value
# RESP3 aggregate type byte -> its frame kind (where a plain value may go, where it must be
# hashable). A push is never hashable: nested, it is refused before this is looked up.
_FRAMES = {42: (_LIST, _TUPLE), 37: (_DICT, _FROZEN_DICT), 126: (_SET, _FROZENSET), 62: (_LIST, _LIST)}
_AGGREGATES = frozenset((37, 126, 62, 124))  # '%' '~' '>' '|'
# RESP3 line types -> the line limit (as for ':'): the 4301 bytes of a double or a big number
# (a sign and Python's default limit of 4300 digits for int()), the one byte of a boolean, none.
_NUMBER_LINE = 4301
_LINES = {44: _NUMBER_LINE + 3, 40: _NUMBER_LINE + 3, 35: 4, 95: 3}  # ',' '(' '#' '_'
_NAMES = {36: "bulk string", 33: "blob error", 61: "verbatim string",
          42: "array", 37: "map", 126: "set", 62: "push", 124: "attribute"}
# The RESP3 specification's double: an optional sign, digits, an optional fraction and exponent;
# or inf / nan.
_DOUBLE = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|inf|nan)\Z")


# Frame kinds whose value is frozen, and how deep they may nest (see Reader's max_depth).
_FROZEN_KINDS = frozenset((_TUPLE, _FROZEN_DICT, _FROZENSET))
_MAX_FROZEN_DEPTH = 32


def _frozen_depth(stack: List[_Frame]) -> int:
    """How many frozen aggregates are open around the position being parsed."""
    depth = 0
    for frame in reversed(stack):
        if frame[2] not in _FROZEN_KINDS:
            break
        depth += 1
    return depth


def _must_hash(stack: List[_Frame]) -> bool:
    """Whether a value starting now must be hashable: a set element, a map key, or inside one."""
    if not stack:
        return False
    top = stack[-1]
    kind: int = top[2]
    if kind == _DICT or kind == _ATTRIBUTES:
        return len(top[0]) % 2 == 0
    return kind != _LIST


def _finish(kind: int, items: List[Reply]) -> Reply:
    """The value of a complete aggregate of frame kind ``kind`` from its items."""
    if kind == _LIST:
        return items
    if kind == _TUPLE:
        return tuple(items)
    if kind == _SET:
        return set(items)
    if kind == _FROZENSET:
        return frozenset(items)
    pairs = iter(items)
    mapping = dict(zip(pairs, pairs))  # a key sent twice: the later value wins, as in hiredis
    return mapping if kind == _DICT else frozenset(mapping.items())


def _blob(kind: int, data: bytes) -> Union[Error, str]:
    """A RESP3 blob error (``!``) or verbatim string (``=``) from its payload."""
    if kind == 33:
        return Error(data.decode("utf-8", "replace"))
    if len(data) < 4 or data[3] != 58:
        raise ProtocolError("redigo: verbatim string without its 3-byte format and ':'")
    return data[4:].decode("utf-8", "replace")


def _line(kind: int, line: bytes) -> Union[float, int, bool, None]:
    """A RESP3 double, big number, boolean or null from its line (the limits in ``_LINES``
    leave a null nothing and a boolean one byte)."""
    if kind == 44:
        if not _DOUBLE.match(line):
            raise ProtocolError("redigo: malformed double")
        value = float(line)
        if math.isinf(value) and not line.endswith(b"inf"):
            raise ProtocolError("redigo: double out of range")
        return value
    if kind == 40:
        if not (line.isdigit() or (line[:1] == b"-" and line[1:].isdigit())):
            raise ProtocolError("redigo: malformed big number")
        try:
            return int(line)
        except ValueError:  # this interpreter's int digit limit is set lower than the default
            raise ProtocolError("redigo: big number has more digits than int() converts here") from None
    if kind == 35:
        if line == b"t":
            return True
        if line == b"f":
            return False
        raise ProtocolError("redigo: malformed boolean")
    return None


# How many times the uniform-entries path waits for more of one array (it cuts
# the array again at each try) before leaving it to the general parser, which
# resumes where it stopped: so a reply trickled in tiny pieces costs a bounded
# number of cuts, not one per piece.
_MAX_WAITS = 16
# Arrays shorter than this are parsed element by element: the split path only
# pays off once its fixed cost is spread over many elements.
_SPLIT_MIN = 8
# A top-level bulk string at least this long that arrives in pieces is cut straight from
# them (see Reader._take_big).
_BIG_BULK = 64 * 1024
# A pipeline's replies are cut in one pass once at least this much is buffered.
_RUN_MIN = 512
# Canonical bulk headers -> length. A header not in the table (a nil, a
# non-canonical or a long length) sends the split paths back to the general
# parser, which handles everything.
_TABLE_MAX = 2047  # the longest value the split paths can verify
_HEADER_LENGTHS = {b"$%d" % i: i for i in range(_TABLE_MAX + 1)}
_LENGTH_HEADERS = list(_HEADER_LENGTHS)  # length -> its canonical header
# Canonical array headers of the lengths a uniform entry may have (a stream
# entry's fields, a GEO position, a CLUSTER SLOTS range...).
_ARRAY_LENGTHS = {b"*%d" % i: i for i in range(1, 64)}
_SPLIT_MAX_ITEM = _TABLE_MAX + 13  # longest element, with its header and CRLFs, the table can verify


def _canonical(headers: List[bytes], values: List[bytes], pairs: bool = True) -> bool:
    """Whether each header line is exactly ``$<len(value)>`` of its value: the proof, checked
    in C, that split lines are the canonical encoding of those bulk strings.

    Values of one length (a stream entry's field names, fixed-width ids) are
    common: when the first and last headers agree, one ``count`` of the
    headers and one of the lengths (small ints compare by identity) cost
    about half the general check, which builds each value's header. With
    ``pairs``, the even and the odd elements are also tried as two columns.
    """
    n = len(headers)
    if n and headers[0] == headers[-1]:
        length = _HEADER_LENGTHS.get(headers[0])
        if length is not None and headers.count(headers[0]) == n:
            return list(map(len, values)).count(length) == n
    elif pairs and n > 2 and n % 2 == 0 and (headers[0] == headers[-2] or headers[1] == headers[-1]):
        # Alternating columns, one of one width (HGETALL's field names, ZRANGE's members).
        return (_canonical(headers[0::2], values[0::2], False)
                and _canonical(headers[1::2], values[1::2], False))
    try:
        return headers == list(map(_LENGTH_HEADERS.__getitem__, map(len, values)))
    except IndexError:  # a value longer than the table: not a split this path verifies
        return False


def _bulk_array(buf: bytes, pos: int, n: int) -> Optional[Tuple[List[bytes], int]]:
    """Fast path: ``n`` bulk strings at ``buf[pos:]`` with no CRLF inside them.

    Splits on CRLF (in C) and accepts the result only if each header line is
    exactly ``$<len(value)>``, which proves the bytes are the canonical
    encoding of those values; anything else (a nil, a nested array, a value
    containing CRLF, an incomplete buffer) returns None and the general
    parser takes over. The slice grows geometrically, so the bytes copied
    stay proportional to the array's own size, not to the whole buffer.
    """
    fixed = _fixed_array(buf, pos, n)
    if fixed is not None:
        return fixed
    parts = 2 * n
    size = len(buf)
    guess = 48 * n
    most = _SPLIT_MAX_ITEM * n  # past this, no array can verify: stop scanning
    while True:
        chunk = buf[pos:pos + guess]
        lines = chunk.split(b"\r\n", parts)
        if len(lines) > parts:
            break
        if pos + guess >= size or guess >= most:
            return None
        guess *= 4
    values = lines[1:parts:2]
    if not _canonical(lines[0:parts:2], values):
        return None
    return values, pos + len(chunk) - len(lines[-1])


def _fixed_array(buf: bytes, pos: int, n: int) -> Optional[Tuple[List[bytes], int]]:
    """Fast path: ``n`` bulk strings of one length at ``buf[pos:]`` (fixed-width ids, hashes,
    padded keys), all here.

    Such an array is periodic: every element is the first one's header, its
    value and a CRLF. A strided slice takes one byte column of all ``n``
    elements at once, so checking each header byte and each CRLF byte
    column (in C) proves the layout, whatever the values hold (a CRLF
    inside one too); ``struct`` then cuts the values without a split, about
    a third of the cost of :func:`_bulk_array`'s. Anything else (another
    length, a nil, the array not all here) returns None.
    """
    end = buf.find(b"\r\n", pos, pos + 7)
    length = _HEADER_LENGTHS.get(buf[pos:end]) if end > 0 else None
    if length is None:
        return None
    head = end + 2 - pos
    period = head + length + 2
    stop = pos + n * period
    if stop > len(buf) or buf[pos + period - 2:pos + period] != b"\r\n":
        return None
    # Each byte column against the first element's, whose header and CRLF are checked above.
    for column in (period - 2, period - 1, *range(head)):  # the CRLF after the value fails first
        if buf[pos + column:stop:period].count(buf[pos + column]) != n:
            return None
    block = _fixed_struct(head, length, _FIXED_BLOCK)
    cut = pos + n // _FIXED_BLOCK * block.size
    values: List[bytes] = []
    for some in block.iter_unpack(memoryview(buf)[pos:cut]):
        values += some
    values += _fixed_struct(head, length, n % _FIXED_BLOCK).unpack_from(buf, cut)
    return values, stop


# :func:`_fixed_array` unpacks this many values per struct call: enough to spread
# the call's cost, few enough that the cached formats stay small.
_FIXED_BLOCK = 64


@lru_cache(maxsize=256)
def _fixed_struct(head: int, length: int, count: int) -> struct.Struct:
    """The ``struct`` layout of ``count`` bulk strings of ``length`` bytes, headers ``head``
    bytes long: each value between its skipped header and CRLF."""
    return struct.Struct(f"{head}x{length}s2x" * count)


# The shape of a uniform entry (see :func:`_entry_shape`): ("$", line) or ("*", line, children).
_Tree = Union[Tuple[Literal["$"], int], Tuple[Literal["*"], int, List["_Tree"]]]


def _entry_shape(lines: List[bytes], room: int) -> Optional[Tuple[int, _Tree]]:
    """The shape of the array whose header is ``lines[0]``: (its line count, its tree).

    A tree is ``("$", offset)`` for a bulk string whose header is at line
    ``offset`` of the entry, or ``("*", offset, children)`` for an array.
    Only arrays of arrays and bulk strings have a shape here (no nil, no
    empty array, no integer, which the general parser takes), at most
    ``room`` levels deep; None otherwise, or if ``lines`` ends first.
    """
    def walk(i: int, depth: int) -> Optional[Tuple[int, _Tree]]:
        if i >= len(lines) - 1 or depth > room:
            return None
        line = lines[i]
        if line[:1] == b"$":
            return (i + 2, ("$", i)) if _HEADER_LENGTHS.get(line) is not None else None
        m = _ARRAY_LENGTHS.get(line)
        if not m:
            return None
        children: List[_Tree] = []
        j = i + 1
        for _ in range(m):
            found = walk(j, depth + 1)
            if found is None:
                return None
            j, child = found
            children.append(child)
        return j, ("*", i, children)

    return walk(0, 1)


class _Wait:
    """The type of :data:`_WAIT`: what :func:`_uniform_arrays` returns when the array is
    surely not all here yet."""

    __slots__ = ()


_WAIT = _Wait()


def _uniform_arrays(buf: bytes, pos: int, n: int, room: int) -> Union[Tuple[List[Reply], int], None, _Wait]:
    """Fast path: ``n`` arrays at ``buf[pos:]`` that all have the first one's shape.

    XRANGE, XREAD and the like answer with many entries of one shape
    (``[id, [field, value, ...]]``). The first entry's shape is read line by
    line; then every entry's lines are cut with one ``bytes.split`` and
    checked a column at a time in C: each array header equal to the first
    entry's, each bulk header exactly ``$<len(value)>``. The entries are
    then put together from their columns with ``zip`` (no Python step per
    element). Returns (the entries, the position after them); or
    :data:`_WAIT` when the entries here so far all have the shape and the
    one being received is a proper beginning of it, so that the array is
    surely incomplete; or None for anything else (another shape, a nil, a
    value with a CRLF, nesting past ``room`` more levels), and the general
    parser takes the array.
    """
    head = buf[pos:pos + _SPLIT_MAX_ITEM * 8].split(b"\r\n", 256)
    shape = _entry_shape(head, room)
    if shape is None:
        return None
    k, tree = shape
    total = n * k
    first_size = sum(map(len, head[:k])) + 2 * k
    guess = 2 * first_size * n
    while True:
        chunk = buf[pos:pos + guess]
        lines = chunk.split(b"\r\n", total)
        if len(lines) > total:
            break
        if pos + guess >= len(buf):
            return _WAIT if _surely_incomplete(lines, k, tree, head) else None
        guess *= 2
    values = _columns(lines, k, n, tree)  # lines[total] is what follows: later replies
    if values is None:
        return None
    return values, pos + len(chunk) - len(lines[total])


def _columns(lines: List[bytes], k: int, n: int, node: _Tree) -> Optional[List[Reply]]:
    """The values of ``n`` entries of shape ``node`` laid out ``k`` lines apart, or None if a
    header does not match (see :func:`_uniform_arrays`)."""
    if node[0] == "$":
        i = node[1]
        values = lines[i + 1:n * k:k]
        if not _canonical(lines[i:n * k:k], values):
            return None
        return values
    i, children = node[1], node[2]
    if lines[i:n * k:k].count(lines[i]) != n:
        return None
    columns = []
    for child in children:
        col = _columns(lines, k, n, child)
        if col is None:
            return None
        columns.append(col)
    return list(map(list, zip(*columns)))


def _surely_incomplete(lines: List[bytes], k: int, tree: _Tree, head: List[bytes]) -> bool:
    """Whether ``lines`` (the whole buffer from the array's first entry, split; the last item
    the unterminated rest) are whole entries of the shape followed by a proper beginning of
    one more: then more bytes must come, and waiting for them cannot hang."""
    complete = len(lines) - 1
    m = complete // k
    if m and _columns(lines, k, m, tree) is None:
        return False
    kinds: List[str] = [""] * k  # per line of an entry: "*" header, "$" header, or "v" value

    def mark(node: _Tree) -> None:
        if node[0] == "$":
            kinds[node[1]], kinds[node[1] + 1] = "$", "v"
        else:
            kinds[node[1]] = "*"
            for child in node[2]:
                mark(child)

    mark(tree)
    start = m * k
    for t in range(complete - start):
        line = lines[start + t]
        kind = kinds[t]
        if kind == "*" and line != head[t]:
            return False
        if kind == "$" and _HEADER_LENGTHS.get(line) is None:
            return False
        if kind == "v" and len(line) != _HEADER_LENGTHS[lines[start + t - 1]]:
            return False
    rest = lines[-1]
    t = complete - start
    kind = kinds[t]
    if kind == "*":
        return head[t].startswith(rest)
    if kind == "$":
        return rest == b"" or rest == b"$" or (rest[:1] == b"$" and rest[1:].isdigit() and len(rest) <= 5)
    return len(rest) <= _HEADER_LENGTHS[lines[-2]] + 1  # a value, perhaps with its CR


def _bulk_run(buf: bytes, pos: int, base: int) -> Optional[Tuple[List[bytes], List[int]]]:
    """Fast path: the complete top-level bulk-string replies at ``buf[pos:]``.

    A pipeline of GETs is a run of bulk strings; like :func:`_bulk_array`
    this cuts them with one split and accepts only a verified canonical run.
    Trailing bytes of an incomplete reply are left for the general parser.
    Returns the values and the stream offset just past each of them
    (``base`` is the stream offset of ``buf[0]``).
    """
    if buf.find(b"\r\n", pos, pos + 7) < 0:
        return None  # the first value is too long for the table: not a run of small replies
    lines = buf[pos:].split(b"\r\n")
    pairs = (len(lines) - 1) // 2 * 2
    if not pairs:
        return None
    values = lines[1:pairs:2]
    if not _canonical(lines[0:pairs:2], values):
        return None
    # Each reply ends after its header, its value and two CRLFs.
    text = list(accumulate(map(len, lines[:pairs])))[1::2]
    return values, list(map(add, text, range(base + pos + 4, base + pos + 4 + 2 * pairs, 4)))


_SIMPLE = {b"OK": "OK", b"PONG": "PONG", b"QUEUED": "QUEUED"}
