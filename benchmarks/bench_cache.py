"""RESP3 and client-side caching: a cached GET against an uncached one, and RESP3 maps.

Run: ``.venv/bin/python benchmarks/bench_cache.py`` (pinned: ``taskset -c 0 ...``).
Starts its own redis-server; interleaved rounds, medians, ratios. Workloads
and goals:

- GET of a 100-byte value through a ``ClientCache`` (a hit): <= 2 us, and
  >= 5x faster than the same GET uncached with client and server pinned to
  one CPU (>= 20x unpinned, over loopback);
- HGETALL of 1000 fields with ``protocol=3`` (a map, read as a dict) no
  slower than RESP2 + ``string_map``... to a dict of bytes: RESP2's
  ``dict(zip(...))`` of the flat array, which is what ``string_map`` costs
  before its decoding.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Callable, Dict, List

from _harness import RedisServer
from _timing import per_op

import redigo_py as redis

KEY = "bench:cache:key"
HASH = "bench:cache:hash"


def compare(title: str, ops: Dict[str, Callable[[], object]], n: int, rounds: int) -> Dict[str, float]:
    for op in ops.values():
        per_op(op, max(1, n // 10))
    samples: Dict[str, List[float]] = {name: [] for name in ops}
    for _ in range(rounds):
        for name, op in ops.items():
            samples[name].append(per_op(op, n))
    medians = {name: statistics.median(v) for name, v in samples.items()}
    print(f"\n{title}")
    for name, median in medians.items():
        print(f"  {name:36s} {median * 1e6:9.2f} us")
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=20000)
    parser.add_argument("--hashes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    with RedisServer() as server:
        cache = redis.ClientCache()
        cached = redis.dial("tcp", server.address, protocol=3, client_cache=cache)
        resp3 = redis.dial("tcp", server.address, protocol=3)
        resp2 = redis.dial("tcp", server.address)
        resp2.do("SET", KEY, "x" * 100)
        resp2.do("HSET", HASH, *[x for i in range(1000) for x in (f"field{i}", "v" * 10)])
        get = compare("GET of 100 bytes", {
            "RESP2, uncached": lambda: resp2.do("GET", KEY),
            "RESP3, uncached": lambda: resp3.do("GET", KEY),
            "RESP3 + ClientCache (hit)": lambda: cached.do("GET", KEY),
        }, args.gets, args.rounds)

        def resp2_dict() -> object:
            flat = resp2.do("HGETALL", HASH)
            return dict(zip(flat[::2], flat[1::2]))

        maps = compare("HGETALL of 1000 fields to a dict", {
            "RESP2 + string_map (str dict)": lambda: redis.string_map(resp2.do("HGETALL", HASH)),
            "RESP2, dict of bytes": resp2_dict,
            "RESP3 map (dict of bytes)": lambda: resp3.do("HGETALL", HASH),
        }, args.hashes, args.rounds)
        stats = cache.stats()
        for c in (cached, resp3, resp2):
            c.close()
    hit = get["RESP3 + ClientCache (hit)"]
    print("\nratios (of medians)")
    print(f"  cached GET: {hit * 1e6:.2f} us (goal <= 2); {get['RESP3, uncached'] / hit:.1f}x faster than "
          f"uncached RESP3, {get['RESP2, uncached'] / hit:.1f}x than uncached RESP2 (goal >= 5 pinned, >= 20 unpinned)"
          f"  [{stats.hits} hits, {stats.misses} misses]")
    print(f"  HGETALL 1000: RESP3 map {maps['RESP3 map (dict of bytes)'] / maps['RESP2, dict of bytes']:.2f}x the "
          f"time of RESP2 to a dict of bytes, {maps['RESP3 map (dict of bytes)'] / maps['RESP2 + string_map (str dict)']:.2f}x"
          f" RESP2 + string_map (goal <= 1.0)")


if __name__ == "__main__":
    main()
