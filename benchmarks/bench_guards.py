"""What the thread guards of one ``Conn`` cost per call.

Run from the repository root: ``.venv/bin/python benchmarks/bench_guards.py``
(pinned: ``taskset -c 0 .venv/bin/python benchmarks/bench_guards.py``). It
starts its own throwaway redis-server.

Every ``send``, ``flush``, ``receive`` and ``do`` takes one or two locks and,
to send, asks for the thread's identity (see ``redigo_py/conn.py``). This
times each call on a guarded connection and on the same connection with the
guards stubbed out by C built-ins that do nothing (``str``/``tuple`` as the
locks' acquire/release, ``int`` as the thread identity), in interleaved
rounds, and prints the median of each and the difference: the guards' cost.
The contract allows at most 0.2 µs per call.

- ``send``: buffering one GET (no system call);
- ``receive``: taking one of 1000 pipelined replies already read;
- ``do``: a whole GET round trip (the guards' share is lost in its noise,
  so it is shown as a ratio).
"""

from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace
from typing import Callable, Dict, List

import redigo_py.conn as conn_module
from redigo_py._server import RedisServer
from redigo_py.conn import Conn, dial

KEY = "bench:guards"
_NO_LOCK = SimpleNamespace(acquire=str, release=tuple)  # str(False) is truthy: "acquired"


def guarded(c: Conn, on: bool, saved: Dict[str, object]) -> None:
    """Turn the guards of ``c`` (and the module's thread identity) on or off."""
    c._send_lock = saved["send"] if on else _NO_LOCK  # type: ignore[assignment]
    c._receive_lock = saved["receive"] if on else _NO_LOCK  # type: ignore[assignment]
    conn_module._get_ident = saved["ident"] if on else int  # type: ignore[assignment]


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
        saved: Dict[str, object] = {"send": c._send_lock, "receive": c._receive_lock,
                                    "ident": conn_module._get_ident}
        workloads: Dict[str, Callable[[Conn, int], float]] = {
            "send": time_send, "receive": time_receive, "do": time_do}
        results: Dict[str, Dict[bool, List[float]]] = {w: {True: [], False: []} for w in workloads}
        for _ in range(args.rounds):
            for name, fn in workloads.items():
                for on in (False, True):
                    guarded(c, on, saved)
                    results[name][on].append(fn(c, args.n))
        guarded(c, True, saved)
        c.close()
    print(f"{'call':<8} {'guarded':>10} {'unguarded':>10} {'guards':>10}")
    for name, by in results.items():
        on, off = statistics.median(by[True]), statistics.median(by[False])
        print(f"{name:<8} {on * 1e6:>8.3f}us {off * 1e6:>8.3f}us {(on - off) * 1e6:>+8.3f}us"
              f"  ({on / off:.3f}x)")


if __name__ == "__main__":
    main()
