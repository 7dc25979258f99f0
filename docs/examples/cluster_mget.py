"""Reading many keys from a cluster: split_by_slot, then one pipeline per node."""
import os

import redigo_py as redis
from redigo_py import cluster as redisc

slot_map = {}  # the latest slot map: slot -> (master, replicas...), handed over by each refresh


def keep_map(old, new):
    slot_map["now"] = new


cluster = redisc.Cluster([os.environ.get("REDIS_CLUSTER_ADDR", "127.0.0.1:7000")],
                         create_pool=lambda addr, **opts: redis.Pool(
                             dial=lambda: redis.dial("tcp", addr, **opts), max_idle=4),
                         layout_refresh=keep_map)
cluster.refresh()


def mget(keys):
    """Values of keys in input order: one MGET per slot, one pipeline per node."""
    by_node = {}
    for group in redisc.split_by_slot(*keys):
        node = slot_map["now"][redisc.slot(group[0])][0]
        by_node.setdefault(node, []).append(group)
    pending = []
    for groups in by_node.values():  # every node gets its pipeline first...
        conn = cluster.get()
        conn.bind(groups[0][0])
        for group in groups:
            conn.send("MGET", *group)
        conn.flush()
        pending.append((conn, groups))
    found = {}
    for conn, groups in pending:  # ...then the replies are read: the nodes work at once
        with conn:
            for group, reply in zip(groups, conn.do("")):
                if isinstance(reply, redis.Error):  # a MOVED: the slot left since the last refresh
                    with redisc.retry_conn(cluster.get(), 3, 0.1) as retry:
                        reply = retry.do("MGET", *group)
                found.update(zip(group, reply))
    return [found[k] for k in keys], len(by_node)


keys = [f"item:{i}" for i in range(1000)]
for group in redisc.split_by_slot(*keys):  # MSET has the same rule as MGET
    with cluster.get() as conn:
        conn.do("MSET", *[part for k in group for part in (k, k.upper())])

groups = redisc.split_by_slot(*keys)
print(f"{len(keys)} keys in {len(groups)} slots; first group: {groups[0]}")
values, nodes = mget(keys)
print(f"read through {nodes} pipelines:", values[:3], "...", values[-1])
assert values == [k.upper().encode() for k in keys]
cluster.close()
