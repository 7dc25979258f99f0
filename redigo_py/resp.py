"""RESP2, sans-IO: bytes in, values out; values in, bytes out. No sockets.

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
"""

from __future__ import annotations

import math
from collections import deque
from itertools import accumulate
from operator import add
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

from .errors import ArgumentError, Error, ProtocolError

__all__ = ["encode", "encode_command", "encode_arg", "Reader", "Reply"]

Reply = Union[str, bytes, int, List[Any], None, Error]
"""A decoded reply (an :class:`Error` stays a value inside arrays)."""

_CRLF = b"\r\n"

# ``b"$%d" % n`` is the hot path of encode; small lengths are looked up instead.
_BULK_HEADERS = [b"$%d" % i for i in range(1024)]
_ARRAY_HEADERS = [b"*%d" % i for i in range(64)]


def encode_arg(arg: Any) -> bytes:
    """One argument as the bytes of its bulk string (API.md's argument table).

    ``bytes``-likes as is, ``str`` as UTF-8, ``int`` in decimal, ``float`` as
    its shortest round-tripping ``repr`` (NaN is refused: Redis has no NaN),
    ``bool`` as ``1``/``0``, ``None`` as the empty string, an object with
    ``redis_arg()`` (redigo's ``Argument``) as what that returns, anything
    else as ``str(arg)`` (redigo's ``fmt.Fprint``).
    """
    t = type(arg)
    if t is bytes:
        return arg  # type: ignore[no-any-return]
    if t is str:
        return arg.encode()  # type: ignore[no-any-return]
    if t is int:
        return b"%d" % arg
    return _encode_other(arg, True)


def _encode_other(arg: Any, argument_ok: bool) -> bytes:
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
_COMMAND_HEADS: Dict[Any, bytes] = {}
_COMMAND_HEADS_MAX = 1024


def _command_head(command: Union[str, bytes], args: Tuple[Any, ...]) -> bytes:
    name = command.encode() if type(command) is str else _encode_other(command, False)
    head = b"$%d\r\n%s" % (len(name), name)
    if name.upper() == b"CLIENT":
        _check_client(args)  # never cached: every CLIENT command comes through here
    elif type(command) in (str, bytes) and len(_COMMAND_HEADS) < _COMMAND_HEADS_MAX:
        _COMMAND_HEADS[command] = head
    return head


def _check_client(args: Tuple[Any, ...]) -> None:
    """Refuse CLIENT REPLY OFF/SKIP: the server would stop answering commands,
    so every later reply would go to the wrong caller (or a caller would wait
    for a reply that never comes)."""
    words = [_encode_other(a, True).upper() for a in args[:2]]
    if words[:1] == [b"REPLY"] and words[1:] != [b"ON"]:
        raise ArgumentError("redigo: CLIENT REPLY OFF/SKIP is not supported: replies would no longer "
                         "match their commands")


def encode(command: Union[str, bytes], *args: Any) -> bytes:
    """One command as a RESP array of bulk strings.

    The command name is sent as given (case preserved). Raises
    :class:`~redigo_py.ArgumentError` (NaN, a ``str`` that is not valid
    text, CLIENT REPLY OFF/SKIP) before producing anything, so a caller can encode before it touches
    any connection state.
    """
    return encode_command(command, args)


def encode_command(command: Union[str, bytes], args: Tuple[Any, ...]) -> bytes:
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
        for arg in args:
            t = type(arg)
            if t is bytes:
                b = arg
            elif t is str:
                b = arg.encode()
            elif t is int:
                b = b"%d" % arg
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
    """Incremental RESP2 reply parser with hiredis's ``Reader`` interface.

    ``feed(data)`` adds bytes (any chunking; the data is copied if mutable),
    ``gets()`` returns the next complete reply or ``False``. Limits, each a
    :class:`ProtocolError` raised before the memory is committed:

    - ``max_bulk_len``: largest declared bulk-string or array length;
    - ``max_line_len``: longest simple-string or error line (integers and
      length headers are capped at 32 bytes, far above any valid value);
    - ``max_depth``: deepest array nesting.

    After a ``ProtocolError`` every later ``gets()`` raises again: the stream
    position is lost, and guessing would hand a reply to the wrong caller.

    Speed: one ``gets()`` parses every complete reply in the buffer into a
    queue (a pipeline's replies cost one pass, not one call each), and an
    array of plain bulk strings is cut with one ``bytes.split`` and checked
    with C-level ``map`` calls instead of a Python loop per element. A reply
    that follows a malformed one is never returned: the error is raised when
    the queue reaches it.
    """

    __slots__ = (
        "max_bulk_len", "max_line_len", "max_depth",
        "_buf", "_pos", "_base", "_chunks", "_chunks_len", "_need", "_stack", "_ready", "_ends",
        "_error", "consumed", "_scanned", "_waits",
    )

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        max_line_len: int = 64 * 1024 * 1024,
        max_depth: int = 128,
    ) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_line_len = max_line_len
        self.max_depth = max_depth
        self._buf = b""           # parsed from _pos on
        self._pos = 0
        self._chunks: List[bytes] = []  # fed but not yet joined into _buf
        self._chunks_len = 0
        self._need = 1            # bytes past _pos that parsing needs before it can progress
        self._stack: List[List[Any]] = []     # open arrays: [items, declared length]
        self._ready: Deque[Any] = deque()  # complete replies not yet returned
        self._ends: Deque[int] = deque()   # stream offset just past each reply in _ready
        self._base = 0            # stream offset of _buf[0]
        self._scanned = (-1, 0)   # (stream offset of an incomplete line, bytes of it searched)
        self.consumed = 0
        """Stream offset just past the last reply ``gets()`` returned: the
        difference across a ``gets()`` is that reply's exact size on the wire
        (headers and CRLFs included), which the metrics report."""
        self._error: Optional[str] = None
        self._waits = 0  # times the array at _pos was found surely incomplete by the uniform path

    def feed(self, data: Union[bytes, bytearray, memoryview], offset: int = 0, length: int = -1) -> None:
        """Append ``data[offset:offset+length]`` to the input (copied if mutable)."""
        if offset or length >= 0:
            view = memoryview(data)
            data = view[offset:] if length < 0 else view[offset:offset + length]
        chunk = data if type(data) is bytes else bytes(data)
        if chunk:
            self._chunks.append(chunk)
            self._chunks_len += len(chunk)

    def gets(self) -> Any:
        """Return the next complete reply, or ``False`` if more input is needed."""
        ready = self._ready
        if ready:
            self.consumed = self._ends.popleft()
            return ready.popleft()
        if self._error is not None:
            raise ProtocolError(self._error)
        if self._chunks:
            buf = self._buf
            if len(buf) - self._pos + self._chunks_len < self._need:
                return False
            chunks = self._chunks
            if self._pos < len(buf):
                chunks.insert(0, buf[self._pos:] if self._pos else buf)
            self._buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self._chunks = []
            self._chunks_len = 0
            self._base += self._pos
            self._pos = 0
        elif len(self._buf) - self._pos < self._need:
            return False
        try:
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
        return False

    def _parse(self) -> None:
        """Parse every complete reply from ``_pos`` into ``_ready``; keep partial state."""
        buf = self._buf
        pos = self._pos
        stack = self._stack
        ready = self._ready
        ends = self._ends
        base = self._base
        size = len(buf)
        find = buf.find
        max_bulk_len = self.max_bulk_len
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
            if kind == 36:  # '$' bulk string
                end = find(b"\r\n", pos + 1, pos + 34)
                if end < 0:
                    if size - pos >= 34:
                        raise ProtocolError("redigo: malformed length (line too long)")
                    self._incomplete(pos, size - pos + 1)
                    return
                digits = buf[pos + 1:end]
                if digits.isdigit():
                    n = int(digits)
                    if n > max_bulk_len:
                        raise ProtocolError(
                            f"redigo: bulk string length {n} exceeds the limit of {max_bulk_len}")
                    start = end + 2
                    stop = start + n
                    if stop + 2 > size:
                        self._incomplete(pos, stop + 2 - pos)
                        return
                    if buf[stop:stop + 2] != b"\r\n":
                        raise ProtocolError("redigo: bad bulk string format")
                    value: Any = buf[start:stop]
                    pos = stop + 2
                elif digits == b"-1":
                    value = None
                    pos = end + 2
                else:
                    raise ProtocolError("redigo: illegal bytes in length")
            elif kind == 42:  # '*' array
                end = find(b"\r\n", pos + 1, pos + 34)
                if end < 0:
                    if size - pos >= 34:
                        raise ProtocolError("redigo: malformed length (line too long)")
                    self._incomplete(pos, size - pos + 1)
                    return
                digits = buf[pos + 1:end]
                if digits.isdigit():
                    n = int(digits)
                    if n > max_bulk_len:
                        raise ProtocolError(
                            f"redigo: array length {n} exceeds the limit of {max_bulk_len}")
                    if len(stack) >= self.max_depth:  # every array counts, an empty one too
                        raise ProtocolError(f"redigo: arrays nested deeper than {self.max_depth}")
                    header = pos
                    pos = end + 2
                    fast = None
                    if n >= _SPLIT_MIN and fast_ok and pos < size:
                        first = buf[pos]
                        if first == 36 and find(b"\r\n", pos, pos + 7) >= 0:
                            fast = _bulk_array(buf, pos, n)
                        elif first == 42 and self._waits < _MAX_WAITS:
                            fast = _uniform_arrays(buf, pos, n, self.max_depth - len(stack) - 1)
                            if fast is _WAIT:
                                # Back to the header until more bytes come; a bounded number
                                # of times, since each try cuts the array again.
                                self._waits += 1
                                self._incomplete(header, size - header + 1)
                                return
                    self._waits = 0
                    if fast is not None:
                        value, pos = fast
                    elif n:
                        stack.append([[], n])
                        continue
                    else:
                        value = []
                elif digits == b"-1":
                    value = None
                    pos = end + 2
                else:
                    raise ProtocolError("redigo: illegal bytes in length")
            elif kind == 58 or kind == 43 or kind == 45:  # ':' '+' '-'
                limit = 34 if kind == 58 else self.max_line_len + 3
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
                else:
                    value = Error(line.decode("utf-8", "replace"))
            else:
                raise ProtocolError("redigo: unexpected response line")
            # A value is complete: close every array that it completes.
            while stack:
                top = stack[-1]
                items = top[0]
                items.append(value)
                if len(items) < top[1]:
                    break
                stack.pop()
                value = items
            else:
                ready.append(value)
                ends.append(base + pos)

    def _incomplete(self, pos: int, need: int) -> None:
        self._pos = pos
        self._need = need


# How many times the uniform-entries path waits for more of one array (it cuts
# the array again at each try) before leaving it to the general parser, which
# resumes where it stopped: so a reply trickled in tiny pieces costs a bounded
# number of cuts, not one per piece.
_MAX_WAITS = 16
# Arrays shorter than this are parsed element by element: the split path only
# pays off once its fixed cost is spread over many elements.
_SPLIT_MIN = 8
# A pipeline's replies are cut in one pass once at least this much is buffered.
_RUN_MIN = 512
# Canonical bulk headers -> length. A header not in the table (a nil, a
# non-canonical or a long length) sends the split paths back to the general
# parser, which handles everything.
_TABLE_MAX = 2047  # the longest value the split paths can verify
_HEADER_LENGTHS = {b"$%d" % i: i for i in range(_TABLE_MAX + 1)}
# Canonical array headers of the lengths a uniform entry may have (a stream
# entry's fields, a GEO position, a CLUSTER SLOTS range...).
_ARRAY_LENGTHS = {b"*%d" % i: i for i in range(1, 64)}
_SPLIT_MAX_ITEM = _TABLE_MAX + 13  # longest element, with its header and CRLFs, the table can verify


def _canonical(headers: List[bytes], values: List[bytes]) -> bool:
    """Whether each header line is exactly ``$<len(value)>`` of its value: the proof, checked
    in C, that split lines are the canonical encoding of those bulk strings."""
    return list(map(_HEADER_LENGTHS.get, headers)) == list(map(len, values))


def _bulk_array(buf: bytes, pos: int, n: int) -> Optional[Tuple[List[bytes], int]]:
    """Fast path: ``n`` bulk strings at ``buf[pos:]`` with no CRLF inside them.

    Splits on CRLF (in C) and accepts the result only if each header line is
    exactly ``$<len(value)>``, which proves the bytes are the canonical
    encoding of those values; anything else (a nil, a nested array, a value
    containing CRLF, an incomplete buffer) returns None and the general
    parser takes over. The slice grows geometrically, so the bytes copied
    stay proportional to the array's own size, not to the whole buffer.
    """
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


def _entry_shape(lines: List[bytes], room: int) -> Optional[Tuple[int, Any]]:
    """The shape of the array whose header is ``lines[0]``: (its line count, its tree).

    A tree is ``("$", offset)`` for a bulk string whose header is at line
    ``offset`` of the entry, or ``("*", offset, children)`` for an array.
    Only arrays of arrays and bulk strings have a shape here (no nil, no
    empty array, no integer, which the general parser takes), at most
    ``room`` levels deep; None otherwise, or if ``lines`` ends first.
    """
    def walk(i: int, depth: int) -> Optional[Tuple[int, Any]]:
        if i >= len(lines) - 1 or depth > room:
            return None
        line = lines[i]
        if line[:1] == b"$":
            return (i + 2, ("$", i)) if _HEADER_LENGTHS.get(line) is not None else None
        m = _ARRAY_LENGTHS.get(line)
        if not m:
            return None
        children = []
        j = i + 1
        for _ in range(m):
            found = walk(j, depth + 1)
            if found is None:
                return None
            j, child = found
            children.append(child)
        return j, ("*", i, children)

    return walk(0, 1)


#: What :func:`_uniform_arrays` returns when the array is surely not all here yet.
_WAIT = object()


def _uniform_arrays(buf: bytes, pos: int, n: int, room: int) -> Any:
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
    del lines[total:]  # what follows belongs to later replies (kept in ``chunk``)
    tail = len(chunk) - sum(map(len, lines)) - 2 * total
    values = _columns(lines, k, n, tree)
    if values is None:
        return None
    return values, pos + len(chunk) - tail


def _columns(lines: List[bytes], k: int, n: int, node: Any) -> Optional[List[Any]]:
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


def _surely_incomplete(lines: List[bytes], k: int, tree: Any, head: List[bytes]) -> bool:
    """Whether ``lines`` (the whole buffer from the array's first entry, split; the last item
    the unterminated rest) are whole entries of the shape followed by a proper beginning of
    one more: then more bytes must come, and waiting for them cannot hang."""
    complete = len(lines) - 1
    m = complete // k
    if m and _columns(lines, k, m, tree) is None:
        return False
    kinds: List[str] = [""] * k  # per line of an entry: "*" header, "$" header, or "v" value

    def mark(node: Any) -> None:
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
