"""Timing shared by the benchmark scripts."""

from __future__ import annotations

import time
from typing import Callable


def per_op(op: Callable[[], object], n: int) -> float:
    """Seconds per call of ``op``, over ``n`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(n):
        op()
    return (time.perf_counter() - start) / n


def per_op_cpu(op: Callable[[], object], n: int) -> float:
    """CPU seconds of this process per call of ``op``: the client's own cost,
    without the scheduling luck that dominates a loopback round trip's wall time."""
    start = time.process_time()
    for _ in range(n):
        op()
    return (time.process_time() - start) / n
