"""Go's way of writing a string as text (``strconv.Quote``, the ``%q`` verb).

Go prints byte strings this way in its strconv errors, its URL errors and
redigo's logging conn; redigo_py's error texts and log lines use the same
rule so that they read exactly as a Go program's do, and ported tests and
log searches still match.
"""

from __future__ import annotations

# Go's quoting escapes for these characters; every other character that is
# not printable gets a numeric escape.
_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    '"': '\\"', "\\": "\\\\",
}


def quote(data: bytes) -> str:
    r"""``data`` as Go's ``strconv.Quote`` (the ``%q`` verb) shows it.

    Go prints byte strings this way in its strconv errors and in redigo's
    logging conn, so an error text or a log line reads exactly as redigo's
    does: double quotes; ``\"`` and ``\\``; ``\n``-style escapes for the
    C control characters; ``\xff`` for each byte that is not part of valid
    UTF-8 and for the other ASCII controls; ``\u00a0`` or ``\U000e0001``
    for a character that is not printable (Python's ``str.isprintable`` and
    Go's ``IsPrint`` are the same test: not a separator other than the
    space, not a control, format, surrogate, private-use or unassigned
    character); everything else as itself.
    """
    # surrogateescape turns each invalid byte into one lone surrogate that no
    # valid UTF-8 can produce, which is how Go's decoder sees it: one bad byte.
    text = data.decode("utf-8", "surrogateescape")
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # the common case: nothing to escape
    return '"' + "".join(_escape(ch) for ch in text) + '"'


def _escape(ch: str) -> str:
    """One character of a Go-quoted string (see :func:`quote`)."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if ch in _GO_ESCAPES:
        return _GO_ESCAPES[ch]
    if ch.isprintable():
        return ch
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
