"""asyncio: redigo_py.aio vs redis.asyncio (pure and hiredis parser) vs a raw asyncio-streams client.

Run: ``.venv/bin/python benchmarks/bench_aio.py [--uvloop]`` (and pinned:
``taskset -c 0 .venv/bin/python benchmarks/bench_aio.py``). Starts its own
redis-server on a free port; every client runs every workload in short
interleaved rounds on one event loop, and the medians and their ratios are
printed. redis.asyncio is forced to RESP2 (``protocol=2``) with its pure
parser and with hiredis. Workloads and goals:

- sequential GET of a 100-byte value: <= 1.25x the raw streams client,
  >= 2x faster than redis.asyncio pure, >= 1.5x faster than with hiredis;
- 1000 pipelined GETs (send x1000, flush, receive x1000; redis.asyncio's
  non-transactional pipeline): >= 3.5x faster than redis.asyncio pure;
- 100 tasks x 20 GETs over a pool of 10 (``aio.Pool(max_active=10,
  wait=True)``; redis.asyncio's ``BlockingConnectionPool(max_connections=10)``
  with hiredis): >= 1.5x faster than redis.asyncio + hiredis.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List

import redis
import redis.asyncio as redispy
from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser

from redigo_py import aio
from _harness import RedisServer

KEY = "bench:aio:key"
VALUE = b"x" * 100
GET = b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(KEY), KEY.encode())
REPLY = b"$100\r\n" + VALUE + b"\r\n"

Op = Callable[[], Awaitable[Any]]


class RawStreams:
    """The floor: asyncio streams, the request pre-encoded, the reply's length known."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self) -> bytes:
        self.writer.write(GET)
        return await self.reader.readexactly(len(REPLY))

    async def pipeline(self, n: int) -> bytes:
        self.writer.write(GET * n)
        return await self.reader.readexactly(len(REPLY) * n)


async def per_op(op: Op, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - start) / n


async def compare(title: str, ops: Dict[str, Op], n: int, rounds: int, unit: str) -> Dict[str, float]:
    """Interleaved rounds of every op; the median seconds per op of each."""
    for op in ops.values():  # warm up
        await per_op(op, max(1, n // 10))
    samples: Dict[str, List[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, op in ops.items():
            samples[name].append(await per_op(op, n))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\n{title}")
    for name, median in medians.items():
        print(f"  {name:32s} {median * 1e6:10.1f} {unit}")
    return medians


async def main(args: argparse.Namespace) -> None:
    with RedisServer() as server:
        c = await aio.dial("tcp", server.address)
        await c.do("SET", KEY, VALUE)
        reader, writer = await asyncio.open_connection(server.host, server.port)
        raw = RawStreams(reader, writer)
        pure = redispy.Redis(connection_pool=redispy.ConnectionPool(
            host=server.host, port=server.port, protocol=2, parser_class=_AsyncRESP2Parser))
        fast = redispy.Redis(connection_pool=redispy.ConnectionPool(
            host=server.host, port=server.port, protocol=2, parser_class=_AsyncHiredisParser))

        async def ours_get() -> Any:
            return await c.do("GET", KEY)

        get = await compare("sequential GET (us per GET)", {
            "raw asyncio streams": raw.get,
            "redis.asyncio (pure parser)": lambda: pure.get(KEY),
            "redis.asyncio (hiredis)": lambda: fast.get(KEY),
            "redigo_py.aio": ours_get,
        }, args.gets, args.rounds, "us")

        n = 1000

        async def ours_pipeline() -> Any:
            for _ in range(n):
                await c.send("GET", KEY)
            await c.flush()
            return [await c.receive() for _ in range(n)]

        def theirs_pipeline(client: Any) -> Op:
            async def run() -> Any:
                pipe = client.pipeline(transaction=False)
                for _ in range(n):
                    pipe.get(KEY)
                return await pipe.execute()
            return run

        pipe = await compare(f"{n} pipelined GETs (us per pipeline)", {
            "raw asyncio streams": lambda: raw.pipeline(n),
            "redis.asyncio (pure parser)": theirs_pipeline(pure),
            "redis.asyncio (hiredis)": theirs_pipeline(fast),
            "redigo_py.aio": ours_pipeline,
        }, args.pipelines, args.rounds, "us")

        tasks, per_task, size = 100, 20, 10
        pool = aio.Pool(dial=lambda: aio.dial("tcp", server.address), max_active=size, max_idle=size, wait=True)
        blocking = redispy.Redis(connection_pool=redispy.BlockingConnectionPool(
            host=server.host, port=server.port, max_connections=size, protocol=2,
            parser_class=_AsyncHiredisParser))

        async def ours_task() -> None:
            for _ in range(per_task):
                async with pool.get() as pc:
                    await pc.do("GET", KEY)

        async def theirs_task() -> None:
            for _ in range(per_task):
                await blocking.get(KEY)

        def fan_out(task: Op) -> Op:
            async def run() -> Any:
                return await asyncio.gather(*(task() for _ in range(tasks)))
            return run

        pooled = await compare(f"{tasks} tasks x {per_task} GETs, pool of {size} (us per round)", {
            "redis.asyncio + hiredis, Blocking": fan_out(theirs_task),
            "redigo_py.aio.Pool": fan_out(ours_task),
        }, args.fanouts, args.rounds, "us")

        await c.close()
        writer.close()
        await pure.aclose()
        await fast.aclose()
        await blocking.aclose()
        await pool.close()

    ours = "redigo_py.aio"
    print("\nratios (of medians)")
    print(f"  GET: {get[ours] / get['raw asyncio streams']:.2f}x the raw streams client (goal <= 1.25); "
          f"{get['redis.asyncio (pure parser)'] / get[ours]:.2f}x faster than redis.asyncio pure (goal >= 2), "
          f"{get['redis.asyncio (hiredis)'] / get[ours]:.2f}x faster than with hiredis (goal >= 1.5)")
    print(f"  1000 pipelined GETs: {pipe['redis.asyncio (pure parser)'] / pipe[ours]:.2f}x faster than "
          f"redis.asyncio pure (goal >= 3.5), {pipe['redis.asyncio (hiredis)'] / pipe[ours]:.2f}x than with "
          f"hiredis; {pipe[ours] / pipe['raw asyncio streams']:.2f}x the raw streams client")
    print(f"  pool fan-out: {pooled['redis.asyncio + hiredis, Blocking'] / pooled['redigo_py.aio.Pool']:.2f}x "
          f"faster than redis.asyncio + hiredis (goal >= 1.5)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=2000, help="GETs per round")
    parser.add_argument("--pipelines", type=int, default=20, help="pipelines per round")
    parser.add_argument("--fanouts", type=int, default=3, help="fan-outs per round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--uvloop", action="store_true", help="run everything on uvloop")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}"
          f"{', uvloop' if args.uvloop else ', asyncio loop'}")
    if args.uvloop:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(args))
    else:
        asyncio.run(main(args))
