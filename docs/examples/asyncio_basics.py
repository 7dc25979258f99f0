"""redigo_py.aio: the same client, awaited; tasks share a pool; a cancelled call's
connection is discarded, never reused."""
import asyncio
import os

import redigo_py as redis
from redigo_py import aio

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")


async def main():
    # A connection: Do, and Send/Flush/Receive, with await.
    async with await aio.dial_url(URL) as c:
        await c.do("SET", "greeting", "hello")
        print(redis.string(await c.do("GET", "greeting")))
        await c.send("INCR", "visits")
        await c.send("INCR", "visits")
        await c.flush()
        print(await c.receive(), await c.receive())

    # Goroutines port to tasks; a pool with wait=True queues them for its 4 connections.
    pool = aio.Pool(dial=lambda: aio.dial_url(URL), max_active=4, max_idle=4, wait=True)

    async def worker(n):
        async with pool.get() as c:
            await c.do("INCRBY", "total", n)

    await asyncio.gather(*(worker(n) for n in range(1, 101)))
    async with pool.get() as c:
        print("total:", redis.int_(await c.do("GET", "total")))

    # A call cancelled (here by a timeout) after its command was written: its
    # reply is still coming, so the connection is closed ...
    async with pool.get() as c:
        try:
            async with asyncio.timeout(0.1):
                await c.do("BLPOP", "empty-list", 5)
        except TimeoutError:
            print("timed out; the connection is now", type(c.err()).__name__)
    # ... and the pool discarded it: the next borrower gets a healthy one.
    async with pool.get() as c:
        print(await c.do("PING"))
    stats = pool.stats()
    print("open:", stats.active_count, "idle:", stats.idle_count)
    await pool.close()


asyncio.run(main())
