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
