"""Exporters: Stackdriver (offline, fake API clients), Prometheus (a real scrape), the console
exporters, the demo and the examples, each against a real redis-server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from opencensus.stats import stats as stats_module
from opencensus.trace import execution_context
from opencensus.trace.samplers import AlwaysOnSampler
from opencensus.trace.tracer import Tracer

import redigo_py as redis
from redigo_py import observability as obs
from harness.server import RedisServer, free_port
from redigo_py.exporters import ConsoleStatsExporter, ConsoleTraceExporter, import_stackdriver_trace, percentile
from redigo_py.resp import encode

from . import fake_stackdriver

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["leaderboard_metrics.py", "leaderboard_tracing.py", "leaderboard.py"]
ZSCAN_LINE = ("ZSCAN response: [b'0', [b'76d38ff6-fd76-4fb1-ba26-e8779a766faf', b'10', "
              "b'98fb173b-ae91-4b46-9401-20e98e5856d9', b'25']]")
SPAN_NAMES = {"LeaderBoardModification", "AddToLeaderBoard", "Scan", "Cleanup",
              "redis.Conn.ZADD", "redis.Conn.ZSCAN", "redis.Conn.DEL"}


#: The variable that makes protobuf load the Stackdriver trace exporter (see import_stackdriver_trace).
PURE_PYTHON_PROTOBUF = {"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"}


def _stackdriver_import_error() -> Optional[str]:
    """Why the Stackdriver exporters cannot be used here, or None.

    This module has imported opencensus.trace, and so protobuf, already: the
    trace exporter loads only where the environment names protobuf's
    pure-Python backend (``make test-stackdriver`` does, as the docs tell a
    program to), and the cases skip with the reason elsewhere.
    """
    try:
        import_stackdriver_trace()
        from opencensus.ext.stackdriver import stats_exporter  # noqa: F401
    except ImportError as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


STACKDRIVER_ERROR = _stackdriver_import_error()
needs_stackdriver = pytest.mark.skipif(
    STACKDRIVER_ERROR is not None,
    reason=f"opencensus-ext-stackdriver's exporters do not import here ({STACKDRIVER_ERROR}); "
           "make test-stackdriver runs these cases")


@pytest.fixture
def view_exporter() -> Iterator[Any]:
    """Registers a view-manager exporter for one test and unregisters it afterwards."""
    registered: List[Any] = []

    def register(exporter: Any) -> Any:
        stats_module.stats.view_manager.register_exporter(exporter)
        registered.append(exporter)
        return exporter

    yield register
    for exporter in registered:
        stats_module.stats.view_manager.unregister_exporter(exporter)


@pytest.fixture
def tracer_with() -> Iterator[Any]:
    """Makes an always-sampling tracer with the given exporter the current one, for one test."""
    yield lambda exporter: Tracer(exporter=exporter, sampler=AlwaysOnSampler())
    execution_context.clean()


def workload(conn: redis.Conn) -> None:
    """SET twice, GET three times (one nil), one INCR error reply: known counts and sizes."""
    conn.do("SET", "k", "x" * 100)
    conn.do("SET", "k", "x" * 100)
    conn.do("GET", "k")
    conn.do("GET", "k")
    conn.do("GET", "nil")
    with pytest.raises(redis.Error):
        conn.do("INCR", "k")


# -- console exporters ------------------------------------------------------------------

PERCENTILE_CASES = [
    # bounds, counts per bucket, q, expected
    ([10.0, 20.0], [0, 4, 0], 0.5, 15.0),     # halfway into [10, 20)
    ([10.0, 20.0], [2, 2, 0], 0.5, 10.0),     # rank 2 ends the first bucket
    ([10.0, 20.0], [2, 2, 0], 0.75, 15.0),
    ([10.0, 20.0], [0, 0, 3], 0.99, 20.0),    # overflow bucket: its lower bound
    ([10.0], [1, 0], 1.0, 10.0),
    ([10.0], [0, 0], 0.5, None),               # empty
]


@pytest.mark.parametrize("bounds,counts,q,expected", PERCENTILE_CASES)
def test_percentile_from_buckets(bounds: List[float], counts: List[int], q: float,
                                 expected: Optional[float]) -> None:
    assert percentile(bounds, counts, q) == expected


def test_console_table_from_a_real_workload(fresh_views: None, view_exporter: Any, conn: redis.Conn) -> None:
    exporter = view_exporter(ConsoleStatsExporter(obs.observability_metric_views()))
    workload(conn)
    obs.flush()
    rows = {(r[0], r[1]): r[2:] for r in exporter.rows()}
    set_size = len(encode("SET", "k", "x" * 100))
    assert rows[("redis/client/writes", "cmd=SET")] == ("2", "", "", "")
    assert rows[("redis/client/reads", "cmd=GET")] == ("3", "", "", "")
    assert rows[("redis/client/bytes_written", "cmd=SET")] == ("2", f"{set_size:.1f} B", f"{set_size:.1f} B",
                                                               f"{set_size:.1f} B")
    assert rows[("redis/client/bytes_read", "cmd=GET")][3] == f"{(2 * 108 + 5) / 3:.1f} B"
    assert rows[("redis/client/errors", "cmd=INCR,detail=ERR,kind=reply")] == ("1", "", "", "")
    count, p50, p99, mean = rows[("redis/client/roundtrip_latency", "cmd=GET")]
    assert count == "3" and p50.endswith(" ms") and float(p50.split()[0]) <= float(p99.split()[0])
    assert rows[("redis/client/connections_closed", "(no data)")] == ("", "", "", "")
    table = exporter.table()
    assert table.splitlines()[0].split() == list(ConsoleStatsExporter.HEADER)
    assert len(table.splitlines()) == len(rows) + 1


def test_console_span_tree(tracer_with: Any, conn: redis.Conn) -> None:
    exporter = ConsoleTraceExporter()
    tracer = tracer_with(exporter)
    with tracer.span("outer"):
        with tracer.span("inner"):
            conn.do("SET", "k", "v")
        with pytest.raises(redis.Error):
            conn.do("INCR", "k")
    lines = exporter.tree().splitlines()
    shape = [(len(line) - len(line.lstrip(" ")), line.split()[0]) for line in lines]
    assert shape == [(0, "outer"), (2, "inner"), (4, "redis.Conn.SET"), (2, "redis.Conn.INCR")]
    assert lines[2].endswith("[SET ? ?]") and " ms" in lines[2]
    assert "!ERR" in lines[3]


# -- Prometheus ----------------------------------------------------------------------------

def test_prometheus_endpoint_shows_our_views(fresh_views: None, view_exporter: Any, conn: redis.Conn) -> None:
    prometheus = pytest.importorskip("opencensus.ext.prometheus.stats_exporter")
    port = free_port()
    view_exporter(prometheus.new_stats_exporter(
        prometheus.Options(namespace="redigo", port=port, address="127.0.0.1")))
    workload(conn)
    obs.flush()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in text.splitlines() if line.startswith("redigo_")}
    set_size = len(encode("SET", "k", "x" * 100))
    assert samples['redigo_redis_client_writes_total{cmd="SET"}'] == 2
    assert samples['redigo_redis_client_reads_total{cmd="GET"}'] == 3
    assert samples['redigo_redis_client_errors_total{cmd="INCR",detail="ERR",kind="reply"}'] == 1
    assert samples['redigo_redis_client_bytes_written_sum{cmd="SET"}'] == 2 * set_size
    assert samples['redigo_redis_client_bytes_read_sum{cmd="GET"}'] == 2 * 108 + 5
    assert samples['redigo_redis_client_bytes_read_bucket{cmd="GET",le="16"}'] == 1  # the 5-byte nil
    assert samples['redigo_redis_client_roundtrip_latency_count{cmd="GET"}'] == 3
    assert samples['redigo_redis_client_roundtrip_latency_bucket{cmd="GET",le="+Inf"}'] == 3


# -- Stackdriver, offline ----------------------------------------------------------------------

@needs_stackdriver
def test_stackdriver_stats_exporter(fresh_views: None, monkeypatch: pytest.MonkeyPatch, conn: redis.Conn) -> None:
    from opencensus.ext.stackdriver import stats_exporter as stackdriver

    recorder = fake_stackdriver.install(monkeypatch.setattr)
    sd = stackdriver.new_stats_exporter(
        stackdriver.Options(project_id="census-demos", metric_prefix="redigodemo"), interval=60)
    workload(conn)
    obs.flush()
    sd.export_metrics(stats_module.stats.get_metrics())  # Go's sd.Flush()
    series = {(s["type"], tuple(sorted((k, v) for k, v in s["labels"].items() if k != "opencensus_task"))): s["value"]
              for s in recorder.series()}
    set_size = len(encode("SET", "k", "x" * 100))
    assert series[("redigodemo/redis/client/writes", (("cmd", "SET"),))] == 2
    assert series[("redigodemo/redis/client/reads", (("cmd", "GET"),))] == 3
    assert series[("redigodemo/redis/client/errors", (("cmd", "INCR"), ("detail", "ERR"), ("kind", "reply")))] == 1
    written = series[("redigodemo/redis/client/bytes_written", (("cmd", "SET"),))]
    assert written["count"] == 2 and written["mean"] == set_size
    assert series[("redigodemo/redis/client/roundtrip_latency", (("cmd", "GET"),))]["count"] == 3
    assert {d.type for d in recorder.descriptors} >= {"redigodemo/redis/client/writes",
                                                      "redigodemo/redis/client/roundtrip_latency"}


@needs_stackdriver
def test_stackdriver_trace_exporter(monkeypatch: pytest.MonkeyPatch, tracer_with: Any, server: RedisServer) -> None:
    from opencensus.common.transports.sync import SyncTransport
    from opencensus.ext.stackdriver import trace_exporter as stackdriver

    recorder = fake_stackdriver.install(monkeypatch.setattr)
    # SyncTransport: each span reaches the client at once, so the test needs no flush to wait for.
    tracer = tracer_with(stackdriver.StackdriverExporter(project_id="census-demos", transport=SyncTransport))
    with tracer.span("LeaderBoardModification"):
        c = redis.dial("tcp", server.address, database=9)
        c.do("ZADD", "board", 10, "a")
        c.close()
    spans = {s["name"]: s for s in recorder.span_dicts()}
    assert {"LeaderBoardModification", "redis.dial", "redis.Conn.ZADD", "redis.Conn.close"} <= set(spans)
    zadd = spans["redis.Conn.ZADD"]
    assert zadd["parent_span_id"] == spans["LeaderBoardModification"]["span_id"]
    assert zadd["attributes"]["db.operation.name"] == "ZADD"
    assert zadd["attributes"]["db.query.text"] == "ZADD ? ? ?"
    assert zadd["attributes"]["server.port"] == server.port


IMPORT_TRACE = """
{prelude}
from redigo_py.exporters import import_stackdriver_trace
try:
    import_stackdriver_trace()
except ImportError as exc:
    print("ImportError:", exc)
else:
    import os
    from google.protobuf.internal import api_implementation
    print(api_implementation.Type(), os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"])
"""

IMPORT_TRACE_CASES = [
    # what the program did first, what import_stackdriver_trace gives
    ("", "python python"),  # nothing has loaded protobuf: it picks the pure-Python backend
    ("import opencensus.trace.tracer",  # too late: protobuf is loaded with its compiled backend
     "ImportError: opencensus.ext.stackdriver.trace_exporter does not load under protobuf's 'upb' backend, "
     "chosen when google.protobuf was first imported: set PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python"),
]


@needs_stackdriver
@pytest.mark.parametrize("prelude,expected", IMPORT_TRACE_CASES)
def test_import_stackdriver_trace_picks_the_backend_or_says_how(prelude: str, expected: str) -> None:
    assert run(["-c", IMPORT_TRACE.format(prelude=prelude)], {}).startswith(expected)


# -- the demo and the examples, as a user runs them -------------------------------------------------

def run(args: List[str], env_extra: Dict[str, str], timeout: float = 60) -> str:
    """Run Python with ``args`` in the repository, in this environment less what a user would not
    have set (the protobuf backend included) plus ``env_extra``; its output, or fail with stderr."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "GOOGLE_CLOUD_PROJECT", *PURE_PYTHON_PROTOBUF)}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def assert_table_and_tree(output: str, table: bool = True, tree: bool = True) -> None:
    lines = [line.split() for line in output.splitlines()]
    for cmd in ("ZADD", "ZSCAN", "DEL"):
        assert (["redis/client/writes", f"cmd={cmd}", "1"] in lines) is table
    if tree:
        text = output.splitlines()
        start = text.index(next(line for line in text if line.startswith("LeaderBoardModification ")))
        shape = [(len(line) - len(line.lstrip(" ")), line.split()[0]) for line in text[start:start + 9]]
        assert (0, "LeaderBoardModification") in shape
        for parent, child in [("AddToLeaderBoard", "redis.Conn.ZADD"), ("Scan", "redis.Conn.ZSCAN"),
                              ("Cleanup", "redis.Conn.DEL")]:
            i = shape.index((2, parent))
            assert shape[i + 1] == (4, child)
    else:
        assert "LeaderBoardModification" not in output


def test_demo_prints_reply_views_and_span_tree() -> None:
    output = run(["-m", "redigo_py", "demo"], {})
    assert ZSCAN_LINE in output
    assert "redis/client/errors              (no data)" in output
    assert_table_and_tree(output)


def test_demo_on_asyncio() -> None:
    """``demo --asyncio``: the same program on redigo_py.aio, with the same views and the same
    span tree (each command's span under its parent across the awaits)."""
    output = run(["-m", "redigo_py", "demo", "--asyncio"], {})
    assert ZSCAN_LINE in output
    assert_table_and_tree(output)
    assert "--asyncio runs the single-server program" in subprocess.run(
        [sys.executable, "-m", "redigo_py", "demo", "--asyncio", "--cluster"], cwd=ROOT,
        capture_output=True, text=True, timeout=60).stderr


def test_demo_through_opentelemetry() -> None:
    """``demo --otel``: the same program, its metrics from the SDK's in-memory reader and its
    span tree from the SDK's in-memory exporter."""
    pytest.importorskip("opentelemetry.sdk")
    output = run(["-m", "redigo_py", "demo", "--otel"], {})
    assert ZSCAN_LINE in output
    lines = [line.split() for line in output.splitlines()]
    for cmd in ("ZADD", "ZSCAN", "DEL"):
        assert ["db.client.operation.duration", f"db.namespace=0,db.operation.name={cmd}", "1"] == \
            next(line[:3] for line in lines if line[:2] == ["db.client.operation.duration",
                                                            f"db.namespace=0,db.operation.name={cmd}"])
    text = output.splitlines()
    start = text.index(next(line for line in text if line.startswith("LeaderBoardModification ")))
    shape = [(len(line) - len(line.lstrip(" ")), line.split()[0]) for line in text[start:start + 9]]
    for parent, child in [("AddToLeaderBoard", "ZADD"), ("Scan", "ZSCAN"), ("Cleanup", "DEL")]:
        i = shape.index((2, parent))
        assert shape[i + 1] == (4, child)


@needs_stackdriver
def test_demo_exports_to_stackdriver(tmp_path: Path) -> None:
    out = tmp_path / "recorded.json"
    output = run([str(Path(fake_stackdriver.__file__)), str(out), "redigo_py/__main__.py", "demo",
                   "--stackdriver-project", "census-demos"], {"PYTHONPATH": str(ROOT)})  # the harness
    assert ZSCAN_LINE in output and "exported to Stackdriver project census-demos" in output
    assert_table_and_tree(output)
    recorded = json.loads(out.read_text())
    writes = {s["labels"]["cmd"]: s["value"] for s in recorded["time_series"]
              if s["type"] == "redigodemo/redis/client/writes"}
    assert writes == {"ZADD": 1, "ZSCAN": 1, "DEL": 1}
    assert SPAN_NAMES <= {s["name"] for s in recorded["spans"]}


def test_demo_serves_prometheus_until_interrupted() -> None:
    pytest.importorskip("opencensus.ext.prometheus.stats_exporter")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "redigo_py", "demo", "--prometheus-port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # the demo says when it serves; the loop ends at EOF otherwise
            if "serving metrics on" in line:
                break
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'redigodemo_redis_client_writes_total{cmd="ZSCAN"} 1.0' in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("example", EXAMPLES)
def test_example(example: str, server: RedisServer, tmp_path: Path) -> None:
    """Each example as a user runs it: to Stackdriver (fake clients) when it imports, else to the console."""
    metrics = example != "leaderboard_tracing.py"
    tracing = example != "leaderboard_metrics.py"
    env = {"REDIS_URL": server.url}
    if STACKDRIVER_ERROR is not None:
        output = run([f"examples/{example}"], env)
        assert ZSCAN_LINE in output
        assert_table_and_tree(output, table=metrics, tree=tracing)
        return
    out = tmp_path / "recorded.json"
    env["GOOGLE_CLOUD_PROJECT"] = "census-demos"
    if tracing:  # the programs import opencensus.trace first, so they need the variable (their docstrings say so)
        env.update(PURE_PYTHON_PROTOBUF)
    output = run([str(Path(fake_stackdriver.__file__)), str(out), f"examples/{example}"], env)
    assert ZSCAN_LINE in output
    recorded = json.loads(out.read_text())
    writes = {s["labels"]["cmd"]: s["value"] for s in recorded["time_series"]
              if s["type"] == "redigodemo/redis/client/writes"}
    assert (writes == {"ZADD": 1, "ZSCAN": 1, "DEL": 1}) is metrics
    names = {s["name"] for s in recorded["spans"]}
    assert (SPAN_NAMES <= names) is tracing
