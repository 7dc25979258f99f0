"""The repository's harness: what the tests, fuzzers, benchmarks and the demo need
that the library does not (throwaway redis-server processes, clusters and
Sentinel deployments; the leaderboard program, the one copy that the demo,
``examples/`` and the docs run; the demo). Not shipped in the wheel.

``python -m harness demo`` (``make demo``) runs the demo; ``python -m
redigo_py demo`` does the same from a clone.
"""
