"""Quick start: connect, run commands, pipeline, handle errors."""
import os

import redigo_py as redis

# The examples read the server from REDIS_URL; in your code, write the address.
c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"), read_timeout=5)

c.do("SET", "greeting", "hello")
print(c.do("GET", "greeting"))          # a bulk string is bytes
print(c.do("SET", "n", 41))             # a simple string is str
print(c.do("INCR", "n"))                # an integer is int
print(c.do("GET", "missing"))           # nil is None

# Pipelining: send buffers, flush writes, receive reads one reply each.
for i in range(3):
    c.send("RPUSH", "list", i)
c.flush()
print([c.receive() for _ in range(3)])

# do("") flushes and returns every pending reply at once.
c.send("LRANGE", "list", 0, -1)
c.send("LLEN", "list")
print(c.do(""))

# A server error reply is raised as redis.Error; the connection stays usable.
try:
    c.do("INCR", "greeting")
except redis.Error as e:
    print("server said:", e)
print(c.do("PING"))

c.close()
