"""Lua scripts that are sent by hash and loaded only when the server lacks them.

A script's source can be long; sending it with every EVAL wastes bandwidth,
while EVALSHA alone fails on a server that has never seen the script (after
a restart, a failover or SCRIPT FLUSH). :meth:`Script.do` does what redigo
does: EVALSHA first, and EVAL (which also loads the script) only when the
server answers ``NOSCRIPT``.
"""

from __future__ import annotations

import hashlib
from typing import List, Tuple

from . import context as _context
from .conn import optional_method
from .errors import Error
from .protocols import Conn
from ._types import Reply

__all__ = ["Script", "new_script"]


def _is_noscript(exc: Error) -> bool:
    return str(exc).startswith("NOSCRIPT ")


class ScriptBase:
    """A Lua script: its source, its SHA1 and its key count, and the arguments of its
    EVAL/EVALSHA (what the blocking :class:`Script` and ``aio.Script`` share).

    With ``key_count >= 0`` the count is inserted into the EVAL/EVALSHA
    arguments for you, so ``do(conn, *keys, *args)`` takes exactly
    ``key_count`` keys first. With ``key_count < 0`` the first of
    ``keys_and_args`` is the count itself, for scripts that take a varying
    number of keys.
    """

    __slots__ = ("_key_count", "_src", "_hash")

    def __init__(self, key_count: int, src: str) -> None:
        self._key_count = key_count
        self._src = src
        self._hash = hashlib.sha1(src.encode("utf-8")).hexdigest()

    def hash(self) -> str:
        """The script's SHA1, in lower-case hex, as EVALSHA and SCRIPT EXISTS want it."""
        return self._hash

    def _args(self, spec: str, keys_and_args: Tuple[object, ...]) -> List[object]:
        if self._key_count < 0:
            return [spec, *keys_and_args]
        return [spec, self._key_count, *keys_and_args]

    def __repr__(self) -> str:
        return f"<redigo_py.{type(self).__qualname__} {self._hash} key_count={self._key_count}>"


class Script(ScriptBase):
    """A Lua script run over a blocking connection (see :class:`ScriptBase`)."""

    __slots__ = ()

    def do(self, conn: Conn, *keys_and_args: object) -> Reply:
        """Evaluate the script with EVALSHA, falling back to EVAL on NOSCRIPT."""
        try:
            return conn.do("EVALSHA", *self._args(self._hash, keys_and_args))
        except Error as exc:
            if not _is_noscript(exc):
                raise
        return conn.do("EVAL", *self._args(self._src, keys_and_args))

    def do_context(self, ctx: _context.Context, conn: Conn, *keys_and_args: object) -> Reply:
        """``do`` bounded by ``ctx`` (the connection must have ``do_context``)."""
        do_context = optional_method(conn, "do_context", "ConnWithContext")
        try:
            return do_context(ctx, "EVALSHA", *self._args(self._hash, keys_and_args))
        except Error as exc:
            if not _is_noscript(exc):
                raise
        return do_context(ctx, "EVAL", *self._args(self._src, keys_and_args))

    def send(self, conn: Conn, *keys_and_args: object) -> None:
        """Queue an EVAL of the script (its reply comes from ``receive``)."""
        conn.send("EVAL", *self._args(self._src, keys_and_args))

    def send_hash(self, conn: Conn, *keys_and_args: object) -> None:
        """Queue an EVALSHA; the script must already be loaded (``load``, ``do`` or ``send``).

        A pipeline cannot retry one command on NOSCRIPT, which is why this
        does not fall back as ``do`` does.
        """
        conn.send("EVALSHA", *self._args(self._hash, keys_and_args))

    def load(self, conn: Conn) -> None:
        """Load the script into the server's cache without running it (SCRIPT LOAD)."""
        conn.do("SCRIPT", "LOAD", self._src)


def new_script(key_count: int, src: str) -> Script:
    """``Script(key_count, src)``, under redigo's constructor name."""
    return Script(key_count, src)
