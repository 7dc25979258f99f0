"""Which commands put a connection into a state that outlives the command.

A pooled connection is shared by borrowers that know nothing of each other,
so the pool must undo what one borrower left behind (an open transaction, a
WATCH, a subscription) before the next one gets the connection. The pool
learns that state from the commands it sees go by, and this table is the
only place that says which command sets or clears which state, as redigo's
``commandinfo.go`` does: one lookup per command instead of ``if`` statements spread
through the pool.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Union

from .errors import ArgumentError
from .resp import encode_arg

__all__ = [
    "WATCH_STATE",
    "MULTI_STATE",
    "SUBSCRIBE_STATE",
    "MONITOR_STATE",
    "SHARD_SUBSCRIBE_STATE",
    "CommandInfo",
    "lookup_command_info",
]

# Bit flags, combined into one int per connection (plain ints: the pool does
# this for every command, and enum.IntFlag arithmetic is many times slower).
WATCH_STATE = 1 << 0  #: WATCH is in force until EXEC, DISCARD or UNWATCH
MULTI_STATE = 1 << 1  #: MULTI queues commands until EXEC or DISCARD
SUBSCRIBE_STATE = 1 << 2  #: the connection receives pub/sub messages
MONITOR_STATE = 1 << 3  #: the connection streams every command the server runs; no way back
SHARD_SUBSCRIBE_STATE = 1 << 4  #: SSUBSCRIBE (Redis 7): undone by SUNSUBSCRIBE, which 6.2 lacks


class CommandInfo(NamedTuple):
    """The state bits a command sets and the bits it clears on its connection."""

    set: int = 0
    clear: int = 0


_NO_STATE = CommandInfo()

_COMMANDS = {
    "WATCH": CommandInfo(set=WATCH_STATE),
    "UNWATCH": CommandInfo(clear=WATCH_STATE),
    "MULTI": CommandInfo(set=MULTI_STATE),
    "EXEC": CommandInfo(clear=WATCH_STATE | MULTI_STATE),
    "DISCARD": CommandInfo(clear=WATCH_STATE | MULTI_STATE),
    "SUBSCRIBE": CommandInfo(set=SUBSCRIBE_STATE),
    "PSUBSCRIBE": CommandInfo(set=SUBSCRIBE_STATE),
    "SSUBSCRIBE": CommandInfo(set=SUBSCRIBE_STATE | SHARD_SUBSCRIBE_STATE),
    # Listed to say that they change nothing, on purpose: whether the
    # connection is still subscribed afterwards depends on the channels it
    # named and on the server's reply, which the pool never sees. So the
    # pool's clean-up (UNSUBSCRIBE, PUNSUBSCRIBE, ECHO) runs anyway.
    "UNSUBSCRIBE": _NO_STATE,
    "PUNSUBSCRIBE": _NO_STATE,
    "SUNSUBSCRIBE": _NO_STATE,
    "MONITOR": CommandInfo(set=MONITOR_STATE),
}

# Every name in upper and lower case, as str and as bytes, so that the usual
# spellings cost one dict lookup; mixed case costs one upper() more.
_TABLE: Dict[Union[str, bytes], CommandInfo] = {}
for _name, _info in _COMMANDS.items():
    for _spelling in (_name, _name.lower()):
        _TABLE[_spelling] = _info
        _TABLE[_spelling.encode()] = _info
del _name, _info, _spelling


def command_word(name: object) -> Optional[bytes]:
    """A command name (or a word of its arguments) as the server compares it: the upper-case
    bytes that the encoder sends (:func:`redigo_py.resp.encode_arg`, ``redis_arg()``
    included); None for what cannot be sent (a str that UTF-8 cannot encode, a NaN), which
    no command is."""
    try:
        return encode_arg(name).upper()
    except (UnicodeEncodeError, ArgumentError):
        return None


def lookup_command_info(name: object) -> CommandInfo:
    """The state change of command ``name`` (any case); ``CommandInfo(0, 0)`` for most commands."""
    if isinstance(name, (str, bytes)):
        info = _TABLE.get(name)
        return info if info is not None else _TABLE.get(name.upper(), _NO_STATE)
    else:
        # A name that Conn also accepts but that is not str/bytes: a bytes-like
        # (sent as is) or any other object (sent as its str()).
        return lookup_command_info(bytes(name) if isinstance(name, (bytearray, memoryview)) else str(name))
