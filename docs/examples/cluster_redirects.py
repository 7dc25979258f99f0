"""A slot migration seen from the client: ASK, TRYAGAIN, MOVED, and retry_conn."""
import os

import redigo_py as redis
from redigo_py import cluster as redisc

cluster = redisc.Cluster([os.environ.get("REDIS_CLUSTER_ADDR", "127.0.0.1:7000")])
cluster.refresh()


def admin(addr, *args):
    """What an operator's tool (redis-cli --cluster reshard) sends to one node."""
    with redis.dial("tcp", addr) as c:
        return c.do(*args)


masters = []
cluster.each_node(False, lambda addr, conn: masters.append(addr))
key, other = "{acct:7}:balance", "{acct:7}:owner"  # one slot
slot = redisc.slot(key)
with cluster.get() as conn:
    conn.do("SET", key, 100)
    src = conn.bound_addr
dst = next(m for m in masters if m != src)
src_id, dst_id = redis.string(admin(src, "CLUSTER", "MYID")), redis.string(admin(dst, "CLUSTER", "MYID"))

# 1. The migration starts: the source still serves the keys it holds...
admin(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
admin(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
with cluster.get() as conn:
    print("GET balance:", conn.do("GET", key))
    # ...and sends the client elsewhere for any other key of the slot, for this one command.
    try:
        conn.do("SET", other, "ann")
    except redisc.RedirError as exc:
        print(f"{exc.type} slot={exc.new_slot == slot} to the target: {exc.addr == dst}")

# retry_conn follows it: ASKING, then the command again, on the target.
with redisc.retry_conn(cluster.get(), 3, 0.05) as conn:
    print("SET owner:", conn.do("SET", other, "ann"), "- served by the target:", conn.bound_addr == dst)

# A multi-key command over keys on both sides cannot run anywhere yet: TRYAGAIN.
with redisc.retry_conn(cluster.get(), 3, 0.05) as conn:
    try:
        conn.do("MGET", key, other)
    except redis.RedigoError as exc:
        print(exc)

# 2. The last key moves and every master learns the slot's new owner.
admin(src, "MIGRATE", *dst.rsplit(":", 1), key, 0, 5000)
for node in [dst, src] + [m for m in masters if m not in (src, dst)]:
    admin(node, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)

# The client's map is stale now: MOVED. Raised by a plain cluster conn...
with cluster.get() as conn:
    try:
        conn.do("GET", key)
    except redisc.RedirError as exc:
        print(f"{exc.type} slot={exc.new_slot == slot} to the target: {exc.addr == dst}")
# ...which fixed the map for that slot before raising, so the next conn goes straight there.
with cluster.get() as conn:
    print("MGET:", conn.do("MGET", key, other), "- served by the target:", conn.bound_addr == dst)
cluster.close()
