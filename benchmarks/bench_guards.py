"""What the thread guards of one ``Conn`` cost per call.

Run from the repository root: ``.venv/bin/python benchmarks/bench_guards.py``
(pinned: ``taskset -c 0 .venv/bin/python benchmarks/bench_guards.py``). It
starts its own throwaway redis-server.

Every ``send``, ``flush``, ``receive`` and ``do`` takes a lock of its side
(``do`` both) and, to send, asks for the thread's identity (see
``redigo_py/conn.py``). This times each call on a connection, and the
guards' own operations in the same kind of loop (a lock's acquire and
release, ``threading.get_ident``), in interleaved rounds, and prints the
medians: the guards' cost per call and their share of it. The contract
allows at most 0.2 µs per call.

- ``send``: buffering one GET (no system call): one lock, one identity;
- ``receive``: taking one of 1000 pipelined replies already read: one lock;
- ``do``: a whole GET round trip: two locks.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from types import SimpleNamespace
from typing import Callable, Dict, List

from _harness import RedisServer
from redigo_py.conn import Conn, dial

KEY = "bench:guards"


def time_guards(locks: int, ident: bool, n: int) -> float:
    """Seconds per call of what the guards of one call do: ``locks`` acquire/release
    pairs on an attribute-held lock, and a thread identity if ``ident``."""
    holder = SimpleNamespace(a=threading.Lock(), b=threading.Lock())
    get_ident = threading.get_ident
    start = time.perf_counter()
    if locks == 1:
        for _ in range(n):
            lock = holder.a
            lock.acquire()
            if ident:
                get_ident()
            lock.release()
    else:
        for _ in range(n):
            a, b = holder.a, holder.b
            a.acquire()
            b.acquire()
            b.release()
            a.release()
    empty_start = time.perf_counter()
    for _ in range(n):
        pass
    end = time.perf_counter()
    return ((empty_start - start) - (end - empty_start)) / n


def time_send(c: Conn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        c.send("GET", KEY)
    elapsed = time.perf_counter() - start
    c.do("")  # the replies, untimed
    return elapsed / n


def time_receive(c: Conn, n: int) -> float:
    for _ in range(n):
        c.send("GET", KEY)
    c.flush()
    c.receive()  # the first one reads the socket: untimed
    start = time.perf_counter()
    for _ in range(n - 1):
        c.receive()
    return (time.perf_counter() - start) / (n - 1)


def time_do(c: Conn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        c.do("GET", KEY)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    with RedisServer() as srv:
        c = dial("tcp", srv.address)
        c.do("SET", KEY, b"x" * 100)
        workloads: Dict[str, Callable[[int], float]] = {
            "send": lambda n: time_send(c, n), "receive": lambda n: time_receive(c, n),
            "do": lambda n: time_do(c, n)}
        guards: Dict[str, Callable[[int], float]] = {
            "send": lambda n: time_guards(1, True, n), "receive": lambda n: time_guards(1, False, n),
            "do": lambda n: time_guards(2, False, n)}
        calls: Dict[str, List[float]] = {w: [] for w in workloads}
        costs: Dict[str, List[float]] = {w: [] for w in workloads}
        for _ in range(args.rounds):
            for name in workloads:
                calls[name].append(workloads[name](args.n))
                costs[name].append(guards[name](args.n))
        c.close()
    print(f"{'call':<8} {'per call':>10} {'guards':>9} {'share':>7}")
    for name in workloads:
        call, cost = statistics.median(calls[name]), statistics.median(costs[name])
        print(f"{name:<8} {call * 1e6:>8.3f}us {cost * 1e6:>7.3f}us {cost / call:>7.1%}")


if __name__ == "__main__":
    main()
