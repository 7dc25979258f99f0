"""redigo's ExampleBool, ExampleInt, ExampleInts and ExampleString, ported."""
import os

import redigo_py as redis

c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))

# ExampleBool
c.do("SET", "foo", 1)
exists = redis.bool_(c.do("EXISTS", "foo"))
print(repr(exists))

# ExampleInt: a bulk string holding a decimal converts too.
c.do("SET", "k1", 1)
n = redis.int_(c.do("GET", "k1"))
print(repr(n))
n = redis.int_(c.do("INCR", "k1"))
print(repr(n))

# ExampleInts
c.do("SADD", "set_with_integers", 4, 5, 6)
ints = redis.ints(c.do("SMEMBERS", "set_with_integers"))
print(repr(sorted(ints)))

# ExampleString
c.do("SET", "hello", "world")
s = redis.string(c.do("GET", "hello"))
print(repr(s))

# Where Go checks err == redis.ErrNil, catch the exception.
try:
    redis.string(c.do("GET", "no-such-key"))
except redis.ErrNil as e:
    print("ErrNil:", e)

# Maps: HGETALL's alternating names and values.
c.do("HSET", "h", "a", 1, "b", 2)
print(redis.int_map(c.do("HGETALL", "h")))

# The conversion rules are Go's, not Python's: no spaces, no underscores.
c.do("SET", "loose", "1_000")
try:
    redis.int_(c.do("GET", "loose"))
except redis.RedigoError as e:
    print(e)

c.close()
