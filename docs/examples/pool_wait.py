"""Bounding a pool: max_active with wait, and get_context with a deadline."""
import os
import threading

import redigo_py as redis
from redigo_py import context

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")

# 8 worker threads share at most 2 connections; a borrower waits for a free one.
pool = redis.Pool(dial=lambda: redis.dial_url(URL), max_idle=2, max_active=2, wait=True)


def worker():
    for _ in range(50):
        with pool.get() as c:
            c.do("INCR", "counter")


threads = [threading.Thread(target=worker) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()

with pool.get() as c:
    print(redis.int_(c.do("GET", "counter")))
stats = pool.stats()
print("never more than 2 open:", stats.active_count <= 2)
# wait_count and wait_duration (seconds) say how long borrowers queued.
print(type(stats.wait_count).__name__, type(stats.wait_duration).__name__)

# With every connection lent out, get_context waits only as long as ctx allows.
a, b = pool.get(), pool.get()
ctx, cancel = context.with_timeout(context.background(), 0.05)
try:
    pool.get_context(ctx)
except context.DeadlineExceeded as e:
    print("get_context:", e)
finally:
    cancel()
# get_with_context (the fork's name) returns a connection that raises instead.
ctx, cancel = context.with_timeout(context.background(), 0.05)
c = pool.get_with_context(ctx)
print("get_with_context:", c.err())
cancel()
a.close()
b.close()

pool.close()
# After close(), get() gives a connection whose methods raise PoolClosedError.
try:
    pool.get().do("PING")
except redis.PoolClosedError as e:
    print(e)
