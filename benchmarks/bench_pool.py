"""Pool benchmarks: the borrow/return cost, and threaded GET throughput against redis-py.

Run from the repository root: ``.venv/bin/python benchmarks/bench_pool.py``.
It starts its own throwaway redis-server, so nothing else is needed, and
prints (a) microseconds per ``get()`` + ``close()`` of an idle connection,
next to redis-py's ``get_connection()`` + ``release()``, and (b) GET
operations per second with 8 threads sharing 4 connections (``wait=True``
here, ``BlockingConnectionPool(max_connections=4)`` there), with the ratios.
Each figure is the best of a few rounds: the least disturbed one.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Callable, List

import redis as redispy

from _harness import RedisServer
from redigo_py.conn import dial
from redigo_py.pool import Pool

KEY = "bench:pool:key"


def per_call_us(fn: Callable[[], None], n: int) -> float:
    """Microseconds per call of ``fn``, timed over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def threaded_ops_per_s(threads_n: int, ops_per_thread: int, op: Callable[[], None]) -> float:
    """Operations per second of ``threads_n`` threads each running ``op`` ``ops_per_thread`` times."""
    go = threading.Barrier(threads_n + 1)

    def run() -> None:
        go.wait()
        for _ in range(ops_per_thread):
            op()

    threads: List[threading.Thread] = [threading.Thread(target=run) for _ in range(threads_n)]
    for t in threads:
        t.start()
    go.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return threads_n * ops_per_thread / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=100_000, help="get+close pairs per round")
    parser.add_argument("--ops", type=int, default=3_000, help="GETs per thread per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    threads_n, pool_size = 8, 4

    with RedisServer() as server:
        # -- (a) borrow + return of an idle connection ---------------------------------
        pool = Pool(dial=lambda: dial("tcp", server.address), max_idle=2)
        pool.get().close()  # one idle connection to reuse
        get = pool.get
        ours_pair = min(per_call_us(lambda: get().close(), args.pairs) for _ in range(args.rounds))

        theirs_pool = redispy.BlockingConnectionPool(host=server.host, port=server.port,
                                                     max_connections=pool_size)
        theirs_pool.release(theirs_pool.get_connection())

        def theirs_borrow() -> None:
            theirs_pool.release(theirs_pool.get_connection())

        theirs_pair = min(per_call_us(theirs_borrow, args.pairs) for _ in range(args.rounds))
        pool.close()
        theirs_pool.disconnect()

        # -- (b) GET throughput, 8 threads on 4 connections ------------------------------
        with dial("tcp", server.address) as c:
            c.do("SET", KEY, "x" * 100)

        shared = Pool(dial=lambda: dial("tcp", server.address), max_idle=pool_size,
                      max_active=pool_size, wait=True)

        def ours_get() -> None:
            with shared.get() as c:
                c.do("GET", KEY)

        client = redispy.Redis(connection_pool=redispy.BlockingConnectionPool(
            host=server.host, port=server.port, max_connections=pool_size))

        def theirs_get() -> None:
            client.get(KEY)

        # Rounds alternate between the two, so that drift in the machine's load
        # (two CPUs shared with the server) does not favour one side.
        ours_ops = theirs_ops = 0.0
        for _ in range(args.rounds):
            ours_ops = max(ours_ops, threaded_ops_per_s(threads_n, args.ops, ours_get))
            theirs_ops = max(theirs_ops, threaded_ops_per_s(threads_n, args.ops, theirs_get))
        waits = shared.stats().wait_count
        shared.close()
        client.close()

    print(f"redis-py {redispy.__version__}, best of {args.rounds} rounds")
    print(f"(a) get()+close() of an idle conn:   redigo_py {ours_pair:6.2f} us/pair   "
          f"redis-py get_connection()+release() {theirs_pair:6.2f} us/pair   "
          f"ratio (redis-py / redigo_py) {theirs_pair / ours_pair:5.2f}x")
    print(f"(b) GET, {threads_n} threads, pool of {pool_size}:    redigo_py {ours_ops:9.0f} ops/s   "
          f"redis-py BlockingConnectionPool {theirs_ops:9.0f} ops/s   "
          f"ratio (redigo_py / redis-py) {ours_ops / theirs_ops:5.2f}x   "
          f"({waits} borrows waited for a slot)")


if __name__ == "__main__":
    main()
