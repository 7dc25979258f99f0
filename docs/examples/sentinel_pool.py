"""A Pool that follows Sentinel: it dials the master Sentinel names, and drops old conns."""
import os
import time

import redigo_py as redis
from redigo_py import sentinel

sntnl = sentinel.Sentinel(
    os.environ.get("SENTINEL_ADDRS", "127.0.0.1:26379").split(","),
    os.environ.get("SENTINEL_MASTER", "mymaster"),
    # The Sentinel client guidelines require timeouts: a hung sentinel must not hang us.
    dial=lambda addr: redis.dial("tcp", addr, connect_timeout=0.5, read_timeout=0.5, write_timeout=0.5),
)


def dial_master():
    addr = sntnl.master_addr()
    c = redis.dial("tcp", addr, connect_timeout=1, read_timeout=2, write_timeout=2)
    if not sentinel.test_role(c, "master"):
        c.close()
        raise redis.RedigoError(f"{addr} is not redis master")
    return c


def check(c, last_used):
    # After a failover, Sentinel turns the old master into a replica only some
    # seconds later; until then ROLE still says "master" there. Comparing the
    # address with Sentinel's answer closes that window.
    if f"{c.host}:{c.port}" != sntnl.master_addr() or not sentinel.test_role(c, "master"):
        raise redis.RedigoError("not the master any more")


pool = redis.Pool(dial=dial_master, test_on_borrow=check, max_idle=3, max_active=64,
                  wait=True, idle_timeout=240)

def port_of(c):
    """The port of the server behind a pooled conn, as the server itself tells."""
    return redis.strings(c.do("CONFIG", "GET", "port"))[1]


first = sntnl.master_addr()
print("replicas known:", len(sntnl.slave_addrs()), "- available:", [s.available() for s in sntnl.slaves()])
with pool.get() as c:
    c.do("SET", "greeting", "hello")
    print("replicas that have the write:", c.do("WAIT", 1, 1000))
    print("served by the master Sentinel names:", port_of(c) == first.rsplit(":", 1)[1])

# What an operator (or Sentinel itself, when the master dies) does: promote the replica.
with redis.dial("tcp", sntnl.addrs[0]) as admin:
    admin.do("SENTINEL", "FAILOVER", sntnl.master_name)
deadline = time.monotonic() + 30
while sntnl.master_addr() == first and time.monotonic() < deadline:
    time.sleep(0.1)
second = sntnl.master_addr()
print("a new master:", second != first)

# The idle conn to the old master fails test_on_borrow; the pool dials the new one.
with pool.get() as c:
    print("GET greeting:", c.do("GET", "greeting"), "- from the new master:", port_of(c) == second.rsplit(":", 1)[1])
    c.do("SET", "greeting", "hello again")
print("connections open:", pool.active_count(), "(the one to the old master was closed)")
pool.close()
sntnl.close()
