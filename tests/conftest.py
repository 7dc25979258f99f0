"""Fixtures: real redis-server processes on free loopback ports, and a tiny
socket server of the tests' own for feeding a client arbitrary bytes.

Every server is started here and stopped here (by pid); no test touches the
machine's shared Redis on 6379.

Telemetry backends live in their own modules and are re-exported here so that
every test module sees their fixtures: a real Prometheus server
(``prometheus_binary``, ``prometheus``; tests/prometheus_server.py) and a local
OTLP/HTTP receiver (``otlp_receiver``; tests/otlp_receiver.py).
"""

from __future__ import annotations

import socket
import threading
from typing import Callable, Iterator, List, Optional

import pytest

import redigo_py as redis
from harness.sentinel import RedisCluster, command
from harness.server import RedisServer

from .otlp_receiver import otlp_receiver  # noqa: F401 - fixture
from .prometheus_server import prometheus, prometheus_binary  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def server() -> Iterator[RedisServer]:
    """One plain server shared by the session (tests must not kill it)."""
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def make_server() -> Iterator[Callable[..., RedisServer]]:
    """Factory for servers that a test owns: kill, pause, restart, misconfigure."""
    started: List[RedisServer] = []

    def make(*args: str, **kwargs: object) -> RedisServer:
        srv = RedisServer(args, **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.cleanup()


SECRET = "s3cr3t-Pa55w0rd-do-not-log"  # must never appear in a log line, span or error


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RedisServer]:
    """A server whose password is SECRET, with a key to MIGRATE."""
    with RedisServer(["--requirepass", SECRET]) as srv:
        with redis.dial("tcp", srv.address, password=SECRET) as c:
            c.do("SET", "k", "v")
        yield srv


@pytest.fixture
def fresh_views() -> Iterator[None]:
    """Our OpenCensus views registered, their data emptied, so a test sees only its own commands."""
    from opencensus.stats import stats as stats_module

    from redigo_py import observability

    redis.register_views()
    observability.flush()
    mtvm = stats_module.stats.view_manager.measure_to_view_map
    for v in observability.observability_metric_views():
        for vd in mtvm._measure_to_view_data_list_map[v._measure.name]:
            vd._tag_value_aggregation_data_map.clear()
    yield


@pytest.fixture
def conn(server: RedisServer) -> Iterator[redis.Conn]:
    """A connection to the shared server, on an empty database 9."""
    c = redis.dial("tcp", server.address, database=9, read_timeout=10, write_timeout=10)
    c.do("FLUSHDB")
    yield c
    c.close()


class ScriptedServer:
    """A TCP server that answers each connection with ``handler(sock)``.

    For replies no real Redis sends: malformed, trickled, truncated.
    """

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.clients: List[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.clients.append(client)
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        try:
            self.handler(client)
        except OSError:
            pass

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        for client in self.clients:
            try:
                client.close()
            except OSError:
                pass


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[socket.socket], None]], ScriptedServer]]:
    servers: List[ScriptedServer] = []

    def make(handler: Callable[[socket.socket], None]) -> ScriptedServer:
        srv = ScriptedServer(handler)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()


def read_command(sock: socket.socket) -> List[bytes]:
    """Read one RESP command from a client socket (handlers that read one command at a time)."""
    reader = redis.resp.Reader()
    while True:
        reply = reader.gets()
        if reply is not False:
            return reply  # type: ignore[no-any-return]
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("client went away")
        reader.feed(data)


# -- Redis Cluster (tests/test_cluster.py, tests/test_aio_cluster.py) ------------------------

#: The dial options of the cluster tests' node connections: short, so a fault fails fast.
DIAL_OPTIONS = {"connect_timeout": 2, "read_timeout": 5, "write_timeout": 5}


@pytest.fixture(scope="module")
def nodes() -> Iterator[RedisCluster]:
    """A cluster per test module; a 2 s node timeout, since nothing should fail over."""
    rc = RedisCluster(node_timeout_ms=2000).start()
    try:
        yield rc
    finally:
        rc.stop()


def finish_migration(nodes: RedisCluster, slot: int, src: str, dst: str, dst_id: str, keys: List[str]) -> None:
    """End a slot migration a test began, whatever it left: its keys still on the source
    moved to the target, and every master told that the target owns the slot."""
    for key in keys:
        try:
            command(src, "MIGRATE", *dst.rsplit(":", 1), key, 0, 5000)
        except redis.Error:
            pass
    for master in [dst, src] + [m for m in nodes.master_addresses() if m not in (src, dst)]:
        command(master, "CLUSTER", "SETSLOT", slot, "NODE", dst_id)
