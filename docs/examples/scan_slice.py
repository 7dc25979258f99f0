"""redigo's ExampleScanSlice, ported: a Go struct becomes a dataclass."""
import os
from dataclasses import dataclass

import redigo_py as redis


@dataclass
class Album:
    title: str
    rating: int


c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))

c.send("HMSET", "album:1", "title", "Red", "rating", 5)
c.send("HMSET", "album:2", "title", "Earthbound", "rating", 1)
c.send("HMSET", "album:3", "title", "Beat", "rating", 4)
c.send("LPUSH", "albums", "1")
c.send("LPUSH", "albums", "2")
c.send("LPUSH", "albums", "3")
values = redis.values(c.do("SORT", "albums",
                           "BY", "album:*->rating",
                           "GET", "album:*->title",
                           "GET", "album:*->rating"))

# Go fills &albums in place; Python returns the list.
albums = redis.scan_slice(values, Album)
print(albums)

# A subset of fields, in the order the elements come (ScanSlice's fieldNames).
ratings = redis.values(c.do("SORT", "albums", "BY", "album:*->rating", "GET", "album:*->rating"))
print(redis.scan_slice(ratings, Album, "rating"))

# A plain type converts each element on its own.
print(redis.scan_slice(ratings, int))

c.close()
