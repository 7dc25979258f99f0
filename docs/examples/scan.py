"""redigo's ExampleScan, ported: SORT ... GET, then scan in a loop."""
import os

import redigo_py as redis

c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))

c.send("HMSET", "album:1", "title", "Red", "rating", 5)
c.send("HMSET", "album:2", "title", "Earthbound", "rating", 1)
c.send("HMSET", "album:3", "title", "Beat")
c.send("LPUSH", "albums", "1")
c.send("LPUSH", "albums", "2")
c.send("LPUSH", "albums", "3")
values = redis.values(c.do("SORT", "albums",
                           "BY", "album:*->rating",
                           "GET", "album:*->title",
                           "GET", "album:*->rating"))

while values:
    # Go initialises rating to -1 to detect nil; here a nil element is None.
    (title, rating), values = redis.scan(values, str, int)
    if rating is None:
        print(title, "not-rated")
    else:
        print(title, rating)

c.close()
