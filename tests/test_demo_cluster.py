"""``python -m redigo_py demo --cluster`` as a user runs it: a throwaway 3-master cluster, the
seed's leaderboard through Cluster + retry_conn, the node of each command, the views and the
span tree, and no redis-server left behind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Sequence

from harness.sentinel import poll
from .test_exporters import ZSCAN_LINE, assert_table_and_tree, run

STARTED = re.compile(r"started a throwaway 3-master Redis Cluster at (\S+), (\S+), (\S+) \(")
SERVED_BY = re.compile(r"^(ZADD|ZSCAN|DEL) served by (127\.0\.0\.1:\d+)$", re.MULTILINE)


def redis_servers_on(ports: Sequence[str]) -> List[str]:
    """Command lines of live redis-server processes that name one of ``ports``.

    A redis-server retitles itself "redis-server 127.0.0.1:PORT [cluster]",
    and its original argv has "--port PORT": either way the port is a word
    of /proc/PID/cmdline. A reaped process has no /proc entry left.
    """
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended while we looked
            continue
        if "redis-server" in text and any(re.search(rf"\b{port}\b", text) for port in ports):
            found.append(text)
    return found


def test_demo_cluster_prints_nodes_views_and_span_tree() -> None:
    output = run(["-m", "redigo_py", "demo", "--cluster"], {}, timeout=120)

    started = STARTED.search(output)
    assert started, output
    nodes = set(started.groups())
    assert ZSCAN_LINE in output

    served = SERVED_BY.findall(output)
    assert [cmd for cmd, _ in served] == ["ZADD", "ZSCAN", "DEL"], output
    # One key, one slot, one node: each command went to a node of this cluster, the same one.
    assert {addr for _, addr in served} <= nodes
    assert len({addr for _, addr in served}) == 1

    assert_table_and_tree(output)
    lines = [line.split() for line in output.splitlines()]
    assert ["redis/client/writes", "cmd=CLUSTER", "1"] in lines  # the refresh's CLUSTER SLOTS
    assert any(line.startswith("redis.Cluster.refresh ") for line in output.splitlines())

    ports = [addr.rsplit(":", 1)[1] for addr in nodes]
    assert poll(lambda: not redis_servers_on(ports), 10, "the demo's redis-servers to be gone")
