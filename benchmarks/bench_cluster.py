"""Cluster benchmarks: what binding, routing and batching cost, next to redis-py.

Run from the repository root: ``.venv/bin/python benchmarks/bench_cluster.py``.
It starts a throwaway cluster (3 masters + 3 replicas, as the tests do) and
prints, in one run so that the machine's load is shared:

(a) ``do("GET")`` on a cluster conn bound to the key's node vs a plain
    ``Conn`` to that node: the price of the cluster layer (target <= 1.10x);
(b) the same GET vs redis-py's ``RedisCluster.get`` with its pure-Python
    RESP2 parser (target >= 1.5x faster), for a bound conn and for a pooled
    conn borrowed per command;
(c) 1000 keys spread over all slots, read with ``split_by_slot`` + one
    pipeline of MGETs per node vs ``RedisCluster.mget_nonatomic`` (target
    >= 2x faster).

Each figure is the best of a few rounds: the least disturbed one.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, List

# redis-py's pure-Python parser: RedisCluster drops a ``parser_class``
# keyword (not in its REDIS_ALLOWED_KEYS) and its nodes' Redis() refuses
# ``connection_class``, so hide hiredis before redis-py picks its default.
sys.modules["hiredis"] = None  # type: ignore[assignment]

import redis as redispy  # noqa: E402
from redis._parsers import _RESP2Parser  # noqa: E402
from redis.cluster import RedisCluster as RedisPyCluster  # noqa: E402

from redigo_py import cluster as redisc  # noqa: E402
from _harness import RedisCluster  # noqa: E402
from redigo_py.conn import dial  # noqa: E402
from redigo_py.pool import Pool  # noqa: E402

KEY = "bench:cluster:key"


def race(contenders: Dict[str, Callable[[], Any]], n: int, rounds: int) -> Dict[str, float]:
    """Microseconds per call of each contender: the best of ``rounds`` rounds of ``n`` calls.

    The contenders take turns round by round, so a burst of load from
    other processes on this shared machine hits all of them alike.
    """
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / n * 1e6)
    return best


def create_pool(address: str, **options: Any) -> Pool:
    return Pool(dial=lambda: dial("tcp", address, **options), max_idle=4)


def mget_by_node(cluster: redisc.Cluster, layout: redisc.Layout, keys: List[str]) -> List[Any]:
    """Values of ``keys`` in input order: one MGET per slot, one pipeline per node.

    ``layout`` is the slot map that ``layout_refresh`` last handed over. All
    nodes get their pipeline before any reply is read, so they work at once.
    """
    by_node: Dict[str, List[List[str]]] = {}
    for group in redisc.split_by_slot(*keys):
        by_node.setdefault(layout[redisc.slot(group[0])][0], []).append(group)
    pending = []
    for groups in by_node.values():
        conn = cluster.get()
        conn.bind(groups[0][0])
        for group in groups:
            conn.send("MGET", *group)
        conn.flush()
        pending.append((conn, groups))
    found: Dict[str, Any] = {}
    for conn, groups in pending:
        for group, values in zip(groups, conn.do("")):
            found.update(zip(group, values))
        conn.close()
    return [found[k] for k in keys]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=5_000, help="GETs per round")
    parser.add_argument("--batches", type=int, default=20, help="1000-key reads per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    nodes = RedisCluster(node_timeout_ms=5000).start()
    try:
        layouts: List[redisc.Layout] = []
        cluster = redisc.Cluster(nodes.addresses[:1], create_pool=create_pool,
                                 layout_refresh=lambda old, new: layouts.append(new))
        cluster.refresh()
        host, port = nodes.addresses[0].rsplit(":", 1)
        theirs = RedisPyCluster(host=host, port=int(port), protocol=2)

        with cluster.get() as c:
            c.do("SET", KEY, "x" * 32)
        keys = [f"bench:{i}" for i in range(1000)]
        for group in redisc.split_by_slot(*keys):
            with cluster.get() as c:
                c.do("MSET", *[part for k in group for part in (k, k)])

        # (a) the cluster layer over a plain Conn, same node; (b) redis-py's RedisCluster
        bound = cluster.get()
        bound.bind(KEY)
        plain = dial("tcp", bound.bound_addr or "")
        assert bound.do("GET", KEY) == plain.do("GET", KEY) == theirs.get(KEY)
        node_pool = theirs.get_node_from_key(KEY).redis_connection.connection_pool  # type: ignore[no-untyped-call]
        node_conn = node_pool.get_connection()
        assert type(node_conn._parser) is _RESP2Parser, "redis-py must use its pure-Python parser"
        node_pool.release(node_conn)

        def ours_borrowed() -> None:
            with cluster.get() as c:
                c.do("GET", KEY)

        gets = race({
            "bound": lambda: bound.do("GET", KEY),
            "plain": lambda: plain.do("GET", KEY),
            "pooled": ours_borrowed,
            "redis-py": lambda: theirs.get(KEY),
        }, args.gets, args.rounds)
        ours_bound, ours_plain, ours_pooled, theirs_get = (
            gets["bound"], gets["plain"], gets["pooled"], gets["redis-py"])

        # (c) 1000 keys over all slots
        layout = layouts[-1]
        assert mget_by_node(cluster, layout, keys) == theirs.mget_nonatomic(keys) == [k.encode() for k in keys]
        batches = race({
            "ours": lambda: mget_by_node(cluster, layout, keys),
            "redis-py": lambda: theirs.mget_nonatomic(keys),
        }, args.batches, args.rounds)
        ours_batch, theirs_batch = batches["ours"], batches["redis-py"]

        bound.close()
        plain.close()
        theirs.close()
        cluster.close()
    finally:
        nodes.stop()

    print(f"redis-py {redispy.__version__} RedisCluster, RESP2, pure-Python parser; best of {args.rounds} rounds")
    print(f"(a) GET, cluster conn bound to the node   {ours_bound:8.1f} us")
    print(f"    GET, plain Conn to the same node       {ours_plain:8.1f} us   ratio {ours_bound / ours_plain:.2f}x"
          " (target <= 1.10x)")
    print(f"(b) GET, redis-py RedisCluster.get         {theirs_get:8.1f} us")
    print(f"    bound cluster conn is                  {theirs_get / ours_bound:8.2f}x faster (target >= 1.5x)")
    print(f"    pooled cluster conn, get+do+close       {ours_pooled:8.1f} us   {theirs_get / ours_pooled:.2f}x faster")
    print(f"(c) 1000 keys, split_by_slot + pipelines   {ours_batch / 1000:8.2f} ms")
    print(f"    redis-py mget_nonatomic                {theirs_batch / 1000:8.2f} ms   "
          f"ours {theirs_batch / ours_batch:.2f}x faster (target >= 2x)")


if __name__ == "__main__":
    main()
