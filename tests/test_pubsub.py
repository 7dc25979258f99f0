"""PubSubConn: redigo's pubsub_test.go and pubsub_example_test.go against a real server,
the conversion of every notification shape, and a property over arbitrary replies."""

from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from redigo_py import context
from redigo_py.conn import Conn, dial
from redigo_py.errors import Error, ErrNil, RedigoError, TimeoutError
from redigo_py.pubsub import Message, Pong, PubSubConn, Subscription
from redigo_py.scan import Args

DEADLINE = 10.0


@pytest.fixture
def pair(server: Any) -> Iterator[Tuple[Conn, PubSubConn]]:
    """A publishing connection and a subscribing one."""
    pc = dial("tcp", server.address, read_timeout=DEADLINE, write_timeout=DEADLINE)
    sc = dial("tcp", server.address, read_timeout=DEADLINE, write_timeout=DEADLINE)
    yield pc, PubSubConn(sc)
    pc.close()
    sc.close()


def test_pushed(pair: Tuple[Conn, PubSubConn]) -> None:
    pc, c = pair
    c.subscribe("c1")
    assert c.receive() == Subscription("subscribe", "c1", 1)
    c.subscribe("c2")
    assert c.receive() == Subscription("subscribe", "c2", 2)
    c.psubscribe("p1")
    assert c.receive() == Subscription("psubscribe", "p1", 3)
    c.psubscribe("p2")
    assert c.receive() == Subscription("psubscribe", "p2", 4)
    c.punsubscribe()

    # The confirmations may come in either order.
    first, second = c.receive(), c.receive()
    assert isinstance(first, Subscription) and isinstance(second, Subscription)
    assert (first.kind, first.count, second.kind, second.count) == ("punsubscribe", 3, "punsubscribe", 2)
    assert {first.channel, second.channel} == {"p1", "p2"}

    pc.do("PUBLISH", "c1", "hello")
    assert c.receive() == Message(channel="c1", pattern="", data=b"hello")

    c.ping("hello")
    assert c.receive() == Pong("hello")

    c.conn.send("PING")
    c.conn.flush()
    assert c.receive() == Pong("")

    c.ping("timeout")
    assert c.receive_with_timeout(60) == Pong("timeout")


def test_pattern_message_and_unsubscribe_all(pair: Tuple[Conn, PubSubConn]) -> None:
    pc, c = pair
    c.psubscribe("news.*")
    assert c.receive() == Subscription("psubscribe", "news.*", 1)
    pc.do("PUBLISH", "news.tech", b"\x00\xff")
    assert c.receive() == Message(channel="news.tech", pattern="news.*", data=b"\x00\xff")
    c.unsubscribe()  # no channels: one confirmation with a nil channel
    assert c.receive() == Subscription("unsubscribe", "", 1)
    c.punsubscribe("news.*")
    assert c.receive() == Subscription("punsubscribe", "news.*", 0)
    assert c.conn.do("PING") == "PONG"  # an ordinary connection again


def test_binary_channel_names_still_arrive(pair: Tuple[Conn, PubSubConn]) -> None:
    pc, c = pair
    c.psubscribe("*")
    assert c.receive() == Subscription("psubscribe", "*", 1)
    pc.do("PUBLISH", b"bin\xff", "x")
    msg = c.receive()
    assert isinstance(msg, Message)
    assert msg.channel.encode("utf-8", "surrogateescape") == b"bin\xff"


def test_pubsub_receive_context(pair: Tuple[Conn, PubSubConn]) -> None:
    _, c = pair
    c.subscribe("c1")
    assert c.receive() == Subscription("subscribe", "c1", 1)
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(context.Canceled):
        c.receive_context(ctx)


def test_receive_context_cancelled_from_another_thread(pair: Tuple[Conn, PubSubConn]) -> None:
    _, c = pair
    c.subscribe("c1")
    assert c.receive() == Subscription("subscribe", "c1", 1)
    ctx, cancel = context.with_cancel(context.background())
    timer = threading.Timer(0.05, cancel)
    timer.start()
    try:
        with pytest.raises(context.Canceled):
            c.receive_context(ctx)
    finally:
        timer.cancel()
    assert isinstance(c.conn.err(), context.Canceled)  # the connection was closed


def test_receive_with_timeout_expires(pair: Tuple[Conn, PubSubConn]) -> None:
    _, c = pair
    c.subscribe("quiet")
    assert c.receive() == Subscription("subscribe", "quiet", 1)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        c.receive_with_timeout(0.05)
    assert time.monotonic() - start < DEADLINE


def test_error_reply_is_raised(pair: Tuple[Conn, PubSubConn]) -> None:
    _, c = pair
    c.subscribe("c1")
    assert c.receive() == Subscription("subscribe", "c1", 1)
    c.conn.send("GET", "k")  # not allowed while subscribed
    c.conn.flush()
    with pytest.raises(Error):
        c.receive()


def test_close(server: Any) -> None:
    c = PubSubConn(dial("tcp", server.address))
    c.close()
    assert c.conn.err() is not None


# -- redigo's pub/sub example ------------------------------------------------------------------


def listen_pub_sub_channels(
    ctx: context.Context,
    address: str,
    on_start: Callable[[], None],
    on_message: Callable[[str, bytes], None],
    *channels: str,
    health_check_period: float = 60.0,
) -> Optional[BaseException]:
    """Receive on a thread, ping for health, stop when ``ctx`` ends (redigo's listenPubSubChannels)."""
    c = dial("tcp", address, read_timeout=health_check_period + 10, write_timeout=10)
    try:
        psc = PubSubConn(c)
        psc.subscribe(*Args().add_flat(list(channels)))
        done: "queue.Queue[Optional[BaseException]]" = queue.Queue(1)

        def receive_loop() -> None:
            try:
                while True:
                    n = psc.receive()
                    if isinstance(n, Message):
                        on_message(n.channel, n.data)
                    elif isinstance(n, Subscription):
                        if n.count == len(channels):
                            on_start()  # every channel is subscribed
                        elif n.count == 0:
                            done.put(None)  # every channel is unsubscribed
                            return
            except BaseException as exc:
                done.put(exc)

        threading.Thread(target=receive_loop, daemon=True).start()
        next_ping = time.monotonic() + health_check_period
        while not ctx.done().is_set():
            try:
                return done.get(timeout=min(0.05, max(0.0, next_ping - time.monotonic())))
            except queue.Empty:
                pass
            if time.monotonic() >= next_ping:
                # A missing pong makes the receive time out and the loop exit.
                psc.ping("")
                next_ping = time.monotonic() + health_check_period
        psc.unsubscribe()
        return done.get(timeout=DEADLINE)
    finally:
        c.close()


def test_example_pub_sub_conn(server: Any) -> None:
    ctx, cancel = context.with_cancel(context.background())
    lines: List[str] = []

    def publish() -> None:
        with dial("tcp", server.address) as c:
            c.do("PUBLISH", "c1", "hello")
            c.do("PUBLISH", "c2", "world")
            c.do("PUBLISH", "c1", "goodbye")

    def on_message(channel: str, message: bytes) -> None:
        lines.append(f"channel: {channel}, message: {message.decode()}")
        if message == b"goodbye":
            cancel()

    err = listen_pub_sub_channels(
        ctx, server.address,
        lambda: threading.Thread(target=publish, daemon=True).start(),
        on_message,
        "c1", "c2",
        health_check_period=0.01,  # short, so that pings and pongs mix with the messages
    )
    assert err is None
    assert lines == [
        "channel: c1, message: hello",
        "channel: c2, message: world",
        "channel: c1, message: goodbye",
    ]


def test_subscribe_from_another_thread_while_receiving(pair: Tuple[Conn, PubSubConn]) -> None:
    pc, c = pair
    c.subscribe("a")
    assert c.receive() == Subscription("subscribe", "a", 1)
    got: "queue.Queue[Any]" = queue.Queue()

    def receiver() -> None:
        for _ in range(2):
            got.put(c.receive())

    t = threading.Thread(target=receiver, daemon=True)
    t.start()
    c.subscribe("b")
    assert got.get(timeout=DEADLINE) == Subscription("subscribe", "b", 2)
    pc.do("PUBLISH", "b", "x")
    assert got.get(timeout=DEADLINE) == Message("b", "", b"x")
    t.join(DEADLINE)


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match needs Python 3.10")
def test_notifications_work_with_match() -> None:
    source = """
def kind(n):
    match n:
        case Message(channel=ch, pattern="", data=data):
            return ("message", ch, data)
        case Message(channel=ch, pattern=p):
            return ("pmessage", p, ch)
        case Subscription(count=0):
            return ("none left",)
        case Subscription(kind, channel, count):
            return (kind, channel, count)
        case Pong(data):
            return ("pong", data)
"""
    namespace: dict = {"Message": Message, "Subscription": Subscription, "Pong": Pong}
    exec(compile(source, "<match>", "exec"), namespace)
    kind = namespace["kind"]
    assert kind(Message("c", "", b"d")) == ("message", "c", b"d")
    assert kind(Message("c", "p*", b"d")) == ("pmessage", "p*", "c")
    assert kind(Subscription("unsubscribe", "c", 0)) == ("none left",)
    assert kind(Subscription("subscribe", "c", 1)) == ("subscribe", "c", 1)
    assert kind(Pong("x")) == ("pong", "x")


# -- conversion of each pushed shape (no server) -------------------------------------------------


class FakeConn:
    """Hands out one canned reply per receive, raising error replies as Conn does."""

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: List[Tuple[Any, ...]] = []
        self.flushes = 0

    def send(self, command: str, *args: Any) -> None:
        self.sent.append((command, *args))

    def flush(self) -> None:
        self.flushes += 1

    def receive(self) -> Any:
        reply = self.replies.pop(0)
        if isinstance(reply, Error):
            raise reply
        return reply


NOTIFICATION_TESTS: List[Any] = [
    ([b"message", b"c", b"d"], Message("c", "", b"d")),
    ([b"message", b"c", None], Message("c", "", b"")),
    ([b"pmessage", b"p*", b"pc", b"d"], Message("pc", "p*", b"d")),
    ([b"subscribe", b"c", 1], Subscription("subscribe", "c", 1)),
    ([b"psubscribe", b"p", 2], Subscription("psubscribe", "p", 2)),
    ([b"unsubscribe", None, 0], Subscription("unsubscribe", "", 0)),
    ([b"punsubscribe", b"p", 0], Subscription("punsubscribe", "p", 0)),
    ([b"pong", b""], Pong("")),
    ([b"pong", b"hi"], Pong("hi")),
    (["pong", "hi"], Pong("hi")),
    ([b"message", b"c", b"d", b"extra"], Message("c", "", b"d")),
]


@pytest.mark.parametrize("reply, expected", NOTIFICATION_TESTS)
def test_notification(reply: Any, expected: Any) -> None:
    assert PubSubConn(FakeConn(reply)).receive() == expected


NOTIFICATION_ERROR_TESTS: List[Any] = [
    (None, ErrNil, "redigo: nil returned"),
    (b"x", RedigoError, "redigo: unexpected type for Values, got type bytes"),
    ([], RedigoError, "redigo.Scan: array short"),
    ([b"bogus", b"c"], RedigoError, "redigo: unknown pubsub notification"),
    ([b"message", b"c"], RedigoError, "redigo.Scan: array short (message notification of 2 elements)"),
    ([b"pmessage", b"p", b"c"], RedigoError, None),
    ([b"subscribe", b"c"], RedigoError, None),
    ([b"pong"], RedigoError, None),
    ([b"subscribe", b"c", b"1"], RedigoError,
     "redigo: pubsub subscription count is not an integer, got type bytes"),
    ([1, b"c", 1], RedigoError, "redigo: pubsub notification kind is not a string, got type int"),
    ([b"message", [], b"d"], RedigoError, "redigo: pubsub channel is not a string, got type list"),
    ([b"message", b"c", 5], RedigoError, "redigo: pubsub message data is not a string, got type int"),
    (Error("ERR x"), Error, "ERR x"),
]


@pytest.mark.parametrize("reply, exc_type, message", NOTIFICATION_ERROR_TESTS)
def test_notification_error(reply: Any, exc_type: type, message: Optional[str]) -> None:
    with pytest.raises(exc_type) as info:
        PubSubConn(FakeConn(reply)).receive()
    if message is not None:
        assert str(info.value) == message


def test_commands_are_sent_and_flushed() -> None:
    fake = FakeConn()
    c = PubSubConn(fake)
    c.subscribe("a", "b")
    c.psubscribe("p*")
    c.unsubscribe()
    c.punsubscribe("p*")
    c.ping()
    c.ping("x")
    assert fake.sent == [("SUBSCRIBE", "a", "b"), ("PSUBSCRIBE", "p*"), ("UNSUBSCRIBE",),
                         ("PUNSUBSCRIBE", "p*"), ("PING", ""), ("PING", "x")]
    assert fake.flushes == 6


LEAVES = st.one_of(
    st.none(),
    st.integers(min_value=-(1 << 65), max_value=1 << 65),
    st.binary(max_size=8),
    st.sampled_from([b"message", b"pmessage", b"subscribe", b"unsubscribe", b"psubscribe",
                     b"punsubscribe", b"pong", "message", "pong"]),
    st.text(max_size=6),
    st.builds(Error, st.text(max_size=6)),
)
REPLIES = st.recursive(LEAVES, lambda children: st.lists(children, max_size=5), max_leaves=16)


@settings(max_examples=300, deadline=None)
@given(reply=REPLIES)
def test_receive_converts_or_raises_redigo_error(reply: Any) -> None:
    try:
        n = PubSubConn(FakeConn(reply)).receive()
    except RedigoError:
        return
    assert isinstance(n, (Message, Subscription, Pong))
