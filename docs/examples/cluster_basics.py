"""Redis Cluster with redisc's API: a pool per node, hash tags, one node per conn."""
import os

import redigo_py as redis
from redigo_py import cluster as redisc


# Go: CreatePool: func(addr string, opts ...redis.DialOption) (*redis.Pool, error)
def create_pool(address, **dial_options):
    return redis.Pool(dial=lambda: redis.dial("tcp", address, **dial_options),
                      max_idle=4, idle_timeout=240)


cluster = redisc.Cluster([os.environ.get("REDIS_CLUSTER_ADDR", "127.0.0.1:7000")],
                         dial_options={"connect_timeout": 1, "read_timeout": 2},
                         create_pool=create_pool)
cluster.refresh()  # learn the slot map once; MOVED replies keep it current

# A key's slot is CRC16(key) mod 16384; with a {tag}, only the tag is hashed.
for key in ("user:42:name", "user:42:visits", "{user:42}:name", "{user:42}:visits", "user:42"):
    print(f"slot({key!r:19}) = {redisc.slot(key)}")

# A conn binds, for good, to the node that holds its first command's key.
with cluster.get() as conn:
    conn.do("SET", "{user:42}:name", "ann")
    conn.do("SET", "{user:42}:visits", 1)
    print(conn.do("MGET", "{user:42}:name", "{user:42}:visits"))

# Multi-key commands need one slot: without a shared tag, the server refuses.
with cluster.get() as conn:
    try:
        conn.do("MGET", "user:42:name", "user:42:visits")
    except redis.Error as exc:
        print("CROSSSLOT:", redisc.is_cross_slot(exc), "-", exc)

# MULTI has no key, so a transaction binds first, to its keys' node.
with cluster.get() as conn:
    conn.bind("{user:42}:name", "{user:42}:visits")
    conn.send("MULTI")
    conn.send("INCR", "{user:42}:visits")
    conn.send("EXPIRE", "{user:42}:visits", 3600)
    print(conn.do("EXEC"))
    try:
        conn.bind("{user:42}:name")
    except redis.RedigoError as exc:
        print(exc)

with cluster.get() as conn:
    try:
        conn.bind("user:42:name", "user:42:visits")
    except redis.RedigoError as exc:
        print(exc)

# Every master, each through a conn bound to it: here, the keys per node.
sizes = []
cluster.each_node(False, lambda addr, conn: sizes.append(conn.do("DBSIZE")))
print(f"{len(sizes)} masters hold {sum(sizes)} keys")
print("pools:", len(cluster.stats()), "nodes")
cluster.close()
