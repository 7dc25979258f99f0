"""Client-side caching (``ClientCache`` over RESP3 ``CLIENT TRACKING``) against real servers.

The central test has a second client writing while this one reads in a loop
through the cache: no read may return a value older than a write whose
invalidation was delivered before the read began. Redis writes every
client's pending output (the reader's invalidation push, the writer's reply)
in the same pass of its event loop, in no set order, and only then takes the
next command; so once the writer's next command (a PING) is answered, the
write's invalidation is in the reader's socket.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Callable, List

import pytest

import redigo_py as redis
from redigo_py import aio
from redigo_py.cache import CACHEABLE, ClientCache
from harness.server import RedisServer

DB = 6


def cached_conn(server: RedisServer, cache: ClientCache) -> redis.Conn:
    return redis.dial("tcp", server.address, protocol=3, client_cache=cache, database=DB)


@pytest.fixture
def writer(server: RedisServer) -> redis.Conn:
    c = redis.dial("tcp", server.address, database=DB)
    c.do("FLUSHDB")
    return c


def test_hits_misses_and_an_invalidation(server: RedisServer, writer: redis.Conn) -> None:
    cache = ClientCache()
    c = cached_conn(server, cache)
    writer.do("SET", "k", "v1")
    assert c.do("GET", "k") == b"v1"
    assert c.do("GET", "k") == b"v1"
    s = cache.stats()
    assert (s.hits, s.misses, s.entries) == (1, 1, 1) and s.bytes > 0
    writer.do("SET", "k", "v2")  # invalidates: the next read asks the server
    assert c.do("GET", "k") == b"v2"
    s = cache.stats()
    assert (s.hits, s.misses, s.invalidations) == (1, 2, 1)
    assert c.do("MGET", "k", "k") == [b"v2", b"v2"]  # never cached: two keys
    assert c.do("TTL", "k") == -1  # never cached: depends on the clock
    assert cache.stats().entries == 1
    assert {"GET", "HGETALL", "LRANGE", "SMEMBERS", "ZRANGE"} <= {n.decode() for n in CACHEABLE}
    assert not {b"MGET", b"TTL", b"PTTL", b"SRANDMEMBER", b"RANDOMKEY", b"SCAN"} & CACHEABLE
    c.close()


class _Key:
    """A key given as redigo's Argument: sent as what ``redis_arg()`` returns."""

    def redis_arg(self) -> str:
        return "arg-key"


@pytest.mark.parametrize("key,sent", [(True, "1"), (7, "7"), (1.5, "1.5"), (_Key(), "arg-key")])
def test_a_key_given_as_a_non_string_is_invalidated_as_it_was_sent(
        server: RedisServer, writer: redis.Conn, key: object, sent: str) -> None:
    """The entry is filed under the key as the encoder sends it, which is what an
    invalidation names (``True`` goes out as ``1``, not ``True``): no stale hit."""
    cache = ClientCache()
    c = cached_conn(server, cache)
    writer.do("SET", sent, "old")
    assert c.do("GET", key) == b"old"
    assert c.do("GET", key) == b"old" and cache.stats().hits == 1
    writer.do("SET", sent, "new")
    c.do("PING")  # a later reply: the invalidation has reached this connection before it
    assert c.do("GET", key) == b"new"
    assert cache.stats().invalidations == 1
    c.close()


def test_a_hit_is_the_callers_own(server: RedisServer, writer: redis.Conn) -> None:
    cache = ClientCache()
    c = cached_conn(server, cache)
    writer.do("RPUSH", "l", "a", "b")
    writer.do("HSET", "h", "f", "v")
    first = c.do("LRANGE", "l", 0, -1)
    first.append(b"mine")
    assert c.do("LRANGE", "l", 0, -1) == [b"a", b"b"]
    h = c.do("HGETALL", "h")
    h[b"f"] = b"changed"
    assert c.do("HGETALL", "h") == {b"f": b"v"} and cache.stats().hits == 2
    c.close()


def test_no_stale_read_while_another_client_writes(server: RedisServer, writer: redis.Conn) -> None:
    """A writer thread increments a key; a reader loop reads it through the cache. Every read
    returns at least the last value whose invalidation was delivered before the read began."""
    cache = ClientCache()
    readers = [cached_conn(server, cache) for _ in range(2)]
    writer.do("SET", "counter", 0)
    acked = [0]
    done = threading.Event()

    def write() -> None:
        w = redis.dial("tcp", server.address, database=DB)
        for i in range(1, 1501):
            w.do("SET", "counter", i)
            w.do("PING")  # answered after the pass that wrote the SET's invalidation
            acked[0] = i
        w.close()
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    stale = reads = 0
    while not done.is_set():
        for c in readers:
            floor = acked[0]
            value = int(c.do("GET", "counter"))
            reads += 1
            if value < floor:
                stale += 1
    thread.join(10)
    for c in readers:
        assert int(c.do("GET", "counter")) == 1500
    s = cache.stats()
    assert stale == 0, f"{stale} stale reads of {reads}"
    assert s.hits > 0 and s.invalidations > 0  # both paths ran
    for c in readers:
        c.close()


def test_a_pool_shares_a_cache_and_an_idle_owner_is_read(server: RedisServer, writer: redis.Conn) -> None:
    """The entry's connection sits idle in the pool when the invalidation comes; a hit on
    another connection takes in what that one's socket holds first."""
    cache = ClientCache()
    pool = redis.Pool(dial=lambda: cached_conn(server, cache), max_idle=2)
    writer.do("SET", "shared", "old")
    a, b = pool.get(), pool.get()
    assert a.do("GET", "shared") == b"old"  # a's tracking covers the entry
    assert b.do("GET", "shared") == b"old"  # a hit on b
    a.close()  # a is idle now: nobody reads its socket
    writer.do("SET", "shared", "new")
    assert b.do("GET", "shared") == b"new"
    assert cache.stats().invalidations == 1
    b.close()
    pool.close()


def test_a_reply_that_raced_an_invalidation_is_not_kept(server: RedisServer, writer: redis.Conn) -> None:
    cache = ClientCache()
    c = cached_conn(server, cache)
    hit, _, token = cache.lookup(c, b"GET", ("raced",))  # type: ignore[arg-type]
    assert not hit and token is not None
    cache.invalidated(c, [b"raced"])  # the key changed while the reply was on its way
    cache.store(c, token, b"old value")  # type: ignore[arg-type]
    assert cache.stats().entries == 0
    hit, _, token = cache.lookup(c, b"GET", ("raced",))  # type: ignore[arg-type]
    cache.store(c, token, b"fresh")  # type: ignore[arg-type]
    assert cache.stats().entries == 1
    cache.invalidated(c, None)  # everything (FLUSHALL): nothing is left, a lookup in flight is refused
    assert cache.stats().entries == 0
    c.close()


def test_lost_tracking_flushes_what_the_connection_cached(make_server: Callable[..., RedisServer]) -> None:
    srv = make_server()
    cache = ClientCache()
    c = redis.dial("tcp", srv.address, protocol=3, client_cache=cache)
    other = redis.dial("tcp", srv.address, protocol=3, client_cache=cache)
    c.do("SET", "a", 1)
    c.do("GET", "a")
    other.do("GET", "a")  # a hit: still c's entry
    other.do("SET", "b", 2)
    other.do("GET", "b")
    assert cache.stats().entries == 2
    c.close()  # c's tracking is gone: its entry can no longer be invalidated
    assert cache.stats().entries == 1
    srv.stop()  # other's connection breaks at its next use
    with pytest.raises(redis.ConnectionError):
        other.do("PING")
    assert cache.stats().entries == 0


def test_flushall_and_bounds(server: RedisServer, writer: redis.Conn) -> None:
    cache = ClientCache(max_entries=3)
    c = cached_conn(server, cache)
    for i in range(5):
        writer.do("SET", f"b{i}", i)
        c.do("GET", f"b{i}")
    s = cache.stats()
    assert s.entries == 3 and s.evictions == 2
    c.do("GET", "b4")
    assert cache.stats().hits == 1
    writer.do("FLUSHDB")
    assert c.do("GET", "b4") is None  # the server flushed: the whole cache went
    small = ClientCache(max_bytes=1000, ttl=0.05)
    d = cached_conn(server, small)
    writer.do("SET", "big", b"x" * 5000)
    writer.do("SET", "small", "s")
    assert d.do("GET", "big") == b"x" * 5000 and d.do("GET", "small") == b"s"
    assert small.stats().entries == 1  # the big value was not kept
    deadline = __import__("time").monotonic() + 0.2
    while __import__("time").monotonic() < deadline:
        pass
    assert d.do("GET", "small") == b"s" and small.stats().hits == 0  # aged out: asked again
    c.close()
    d.close()


def test_a_forked_child_starts_with_an_empty_cache(server: RedisServer, writer: redis.Conn) -> None:
    cache = ClientCache()
    c = cached_conn(server, cache)
    writer.do("SET", "f", "parent")
    c.do("GET", "f")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = cache.stats().entries == 0
        child = redis.dial("tcp", server.address, protocol=3, client_cache=cache, database=DB)
        ok = ok and child.do("GET", "f") == b"parent" and cache.stats().misses == 1
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert cache.stats().entries == 1 and c.do("GET", "f") == b"parent"
    c.close()


def test_aio_cache(server: RedisServer, writer: redis.Conn) -> None:
    async def main() -> List[bytes]:
        cache = ClientCache()
        c = await aio.dial("tcp", server.address, protocol=3, client_cache=cache, database=DB)
        writer.do("SET", "ak", "1")
        got = [await c.do("GET", "ak"), await c.do("GET", "ak")]
        assert cache.stats().hits == 1
        fed = c._wire.fed
        writer.do("SET", "ak", "2")
        while c._wire.fed == fed:  # until the loop has read the invalidation
            await asyncio.sleep(0)
        got.append(await c.do("GET", "ak"))
        await c.close()
        assert cache.stats().entries == 0
        return got

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [b"1", b"1", b"2"]


class _Word:
    """An argument given as redigo's Argument: sent as what ``redis_arg()`` returns."""

    def __init__(self, word: str) -> None:
        self.word = word

    def redis_arg(self) -> str:
        return self.word


@pytest.mark.parametrize("words", [("TRACKING", "off"), (_Word("tracking"), _Word("OFF"))])
def test_turning_tracking_off_flushes_and_stops_caching(server: RedisServer, writer: redis.Conn,
                                                        words: tuple) -> None:
    """Recognised by the words as they are sent, however they are given."""
    cache = ClientCache()
    c = cached_conn(server, cache)
    writer.do("SET", "t", "1")
    c.do("GET", "t")
    assert cache.stats().entries == 1
    c.do("CLIENT", *words)  # the server will no longer say when t changes
    assert cache.stats().entries == 0
    writer.do("SET", "t", "2")
    assert c.do("GET", "t") == b"2" and c.do("GET", "t") == b"2"
    assert cache.stats().entries == 0 and cache.stats().hits == 0
    c.close()


def test_threads_share_a_cached_pool_and_get_their_own_replies(server: RedisServer, writer: redis.Conn) -> None:
    """8 threads over a pool of 4 sharing one cache: hits, misses and invalidations interleave,
    and every read returns the reading thread's own value, never another key's."""
    cache = ClientCache()
    pool = redis.Pool(dial=lambda: cached_conn(server, cache), max_active=4, max_idle=4, wait=True)
    for t in range(8):
        writer.do("SET", f"own{t}", f"v{t}:0")
    errors: List[str] = []

    def reader(t: int) -> None:
        try:
            for i in range(300):
                with pool.get() as c:
                    value = c.do("GET", f"own{t}").decode()
                    if not value.startswith(f"v{t}:"):
                        errors.append(f"thread {t} read {value}")
                    if i % 50 == 0:
                        c.do("SET", f"own{t}", f"v{t}:{i}")  # invalidates: the next read asks again
        except Exception as exc:  # a hit looking at another thread's conn must not break that thread
            errors.append(f"thread {t}: {exc!r}")

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    s = cache.stats()
    assert s.hits > 0 and s.misses > 0 and s.invalidations > 0
    pool.close()
