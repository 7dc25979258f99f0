"""Pub/sub on asyncio: one task reads with ``async for``, another subscribes and pings."""
import asyncio
import os

from redigo_py import aio

ADDR = os.environ.get("REDIS_ADDR", "localhost:6379")


async def main():
    psc = aio.PubSubConn(await aio.dial("tcp", ADDR))
    ready = asyncio.Event()

    async def listen():
        async for msg in psc:  # until psc.close()
            match msg:
                case aio.Subscription(kind="subscribe", count=2):
                    ready.set()
                case aio.Message(channel=channel, data=data):
                    print(f"{channel}: {data.decode()}")
                case aio.Pong():
                    await psc.close()

    listener = asyncio.create_task(listen())
    await psc.subscribe("news", "sport")
    await ready.wait()
    async with await aio.dial("tcp", ADDR) as publisher:
        await publisher.do("PUBLISH", "news", "rain tomorrow")
        await publisher.do("PUBLISH", "sport", "3-1")
    await psc.ping("bye")  # its Pong arrives after both messages, and ends the listener
    await listener


asyncio.run(main())
