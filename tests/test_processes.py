"""Processes and threads: no reply ever reaches the wrong caller.

Real forks (``os.fork()``) with parent and child both busy on what they
share, and real threads on one ``Conn``. A child reports through a pipe and
always leaves with ``os._exit``, so that it never runs pytest's own clean-up.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Set

import pytest
from opencensus.stats import stats as stats_module

import redigo_py as redis
from redigo_py import observability as obs
from harness.server import RedisServer
from redigo_py.pool import Pool

ECHOES = 2000


class Child:
    """A forked child running ``body``; ``result()`` is what it returned (JSON), or its failure."""

    def __init__(self, body: Callable[[], Any]) -> None:
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child
            os.close(read_end)
            code = 0
            try:
                out = json.dumps({"ok": body()})
            except BaseException:  # noqa: BLE001 - reported to the parent, whatever it is
                out, code = json.dumps({"error": traceback.format_exc()}), 1
            try:
                os.write(write_end, out.encode())
            finally:
                os._exit(code)
        os.close(write_end)
        self.read_end = read_end

    def result(self, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            chunk = os.read(self.read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self.read_end)
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                pytest.fail("the child did not exit")
            time.sleep(0.01)
        report = json.loads(b"".join(chunks) or b'{"error": "no report"}')
        assert "error" not in report, report["error"]
        assert os.waitstatus_to_exitcode(status) == 0
        return report["ok"]


def echo_loop(get: Callable[[], Any], tag: str, n: int = ECHOES) -> int:
    """``n`` ECHOs of unique values, each on a fresh ``get()``; how many replies were not ours."""
    crossed = 0
    for i in range(n):
        value = f"{tag}-{i}"
        with get() as c:
            if c.do("ECHO", value) != value.encode():
                crossed += 1
    return crossed


# -- fork ----------------------------------------------------------------------

def test_pool_after_fork_parent_and_child_both_busy(server: RedisServer) -> None:
    dials: List[redis.Conn] = []

    def dial() -> redis.Conn:
        c = redis.dial("tcp", server.address, read_timeout=10)
        dials.append(c)
        return c

    pool = Pool(dial=dial, max_idle=4)
    warm = [pool.get() for _ in range(4)]
    parent_ids = {c.do("CLIENT", "ID") for c in warm}
    for c in warm:
        c.close()
    lent = pool.get()  # lent out across the fork
    assert lent.do("PING") == "PONG"
    assert pool.stats().active_count == 4

    def child() -> Dict[str, Any]:
        empty = pool.stats().active_count == 0 and pool.idle_count() == 0
        try:
            lent.do("PING")
            inherited = "no error"
        except redis.ConnectionError as exc:
            inherited = str(exc)
        lent.close()  # the parent's: dropped, neither kept nor counted
        crossed = echo_loop(pool.get, "child")
        with pool.get() as c:
            own_id = c.do("CLIENT", "ID")
        stats = pool.stats()
        pool.close()
        return {"empty": empty, "inherited": inherited, "crossed": crossed, "own_id": own_id,
                "active": stats.active_count, "idle": stats.idle_count}

    forked = Child(child)
    crossed = echo_loop(pool.get, "parent")
    report = forked.result()
    assert crossed == 0
    assert report["crossed"] == 0
    assert report["empty"]
    assert "inherited across fork" in report["inherited"]
    assert report["own_id"] not in parent_ids
    assert (report["active"], report["idle"]) == (1, 1)  # one dial of its own, reused 2000 times
    # The parent is untouched: the lent conn and the idle ones answer on their
    # own sockets (same CLIENT IDs), and nothing was dialed anew.
    assert lent.do("ECHO", "still mine") == b"still mine"
    lent.close()
    again = [pool.get() for _ in range(4)]
    assert {c.do("CLIENT", "ID") for c in again} == parent_ids
    for c in again:
        c.close()
    assert len(dials) == 4
    pool.close()


def test_bare_conn_after_fork(server: RedisServer) -> None:
    c = redis.dial("tcp", server.address, read_timeout=10)
    conn_id = c.do("CLIENT", "ID")

    def child() -> List[str]:
        seen = []
        for call in (lambda: c.do("PING"), lambda: c.send("PING"), c.flush, c.receive):
            try:
                call()
                seen.append("no error")
            except redis.ConnectionError as exc:
                seen.append(str(exc))
        c.close()
        return seen

    forked = Child(child)
    crossed = echo_loop(lambda: _Borrowed(c), "parent", 500)
    seen = forked.result()
    assert crossed == 0
    assert len(seen) == 4 and all("inherited across fork" in text for text in seen)
    assert c.err() is None
    assert c.do("CLIENT", "ID") == conn_id
    c.close()


class _Borrowed:
    """A ``with`` block around a conn that the test keeps open."""

    def __init__(self, c: redis.Conn) -> None:
        self.c = c

    def __enter__(self) -> redis.Conn:
        return self.c

    def __exit__(self, *exc_info: object) -> None:
        pass


def test_inherited_connections_are_dropped_without_a_byte() -> None:
    """The child's close, pool close and failed calls send nothing and end nothing:
    the parent's end of each socket pair sees neither data nor EOF."""
    pairs = [socket.socketpair() for _ in range(3)]
    ends = iter(pairs)
    pool = Pool(dial=lambda: redis.new_conn(next(ends)[0], 5, 5), max_idle=2)
    a, b = pool.get(), pool.get()
    a.close()  # idle at the fork
    bare = redis.new_conn(pairs[2][0], 5, 5)

    def child() -> bool:
        for call in (lambda: b.do("PING"), b.close, lambda: bare.do("PING"), bare.close, pool.close):
            try:
                call()
            except redis.ConnectionError:
                pass
        return True

    assert Child(child).result()
    for _, peer in pairs:
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):  # no byte, and no EOF either
            peer.recv(1)
    # And the parent's conns still work over their sockets.
    pairs[1][1].setblocking(True)
    pairs[1][1].sendall(b"+PONG\r\n")
    assert b.do("PING") == "PONG"
    assert pairs[1][1].recv(100) == b"*1\r\n$4\r\nPING\r\n"


@pytest.fixture
def views() -> Any:
    """Our views registered, their data emptied for this test."""
    redis.register_views()
    obs.flush()
    mtvm = stats_module.stats.view_manager.measure_to_view_map
    for v in redis.OBSERVABILITY_METRIC_VIEWS:
        for vd in mtvm._measure_to_view_data_list_map[v._measure.name]:
            vd.tag_value_aggregation_data_map.clear()
    return mtvm


def _get_reads(view_datas: Any) -> int:
    for vd in view_datas:
        if vd.view.name == "redis/client/reads":
            data = vd.tag_value_aggregation_data_map.get(("GET",))
            return int(data.count_data) if data is not None else 0
    return -1


def test_metrics_of_a_forked_child(views: Any, server: RedisServer) -> None:
    """The child counts only its own commands, and its export runs by itself, on schedule."""
    c = redis.dial("tcp", server.address)
    for _ in range(5):
        c.do("GET", "k")
    obs.flush()  # folded into the parent's view data
    for _ in range(3):
        c.do("GET", "k")  # recorded, not yet folded: the parent's to export

    def child() -> Dict[str, Any]:
        exported: List[int] = []
        arrived = threading.Event()

        class Exporter:
            def export(self, view_datas: Any) -> None:
                n = _get_reads(view_datas)
                if n >= 0:
                    exported.append(n)
                    arrived.set()

            def on_register_view(self, view: Any) -> None:
                pass

        stats_module.stats.view_manager.register_exporter(Exporter())
        own = redis.dial("tcp", server.address)
        for _ in range(7):
            own.do("GET", "k")
        waited = arrived.wait(obs.FLUSH_INTERVAL * 5)  # no flush() by hand: the thread's
        return {"waited": waited, "exported": exported,
                "flusher": any(t.name == "redigo_py-metrics" and t.is_alive() for t in threading.enumerate())}

    report = Child(child).result()
    assert report["waited"] and report["flusher"]
    assert report["exported"][-1] == 7
    obs.flush()
    reads = views._measure_to_view_data_list_map["redis/reads"]
    assert _get_reads(reads) == 8  # the parent's own 5 + 3, none of the child's
    c.close()


# -- threads -------------------------------------------------------------------

def run_threads(n: int, body: Callable[[int], None]) -> None:
    errors: List[BaseException] = []

    def guarded(i: int) -> None:
        try:
            body(i)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    if errors:
        raise errors[0]


def test_concurrent_do_on_one_conn_takes_turns(conn: redis.Conn) -> None:
    crossed = [0] * 4

    def body(t: int) -> None:
        for i in range(500):
            value = f"{t}-{i}"
            if conn.do("ECHO", value) != value.encode():
                crossed[t] += 1

    run_threads(4, body)
    assert crossed == [0, 0, 0, 0]
    assert conn.err() is None


def test_concurrent_pipelines_on_one_conn_never_cross(conn: redis.Conn) -> None:
    """A pipeline started while another thread's replies are owed is refused at its first
    send, before anything is buffered; every pipeline that runs gets its own replies."""
    done = [0, 0]
    refused = [0, 0]
    crossed = [0, 0]
    start_together = threading.Barrier(2)

    def body(t: int) -> None:
        for i in range(300):
            values = [f"{t}-{i}-{j}".encode() for j in range(3)]
            start_together.wait(10)
            try:
                conn.send("ECHO", values[0])
            except redis.RedigoError as exc:
                assert "concurrent" in str(exc)
                refused[t] += 1
                continue
            conn.send("ECHO", values[1])
            conn.send("ECHO", values[2])
            conn.flush()
            got = [conn.receive() for _ in range(3)]
            crossed[t] += got != values
            done[t] += 1

    run_threads(2, body)
    assert crossed == [0, 0]
    assert done[0] + refused[0] == 300 and done[1] + refused[1] == 300
    assert sum(done) >= 300  # each round, at least the first to send runs its pipeline
    assert conn.err() is None and conn.do("ECHO", "after") == b"after"


def test_do_while_another_thread_receives_is_refused(server: RedisServer) -> None:
    """The pub/sub pattern: a reader thread in receive, the owner subscribing from another.
    A ``do`` then would take the reader's replies: it is refused, and nothing breaks."""
    c = redis.dial("tcp", server.address, read_timeout=10)
    psc = redis.PubSubConn(c)
    got: List[Any] = []
    receiving = threading.Event()

    def reader() -> None:
        while True:
            receiving.set()
            msg = psc.receive()
            got.append(msg)
            if isinstance(msg, redis.Subscription) and msg.count == 0:
                return

    psc.subscribe("ch")
    t = threading.Thread(target=reader)
    t.start()
    assert receiving.wait(5)
    deadline = time.monotonic() + 5
    while not c._receive_lock.locked():  # white-box: the reader is inside receive
        assert time.monotonic() < deadline
        time.sleep(0.001)
    with pytest.raises(redis.RedigoError, match="concurrent"):
        c.do("PING")
    assert c.err() is None
    with redis.dial("tcp", server.address) as publisher:
        deadline = time.monotonic() + 5
        while not any(isinstance(m, redis.Subscription) for m in got):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        publisher.do("PUBLISH", "ch", "hello")
    psc.subscribe("other")  # the subscribing thread sends while the reader receives
    deadline = time.monotonic() + 5
    while len(got) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    psc.unsubscribe()
    t.join(10)
    assert not t.is_alive()
    assert got[:3] == [redis.Subscription("subscribe", "ch", 1), redis.Message("ch", "", b"hello"),
                       redis.Subscription("subscribe", "other", 2)]
    assert c.do("PING") == "PONG"  # the reader is gone: the conn is the owner's again
    c.close()


def test_send_while_another_threads_replies_are_owed_writes_nothing(conn: redis.Conn) -> None:
    conn.send("ECHO", "mine")
    conn.flush()
    refusals: List[str] = []

    def intruder() -> None:
        for call in (lambda: conn.send("ECHO", "theirs"), lambda: conn.do("ECHO", "theirs")):
            try:
                call()
            except redis.RedigoError as exc:
                refusals.append(str(exc))

    run_threads(1, lambda _: intruder())
    assert len(refusals) == 2 and all("concurrent" in r for r in refusals)
    assert conn.receive() == b"mine"
    assert conn.do("ECHO", "next") == b"next"


# -- errors a Go port relies on ---------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_dial_reads_like_go_and_keeps_errno() -> None:
    port = _free_port()
    for address, where in ((f"127.0.0.1:{port}", f"127.0.0.1:{port}"), (f":{port}", f":{port}")):
        with pytest.raises(redis.ConnectionError) as info:
            redis.dial("tcp", address)
        assert str(info.value) == f"dial tcp {where}: connect: connection refused"
        assert info.value.errno == errno.ECONNREFUSED
        assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_unix_dial_error_reads_like_go(tmp_path: Any) -> None:
    path = str(tmp_path / "none.sock")
    with pytest.raises(redis.ConnectionError) as info:
        redis.dial("unix", path)
    assert str(info.value) == f"dial unix {path}: connect: no such file or directory"
    assert info.value.errno == errno.ENOENT


def test_bad_address_through_a_pool_is_a_redigo_error() -> None:
    pool = Pool(dial=lambda: redis.dial("tcp", "localhost"))
    c = pool.get()
    for call in (lambda: c.do("PING"), lambda: c.send("PING")):
        with pytest.raises(redis.RedigoError) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert str(info.value) == "dial tcp: address localhost: missing port in address"
    with pytest.raises(redis.ArgumentError):
        pool.get_context(redis.context.background())


def test_no_password_in_any_url_error() -> None:
    secret = "s3cr3t-pw"
    urls = [f"redis://user:{secret}@bad host/0", f"redis://{secret}@bad host",
            f"redis://user:{secret}@host/notadb", f"redis://user:{secret}@host:99x",
            f"redis://user:{secret}@[::1", f"rediss://:{secret}@we{{ird:1/2",
            f"redis://user:{secret}/more@localhost:6379/0", f"redis://:12345/{secret}@localhost",
            f"redis://user:{secret}#x@localhost", f"redis://user:{secret}＃@localhost"]
    seen: Set[str] = set()
    for url in urls:
        with pytest.raises(redis.ArgumentError) as info:
            redis.dial_url(url)
        seen.add(type(info.value).__name__)
        assert secret not in str(info.value) and secret not in repr(info.value.args)
    assert seen == {"ArgumentError"}
