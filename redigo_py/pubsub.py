"""Pub/sub: a connection wrapper for subscribers and typed notifications.

A subscribed connection receives pushed arrays (``["message", channel,
data]``, ``["subscribe", channel, count]``, ...) instead of replies to its
own commands. :class:`PubSubConn` sends the subscription commands and turns
each pushed array into a :class:`Message`, :class:`Subscription` or
:class:`Pong`. They are frozen dataclasses, so a receive loop can ``match``
on them (Go's type switch)::

    while True:
        match psc.receive():
            case Message(channel=ch, data=data): ...
            case Subscription(count=0): break
            case Subscription(): ...

Errors are raised, not returned. Channel and pattern names are decoded from
UTF-8 with ``surrogateescape``: a name that is not UTF-8 (another client may
publish to any name a pattern matches) still arrives instead of breaking the
receive loop, and ``name.encode("utf-8", "surrogateescape")`` gives back its
bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Union

from . import context as _context
from .conn import receive_context, receive_with_timeout
from .errors import ErrNil, RedigoError
from .protocols import Conn
from .reply import type_name
from ._types import Reply

__all__ = ["PubSubConn", "Message", "Subscription", "Pong"]

_SUBSCRIPTION_KINDS = frozenset(("subscribe", "psubscribe", "unsubscribe", "punsubscribe"))


@dataclass(frozen=True)
class Message:
    """A message published to a channel the connection subscribes to."""

    channel: str
    """The channel it was published to."""
    pattern: str
    """The pattern that matched the channel ("" for a plain SUBSCRIBE)."""
    data: bytes
    """The message as published."""


@dataclass(frozen=True)
class Subscription:
    """The server's confirmation of a (p)subscribe or (p)unsubscribe."""

    kind: str
    """``subscribe``, ``psubscribe``, ``unsubscribe`` or ``punsubscribe``."""
    channel: str
    """The channel or pattern concerned ("" when there was none to unsubscribe from)."""
    count: int
    """How many channels and patterns the connection subscribes to now."""


@dataclass(frozen=True)
class Pong:
    """The answer to :meth:`PubSubConn.ping` while subscribed."""

    data: str
    """The data given to ``ping``."""


Notification = Union[Message, Subscription, Pong]


class PongCounter:
    """What the blocking and the asyncio ``PubSubConn`` share: under RESP3 a PING while
    subscribed has a plain reply, not a push, so the pings still to be answered tell a
    pong from a reply that has no place among notifications."""

    __slots__ = ("_pings",)

    def __init__(self) -> None:
        self._pings = 0

    def _notification(self, reply: Reply) -> Notification:
        found = _notification(reply, self._pings)
        if isinstance(found, Pong) and self._pings:
            self._pings -= 1
        return found


class PubSubConn(PongCounter):
    """Wraps a connection with convenience methods for subscribers.

    Use one thread to receive; other threads may subscribe, unsubscribe and
    ping, since those only send and flush (the connection allows one sender
    beside one receiver). Their confirmations arrive through ``receive``.
    """

    __slots__ = ("conn",)

    def __init__(self, conn: Conn) -> None:
        PongCounter.__init__(self)
        self.conn = conn  #: the wrapped connection (Go's ``PubSubConn.Conn``)

    def close(self) -> None:
        """Close the wrapped connection."""
        self.conn.close()

    def _command(self, command: str, *args: object) -> None:
        self.conn.send(command, *args)
        self.conn.flush()

    def subscribe(self, *channels: object) -> None:
        """Subscribe to the channels."""
        self._command("SUBSCRIBE", *channels)

    def psubscribe(self, *patterns: object) -> None:
        """Subscribe to the glob-style patterns."""
        self._command("PSUBSCRIBE", *patterns)

    def unsubscribe(self, *channels: object) -> None:
        """Unsubscribe from the channels, or from every channel if none is given."""
        self._command("UNSUBSCRIBE", *channels)

    def punsubscribe(self, *patterns: object) -> None:
        """Unsubscribe from the patterns, or from every pattern if none is given."""
        self._command("PUNSUBSCRIBE", *patterns)

    def ping(self, data: str = "") -> None:
        """Send a PING; the server answers with a :class:`Pong` carrying ``data``.

        The connection must be subscribed to something, and the Pong comes
        through ``receive`` like any notification: a health check that needs
        no second connection.
        """
        self._command("PING", data)
        self._pings += 1

    def receive(self) -> Notification:
        """Wait for the next notification (bounded by the connection's read timeout)."""
        return self._notification(self.conn.receive())

    def receive_with_timeout(self, timeout: Optional[float]) -> Notification:
        """``receive`` with this read timeout (seconds) instead of the connection's."""
        return self._notification(receive_with_timeout(self.conn, timeout))

    def receive_context(self, ctx: _context.Context) -> Notification:
        """``receive`` that ``ctx`` can end; the connection is closed if it does."""
        return self._notification(receive_context(self.conn, ctx))


def _name(value: Reply, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, str):
        return value
    raise RedigoError(f"redigo: pubsub {what} is not a string, got type {type_name(value)}")


def _field(items: List[Reply], index: int, kind: str) -> Reply:
    """``items[index]``, or the error redigo's Scan gives for a short notification."""
    if index >= len(items):
        raise RedigoError(f"redigo.Scan: array short ({kind} notification of {len(items)} elements)")
    return items[index]


def _notification(reply: Reply, pings: int = 0) -> Notification:
    """One pushed array as a notification (redigo's receiveInternal)."""
    if reply is None:
        raise ErrNil()
    if not isinstance(reply, list):
        if isinstance(reply, bytes) and pings:
            # RESP3: a PING while subscribed has a plain reply (its data), not a push.
            return Pong(_name(reply, "pong data"))
        raise RedigoError(f"redigo: unexpected type for Values, got type {type_name(reply)}")
    if not reply:
        raise RedigoError("redigo.Scan: array short")
    kind = _name(reply[0], "notification kind")
    if kind == "message":
        data = _field(reply, 2, kind)
        return Message(_name(reply[1], "channel"), "", _data(data))
    if kind == "pmessage":
        data = _field(reply, 3, kind)
        return Message(_name(reply[2], "channel"), _name(reply[1], "pattern"), _data(data))
    if kind in _SUBSCRIPTION_KINDS:
        count = _field(reply, 2, kind)
        if count is None:
            count = 0
        elif not isinstance(count, int) or isinstance(count, bool):
            raise RedigoError(f"redigo: pubsub subscription count is not an integer, got type {type_name(count)}")
        return Subscription(kind, _name(reply[1], "channel"), count)
    if kind == "pong":
        return Pong(_name(_field(reply, 1, kind), "pong data"))
    raise RedigoError("redigo: unknown pubsub notification")


def _data(value: Reply) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    raise RedigoError(f"redigo: pubsub message data is not a string, got type {type_name(value)}")
