"""Connections that speak RESP3 (``protocol=3``), blocking and asyncio, against real servers
(and a scripted one for what no real server sends: a refused HELLO, attributes)."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Callable, List

import pytest

import redigo_py as redis
from redigo_py import aio
from redigo_py.conn import Resp3Conn
from redigo_py.resp import Push
from harness.server import RedisServer

from .conftest import SECRET, ScriptedServer, read_command

Scripted = Callable[[Callable[[socket.socket], None]], ScriptedServer]


def test_hello_carries_auth_and_name_and_types_come_as_resp3(auth_server: RedisServer) -> None:
    with redis.dial("tcp", auth_server.address, protocol=3, password=SECRET, client_name="r3", database=4) as c:
        assert isinstance(c, Resp3Conn) and isinstance(c, redis.Conn)
        assert c.do("CLIENT", "GETNAME") == b"r3"
        info = c.do("CLIENT", "INFO")
        assert isinstance(info, str) and "name=r3" in info  # a verbatim string: str
        c.do("FLUSHDB")
        c.do("HSET", "h", "a", 1, "b", 2)
        assert c.do("HGETALL", "h") == {b"a": b"1", b"b": b"2"}
        assert redis.string_map(c.do("HGETALL", "h")) == {"a": "1", "b": "2"}
        c.do("SADD", "s", "x", "y")
        assert c.do("SMEMBERS", "s") == {b"x", b"y"}
        c.do("ZADD", "z", 1.5, "m")
        assert c.do("ZSCORE", "z", "m") == 1.5
        assert c.do("EVAL", "redis.setresp(3); return true", 0) is True
        assert c.do("GET", "missing") is None
        assert c.database == 4
    with pytest.raises(redis.Error, match="WRONGPASS"):
        redis.dial("tcp", auth_server.address, protocol=3, password="wrong")


def test_protocol_option_and_url(server: RedisServer) -> None:
    with redis.dial_url(f"redis://{server.address}/2?protocol=3") as c:
        assert isinstance(c, Resp3Conn) and c.do("HELLO")[b"proto"] == 3
    with redis.dial_url(f"redis://{server.address}/2?protocol=2") as c:
        reply = c.do("HELLO")
        assert type(c) is redis.conn.NetConn and reply[reply.index(b"proto") + 1] == 2  # RESP2: a flat array
    with pytest.raises(redis.ArgumentError, match="protocol"):
        redis.dial("tcp", server.address, protocol=4)
    with pytest.raises(redis.ArgumentError, match="invalid redis URL protocol"):
        redis.dial_url(f"redis://{server.address}/?protocol=x")
    with pytest.raises(redis.ArgumentError, match="needs protocol=3"):
        redis.dial("tcp", server.address, client_cache=redis.ClientCache())


def test_a_server_without_resp3_gets_a_clear_error(scripted: Scripted) -> None:
    def old_server(sock: socket.socket) -> None:
        assert read_command(sock)[:2] == [b"HELLO", b"3"]
        sock.sendall(b"-ERR unknown command 'HELLO'\r\n")
        read_command(sock)

    with pytest.raises(redis.ConnectionError, match=r"does not speak RESP3 \(protocol=3\)"):
        redis.dial("tcp", scripted(old_server).address, protocol=3)


def test_attributes_are_not_part_of_the_reply(scripted: Scripted) -> None:
    def attributing(sock: socket.socket) -> None:
        read_command(sock)
        sock.sendall(b"%1\r\n+server\r\n+redis\r\n")  # HELLO's map
        read_command(sock)
        sock.sendall(b"|1\r\n+key-popularity\r\n:42\r\n+OK\r\n")
        read_command(sock)

    c = redis.dial("tcp", scripted(attributing).address, protocol=3)
    assert c.last_attributes() is None
    assert c.do("GET", "k") == "OK"
    assert c.last_attributes() == {"key-popularity": 42}


def test_pushes_never_reach_a_caller_as_replies(server: RedisServer) -> None:
    pushes: List[Push] = []
    c = redis.dial("tcp", server.address, protocol=3, database=3, push_handler=pushes.append)
    writer = redis.dial("tcp", server.address, database=3)
    c.do("CLIENT", "TRACKING", "ON")
    for i in range(20):
        writer.do("SET", f"k{i}", i)
        assert c.do("GET", f"k{i}") == str(i).encode()  # now tracked
    for i in range(20):
        c.send("ECHO", f"e{i}")
        c.send("GET", f"k{i}")
        writer.do("SET", f"k{i}", i + 100)  # an invalidation, pushed ahead of the replies
    c.flush()
    assert [c.receive() for _ in range(40)] == [x for i in range(20) for x in (f"e{i}".encode(), b"%d" % (i + 100))]
    assert c.do("PING") == "PONG"
    assert len(pushes) >= 20 and all(p[0] == b"invalidate" for p in pushes)
    assert {k for p in pushes for k in p[1]} >= {f"k{i}".encode() for i in range(20)}
    c.close()
    writer.close()


def test_a_subscribed_resp3_conn_still_runs_commands(server: RedisServer) -> None:
    c = redis.dial("tcp", server.address, protocol=3)
    psc = redis.PubSubConn(c)
    publisher = redis.dial("tcp", server.address)
    psc.subscribe("news")
    assert psc.receive() == redis.Subscription("subscribe", "news", 1)
    assert c.do("SET", "during", "subscription") == "OK"  # RESP2 would refuse this
    publisher.do("PUBLISH", "news", "one")
    assert c.do("GET", "during") == b"subscription"  # the message waits for receive
    assert psc.receive() == redis.Message("news", "", b"one")
    psc.ping("hi")
    assert psc.receive() == redis.Pong("hi")
    got: List[Any] = []
    reader = threading.Thread(target=lambda: got.extend(psc.receive() for _ in range(2)))
    reader.start()  # a reader thread beside this sending thread, as on RESP2
    psc.psubscribe("n*")
    while publisher.do("PUBSUB", "NUMPAT") == 0:
        pass
    publisher.do("PUBLISH", "nope", "two")
    reader.join(10)
    assert got == [redis.Subscription("psubscribe", "n*", 2), redis.Message("nope", "n*", b"two")]
    psc.unsubscribe()
    psc.punsubscribe()
    assert [psc.receive().count for _ in range(2)] == [1, 0]  # type: ignore[union-attr]
    assert c.do("PING") == "PONG"
    c.close()
    publisher.close()


def test_a_pooled_resp3_subscriber_leaves_nothing_behind(server: RedisServer) -> None:
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address, protocol=3), max_idle=1)
    publisher = redis.dial("tcp", server.address)
    with pool.get() as c:
        psc = redis.PubSubConn(c)
        psc.subscribe("left")
        assert psc.receive().kind == "subscribe"  # type: ignore[union-attr]
        for i in range(5):
            publisher.do("PUBLISH", "left", f"m{i}")  # never received by this borrower
        assert c.do("ECHO", "sync") == b"sync"  # they are queued by now
    with pool.get() as c:
        assert publisher.do("PUBSUB", "NUMSUB", "left")[1] == 0
        psc = redis.PubSubConn(c)
        psc.subscribe("fresh")
        assert psc.receive() == redis.Subscription("subscribe", "fresh", 1)  # not a leftover message
    pool.close()
    publisher.close()


def test_aio_resp3(server: RedisServer) -> None:
    async def main() -> None:
        c = await aio.dial("tcp", server.address, protocol=3, database=5)
        await c.do("HSET", "h", "f", "v")
        assert await c.do("HGETALL", "h") == {b"f": b"v"}
        psc = aio.PubSubConn(c)
        await psc.subscribe("ch")
        assert await psc.receive() == aio.Subscription("subscribe", "ch", 1)
        assert await c.do("PING") == "PONG"
        publisher = await aio.dial("tcp", server.address)
        await publisher.do("PUBLISH", "ch", "x")
        assert await psc.receive() == aio.Message("ch", "", b"x")
        await psc.ping("p")
        assert await psc.receive() == aio.Pong("p")
        await psc.close()
        await publisher.close()

    asyncio.run(asyncio.wait_for(main(), 30))


class _Two:
    """An argument sent as ``2`` (redigo's Argument) whose ``str()`` is something else."""

    def redis_arg(self) -> int:
        return 2


@pytest.mark.parametrize("command", [("RESET",), ("reset",), ("HELLO", 2), ("HELLO", "2", "SETNAME", "x"),
                                     (b"hello", b"2"), ("HELLO", _Two())])
def test_a_return_to_resp2_is_refused_before_it_is_sent(server: RedisServer, command: tuple) -> None:
    """The server would answer SUBSCRIBE in RESP2 afterwards, and this connection would hand
    that reply to the next command: refused (judged by what would be sent), nothing sent,
    the connection still good."""
    c = redis.dial("tcp", server.address, protocol=3)
    for call in (lambda: c.do(*command), lambda: c.send(*command)):
        with pytest.raises(redis.ArgumentError, match="dial one with protocol=2"):
            call()
    assert c.do("SUBSCRIBE", "ch") is None  # still RESP3: the confirmation is a push for receive
    assert c.do("PING") == "PONG"
    assert c.receive() == [b"subscribe", b"ch", 1]
    assert c.do("HELLO", 3)[b"proto"] == 3  # staying on RESP3 is fine
    c.close()

    async def main() -> None:
        a = await aio.dial("tcp", server.address, protocol=3)
        with pytest.raises(redis.ArgumentError, match="dial one with protocol=2"):
            await a.do(*command)
        with pytest.raises(redis.ArgumentError, match="dial one with protocol=2"):
            await a.send(*command)
        assert await a.do("PING") == "PONG"
        await a.close()

    asyncio.run(main())
