"""Script against a real server: redigo's script_test.go, the NOSCRIPT fallback, the zpop example."""

from __future__ import annotations

import contextlib
import hashlib
import time
from typing import Any, List, Tuple

import pytest

from redigo_py import context
from redigo_py.conn import Conn, dial
from redigo_py.errors import Error, ErrNil, RedigoError
from redigo_py.reply import string, strings
from redigo_py.script import Script, new_script


def _unique(body: str) -> str:
    """A script source no server has cached yet, so the first EVALSHA must fail."""
    return f"--{time.time_ns()}\n{body}"


def test_script(conn: Conn) -> None:
    s = new_script(2, _unique("return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}"))
    reply = [b"key1", b"key2", b"arg1", b"arg2"]

    assert s.do(conn, "key1", "key2", "arg1", "arg2") == reply

    s.load(conn)
    s.send_hash(conn, "key1", "key2", "arg1", "arg2")
    conn.flush()
    assert conn.receive() == reply

    s.send(conn, "key1", "key2", "arg1", "arg2")
    conn.flush()
    assert conn.receive() == reply


def test_hash_is_the_servers_sha1(conn: Conn) -> None:
    src = _unique("return 1")
    s = Script(0, src)
    assert s.hash() == hashlib.sha1(src.encode()).hexdigest()
    assert conn.do("SCRIPT", "LOAD", src) == s.hash().encode()


def test_do_falls_back_to_eval_and_loads(conn: Conn) -> None:
    s = Script(1, _unique("return redis.call('GET', KEYS[1])"))
    conn.do("SET", "k", "v")
    assert conn.do("SCRIPT", "EXISTS", s.hash()) == [0]
    assert s.do(conn, "k") == b"v"
    assert conn.do("SCRIPT", "EXISTS", s.hash()) == [1]
    conn.do("SCRIPT", "FLUSH")
    assert s.do(conn, "k") == b"v"


def test_negative_key_count_takes_the_count_from_the_arguments(conn: Conn) -> None:
    s = Script(-1, "return {#KEYS, #ARGV}")
    assert s.do(conn, 0, "a", "b") == [0, 2]
    assert s.do(conn, 2, "k1", "k2", "a") == [2, 1]
    s.send(conn, 1, "k1")
    s.send_hash(conn, 3, "k1", "k2", "k3")
    assert conn.do("") == [[1, 0], [3, 0]]


def test_send_hash_of_unloaded_script_gets_noscript(conn: Conn) -> None:
    s = Script(0, _unique("return 1"))
    s.send_hash(conn)
    conn.flush()
    with pytest.raises(Error, match="^NOSCRIPT "):
        conn.receive()


def test_other_errors_are_not_retried(conn: Conn) -> None:
    s = Script(0, "return redis.error_reply('ERR custom failure')")
    with pytest.raises(Error, match="custom failure"):
        s.do(conn)
    with pytest.raises(Error, match="custom failure"):
        s.do_context(context.background(), conn)


def test_do_context(conn: Conn) -> None:
    s = Script(1, _unique("return redis.call('INCR', KEYS[1])"))
    ctx, cancel = context.with_timeout(context.background(), 10)
    try:
        assert s.do_context(ctx, conn, "n") == 1
        assert s.do_context(ctx, conn, "n") == 2
    finally:
        cancel()
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    with pytest.raises(context.Canceled):
        s.do_context(ctx, conn, "n")


class RecordingConn:
    """A connection without do_context that answers EVALSHA with NOSCRIPT once."""

    def __init__(self) -> None:
        self.commands: List[Tuple[Any, ...]] = []

    def do(self, command: str, *args: Any) -> Any:
        self.commands.append((command, *args))
        if command == "EVALSHA" and len(self.commands) == 1:
            raise Error("NOSCRIPT No matching script. Please use EVAL.")
        return "ok"


def test_fallback_sends_the_same_arguments() -> None:
    s = Script(1, "return 1")
    c = RecordingConn()
    assert s.do(c, "k", 5) == "ok"
    assert c.commands == [("EVALSHA", s.hash(), 1, "k", 5), ("EVAL", "return 1", 1, "k", 5)]
    assert s.do(c, "k") == "ok"
    assert c.commands[2:] == [("EVALSHA", s.hash(), 1, "k")]


def test_do_context_needs_a_context_connection() -> None:
    with pytest.raises(RedigoError, match="does not support ConnWithContext"):
        Script(0, "return 1").do_context(context.background(), RecordingConn())


# -- redigo's zpop example ------------------------------------------------------------------


def zpop(c: Conn, key: str) -> str:
    """Pop the lowest member of a sorted set with WATCH/MULTI/EXEC, retrying on a race."""
    try:
        while True:
            c.do("WATCH", key)
            members = strings(c.do("ZRANGE", key, 0, 0))
            if len(members) != 1:
                raise ErrNil()
            c.send("MULTI")
            c.send("ZREM", key, members[0])
            queued = c.do("EXEC")
            if queued is not None:
                return members[0]
    except BaseException:
        # Return the connection to its normal state; DISCARD without MULTI
        # fails, and redigo's example ignores that error too.
        with contextlib.suppress(Error):
            c.do("DISCARD")
        raise


zpop_script = new_script(1, """
    local r = redis.call('ZRANGE', KEYS[1], 0, 0)
    if r ~= nil then
        r = r[1]
        redis.call('ZREM', KEYS[1], r)
    end
    return r
""")


def test_example_zpop(conn: Conn) -> None:
    for i, member in enumerate(["red", "blue", "green"]):
        conn.send("ZADD", "zset", i, member)
    conn.do("")

    assert zpop(conn, "zset") == "red"
    assert string(zpop_script.do(conn, "zset")) == "blue"


def test_zpop_retries_when_the_watched_key_changes(conn: Conn, server: Any) -> None:
    """A write from another client between WATCH and EXEC makes EXEC return nil; zpop retries."""
    conn.do("ZADD", "zset", 0, "red", 1, "blue")
    other = dial("tcp", server.address, database=9)
    raced = []

    class RacingConn:
        """Delegates to ``conn``; the first MULTI is preceded by another client's write."""

        def do(self, command: str, *args: Any) -> Any:
            return conn.do(command, *args)

        def send(self, command: str, *args: Any) -> None:
            if command == "MULTI" and not raced:
                raced.append(True)
                other.do("ZADD", "zset", 5, "green")
            conn.send(command, *args)

    try:
        assert zpop(RacingConn(), "zset") == "red"  # type: ignore[arg-type]
    finally:
        other.close()
    assert raced == [True]
    assert conn.do("ZRANGE", "zset", 0, -1) == [b"blue", b"green"]


def test_zpop_of_empty_set(conn: Conn) -> None:
    with pytest.raises(ErrNil):
        zpop(conn, "empty")
    assert conn.do("PING") == "PONG"
