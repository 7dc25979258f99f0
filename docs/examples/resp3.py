"""RESP3: replies with their real types, and a subscribed connection that still runs commands."""
import os

import redigo_py as redis

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")

c = redis.dial_url(URL + "?protocol=3")   # or dial(..., protocol=3); HELLO 3 carries AUTH and SETNAME
c.do("HSET", "user:1", "name", "ada", "visits", 3)
print(c.do("HGETALL", "user:1"))           # a map: a dict, no pairing up of a flat array
c.do("SADD", "tags", "red")
print(c.do("SMEMBERS", "tags"))            # a set
c.do("ZADD", "scores", 2.5, "ada")
print(c.do("ZSCORE", "scores", "ada"))     # a double: a float

psc = redis.PubSubConn(c)
psc.subscribe("news")
print(psc.receive())
print(c.do("HGET", "user:1", "name"))      # a command on the subscribed connection
with redis.dial_url(URL) as publisher:
    publisher.do("PUBLISH", "news", "hello")
print(psc.receive())
psc.unsubscribe()
print(psc.receive())
c.close()
