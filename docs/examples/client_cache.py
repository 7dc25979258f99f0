"""Client-side caching: a pool's connections share one cache that the server keeps honest."""
import os

import redigo_py as redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")

cache = redis.ClientCache(max_entries=10_000, max_bytes=64 << 20)
pool = redis.Pool(dial=lambda: redis.dial_url(URL, protocol=3, client_cache=cache), max_idle=4)

with redis.dial_url(URL) as admin:
    admin.do("SET", "feature:search", "on")

with pool.get() as c:
    print(c.do("GET", "feature:search"))   # a miss: asked of the server, kept
    print(c.do("GET", "feature:search"))   # a hit: no round trip
    print(cache.stats())

with redis.dial_url(URL) as admin:         # another client writes the key ...
    admin.do("SET", "feature:search", "off")
    admin.do("PING")                        # (its next reply: the invalidation has been sent)

with pool.get() as c:                       # ... and the server's invalidation came first
    print(c.do("GET", "feature:search"))
    print(c.do("MGET", "feature:search", "other"))  # two keys: never cached
s = cache.stats()
print("hits:", s.hits, "misses:", s.misses, "invalidations:", s.invalidations)
pool.close()
