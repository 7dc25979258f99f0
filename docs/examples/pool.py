"""redigo's Pool doc comment, ported: a pool made at start-up, borrowed per unit of work."""
import os
import time

import redigo_py as redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")


def test_on_borrow(c, last_used):
    """PING connections that have been idle for more than a minute; raising rejects one."""
    if time.monotonic() - last_used < 60:
        return
    c.do("PING")


def new_pool(url):
    # The configuration here is an example, not a recommendation.
    return redis.Pool(
        max_idle=3,
        idle_timeout=240,               # Go's 240 * time.Second
        # dial (or dial_context) must be set; the connection it returns must be
        # in its normal state. AUTH and SELECT belong in the dial options.
        dial=lambda: redis.dial_url(url, read_timeout=5, write_timeout=5),
        test_on_borrow=test_on_borrow,
    )


pool = new_pool(URL)


def serve_home():
    """A request handler: borrow, use, give back (Go's `conn := pool.Get(); defer conn.Close()`)."""
    with pool.get() as conn:
        return redis.int_(conn.do("INCR", "hits"))


print(serve_home(), serve_home(), serve_home())
print(pool.stats())

# A borrower's leftovers never reach the next one: close() DISCARDs an open
# MULTI (and UNWATCHes, unsubscribes) before the connection goes back.
conn = pool.get()
conn.do("MULTI")
conn.do("INCR", "hits")
conn.close()
with pool.get() as conn:
    print(conn.do("INCR", "hits"))     # not "QUEUED": the transaction was discarded

# get() never raises: a failure comes out of the returned connection's methods.
full = redis.Pool(dial=lambda: redis.dial_url(URL), max_active=1)
held = full.get()
spare = full.get()
print(type(spare.err()).__name__, spare.err())
try:
    spare.do("PING")
except redis.ErrPoolExhausted as e:
    print(e)
spare.close()          # does nothing, never raises
held.close()
full.close()
pool.close()
