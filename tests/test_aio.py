"""redigo_py.aio against real servers (and the fault tests' scripted servers), under
asyncio and, where installed, uvloop.

The cancellation storms are the reason this file exists: tasks cancelled at
random points over a small pool, each checking that every reply it got was
its own (ECHO of a token only it knows).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
from typing import Any, Awaitable, Callable, List, TypeVar

import pytest

import redigo_py as redis
from redigo_py import aio, context
from harness.server import RedisServer

from .conftest import SECRET, ScriptedServer, read_command

T = TypeVar("T")
Scripted = Callable[[Callable[[socket.socket], None]], ScriptedServer]

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a [dev] dependency on Linux
    uvloop = None

LOOPS = ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed"))]


def run(coro: Awaitable[T], loop: str = "asyncio", timeout: float = 30.0) -> T:
    """Run ``coro`` on a fresh loop of the kind named, bounded so that a hang fails the test."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    if loop == "uvloop":
        assert uvloop is not None
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(bounded())
    return asyncio.run(bounded())


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _conn(server: RedisServer, **options: Any) -> aio.NetConn:
    c = await aio.dial("tcp", server.address, database=11, **options)
    await c.do("FLUSHDB")
    return c


# -- the connection ------------------------------------------------------------------

def test_do_send_flush_receive(server: RedisServer, loop: str) -> None:
    async def main() -> None:
        async with await _conn(server) as c:
            assert isinstance(c, aio.Conn) and isinstance(c, aio.ConnWithTimeout)
            assert isinstance(c, aio.ConnWithContext) and not isinstance(c, redis.Conn)
            assert await c.do("SET", "k", "v") == "OK"
            assert await c.do("GET", "k") == b"v"
            await c.send("INCR", "n")
            await c.send("INCR", "n")
            await c.flush()
            assert [await c.receive(), await c.receive()] == [1, 2]
            await c.send("INCR", "n")
            assert await c.do("GET", "n") == b"3"  # do reads the pending reply first
            await c.send("INCR", "n")
            await c.send("GET", "n")
            assert await c.do("") == [4, b"4"]
            assert await c.do("") is None
            await c.send("INCR", "k")  # an error reply among the pending ones is raised by do
            with pytest.raises(redis.Error, match="not an integer"):
                await c.do("GET", "k")
            assert c.err() is None
            assert redis.strings(await c.do("MGET", "k", "n")) == ["v", "4"]
            big = os.urandom(3 * 1024 * 1024)
            assert await c.do("SET", "big", big) == "OK"
            assert await c.do("GET", "big") == big
        assert isinstance(c.err(), redis.ConnectionError)
        with pytest.raises(redis.ConnectionError, match="closed"):
            await c.do("PING")

    run(main(), loop)


def test_long_pipeline_is_written_in_parts(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server)
        value = b"x" * 1000
        for i in range(3000):  # ~3 MB: past the send buffer and the transport's high-water mark
            await c.send("SET", f"k{i}", value)
        await c.flush()
        assert [await c.receive() for _ in range(3000)] == ["OK"] * 3000
        assert await c.do("DBSIZE") == 3000
        await c.close()

    run(main())


def test_dial_options_and_url(server: RedisServer, auth_server: RedisServer) -> None:
    async def main() -> None:
        c = await aio.dial("tcp", auth_server.address, password=SECRET, client_name="aio-client", database=2)
        assert await c.do("CLIENT", "GETNAME") == b"aio-client"
        assert c.database == 2 and (c.network, c.host, c.port) == ("tcp", "127.0.0.1", auth_server.port)
        await c.close()
        c = await aio.dial_url(f"redis://:{SECRET}@{auth_server.address}/3")
        assert await c.do("PING") == "PONG" and c.database == 3
        await c.close()
        with pytest.raises(redis.Error, match="WRONGPASS|invalid password") as info:
            await aio.dial("tcp", auth_server.address, password="wrong")
        assert SECRET not in str(info.value)
        with pytest.raises(TypeError, match="no_such_option"):
            await aio.dial("tcp", server.address, no_such_option=1)
        with pytest.raises(redis.ArgumentError, match="invalid redis URL scheme"):
            await aio.dial_url("http://localhost")

    run(main())


def test_dial_errors_read_as_go(tmp_path: Any) -> None:
    async def main() -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()
        with pytest.raises(redis.ConnectionError) as info:
            await aio.dial("tcp", f"127.0.0.1:{port}")
        assert str(info.value) == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
        assert info.value.errno is not None and isinstance(info.value.__cause__, OSError)
        with pytest.raises(redis.ConnectionError, match=r"^dial tcp: lookup no-such-host.invalid: "):
            await aio.dial("tcp", "no-such-host.invalid:6379")
        path = str(tmp_path / "none.sock")
        with pytest.raises(redis.ConnectionError, match=f"^dial unix {path}: connect: no such file"):
            await aio.dial("unix", path)
        with pytest.raises(redis.ArgumentError, match="unknown network"):
            await aio.dial("udp", "127.0.0.1:1")
        ctx, cancel = context.with_cancel(context.background())
        cancel()
        with pytest.raises(context.Canceled):
            await aio.dial_context(ctx, "tcp", "127.0.0.1:1")

    run(main())


def test_unix_socket(server: RedisServer) -> None:
    path = server.unix_path

    async def main() -> None:
        c = await aio.dial("unix", path)
        assert await c.do("PING") == "PONG" and c.network == "unix" and c.host == path
        await c.close()

    run(main())


# -- timeouts, cancellation, contexts ---------------------------------------------------

def test_read_timeout_makes_the_connection_fatal(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server, read_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError, match="i/o timeout"):
            await c.do("BLPOP", "nothing", 5)
        assert 0.15 < time.monotonic() - started < 2
        assert isinstance(c.err(), redis.TimeoutError)
        with pytest.raises(redis.TimeoutError):
            await c.do("PING")
        c = await _conn(server)
        with pytest.raises(redis.TimeoutError):
            await c.do_with_timeout(0.1, "BLPOP", "nothing", 5)
        c = await _conn(server)
        await c.send("BLPOP", "nothing", 5)
        await c.flush()
        with pytest.raises(TimeoutError):
            await c.receive_with_timeout(0.1)
        assert c.err() is not None

    run(main())


def test_a_call_cancelled_after_writing_kills_its_connection(server: RedisServer, loop: str) -> None:
    async def main() -> None:
        c = await _conn(server)
        task = asyncio.ensure_future(c.do("BLPOP", "later", 5))
        while await _client_blocked(server) == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert isinstance(c.err(), redis.ConnectionError)
        assert "reply it was owed can never reach another caller" in str(c.err())
        # The server's late reply has nowhere to go: the list stays unpopped.
        other = await _conn(server)
        await other.do("RPUSH", "later", "x")
        assert await other.do("LLEN", "later") == 1
        with pytest.raises(redis.ConnectionError):
            await c.do("PING")
        # asyncio.timeout is the same cancellation, turned into TimeoutError.
        c = await _conn(server)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await c.do("BLPOP", "never", 5)
        assert c.err() is not None
        await other.close()

    run(main(), loop)


async def _client_blocked(server: RedisServer) -> int:
    c = await aio.dial("tcp", server.address)
    info = await c.do("INFO", "clients")
    await c.close()
    for line in info.decode().splitlines():
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    return 0


def test_a_call_cancelled_while_waiting_its_turn_wrote_nothing(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server)
        first = asyncio.ensure_future(c.do("BLPOP", "slow", 5))
        await asyncio.sleep(0)  # first has written and waits for its reply
        second = asyncio.ensure_future(c.do("SET", "never", "1"))
        await asyncio.sleep(0.05)
        assert not second.done()  # waiting for its turn
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        other = await _conn(server)
        await other.do("RPUSH", "slow", "v")
        assert await first == [b"slow", b"v"]
        assert c.err() is None
        assert await c.do("EXISTS", "never") == 0
        await c.close()
        await other.close()

    run(main())


def test_tasks_take_turns_and_never_get_each_others_replies(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server)

        async def worker(n: int) -> None:
            for i in range(50):
                token = f"{n}-{i}"
                assert await c.do("ECHO", token) == token.encode()

        await asyncio.gather(*(worker(n) for n in range(8)))
        # Another task's replies owed: its send and do are refused, not mixed in.
        await c.send("ECHO", "mine")

        async def intruder() -> None:
            with pytest.raises(redis.RedigoError, match="concurrent"):
                await c.do("ECHO", "theirs")
            with pytest.raises(redis.RedigoError, match="concurrent"):
                await c.send("ECHO", "theirs")

        await asyncio.ensure_future(intruder())
        await c.flush()
        assert await c.receive() == b"mine"
        await c.close()

    run(main())


def test_pubsub_reader_and_subscriber_tasks(server: RedisServer, loop: str) -> None:
    async def main() -> None:
        psc = aio.PubSubConn(await aio.dial("tcp", server.address))
        publisher = await aio.dial("tcp", server.address)
        got: List[Any] = []
        subscribed = asyncio.Event()

        async def reader() -> None:
            async for msg in psc:
                got.append(msg)
                if isinstance(msg, aio.Subscription) and msg.kind == "subscribe":
                    subscribed.set()
                if isinstance(msg, aio.Pong):
                    await psc.close()

        task = asyncio.ensure_future(reader())
        await psc.subscribe("ch")  # from this task, while the reader task waits in receive
        await subscribed.wait()
        await psc.psubscribe("c*")
        while await publisher.do("PUBSUB", "NUMPAT") == 0:
            await asyncio.sleep(0.01)
        assert await publisher.do("PUBLISH", "ch", "hello") == 2
        await psc.ping("done")
        await task
        assert got == [aio.Subscription("subscribe", "ch", 1), aio.Subscription("psubscribe", "c*", 2),
                       aio.Message("ch", "", b"hello"), aio.Message("ch", "c*", b"hello"), aio.Pong("done")]
        await publisher.close()

    run(main(), loop)


def test_a_subscriber_that_stops_reading_holds_a_bounded_backlog(server: RedisServer) -> None:
    """25 MB published to a subscriber that does not receive: the transport stops reading at
    the backlog limit (as a blocking socket's full buffer would), and nothing is lost."""
    from redigo_py.aio import _conn

    async def main() -> None:
        c = await aio.dial("tcp", server.address)
        psc = aio.PubSubConn(c)
        await psc.subscribe("flood")
        assert await psc.receive() == aio.Subscription("subscribe", "flood", 1)
        publisher = await aio.dial("tcp", server.address)
        await publisher.do("CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0")
        payload = b"p" * 65536
        for i in range(400):
            await publisher.send("PUBLISH", "flood", b"%d:" % i + payload)
        await publisher.do("")
        deadline = time.monotonic() + 10
        while not c._wire.held:
            assert time.monotonic() < deadline, "reading never paused"
            await asyncio.sleep(0.01)
        assert c._wire.fed - c._reader.consumed < _conn._BACKLOG_LIMIT + 512 * 1024
        for i in range(400):
            msg = await psc.receive()
            assert isinstance(msg, aio.Message) and msg.data == b"%d:" % i + payload
        await publisher.do("CONFIG", "SET", "client-output-buffer-limit", "pubsub 32mb 8mb 60")
        await publisher.close()
        await psc.close()

    run(main())


def test_context_deadline_and_cancel(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server, read_timeout=10)
        ctx, cancel = context.with_timeout(context.background(), 0.1)
        with pytest.raises(context.DeadlineExceeded):
            await c.do_context(ctx, "BLPOP", "nothing", 5)
        cancel()
        assert isinstance(c.err(), context.DeadlineExceeded)
        c = await _conn(server)
        ctx, cancel = context.with_cancel(context.background())
        # Cancelled from another thread, as a Go program's goroutine would.
        threading.Timer(0.1, cancel).start()
        with pytest.raises(context.Canceled):
            await c.do_context(ctx, "BLPOP", "nothing", 5)
        assert isinstance(c.err(), context.Canceled)
        c = await _conn(server)
        ctx, cancel = context.with_timeout(context.background(), 5)
        assert await c.do_context(ctx, "PING") == "PONG"
        await c.send_context(ctx, "PING")
        await c.flush_context(ctx)
        assert await c.receive_context(ctx) == "PONG"
        cancel()  # after the calls: the connection stays healthy
        assert c.err() is None and await c.do("PING") == "PONG"
        with pytest.raises(context.Canceled):
            await c.send_context(ctx, "PING")
        await c.close_context(ctx)

    run(main())


# -- faults: scripted servers and real ones killed -----------------------------------------

def test_silent_malformed_and_truncated_servers(scripted: Scripted) -> None:
    def silent(sock: socket.socket) -> None:
        read_command(sock)
        time.sleep(2)

    def malformed(sock: socket.socket) -> None:
        read_command(sock)
        sock.sendall(b"?what\r\n")

    def truncated(sock: socket.socket) -> None:
        read_command(sock)
        sock.sendall(b"$10\r\nabc")
        sock.close()

    async def main() -> None:
        c = await aio.dial("tcp", scripted(silent).address, read_timeout=0.2)
        with pytest.raises(redis.TimeoutError):
            await c.do("GET", "k")
        c = await aio.dial("tcp", scripted(malformed).address)
        with pytest.raises(redis.ProtocolError):
            await c.do("GET", "k")
        assert isinstance(c.err(), redis.ProtocolError)
        c = await aio.dial("tcp", scripted(truncated).address)
        with pytest.raises(redis.ConnectionError, match="EOF"):
            await c.do("GET", "k")

    run(main())


def test_server_killed_mid_call(make_server: Callable[..., RedisServer]) -> None:
    srv = make_server()

    async def main() -> None:
        c = await aio.dial("tcp", srv.address)
        task = asyncio.ensure_future(c.do("BLPOP", "k", 10))
        while await _client_blocked(srv) == 0:
            await asyncio.sleep(0.01)
        srv.stop()
        with pytest.raises(redis.ConnectionError):
            await task
        assert c.err() is not None

    run(main())


# -- the pool -----------------------------------------------------------------------------

def test_pool_reuses_and_cleans_up(server: RedisServer) -> None:
    async def main() -> None:
        pool = aio.Pool(dial=lambda: aio.dial("tcp", server.address, database=12), max_idle=2)
        async with pool.get() as c:
            assert isinstance(c, aio.Conn)
            await c.do("FLUSHDB")
            await c.do("SET", "k", "v")
            first = c.host, c.port
        assert pool.stats().idle_count == 1 and pool.active_count() == 1
        c = await pool.get()
        assert await c.do("GET", "k") == b"v" and (c.host, c.port) == first
        await c.send("MULTI")  # left in a transaction, WATCHing, subscribed: undone on close
        await c.send("INCR", "n")
        await c.close()
        with pytest.raises(redis.ConnectionError, match="connection closed"):
            await c.do("PING")
        async with pool.get() as c:
            assert await c.do("EXISTS", "n") == 0
            await c.do("WATCH", "k")
        async with pool.get() as c:
            psc = aio.PubSubConn(c)
            await psc.subscribe("x")
            await psc.psubscribe("y*")
        async with pool.get() as c:
            assert await c.do("ECHO", "plain") == b"plain"  # no subscription left over
            assert await c.do("MULTI") == "OK"  # no WATCH or MULTI left either
            assert await c.do("EXEC") == []
        assert pool.stats().active_count == 1
        await pool.close()
        c = await pool.get()
        assert isinstance(c, aio.ErrorConn)
        with pytest.raises(redis.PoolClosedError):
            await c.do("PING")
        with pytest.raises(redis.PoolClosedError):
            await pool.get_context(context.background())

    run(main())


def test_pool_limits_waits_and_tests_on_borrow(server: RedisServer) -> None:
    async def main() -> None:
        dial = lambda: aio.dial("tcp", server.address)  # noqa: E731
        pool = aio.Pool(dial=dial, max_active=2)
        a, b = await pool.get(), await pool.get()
        c = await pool.get()
        assert isinstance(c, aio.ErrorConn) and isinstance(c.err(), redis.ErrPoolExhausted)
        await a.close()
        await b.close()
        # wait: 50 tasks over 2 connections, first come first served.
        pool = aio.Pool(dial=dial, max_active=2, max_idle=2, wait=True)

        async def borrower(n: int) -> bytes:
            async with pool.get() as c:
                return await c.do("ECHO", str(n))  # type: ignore[no-any-return]

        assert await asyncio.gather(*(borrower(n) for n in range(50))) == [str(n).encode() for n in range(50)]
        stats = pool.stats()
        assert stats.active_count == 2 and stats.wait_count > 0 and stats.wait_duration > 0
        held = [await pool.get(), await pool.get()]
        ctx, cancel = context.with_timeout(context.background(), 0.1)
        with pytest.raises(context.DeadlineExceeded):
            await pool.get_context(ctx)
        cancel()
        waiter = asyncio.ensure_future(pool.get_context(context.background()))
        await asyncio.sleep(0.02)
        assert pool.waiting() == 1
        waiter.cancel()  # a cancelled waiter leaves the queue
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert pool.waiting() == 0
        late = asyncio.ensure_future(pool.get_context(context.background()))
        await asyncio.sleep(0.02)
        await held[0].close()  # its slot goes to the waiter
        got = await late
        assert await got.do("PING") == "PONG"
        await got.close()
        await held[1].close()
        await pool.close()

        # test_on_borrow, coroutine or plain; a rejection closes the idle connection.
        checked: List[float] = []

        async def check(c: aio.Conn, last_used: float) -> None:
            checked.append(last_used)
            if len(checked) == 1:
                raise redis.RedigoError("stale")
            await c.do("PING")

        pool = aio.Pool(dial=dial, max_idle=1, test_on_borrow=check)
        await (await pool.get()).close()
        await (await pool.get()).close()  # rejected: a new one was dialled
        await (await pool.get()).close()  # accepted
        assert len(checked) == 2 and pool.active_count() == 1
        pool.test_on_borrow = lambda c, t: None
        pool.idle_timeout = 0.05
        await asyncio.sleep(0.1)
        await (await pool.get()).close()
        assert pool.stats().idle_closed_count == 1
        pool.idle_timeout = 0
        pool.max_conn_lifetime = 0.05
        await asyncio.sleep(0.1)
        await (await pool.get()).close()
        assert pool.stats().lifetime_closed_count == 1
        await pool.close()

    run(main())


def test_cancellation_storm_over_a_small_pool(server: RedisServer, loop: str) -> None:
    """Tasks cancelled at random points; every reply any task got was its own."""

    async def main() -> None:
        dials = 0

        async def dial() -> aio.NetConn:
            nonlocal dials
            dials += 1
            return await aio.dial("tcp", server.address)

        pool = aio.Pool(dial=dial, max_active=3, max_idle=3, wait=True)
        rng = random.Random()
        completed = 0
        cancelled = 0
        progress = asyncio.Event()  # set by the first command answered in a storm

        async def worker(n: int) -> int:
            done = 0
            for i in range(20):
                async with pool.get() as c:
                    token = f"{n}:{i}:{rng.random()}"
                    if i % 3 == 0:  # a pipeline
                        await c.send("ECHO", token)
                        await c.send("ECHO", token + "+")
                        await c.flush()
                        assert await c.receive() == token.encode()
                        assert await c.receive() == (token + "+").encode()
                    else:
                        assert await c.do("ECHO", token) == token.encode()
                    done += 1
                    progress.set()
            return done

        for _ in range(5):
            progress.clear()
            tasks = [asyncio.ensure_future(worker(n)) for n in range(30)]
            # Once commands flow (however slow the machine), two thirds of the tasks are
            # cancelled at random instants: waiting for a slot, mid-write, mid-read, or
            # between commands; the last third runs to the end.
            await asyncio.wait_for(progress.wait(), 20)
            loop_ = asyncio.get_running_loop()
            for task in tasks[:20]:
                loop_.call_later(rng.uniform(0, 0.01), task.cancel)
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, asyncio.CancelledError):
                    cancelled += 1
                elif isinstance(result, BaseException):
                    raise result  # an assertion above: a reply reached the wrong caller
                else:
                    completed += result
            stats = pool.stats()
            assert stats.active_count <= 3 and pool.waiting() == 0
        assert cancelled > 0 and completed > 0
        assert dials > 3  # connections cut off mid-exchange were discarded, and replaced
        # The pool is healthy after the storms: every connection it lends answers its own.
        async with pool.get() as c:
            assert await c.do("ECHO", "after") == b"after"
        await pool.close()

    for _ in range(3):
        run(main(), loop, timeout=60)


def test_script(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server)
        script = aio.Script(1, "return {KEYS[1], ARGV[1], " + repr(str(time.time())) + "}")
        assert (await script.do(c, "key", "arg"))[:2] == [b"key", b"arg"]  # EVAL after NOSCRIPT
        assert (await script.do(c, "key", "arg"))[:2] == [b"key", b"arg"]  # EVALSHA now
        await script.send_hash(c, "k2", "a2")
        await script.send(c, "k3", "a3")
        await c.flush()
        assert [(await c.receive())[0] for _ in range(2)] == [b"k2", b"k3"]
        await c.do("SCRIPT", "FLUSH")
        await script.load(c)
        assert await c.do("SCRIPT", "EXISTS", script.hash()) == [1]
        ctx, cancel = context.with_timeout(context.background(), 5)
        assert (await script.do_context(ctx, c, "k", "a"))[0] == b"k"
        cancel()
        await c.close()

    run(main())


def test_a_connection_inherited_across_fork_is_fatal_in_the_child(server: RedisServer) -> None:
    async def main() -> None:
        c = await _conn(server)
        await c.do("SET", "parent", "1")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no loop of its own needed to see the refusal
            ok = isinstance(c.err(), redis.ConnectionError) and "fork" in str(c.err())
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
        os.close(write)
        assert os.read(read, 1) == b"1"
        os.waitpid(pid, 0)
        assert await c.do("GET", "parent") == b"1"  # the parent's connection is untouched
        await c.close()

    run(main())

