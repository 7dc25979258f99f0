"""redigo's ExampleScript, ported, plus pipelining a script with send/send_hash."""
import os

import redigo_py as redis

# Initialise a module-level variable with a script.
get_script = redis.new_script(1, "return redis.call('get', KEYS[1])")

c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))
c.do("SET", "foo", "bar")

# do() optimistically uses EVALSHA; if the script is not loaded, it falls back to EVAL.
reply = get_script.do(c, "foo")
print(reply)

# In a pipeline there is no fallback: load first, then send_hash.
get_script.load(c)
get_script.send_hash(c, "foo")
get_script.send(c, "foo")       # EVAL: always works, sends the whole source
print(c.do(""))

print(get_script.hash() == redis.string(c.do("SCRIPT", "LOAD", "return redis.call('get', KEYS[1])")))

# key_count < 0: the first argument is the number of keys.
keys = redis.new_script(-1, "return #KEYS")
print(keys.do(c, 3, "a", "b", "c"))
c.close()
