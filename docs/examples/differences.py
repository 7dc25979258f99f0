"""Where redigo_py deliberately differs from redigo, shown by running it."""
import os

import redigo_py as redis

c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))

# 1. Exceptions instead of (value, err); the Go error texts are kept.
try:
    redis.int_(c.do("GET", "missing"))
except redis.ErrNil as e:
    print(f"{type(e).__name__}: {e}")

# 2. Floats are sent as Python's shortest round-trip repr (Go: FormatFloat 'g', -1).
for x in (0.1, 3.0, 1e6, 1e20, float("inf")):
    c.do("SET", "f", x)
    print(x, "->", c.do("GET", "f"))

# 3. time.Duration -> float seconds; time.Time from the server -> aware datetime.
c.do("CONFIG", "SET", "slowlog-log-slower-than", 0)
c.do("SLOWLOG", "RESET")
c.do("PING")
entry = redis.slow_logs(c.do("SLOWLOG", "GET", 1))[0]
c.do("CONFIG", "SET", "slowlog-log-slower-than", 10000)
print(entry.args, entry.time.tzinfo, isinstance(entry.execution_time, float))

# 4. Text helpers decode UTF-8 strictly; binary data is read with bytes_().
c.do("SET", "bin", b"\xff\xfe")
try:
    redis.string(c.do("GET", "bin"))
except redis.RedigoError as e:
    print(e)
print(redis.bytes_(c.do("GET", "bin")))

# 5. A nil element scans to None (redigo leaves the destination unchanged).
c.do("HSET", "h", "a", "1")
print(redis.scan(c.do("HMGET", "h", "a", "b"), int, int)[0])

# 6. Error replies nested in an array (EXEC) stay values; Error.kind is the first word.
c.send("MULTI")
c.send("INCR", "bin")
c.send("PING")
replies = c.do("EXEC")
print(replies, replies[0].kind)

# 7. close() never raises and may be called twice; later calls raise ConnectionError.
c.close()
c.close()
try:
    c.do("PING")
except redis.ConnectionError as e:
    print(f"{type(e).__name__}: {e}")

# 8. An unknown dial option is a TypeError naming it (Go would not compile).
try:
    redis.dial("tcp", "localhost:6379", read_timout=5)
except TypeError as e:
    print("TypeError:", e)
