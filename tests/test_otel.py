"""OpenTelemetry: metrics and spans through the real SDK, its real exporters and a real Prometheus.

The same recorder feeds OpenCensus and OpenTelemetry; these tests read what
the SDK's own readers and exporters receive: the in-memory reader and span
exporter, the OTLP/HTTP exporters sending to a local receiver, and the
Prometheus reader scraped by a real Prometheus server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from importlib.metadata import entry_points
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.metrics import Histogram as SdkHistogram  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

import redigo_py as redis  # noqa: E402
from redigo_py import _recorder, context, otel  # noqa: E402
from harness.server import RedisServer, free_port  # noqa: E402
from redigo_py.resp import encode  # noqa: E402

from .otlp_receiver import OtlpReceiver, attributes, data_points  # noqa: E402
from .prometheus_server import PrometheusServer  # noqa: E402


class World:
    """An SDK tracer and meter provider with in-memory exporter and reader, instrumented."""

    def __init__(self, reader: InMemoryMetricReader, capture_query_text: bool = True) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = reader
        self.meter_provider = MeterProvider(metric_readers=[reader])
        self.tracer = self.tracer_provider.get_tracer("app")
        otel.instrument(self.tracer_provider, self.meter_provider, capture_query_text=capture_query_text)

    def close(self) -> None:
        otel.uninstrument()
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()

    def finished(self) -> Dict[str, Any]:
        return {s.name: s for s in self.spans.get_finished_spans()}

    def points(self, name: str) -> List[Tuple[Dict[str, Any], Any]]:
        """``(attributes, point)`` of metric ``name`` in the redigo_py scope, collected now."""
        data = self.reader.get_metrics_data()
        found = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                if sm.scope.name != "redigo_py":
                    continue
                assert sm.scope.version == redis.__version__
                for m in sm.metrics:
                    if m.name == name:
                        found.extend((dict(p.attributes), p) for p in m.data.data_points)
        return found


@pytest.fixture
def world() -> Iterator[World]:
    w = World(InMemoryMetricReader())
    yield w
    w.close()


def test_do_spans_are_named_by_command_and_attributed(world: World, server: RedisServer) -> None:
    c = redis.dial("tcp", server.address, database=3)
    with world.tracer.start_as_current_span("LeaderBoardModification") as parent:
        c.do("ZADD", "board", 10, "alice")
        with pytest.raises(redis.Error):
            c.do("INCR", "board")
        with pytest.raises(redis.Error, match="NOSCRIPT"):
            c.do("EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", 0)
    c.close()
    spans = world.finished()
    zadd = spans["ZADD"]
    assert zadd.kind == SpanKind.CLIENT
    assert zadd.parent is not None and zadd.parent.span_id == parent.get_span_context().span_id
    assert dict(zadd.attributes) == {
        "db.system.name": "redis", "db.operation.name": "ZADD", "db.namespace": "3",
        "server.address": "127.0.0.1", "server.port": server.port, "db.query.text": "ZADD ? ? ?"}
    incr = spans["INCR"]
    assert incr.status.status_code == StatusCode.ERROR
    assert incr.attributes["error.type"] == "WRONGTYPE"
    assert incr.attributes["db.response.status_code"] == "WRONGTYPE"
    evalsha = spans["EVALSHA"]
    assert evalsha.attributes["db.stored_procedure.name"] == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    assert evalsha.attributes["db.response.status_code"] == "NOSCRIPT"
    assert "redis.Conn.ZADD" not in spans  # OpenCensus's names stay OpenCensus's


def test_pipelines_are_one_span(world: World, conn: redis.Conn) -> None:
    with world.tracer.start_as_current_span("batch"):
        for _ in range(3):
            conn.send("GET", "k")
        conn.flush()
        assert [conn.receive() for _ in range(3)] == [None, None, None]
        conn.send("SET", "k", "v")
        conn.send("GET", "k")
        conn.flush()
        conn.receive()
        conn.receive()
        conn.send("MULTI")
        conn.send("INCR", "n")
        conn.send("EXEC")
        conn.flush()
        assert [conn.receive() for _ in range(3)] == ["OK", "QUEUED", [1]]
    spans = [s for s in world.spans.get_finished_spans() if s.name != "batch"]
    assert [(s.name, s.attributes["db.operation.batch.size"]) for s in spans] == [
        ("PIPELINE GET", 3), ("PIPELINE", 2), ("MULTI", 3)]
    assert all(s.kind == SpanKind.CLIENT and s.attributes["db.namespace"] == "9" for s in spans)


def test_no_span_outside_a_recording_trace(world: World, conn: redis.Conn) -> None:
    conn.do("GET", "k")  # no current span at all
    unsampled = TracerProvider(sampler=ALWAYS_OFF).get_tracer("app")
    with unsampled.start_as_current_span("not sampled"):
        conn.do("GET", "k")
        conn.send("GET", "k")
        conn.flush()
        conn.receive()
    assert world.spans.get_finished_spans() == ()


def test_query_text_can_be_left_out(server: RedisServer) -> None:
    w = World(InMemoryMetricReader(), capture_query_text=False)
    try:
        with redis.dial("tcp", server.address) as c, w.tracer.start_as_current_span("root"):
            c.do("SET", "k", "secret-value")
        assert "db.query.text" not in w.finished()["SET"].attributes
    finally:
        w.close()


def test_dial_and_a_pool_get_that_dials_have_spans(world: World, make_server: Callable[..., RedisServer]) -> None:
    srv = make_server("--requirepass", "hunter2")
    pool = redis.Pool(dial=lambda: redis.dial("tcp", srv.address, password="hunter2"), max_idle=1,
                      name="sessions")
    with world.tracer.start_as_current_span("request") as parent:
        with pool.get() as c:  # dials: the get has a span
            c.do("PING")
        with pool.get() as c:  # reuses: no span for the get
            c.do("PING")
    spans = world.spans.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count("redis.Pool.get") == 1 and names.count("redis.dial") == 1
    root = parent.get_span_context().span_id
    by_name = {s.name: s for s in spans}
    assert by_name["redis.Pool.get"].parent.span_id == root
    assert by_name["redis.Pool.get"].attributes["db.client.connection.pool.name"] == "sessions"
    # The dial is the get's child, as opencensus nests them.
    assert by_name["redis.dial"].parent.span_id == by_name["redis.Pool.get"].context.span_id
    auth = by_name["AUTH"]
    assert auth.parent.span_id == by_name["redis.dial"].context.span_id  # the dial's handshake, inside it
    assert "hunter2" not in repr([(s.name, dict(s.attributes)) for s in spans])
    pool.close()


def test_a_failing_span_processor_never_costs_the_caller_its_connection(
        world: World, server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """A processor that raises when the pool get's and the dial's spans end: the get still
    returns its freshly dialled connection, the slot is kept, the failure is logged."""

    class Raising(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            if span.name in ("redis.Pool.get", "redis.dial"):
                raise RuntimeError("processor down")

    world.tracer_provider.add_span_processor(Raising(InMemorySpanExporter()))
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_active=1, max_idle=1)
    with world.tracer.start_as_current_span("request"):
        with pool.get() as c:
            assert c.do("PING") == "PONG"
        with pool.get() as c:  # the one slot came back
            assert c.do("PING") == "PONG"
    assert pool.active_count() == 1
    assert "a span processor failed" in caplog.text
    pool.close()


def _encoded_size(*command: Any) -> float:
    return float(len(encode(*command)))


def test_operation_duration_and_bytes_are_exact(world: World, conn: redis.Conn, server: RedisServer) -> None:
    for _ in range(25):
        conn.do("GET", "k")
    conn.do("SET", "s", "text")
    with pytest.raises(redis.Error):
        conn.do("INCR", "s")
    base = {"db.system.name": "redis", "db.namespace": "9", "server.address": "127.0.0.1",
            "server.port": server.port}
    durations = {tuple(sorted(a.items())): p for a, p in world.points("db.client.operation.duration")}
    gets = durations[tuple(sorted({**base, "db.operation.name": "GET"}.items()))]
    assert gets.count == 25 and len(gets.bucket_counts) == len(otel.DURATION_BOUNDS_S) + 1
    assert sum(gets.bucket_counts) == 25 and 0 < gets.min <= gets.max < 5
    assert otel.DURATION_BOUNDS_S[0] <= 0.0001
    failed = durations[tuple(sorted({**base, "db.operation.name": "INCR", "error.type": "ERR",
                                     "db.response.status_code": "ERR"}.items()))]
    assert failed.count == 1
    written = {a["db.operation.name"]: p for a, p in world.points("redis.client.bytes_written")}
    assert written["GET"].count == 25 and written["GET"].sum == 25 * _encoded_size("GET", "k")
    read = {a["db.operation.name"]: p for a, p in world.points("redis.client.bytes_read")}
    assert read["GET"].count == 25 and read["GET"].sum == 25 * 5.0  # "$-1\r\n"


def test_connection_metrics_of_a_pool(world: World, server: RedisServer) -> None:
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_idle=2, max_active=2, wait=True,
                      name="cache")
    held = [pool.get(), pool.get()]
    for c in held:
        c.do("PING")
    attrs = {"db.client.connection.pool.name": "cache"}

    def value(name: str, **extra: str) -> Any:
        return {tuple(sorted(a.items())): p.value for a, p in world.points(name)}.get(
            tuple(sorted({**attrs, **extra}.items())))

    assert value("db.client.connection.count", **{"db.client.connection.state": "used"}) == 2
    assert value("db.client.connection.count", **{"db.client.connection.state": "idle"}) == 0
    assert value("db.client.connection.max") == 2 and value("db.client.connection.idle.max") == 2
    waiting = threading.Thread(target=lambda: pool.get().close())
    waiting.start()
    deadline = time.monotonic() + 5
    while value("db.client.connection.pending_requests") != 1:
        assert time.monotonic() < deadline, "the waiter never showed"
        time.sleep(0.005)
    ctx, cancel = context.with_timeout(context.background(), 0.05)
    with pytest.raises(context.DeadlineExceeded):
        pool.get_context(ctx)
    cancel()
    for c in held:
        c.close()
    waiting.join(5)
    assert value("db.client.connection.pending_requests") == 0
    assert value("db.client.connection.count", **{"db.client.connection.state": "idle"}) == 2
    assert value("db.client.connection.timeouts") == 1
    times = {(a["db.client.connection.pool.name"], name): p.count
             for name in ("db.client.connection.create_time", "db.client.connection.wait_time",
                          "db.client.connection.use_time")
             for a, p in world.points(name)}
    assert times[("cache", "db.client.connection.create_time")] == 2
    assert times[("cache", "db.client.connection.wait_time")] == 1
    assert times[("cache", "db.client.connection.use_time")] == 3
    pool.close()


def test_a_pool_is_named_by_what_it_dials(world: World, server: RedisServer) -> None:
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address, database=4), max_idle=1)
    with pool.get() as c:
        c.do("PING")
    names = {a["db.client.connection.pool.name"] for a, _ in world.points("db.client.connection.count")}
    assert f"127.0.0.1:{server.port}/4" in names
    pool.close()


def test_a_delta_reader_gets_deltas(server: RedisServer) -> None:
    reader = InMemoryMetricReader(preferred_temporality={SdkHistogram: AggregationTemporality.DELTA})
    w = World(reader)
    try:
        with redis.dial("tcp", server.address) as c:
            for _ in range(4):
                c.do("PING")
            first = [p.count for a, p in w.points("db.client.operation.duration")]
            for _ in range(3):
                c.do("PING")
            second = [p.count for a, p in w.points("db.client.operation.duration")]
            third = w.points("db.client.operation.duration")
        assert first == [4] and second == [3] and third == []
    finally:
        w.close()


def test_both_worlds_count_each_command_once(world: World, conn: redis.Conn) -> None:
    from opencensus.stats import stats as stats_module

    redis.register_views()
    redis.observability.flush()
    before = _oc_count("GET")
    for _ in range(17):
        conn.do("GET", "k")
    redis.observability.flush()
    assert _oc_count("GET") - before == 17
    durations = [p.count for a, p in world.points("db.client.operation.duration")
                 if a["db.operation.name"] == "GET"]
    assert durations == [17]
    assert stats_module  # opencensus's view data was read through it


def _oc_count(cmd: str) -> int:
    from opencensus.stats import stats as stats_module

    mtvm = stats_module.stats.view_manager.measure_to_view_map
    for vd in mtvm._measure_to_view_data_list_map["redis/roundtrip_latency"]:
        data = vd.tag_value_aggregation_data_map.get((cmd,))
        return int(data.count_data) if data is not None else 0
    return 0


def test_uninstrument_gives_the_readers_back(conn: redis.Conn) -> None:
    reader = InMemoryMetricReader()
    w = World(reader)
    original = reader._collect
    assert original is not None and isinstance(original, otel._ReaderHook)
    otel.instrument(w.tracer_provider, w.meter_provider)  # idempotent
    assert reader._collect is original
    otel.uninstrument()
    assert not isinstance(reader._collect, otel._ReaderHook)
    assert not _recorder._backends
    with w.tracer.start_as_current_span("after"):
        conn.do("GET", "k")
    assert [s.name for s in w.spans.get_finished_spans()] == ["after"]
    w.close()


def test_instrumentor_entry_point() -> None:
    found = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "redigo_py"]
    assert len(found) == 1
    assert found[0].load() is otel.RedigoInstrumentor


def test_opentelemetry_instrument_command(server: RedisServer, tmp_path: Any) -> None:
    """No code change: ``opentelemetry-instrument`` turns redigo_py on before the program sets
    its own SDK providers, and both metrics and spans arrive."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import redigo_py as redis

        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        with redis.dial("tcp", "{server.address}") as c:
            with trace.get_tracer("app").start_as_current_span("job"):
                for _ in range(5):
                    c.do("GET", "k")
            redis.observability.flush()
        counts = [p.count for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                  if sm.scope.name == "redigo_py" for m in sm.metrics
                  if m.name == "db.client.operation.duration" for p in m.data.data_points]
        print(json.dumps({{"spans": sorted(s.name for s in spans.get_finished_spans()), "counts": counts}}))
    """))
    command = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none"}
    done = subprocess.run([command, sys.executable, str(script)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"spans": ["GET"] * 5 + ["job"], "counts": [5]}


def test_otlp_exporters_reach_a_receiver(otlp_receiver: OtlpReceiver, server: RedisServer) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_receiver.traces_endpoint)))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=otlp_receiver.metrics_endpoint),
                                           export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader])
    otel.instrument(tracer_provider, meter_provider)
    try:
        with redis.dial("tcp", server.address) as c:
            with tracer_provider.get_tracer("app").start_as_current_span("job"):
                for _ in range(6):
                    c.do("GET", "k")
        assert tracer_provider.force_flush(10_000) and meter_provider.force_flush(10_000)

        def durations() -> List[Any]:
            return [m for scope, m in otlp_receiver.metrics()
                    if scope == "redigo_py" and m.name == "db.client.operation.duration"]

        received = otlp_receiver.wait_for(durations)
        gets = otlp_receiver.wait_for(lambda: [s for s in otlp_receiver.spans() if s.name == "GET"])
    finally:
        otel.uninstrument()
        meter_provider.shutdown()
        tracer_provider.shutdown()
    points = [p for p in data_points(received[0]) if attributes(p.attributes)["db.operation.name"] == "GET"]
    assert [p.count for p in points] == [6]
    assert len(gets) == 6 and gets[0].attributes["db.system.name"] == "redis"
    assert otlp_receiver.errors == []


def test_real_prometheus_scrapes_the_prometheus_reader(server: RedisServer,
                                                       prometheus: Callable[..., PrometheusServer]) -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    reader = PrometheusMetricReader()  # registers itself with prometheus_client's global registry
    port = free_port()
    http_server, thread = start_http_server(port, addr="127.0.0.1")
    meter_provider = MeterProvider(metric_readers=[reader])
    otel.instrument(TracerProvider(), meter_provider)
    try:
        with redis.dial("tcp", server.address) as c:
            for _ in range(9):
                c.do("GET", "k")
        prom = prometheus([f"127.0.0.1:{port}"])
        query = f'db_client_operation_duration_seconds_count{{job="{prom.job}",db_operation_name="GET"}}'
        result = prom.wait_for(query)
        assert [float(s["value"][1]) for s in result] == [9.0]
    finally:
        otel.uninstrument()
        meter_provider.shutdown()
        http_server.shutdown()


def test_a_forked_child_reports_only_its_own_commands(world: World, server: RedisServer) -> None:
    """The parent's series are the parent's: the child's reader sees its own commands alone."""
    from .test_processes import Child

    c = redis.dial("tcp", server.address)
    for _ in range(4):
        c.do("GET", "k")
    assert [p.count for a, p in world.points("db.client.operation.duration")] == [4]
    for _ in range(2):
        c.do("GET", "k")  # recorded, not yet collected: the parent's too

    def child() -> List[int]:
        with redis.dial("tcp", server.address) as own:
            for _ in range(3):
                own.do("GET", "k")
        return [p.count for a, p in world.points("db.client.operation.duration")]

    assert Child(child).result() == [3]
    assert [p.count for a, p in world.points("db.client.operation.duration")] == [6]
    c.close()


def test_commands_written_by_do_leave_no_pipeline_names(world: World, conn: redis.Conn) -> None:
    """``send MULTI; send ...; do EXEC``: the do's own span covers them; a later pipeline's span
    names only its own commands."""
    with world.tracer.start_as_current_span("tx"):
        for _ in range(50):
            conn.send("MULTI")
            conn.send("INCR", "n")
            assert conn.do("EXEC") == [conn.do("GET", "n") and int(conn.do("GET", "n"))]
        conn.send("GET", "n")
        conn.flush()
        conn.receive()
    pipelines = [s for s in world.spans.get_finished_spans() if s.name.startswith("PIPELINE")]
    assert [(s.name, s.attributes["db.operation.batch.size"]) for s in pipelines] == [("PIPELINE GET", 1)]


def test_a_close_ends_an_open_pipeline_span(world: World, server: RedisServer) -> None:
    c = redis.dial("tcp", server.address)
    with world.tracer.start_as_current_span("abandoned"):
        c.send("GET", "k")
        c.flush()
        c.close()  # its reply never read
    pipeline = [s for s in world.spans.get_finished_spans() if s.name == "PIPELINE GET"]
    assert len(pipeline) == 1 and pipeline[0].status.status_code == StatusCode.ERROR


def test_aio_spans_follow_the_task_across_awaits_and_metrics_count(world: World, server: RedisServer) -> None:
    """Each task's command spans are children of that task's own span, however the
    tasks interleave; the same metrics as the blocking client's."""
    import asyncio

    from redigo_py import aio

    async def task(name: str, pool: aio.Pool) -> None:
        with world.tracer.start_as_current_span(name):
            for i in range(3):
                async with pool.get() as c:
                    await c.do("SET", f"{name}:{i}", i)
                    await asyncio.sleep(0)  # let the other task run in between
                    await c.send("GET", f"{name}:{i}")
                    await c.send("GET", f"{name}:{i}")
                    await c.flush()
                    assert [await c.receive(), await c.receive()] == [str(i).encode()] * 2

    async def main() -> None:
        pool = aio.Pool(dial=lambda: aio.dial("tcp", server.address, database=5), max_idle=2, name="aio")
        await asyncio.gather(task("a", pool), task("b", pool))
        used = {a["db.client.connection.state"]: p.value for a, p in world.points("db.client.connection.count")
                if a["db.client.connection.pool.name"] == "aio"}
        assert used == {"idle": 2, "used": 0}  # the gauges read the aio pool too
        await pool.close()

    asyncio.run(main())
    spans = world.spans.get_finished_spans()
    parents = {s.name: s.context.span_id for s in spans if s.name in ("a", "b")}
    sets = [s for s in spans if s.name == "SET"]
    assert Counter(s.parent.span_id for s in sets if s.parent) == {parents["a"]: 3, parents["b"]: 3}
    pipelines = [s for s in spans if s.name == "PIPELINE GET"]
    assert len(pipelines) == 6 and {s.parent.span_id for s in pipelines} == set(parents.values())
    assert all(s.attributes["db.namespace"] == "5" and s.attributes["server.port"] == server.port for s in sets)
    gets = {s.context.span_id: s for s in spans if s.name == "redis.Pool.get"}
    dials = [s for s in spans if s.name == "redis.dial"]
    assert dials and all(d.parent.span_id in gets for d in dials)  # each dial inside the get that made it
    assert {g.parent.span_id for g in gets.values()} <= set(parents.values())
    durations = {a["db.operation.name"]: p for a, p in world.points("db.client.operation.duration")
                 if a.get("db.namespace") == "5"}
    assert durations["SET"].count == 6
    read = {a["db.operation.name"]: p for a, p in world.points("redis.client.bytes_read")}
    assert read["GET"].count == 12 and read["GET"].sum == 12 * len(b"$1\r\n0\r\n")



def test_client_cache_hits_and_misses(world: World, server: RedisServer) -> None:
    """Cache lookups are counted by result, and a hit has a span of its own marked as one."""
    cache = redis.ClientCache()
    c = redis.dial("tcp", server.address, protocol=3, client_cache=cache, database=7)
    c.do("SET", "ck", "v")
    with world.tracer.start_as_current_span("reads"):
        for _ in range(3):
            assert c.do("GET", "ck") == b"v"
    c.close()
    lookups = {(a["db.operation.name"], a["redis.client.cache.result"]): p.value
               for a, p in world.points("redis.client.cache.requests")}
    assert lookups == {("GET", "miss"): 1, ("GET", "hit"): 2}
    gets = [s for s in world.spans.get_finished_spans() if s.name == "GET"]
    assert [s.attributes.get("redis.client.cache.hit") for s in gets] == [None, True, True]
    assert all(s.attributes["db.namespace"] == "7" for s in gets)
