"""redigo_py.aio.cluster (redisc's API, awaited) against a real Redis Cluster.

A module-scoped cluster of 3 masters + 3 replicas of its own serves every
test that needs one (the slot migration moves one slot for good, which is a
healthy state too). Keys carry a random prefix per test. Coroutines run on
a fresh loop each, bounded so that a hang fails the test (``run``, as in
tests/test_aio.py); waits are on events, tasks and queues, never on sleeps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest

import redigo_py as redis
from redigo_py import aio, context
from harness.server import RedisServer
from redigo_py.aio import cluster as redisc
from redigo_py.pool import PoolStats

from harness.sentinel import RedisCluster, command, unused_address
from .conftest import DIAL_OPTIONS, finish_migration
from .test_aio import run

Slots = List[Tuple[int, int, List[str]]]


@pytest.fixture
def prefix() -> str:
    """A random key prefix of the test's own."""
    return uuid.uuid4().hex[:10]


def pooled(max_idle: int = 4, **pool_options: Any) -> Callable[..., aio.Pool]:
    """A ``create_pool``: one aio.Pool per node address."""
    def create_pool(address: str, **dial_options: Any) -> aio.Pool:
        return aio.Pool(dial=lambda: aio.dial("tcp", address, **dial_options), max_idle=max_idle, **pool_options)
    return create_pool


async def refreshed(nodes: RedisCluster, **options: Any) -> redisc.Cluster:
    """A cluster on the module's nodes (startup node: the first one) that knows the slot map."""
    options.setdefault("dial_options", DIAL_OPTIONS)
    cl = redisc.Cluster(nodes.addresses[:1], **options)
    await cl.refresh()
    return cl


def owner_of(slots: Slots, s: int) -> List[str]:
    """[master, replicas...] of slot ``s`` in a CLUSTER SLOTS snapshot."""
    return next(owners for start, end, owners in slots if start <= s <= end)


async def background_refreshes_done(cl: redisc.Cluster) -> None:
    """Until the refreshes that MOVED replies started have ended (``run`` bounds the wait)."""
    while cl._refreshes:
        await asyncio.wait(set(cl._refreshes))


# -- routing ------------------------------------------------------------------------

def test_routing_after_refresh(nodes: RedisCluster, prefix: str) -> None:
    """Each conn binds to the master of its first key's slot; the refresh reported old and new maps."""
    layouts: List[Tuple[Any, Any]] = []
    slots = nodes.slots()

    async def main() -> None:
        async with await refreshed(nodes, create_pool=pooled(),
                                   layout_refresh=lambda old, new: layouts.append((old, new))) as cl:
            [(old, new)] = layouts
            assert len(old) == len(new) == redisc.HASH_SLOTS and all(entry == () for entry in old)
            for start, end, owners in slots:
                assert new[start] == new[end] == tuple(owners)
            served = set()
            for i in range(40):
                key = f"{prefix}:{i}"
                async with await cl.get() as conn:
                    assert isinstance(conn, aio.ConnWithTimeout) and isinstance(conn, aio.ConnWithContext)
                    assert await conn.do("SET", key, i) == "OK"  # a wrong node would raise a MOVED
                    assert conn.bound_addr == owner_of(slots, redisc.slot(key))[0]
                    assert await conn.do("GET", key) == str(i).encode()
                    served.add(conn.bound_addr)
            assert served == set(nodes.master_addresses())

    run(main())


async def _pipeline(conn: redisc.Conn, key: str) -> Any:
    await conn.send("SET", key, "v")
    await conn.send("GET", key)
    return await conn.do("")


async def _send_flush_receive(conn: redisc.Conn, key: str) -> Any:
    await conn.send("SET", key, "v")
    await conn.flush()
    return await conn.receive()


async def _with_context(conn: redisc.Conn, key: str) -> Any:
    ctx = context.background()
    await conn.send_context(ctx, "SET", key, "v")
    await conn.flush_context(ctx)
    assert await conn.receive_with_timeout(2) == "OK"
    await conn.send("GET", key)
    await conn.flush()
    return await conn.receive_context(ctx)


@pytest.mark.parametrize("call, expected", [
    (lambda conn, key: conn.do("PING"), "PONG"),  # no key: any master
    (lambda conn, key: conn.do_with_timeout(2, "SET", key, "v"), "OK"),
    (lambda conn, key: conn.do_context(context.background(), "SET", key, "v"), "OK"),
    (_pipeline, ["OK", b"v"]),
    (_send_flush_receive, "OK"),
    (_with_context, b"v"),
    (lambda conn, key: conn.do(""), None),  # never bound: nothing to flush, and no bind
], ids=["do-no-key", "do_with_timeout", "do_context", "pipeline", "send-flush-receive", "context-calls", "do-empty"])
def test_every_call_binds_and_delegates(nodes: RedisCluster, prefix: str,
                                        call: Callable[[redisc.Conn, str], Awaitable[Any]], expected: Any) -> None:
    async def main() -> None:
        async with await refreshed(nodes) as cl:
            async with await cl.get() as conn:
                assert await call(conn, f"{prefix}:k") == expected
                assert conn.err() is None
                assert (conn.bound_addr is None) == (expected is None)

    run(main())


def test_bind_read_only_and_their_mistakes(nodes: RedisCluster, prefix: str) -> None:
    """Same slot binds; two slots, a second bind, read-only after a bind (or during one) are
    refused with redisc's texts, and a refused call leaves the conn as it was."""
    tagged = f"{{{prefix}}}"

    async def main() -> None:
        async with await refreshed(nodes, create_pool=pooled()) as cl:
            conn = await cl.get()
            with pytest.raises(redis.RedigoError, match="^redisc: keys do not belong to the same slot$"):
                await conn.bind("a", "b")
            assert conn.bound_addr is None
            await conn.read_only()  # still unbound, so still allowed
            await conn.bind(f"{tagged}1", f"{tagged}2")
            assert conn.bound_addr is not None
            for again in (lambda: conn.bind(f"{tagged}1"), conn.bind, conn.read_only,
                          lambda: redisc.bind_conn(conn, "x"), lambda: redisc.read_only_conn(conn)):
                with pytest.raises(redis.RedigoError, match="^redisc: connection already bound to a node$"):
                    await again()
            assert await conn.do("GET", f"{tagged}1") is None
            await conn.close()
            for closed in (conn.bind, conn.read_only, lambda: conn.do("GET", "x")):
                with pytest.raises(redis.ConnectionError, match="^redisc: closed$"):
                    await closed()
            await conn.close()  # a second close does nothing

        # Two tasks bind one conn at once, both dialing (no idle connection on a node other
        # than the one the refresh asked): one binds, the other is refused and gives back the
        # connection it got, so only one is lent out.
        slots = nodes.slots()
        race = next(k for k in (f"{prefix}:{i}" for i in range(1000))
                    if owner_of(slots, redisc.slot(k))[0] != nodes.addresses[0])
        async with await refreshed(nodes, create_pool=pooled()) as cl:
            both = await cl.get()
            results = await asyncio.gather(both.bind(race), both.bind(race), return_exceptions=True)
            [refused] = [r for r in results if r is not None]
            assert isinstance(refused, redis.RedigoError) and str(refused) == "redisc: connection already bound to a node"
            addr = both.bound_addr
            assert addr is not None
            assert (cl.stats()[addr].active_count, cl.stats()[addr].idle_count) == (2, 1)
            await both.close()

        # read_only while a bind is on its way (dialing) counts as bound.
        async with await refreshed(nodes) as cl:
            conn = await cl.get()
            binding = asyncio.ensure_future(conn.bind(tagged))
            await asyncio.sleep(0)  # the bind runs up to its dial
            with pytest.raises(redis.RedigoError, match="^redisc: connection already bound to a node$"):
                await conn.read_only()
            await binding
            assert "readonly" not in repr(conn) and conn.bound_addr is not None
            await conn.close()

    run(main())


def test_helpers_refuse_a_plain_conn(server: RedisServer) -> None:
    async def main() -> None:
        async with await aio.dial("tcp", server.address) as c:
            for call, message in ((lambda: redisc.retry_conn(c, 3, 0), r"redisc: connection is not a \*Conn"),
                                  (lambda: redisc.bind_conn(c, "a"), "redisc: no Bind method"),
                                  (lambda: redisc.read_only_conn(c), "redisc: no ReadOnly method")):
                with pytest.raises(redis.RedigoError, match=message):
                    result = call()
                    if asyncio.iscoroutine(result):
                        await result
            assert await c.do("PING") == "PONG"

    run(main())


def test_cross_slot_is_raised_and_a_retry_conn_refuses_pipelines(nodes: RedisCluster) -> None:
    async def main() -> None:
        async with await refreshed(nodes) as cl:
            for conn in (await cl.get(), redisc.retry_conn(await cl.get(), 3, 0)):  # a retry conn does not retry it
                with pytest.raises(redis.Error) as info:
                    await conn.do("MGET", "a", "b")
                assert redisc.is_cross_slot(info.value) and redisc.parse_redir(info.value) is None
                await conn.close()
            async with redisc.retry_conn(await cl.get(), 3, 0) as retry:
                for call, name in ((lambda: retry.send("GET", "a"), "Send"), (retry.flush, "Flush"),
                                   (retry.receive, "Receive")):
                    with pytest.raises(redis.RedigoError, match=f"^redisc: unsupported call to {name}$"):
                        await call()
                assert "retry" in repr(retry)

    run(main())


# -- refresh --------------------------------------------------------------------------

def test_refresh_failures_name_every_node() -> None:
    async def main() -> None:
        empty = redisc.Cluster([])
        with pytest.raises(redis.RedigoError, match="^redisc: all nodes failed\nredisc: no startup nodes$"):
            await empty.refresh()
        with pytest.raises(redis.RedigoError, match="redisc: failed to get a connection"):
            await (await empty.get()).do("GET", "a")
        with pytest.raises(redis.RedigoError, match="redisc: no known node address"):
            await empty.each_node(False, lambda addr, conn: None)

        addrs = [unused_address(), unused_address()]
        cl = redisc.Cluster(addrs, dial_options={"connect_timeout": 1})
        with pytest.raises(redis.RedigoError) as info:
            await cl.refresh()
        assert str(info.value).startswith("redisc: all nodes failed\n")
        for addr in addrs:
            assert f"{addr}: dial tcp {addr}: connect: connection refused" in str(info.value)

    run(main())


def test_moved_fixes_the_slot_at_once_and_starts_one_background_refresh(nodes: RedisCluster,
                                                                         prefix: str) -> None:
    """An unrefreshed cluster binds to its one known node, the wrong one: the MOVED points the
    slot at its owner before it is raised, and starts one refresh task, which a second MOVED
    does not duplicate. The refresh waits for the startup node's only pooled connection,
    which the conn holds, so it is still running when the second MOVED comes."""
    slots = nodes.slots()
    key1 = f"{prefix}:k"
    owner1 = owner_of(slots, redisc.slot(key1))[0]
    other = next(m for m in nodes.master_addresses() if m != owner1)
    key2 = next(k for k in (f"{prefix}:{i}" for i in range(1000))
                if owner_of(slots, redisc.slot(k))[0] != other and redisc.slot(k) != redisc.slot(key1))
    layouts: List[Any] = []

    async def main() -> None:
        cl = redisc.Cluster([other], dial_options=DIAL_OPTIONS, create_pool=pooled(max_active=1, wait=True),
                            layout_refresh=lambda old, new: layouts.append(new))
        conn = await cl.get()
        with pytest.raises(redisc.RedirError) as info:
            await conn.do("SET", key1, 1)
        assert (info.value.type, info.value.new_slot, info.value.addr) == ("MOVED", redisc.slot(key1), owner1)
        assert conn.bound_addr == other
        [refresh] = cl._refreshes  # held by the cluster while it runs
        with pytest.raises(redisc.RedirError, match="^MOVED"):
            await conn.do("SET", key2, 1)
        assert cl._refreshes == {refresh} and layouts == []
        async with await cl.get() as fixed:  # the slot already points at its owner
            assert await fixed.do("SET", key1, 1) == "OK" and fixed.bound_addr == owner1
        await conn.close()  # the refresh gets its connection now
        await background_refreshes_done(cl)
        assert refresh.done() and refresh.exception() is None
        assert len(layouts) == 1 and all(layouts[0])  # one refresh filled every slot
        await cl.close()

    run(main())


def test_refresh_spans_join_the_callers_trace(nodes: RedisCluster) -> None:
    """``redis.Cluster.refresh`` spans: the background one is a child of the span current when
    the MOVED came back (the task runs in the caller's context); a failed one is an error."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.trace import StatusCode

    from .test_otel import World

    world = World(InMemoryMetricReader())
    try:
        key = uuid.uuid4().hex
        owner = nodes.owner(redisc.slot(key))[0]
        other = next(m for m in nodes.master_addresses() if m != owner)

        async def main() -> Any:
            async with redisc.Cluster([other], dial_options=DIAL_OPTIONS) as cl:
                with world.tracer.start_as_current_span("request") as request:
                    async with await cl.get() as conn:
                        with pytest.raises(redisc.RedirError):
                            await conn.do("SET", key, 1)
                await background_refreshes_done(cl)
            with world.tracer.start_as_current_span("startup"):  # spans are made inside a trace only
                with pytest.raises(redis.RedigoError, match="all nodes failed"):
                    await redisc.Cluster([unused_address()]).refresh()
            return request

        request = run(main())
        refreshes = [s for s in world.spans.get_finished_spans() if s.name == "redis.Cluster.refresh"]
        assert len(refreshes) == 2
        background, failed = refreshes
        assert background.parent is not None and background.parent.span_id == request.get_span_context().span_id
        assert background.context.trace_id == request.get_span_context().trace_id
        assert background.status.status_code != StatusCode.ERROR
        assert failed.status.status_code == StatusCode.ERROR
    finally:
        world.close()


def test_a_failed_background_refresh_goes_to_an_async_bg_error(nodes: RedisCluster) -> None:
    """redisc's testClusterClosedRefresh: the refresh that a conn starts after close fails,
    and ``bg_error`` (a coroutine function here) hears of it."""
    async def main() -> None:
        errors: "asyncio.Queue[Tuple[redisc.BgErrorSrc, BaseException]]" = asyncio.Queue()

        async def bg_error(src: redisc.BgErrorSrc, exc: BaseException) -> None:
            await errors.put((src, exc))

        cl = redisc.Cluster(nodes.addresses[:1], bg_error=bg_error)
        conn = await cl.get()
        await cl.close()
        with pytest.raises(redis.RedigoError, match="redisc: closed"):
            await conn.do("SET", "a", 1)  # no node for the slot: a background refresh starts, and fails
        src, exc = await errors.get()
        assert src is redisc.CLUSTER_REFRESH and str(exc) == f"redisc: all nodes failed\n{nodes.addresses[0]}: redisc: closed"
        await background_refreshes_done(cl)
        assert errors.empty()

    run(main())


# -- a slot migration, step by step: ASK, TRYAGAIN, MOVED ----------------------------------

def test_slot_migration(nodes: RedisCluster, prefix: str) -> None:
    a, b = f"{{{prefix}}}:a", f"{{{prefix}}}:b"  # one slot
    s = redisc.slot(a)
    src = nodes.owner(s)[0]
    dst = next(m for m in nodes.master_addresses() if m != src)
    src_id, dst_id = nodes.node_id(src), nodes.node_id(dst)

    async def main() -> None:
        layouts: "asyncio.Queue[Any]" = asyncio.Queue()
        cl = await refreshed(nodes, create_pool=pooled(), layout_refresh=lambda old, new: layouts.put_nowait(new))
        stale = await refreshed(nodes)  # keeps the pre-migration map, for the retry conn's MOVED
        layouts.get_nowait()
        async with await cl.get() as conn:
            assert await conn.do("SET", a, "1") == "OK"
        command(dst, "CLUSTER", "SETSLOT", s, "IMPORTING", src_id)
        command(src, "CLUSTER", "SETSLOT", s, "MIGRATING", dst_id)
        try:
            async with await cl.get() as conn:  # the source still serves the keys it holds...
                assert await conn.do("GET", a) == b"1"
            async with await cl.get() as conn:  # ...and sends the others on with an ASK, map unchanged
                with pytest.raises(redisc.RedirError) as info:
                    await conn.do("GET", b)
                assert (info.value.type, info.value.new_slot, info.value.addr) == ("ASK", s, dst)
                assert conn.bound_addr == src and not cl._refreshes
            async with await cl.get() as conn:
                await conn.bind(b)
                assert conn.bound_addr == src
            # A retry conn follows the ASK, with ASKING first: the write lands on the target.
            async with redisc.retry_conn(await cl.get(), 3, 0.01) as retry:
                assert await retry.do("SET", b, "2") == "OK"
                assert retry.bound_addr == dst
            async with await aio.dial("tcp", dst) as plain:
                await plain.send("ASKING")
                assert await plain.do("GET", b) == b"2"
            # A multi-key command over keys on both sides: the target answers TRYAGAIN...
            tried: List[BaseException] = []

            async def mget_asking(addr: str, conn: redisc.Conn) -> None:
                if addr == dst:
                    await conn.send("ASKING")
                    with pytest.raises(redis.Error) as info:
                        await conn.do("MGET", a, b)
                    tried.append(info.value)
            await cl.each_node(False, mget_asking)
            assert len(tried) == 1 and redisc.is_try_again(tried[0])
            # ...and a retry conn retries it, waiting in between, until max_attempts.
            started = time.monotonic()
            async with redisc.retry_conn(await cl.get(), 3, 0.02) as retry:
                with pytest.raises(redis.RedigoError, match="^redisc: too many attempts$"):
                    await retry.do("MGET", a, b)
            assert time.monotonic() - started >= 0.02
            # The last key moves; then the slot is handed over on every master.
            command(src, "MIGRATE", *dst.rsplit(":", 1), "", 0, 5000, "KEYS", a)
            async with await cl.get() as conn:
                with pytest.raises(redisc.RedirError, match=f"^ASK {s} {dst}$"):
                    await conn.do("GET", a)
        finally:
            finish_migration(nodes, s, src, dst, dst_id, [a, b])

        # MOVED without retry: raised, the slot re-pointed at once, a refresh in the background.
        async with await cl.get() as conn:
            with pytest.raises(redisc.RedirError) as info:
                await conn.do("GET", a)
            assert (info.value.type, info.value.new_slot, info.value.addr) == ("MOVED", s, dst)
        async with await cl.get() as conn:
            assert await conn.do("GET", a) == b"1" and conn.bound_addr == dst
        assert (await layouts.get())[s][0] == dst  # the background refresh's map
        # MOVED with retry: followed, on a cluster whose map predates the move.
        async with redisc.retry_conn(await stale.get(), 3, 0.01) as retry:
            assert await retry.do("MGET", a, b) == [b"1", b"2"]
            assert retry.bound_addr == dst
        for c in (cl, stale):
            await background_refreshes_done(c)
            await c.close()

    run(main())
    nodes.wait_stable()  # replicas of the target know the slot before the next test reads them


# -- replicas ------------------------------------------------------------------------------------

def test_read_only_is_served_by_a_replica(nodes: RedisCluster, prefix: str) -> None:
    key = f"{prefix}:k"
    master, replica = nodes.owner(redisc.slot(key))

    async def main() -> None:
        async with await refreshed(nodes, create_pool=pooled(max_idle=1)) as cl:
            async with await cl.get() as conn:
                await conn.do("SET", key, "v")
                assert await conn.do("WAIT", 1, 5000) == 1  # the replica has it
            ro = await cl.get()
            await ro.read_only()
            assert await ro.do("GET", key) == b"v"
            assert ro.bound_addr == replica and "readonly" in repr(ro)
            # A write on a replica is a MOVED to its master, which the map already says: no refresh.
            with pytest.raises(redisc.RedirError) as info:
                await ro.do("SET", key, "w")
            assert (info.value.type, info.value.addr) == ("MOVED", master) and not cl._refreshes
            await ro.close()  # READWRITE, then back to the replica's pool

            # The pooled connection came back in READWRITE mode: a read on it is a MOVED again.
            moved: List[str] = []

            async def read(addr: str, conn: redisc.Conn) -> None:
                if addr == replica:
                    with pytest.raises(redisc.RedirError) as info:
                        await conn.do("GET", key)
                    moved.append(info.value.type)
            await cl.each_node(True, read)
            assert moved == ["MOVED"]

            # A read-only retry conn sends the write to the master and stays there.
            rr = await cl.get()
            await redisc.read_only_conn(rr)
            async with redisc.retry_conn(rr, 3, 0.01) as retry:
                assert await retry.do("GET", key) == b"v" and retry.bound_addr == replica
                assert await retry.do("SET", key, "w") == "OK" and retry.bound_addr == master

            # Cancelled while the bind sends READONLY (on the replica's idle connection, so
            # that is the first thing awaited): the connection no one holds yet is discarded.
            def replica_pool() -> Tuple[int, int]:
                s = cl.stats()[replica]
                return s.active_count, s.idle_count
            assert replica_pool() == (1, 1)
            ro3 = await cl.get()
            await ro3.read_only()
            binding = asyncio.ensure_future(ro3.do("GET", key))
            await asyncio.sleep(0)  # the READONLY is written, its reply not yet read
            binding.cancel()
            with pytest.raises(asyncio.CancelledError):
                await binding
            assert ro3.bound_addr is None and replica_pool() == (0, 0)
            await ro3.close()

            # Cancelled while close sends READWRITE: the connection, fatal now, is discarded too.
            ro2 = await cl.get()
            await ro2.read_only()
            assert await ro2.do("GET", key) == b"w" and ro2.bound_addr == replica
            closing = asyncio.ensure_future(ro2.close())
            await asyncio.sleep(0)  # the READWRITE is written, its reply not yet read
            closing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await closing
            assert replica_pool() == (0, 0)

    run(main())


# -- each_node, pools, stats, close ----------------------------------------------------------------

def test_each_node(nodes: RedisCluster) -> None:
    async def main() -> None:
        async with await refreshed(nodes) as cl:
            for replicas, role, expected in ((False, "master", nodes.master_addresses()),
                                             (True, "slave", nodes.replica_addresses())):
                seen: Dict[str, str] = {}

                async def role_of(addr: str, conn: redisc.Conn) -> None:
                    seen[addr] = redis.string((await conn.do("ROLE"))[0])
                await cl.each_node(replicas, role_of)
                assert sorted(seen) == expected and set(seen.values()) == {role}

            plain: List[str] = []
            await cl.each_node(False, lambda addr, conn: plain.append(addr))  # a plain function too
            assert sorted(plain) == nodes.master_addresses()

            calls: List[str] = []

            async def fail(addr: str, conn: redisc.Conn) -> None:
                calls.append(addr)
                raise KeyError(addr)
            with pytest.raises(KeyError):
                await cl.each_node(False, fail)
            assert len(calls) == 1

        dead = unused_address()
        cl = redisc.Cluster([nodes.addresses[0], dead], dial_options=DIAL_OPTIONS)
        with pytest.raises(redis.RedigoError, match="redisc: no known node address"):
            await cl.each_node(True, lambda addr, conn: None)  # no replica is known before a refresh
        outcomes: Dict[str, Any] = {}

        async def ping(addr: str, conn: redisc.Conn) -> None:
            try:
                outcomes[addr] = await conn.do("PING")
            except redis.ConnectionError as exc:
                outcomes[addr] = exc
                assert conn.err() is exc
        await cl.each_node(False, ping)  # the startup nodes, the dead one included
        assert outcomes[nodes.addresses[0]] == "PONG"
        assert isinstance(outcomes[dead], redis.ConnectionError)

    run(main())


def test_stats_and_pool_wait_time(nodes: RedisCluster, prefix: str) -> None:
    async def main() -> None:
        async with await refreshed(nodes) as cl:
            assert cl.stats() == {}  # no create_pool: no pools
        cl = await refreshed(nodes, create_pool=pooled(max_idle=2))
        held = [await cl.get() for _ in range(3)]
        for i, conn in enumerate(held):
            await conn.bind(f"{prefix}:{i}")
        stats = cl.stats()
        assert set(stats) >= {conn.bound_addr for conn in held} and set(stats) <= set(nodes.addresses)
        assert all(isinstance(s, PoolStats) for s in stats.values())
        assert sum(s.active_count - s.idle_count for s in stats.values()) == 3  # three lent out
        for conn in held:
            await conn.close()
        assert sum(s.active_count - s.idle_count for s in cl.stats().values()) == 0
        before = cl.stats()
        async with await cl.dial() as conn:  # unpooled even with create_pool
            await conn.do("SET", f"{prefix}:0", 1)
            assert cl.stats() == before
        await cl.close()
        after = cl.stats()  # still answers after close
        assert set(after) == set(stats) and all(s.active_count == 0 for s in after.values())

        # A full ``wait`` pool is waited on for pool_wait_time, then the borrow fails
        # (redisc's TestGetPoolTimedOut): one conn holds each master's only connection.
        slots = nodes.slots()
        async with await refreshed(nodes, create_pool=pooled(max_idle=1, max_active=1, wait=True),
                                   pool_wait_time=0.2) as cl:
            held = []
            for addr in nodes.master_addresses():
                conn = await cl.get()
                await conn.bind(next(k for k in map(str, range(10000)) if owner_of(slots, redisc.slot(k))[0] == addr))
                held.append(conn)
            failures: List[BaseException] = []

            async def use(addr: str, conn: redisc.Conn) -> None:
                with pytest.raises(context.DeadlineExceeded) as info:
                    await conn.do("PING")
                failures.append(info.value)
            started = time.monotonic()
            await cl.each_node(False, use)
            assert len(failures) == len(held) and time.monotonic() - started >= 0.2 * len(held)
            for conn in held:
                await conn.close()
            pongs: List[Any] = []

            async def ping(addr: str, conn: redisc.Conn) -> None:
                pongs.append(await conn.do("PING"))
            await cl.each_node(False, ping)  # the slots are free again
            assert pongs == ["PONG"] * len(held)

    run(main())


def test_close(nodes: RedisCluster, prefix: str) -> None:
    """redisc's testClusterClose: what works and what raises after ``Cluster.close()``."""
    async def main() -> None:
        cl = await refreshed(nodes, create_pool=pooled())
        unbound = await cl.get()
        bound = await cl.get()
        await redisc.bind_conn(bound, f"{prefix}:b")
        retry = redisc.retry_conn(await cl.get(), 3, 0.001)

        await cl.close()
        await cl.close()  # a second close does nothing
        assert "redisc: closed" in str((await cl.get()).err()) and "closed" in repr(cl)
        for call in (cl.dial, cl.refresh,
                     lambda: cl.each_node(False, lambda addr, conn: conn.do("PING")),
                     lambda: unbound.do("SET", "a", 1),
                     lambda: retry.do("GET", "a")):
            with pytest.raises(redis.RedigoError, match="redisc: closed"):
                await call()
        conn = await cl.get()
        with pytest.raises(redis.ConnectionError, match="^redisc: closed$"):
            await conn.do("GET", "a")
        assert await bound.do("SET", f"{prefix}:b", 1) == "OK"  # bound before the close: still works
        await bound.close()
        assert len(cl.stats()) > 0

    run(main())


# -- cancellation ----------------------------------------------------------------------------

def test_a_cancelled_call_leaves_the_node_conn_fatal_and_its_pool_discards_it(nodes: RedisCluster,
                                                                               prefix: str) -> None:
    """A BLPOP cut off by ``asyncio.timeout`` after it was written: its reply may still come,
    so the node connection is fatal, the pool closes it instead of lending it again, and
    the next conn of the same node gets only its own replies."""
    key, value_key = f"{{{prefix}}}:list", f"{{{prefix}}}:v"

    async def main() -> None:
        async with await refreshed(nodes, create_pool=pooled(max_idle=2)) as cl:
            async with await cl.get() as warm:
                assert await warm.do("SET", value_key, "x") == "OK"
                addr = warm.bound_addr
            assert addr is not None
            assert (cl.stats()[addr].active_count, cl.stats()[addr].idle_count) == (1, 1)

            conn = await cl.get()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await conn.do("BLPOP", key, 0)
            assert conn.bound_addr == addr  # it reused the idle connection
            assert isinstance(conn.err(), redis.ConnectionError)
            await conn.close()
            assert (cl.stats()[addr].active_count, cl.stats()[addr].idle_count) == (0, 0)  # discarded

            async with await cl.get() as fresh:
                await fresh.bind(key)
                assert fresh.bound_addr == addr
                token = uuid.uuid4().hex
                assert await fresh.do("ECHO", token) == token.encode()
                assert await fresh.do("GET", value_key) == b"x"
                assert fresh.err() is None

    run(main())


def test_cluster_conns_satisfy_the_aio_protocols(nodes: RedisCluster) -> None:
    async def main() -> Optional[str]:
        async with await refreshed(nodes) as cl:
            conn = await cl.get()
            retry = redisc.retry_conn(await cl.get(), 1, 0)
            assert isinstance(conn, aio.Conn) and isinstance(retry, aio.Conn)
            assert not isinstance(conn, redis.Conn)
            await conn.close()
            await retry.close()
            return repr(conn)

    assert run(main()) == "<redigo_py.aio.cluster.Conn unbound ConnectionError('redisc: closed')>"
