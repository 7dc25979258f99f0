"""redigo's Example_zpop, ported: ZPOP with WATCH/MULTI/EXEC and with a Script."""
import os

import redigo_py as redis


def zpop(c, key):
    """Pop the lowest-scored member of the ZSET ``key`` using WATCH/MULTI/EXEC."""
    try:
        # Loop until the transaction is successful.
        while True:
            c.do("WATCH", key)
            members = redis.strings(c.do("ZRANGE", key, 0, 0))
            if len(members) != 1:
                raise redis.ErrNil()
            c.send("MULTI")
            c.send("ZREM", key, members[0])
            queued = c.do("EXEC")
            if queued is not None:  # nil: a WATCHed key changed, try again
                return members[0]
    except BaseException:
        # Return the connection to its normal state on error (Go's deferred DISCARD).
        try:
            c.do("DISCARD")
        except redis.RedigoError:
            pass
        raise


# zpop_script pops a value from a ZSET.
zpop_script = redis.new_script(1, """
    local r = redis.call('ZRANGE', KEYS[1], 0, 0)
    if r ~= nil then
        r = r[1]
        redis.call('ZREM', KEYS[1], r)
    end
    return r
""")

with redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379")) as c:
    # Add test data using a pipeline.
    for i, member in enumerate(["red", "blue", "green"]):
        c.send("ZADD", "zset", i, member)
    c.do("")

    # Pop using WATCH/MULTI/EXEC.
    print(zpop(c, "zset"))

    # Pop using a script (EVALSHA, falling back to EVAL on NOSCRIPT).
    print(redis.string(zpop_script.do(c, "zset")))
