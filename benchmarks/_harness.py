"""The repository's harness (throwaway servers), importable from a benchmark run as a
script (``python benchmarks/bench_core.py``, whose own directory is first on the path)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.server import RedisCluster, RedisServer  # noqa: E402

__all__ = ["RedisCluster", "RedisServer"]
