"""Metrics and spans: exact values, the fork's names, equality with naive opencensus."""

from __future__ import annotations

import socket
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opencensus.stats import aggregation_data as ad
from opencensus.stats import measure_to_view_map
from opencensus.stats import stats as stats_module
from opencensus.tags import TagContext, TagMap
from opencensus.trace import base_exporter, execution_context
from opencensus.trace import tracer as tracer_module
from opencensus.trace.samplers import AlwaysOffSampler, AlwaysOnSampler
from opencensus.trace.span import SpanKind

import redigo_py as redis
from redigo_py import _recorder
from redigo_py import observability as obs
from redigo_py.resp import encode

from .conftest import ScriptedServer, read_command

VIEW_TABLE = [
    ("redis/client/bytes_written", "redis/bytes_written", "By", ["cmd"], ad.DistributionAggregationData),
    ("redis/client/bytes_read", "redis/bytes_read", "By", ["cmd"], ad.DistributionAggregationData),
    ("redis/client/roundtrip_latency", "redis/roundtrip_latency", "ms", ["cmd"], ad.DistributionAggregationData),
    ("redis/client/writes", "redis/writes", "1", ["cmd"], ad.CountAggregationData),
    ("redis/client/reads", "redis/reads", "1", ["cmd"], ad.CountAggregationData),
    ("redis/client/errors", "redis/errors", "1", ["cmd", "detail", "kind"], ad.CountAggregationData),
    ("redis/client/connections_closed", "redis/connections_closed", "1", ["state"], ad.CountAggregationData),
    ("redis/client/connections_open", "redis/connections_open", "1", ["state"], ad.CountAggregationData),
]


def test_views_have_the_forks_names() -> None:
    views = redis.OBSERVABILITY_METRIC_VIEWS
    assert len(views) == len(VIEW_TABLE)
    for v, (name, measure, unit, columns, data_type) in zip(views, VIEW_TABLE):
        assert (v.name, v._measure.name, v._measure.unit, list(v.columns)) == (name, measure, unit, columns)
        assert isinstance(v.new_aggregation_data(), data_type)
    latency = views[2].new_aggregation_data()
    assert latency.bounds[0] == 0.01 and latency.bounds[-1] == 10000.0


@pytest.fixture
def views() -> Iterator[Dict[str, Any]]:
    """Our views registered with opencensus's global view manager, emptied for this test."""
    redis.register_views()
    assert obs.ENABLED
    mtvm = stats_module.stats.view_manager.measure_to_view_map
    obs.flush()
    found = {}
    for v in obs._all_views():  # the fork's 8 and the cache's
        for vd in mtvm._measure_to_view_data_list_map[v._measure.name]:
            if vd.view is v:
                vd._tag_value_aggregation_data_map.clear()
                found[v.name] = vd
    yield found


def data(views: Dict[str, Any], view: str) -> Dict[Tuple[Any, ...], Any]:
    obs.flush()
    return dict(views[view].tag_value_aggregation_data_map)


def counts(views: Dict[str, Any], view: str) -> Dict[Tuple[Any, ...], int]:
    return {k: v.count_data for k, v in data(views, view).items()}


def test_exact_bytes_and_counts(views: Dict[str, Any], server: Any) -> None:
    c = redis.dial("tcp", server.address, database=9)
    c.do("DEL", "k", "nil")
    c.do("SET", "k", "x" * 100)
    assert c.do("GET", "k") == b"x" * 100
    assert c.do("GET", "nil") is None
    c.send("GET", "k")
    c.send("SET", "k", "y")
    c.flush()
    c.receive()
    c.receive()
    c.close()

    writes = counts(views, "redis/client/writes")
    assert writes[("GET",)] == 3 and writes[("SET",)] == 2 and writes[("DEL",)] == 1
    reads = counts(views, "redis/client/reads")
    assert reads[("GET",)] == 3 and reads[("SET",)] == 2
    written = data(views, "redis/client/bytes_written")[("GET",)]
    get_size = len(encode("GET", "k"))
    assert written.count_data == 3
    assert written.mean_data * 3 == pytest.approx(2 * get_size + len(encode("GET", "nil")))
    read = data(views, "redis/client/bytes_read")[("GET",)]
    value_reply = len(b"$100\r\n") + 100 + 2
    assert read.count_data == 3
    assert read.mean_data * 3 == pytest.approx(2 * value_reply + 5)  # the nil is 5 bytes: "$-1\r\n"
    assert read.counts_per_bucket[0] == 1  # 5 B < 16 B
    assert counts(views, "redis/client/roundtrip_latency")[("GET",)] == 2  # one per do, not per receive
    # dial(database=9) sent SELECT; the dial and the close are each counted once
    assert counts(views, "redis/client/connections_open") == {("new",): 1}
    assert counts(views, "redis/client/connections_closed") == {("complete",): 1}


def test_pipelined_replies_counted_under_their_own_command(views: Dict[str, Any], conn: redis.Conn) -> None:
    conn.send("SET", "a", "1")
    conn.send("INCR", "a")
    conn.send("LPUSH", "a", "x")  # WRONGTYPE
    with pytest.raises(redis.Error, match="WRONGTYPE"):
        conn.do("GET", "a")
    reads = counts(views, "redis/client/reads")
    assert {k: reads[k] for k in [("SET",), ("INCR",), ("LPUSH",), ("GET",)]} == {
        ("SET",): 1, ("INCR",): 1, ("LPUSH",): 1, ("GET",): 1}
    assert counts(views, "redis/client/errors") == {("LPUSH", "WRONGTYPE", "reply"): 1}
    read_sizes = data(views, "redis/client/bytes_read")
    assert read_sizes[("INCR",)].mean_data == len(b":2\r\n")
    assert read_sizes[("SET",)].mean_data == len(b"+OK\r\n")


def test_lower_case_commands_are_tagged_upper_case(views: Dict[str, Any], conn: redis.Conn) -> None:
    conn.do("set", "k", "v")
    conn.do("Set", "k", "v")
    assert counts(views, "redis/client/writes")[("SET",)] == 2


def _never_reply(sock: socket.socket) -> None:
    read_command(sock)
    sock.recv(1)


ERROR_CASES: List[Tuple[str, Callable[[socket.socket], None], Dict[str, Any], type, Tuple[str, str, str]]] = [
    ("timeout", _never_reply, {"read_timeout": 0.1}, redis.TimeoutError, ("GET", "TimeoutError", "timeout")),
    ("protocol", lambda s: (read_command(s), s.sendall(b"!bad\r\n"), s.recv(1)), {},
     redis.ProtocolError, ("GET", "ProtocolError", "protocol")),
    ("eof", lambda s: (read_command(s), s.close()), {}, redis.ConnectionError,
     ("GET", "ConnectionError", "read")),
]


@pytest.mark.parametrize("name,handler,options,exc_type,key", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_error_kinds_are_bounded(views: Dict[str, Any], scripted: Callable[..., ScriptedServer], name: str,
                                 handler: Callable[[socket.socket], None], options: Dict[str, Any],
                                 exc_type: type, key: Tuple[str, str, str]) -> None:
    c = redis.dial("tcp", scripted(handler).address, **options)
    with pytest.raises(exc_type):
        c.do("GET", "k")
    c.close()
    assert counts(views, "redis/client/errors") == {key: 1}
    assert counts(views, "redis/client/connections_closed") == {("error",): 1}  # once: not again at close()


def test_dial_error_is_counted(views: Dict[str, Any]) -> None:
    from harness.server import free_port
    with pytest.raises(redis.ConnectionError):
        redis.dial("tcp", f"127.0.0.1:{free_port()}")
    assert counts(views, "redis/client/errors") == {("DIAL", "ConnectionError", "dial"): 1}


def test_context_tags_are_the_base(views: Dict[str, Any], conn: redis.Conn) -> None:
    """A view with an extra column sees the application's tag, as Go's ctx tags."""
    from opencensus.stats import view as view_module
    from opencensus.stats.aggregation import CountAggregation

    extra = view_module.View("test/writes_by_service", "", ["service", "cmd"],
                             obs._measures[obs.MEASURE_WRITES], CountAggregation())
    obs.flush()  # the fixture's own commands go to the views that existed then
    stats_module.stats.view_manager.register_view(extra)
    tag_map = TagMap()
    tag_map.insert("service", "checkout")
    token = TagContext.set(tag_map)
    try:
        conn.do("PING")
    finally:
        TagContext.set(None)
    conn.do("PING")
    obs.flush()
    mtvm = stats_module.stats.view_manager.measure_to_view_map
    vd = next(vd for vd in mtvm._measure_to_view_data_list_map[obs.MEASURE_WRITES] if vd.view is extra)
    got = {k: v.count_data for k, v in vd.tag_value_aggregation_data_map.items() if k[1] == "PING"}
    assert got == {("checkout", "PING"): 1, (None, "PING"): 1}
    assert counts(views, "redis/client/writes")[("PING",)] == 2
    del token


def test_equal_to_naive_opencensus_recording(views: Dict[str, Any], conn: redis.Conn) -> None:
    """Fold the very same samples naively, through opencensus's own recorder, and compare."""
    obs.flush()
    with _recorder._flush_lock:  # hold the background flusher off while the samples are copied
        for i in range(200):
            conn.do("SET", f"k{i}", "v" * (i * 37 % 3000))
            conn.do("GET", f"k{i}")
        pending: Dict[str, Tuple[List[int], List[int], List[int]]] = {"SET": ([], [], []), "GET": ([], [], [])}
        for s in _recorder._commands.values():  # "set" and "SET" are two entries with one tag
            if s.cmd in pending and not s.tags:
                for mine, theirs in zip(pending[s.cmd], (s.written, s.read, s.latency_ns)):
                    mine.extend(theirs)
    naive = measure_to_view_map.MeasureToViewMap()
    for v in redis.OBSERVABILITY_METRIC_VIEWS[:5]:
        naive.register_view(v, None)
    from opencensus.tags import TagMap as Tags
    for cmd, (written, read, latency) in pending.items():
        tags = Tags()
        tags.insert("cmd", cmd)
        m = obs._measures
        for w in written:
            naive.record(tags, {m[obs.MEASURE_BYTES_WRITTEN]: w, m[obs.MEASURE_WRITES]: 1}, None)
        for r in read:
            naive.record(tags, {m[obs.MEASURE_BYTES_READ]: r, m[obs.MEASURE_READS]: 1}, None)
        for ns in latency:
            naive.record(tags, {m[obs.MEASURE_ROUNDTRIP_LATENCY]: ns / 1e6}, None)
    for v in redis.OBSERVABILITY_METRIC_VIEWS[:5]:
        ours = data(views, v.name)
        theirs = naive._measure_to_view_data_list_map[v._measure.name][0].tag_value_aggregation_data_map
        for key in [("SET",), ("GET",)]:
            a, b = ours[key], theirs[key]
            assert a.count_data == b.count_data, v.name
            if isinstance(b, ad.DistributionAggregationData):
                assert a.counts_per_bucket == b.counts_per_bucket, v.name
                assert a.mean_data == pytest.approx(b.mean_data, rel=1e-9)
                assert a.sum_of_sqd_deviations == pytest.approx(b.sum_of_sqd_deviations, rel=1e-6)


class CaptureExporter(base_exporter.Exporter):  # type: ignore[misc]
    def __init__(self) -> None:
        self.spans: List[Any] = []

    def export(self, span_datas: List[Any]) -> None:
        self.spans.extend(span_datas)

    def emit(self, span_datas: List[Any]) -> None:
        self.spans.extend(span_datas)


@pytest.fixture
def tracing() -> Iterator[CaptureExporter]:
    exporter = CaptureExporter()
    tracer_module.Tracer(sampler=AlwaysOnSampler(), exporter=exporter)
    yield exporter
    execution_context.clean()


def test_spans(tracing: CaptureExporter, server: Any) -> None:
    tracer = execution_context.get_opencensus_tracer()
    with tracer.span("LeaderBoardModification") as parent:
        c = redis.dial("tcp", server.address, database=2, default_attributes={"service": "game"})
        c.do("ZADD", "board", 10, "a")
        with pytest.raises(redis.Error):
            c.do("INCR", "board")
        c.send("DEL", "board")
        c.flush()
        c.receive()
        c.close()
    spans = {s.name: s for s in tracing.spans}
    assert {"redis.dial", "redis.Conn.ZADD", "redis.Conn.INCR", "redis.Conn.send", "redis.Conn.flush",
            "redis.Conn.receive", "redis.Conn.close", "redis.Conn.SELECT"} <= set(spans)
    zadd = spans["redis.Conn.ZADD"]
    assert zadd.parent_span_id == parent.span_id
    assert zadd.span_kind == SpanKind.CLIENT
    assert zadd.attributes == {
        "db.system.name": "redis", "db.operation.name": "ZADD", "db.namespace": "2",
        "server.address": "127.0.0.1", "server.port": server.port,
        "db.query.text": "ZADD ? ? ?", "service": "game"}
    assert zadd.status is None or zadd.status.code == 0
    assert spans["redis.Conn.INCR"].status.code != 0
    assert spans["redis.Conn.INCR"].status.message.startswith("WRONGTYPE")


def test_a_pooled_conns_close_has_its_span(tracing: CaptureExporter, server: Any) -> None:
    """Returning a borrowed conn (with its clean-up: here a DISCARD) is a ``redis.Conn.close``
    span under the caller's span, as a bare conn's close is."""
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_idle=1)
    tracer = execution_context.get_opencensus_tracer()
    with tracer.span("handler") as parent:
        c = pool.get()
        c.do("MULTI")
        c.close()
    closes = [s for s in tracing.spans if s.name == "redis.Conn.close"]
    assert len(closes) == 1
    assert closes[0].parent_span_id == parent.span_id
    assert closes[0].attributes["server.port"] == server.port
    assert pool.idle_count() == 1  # the clean-up worked: kept for reuse
    pool.close()


def test_spans_never_carry_secrets(tracing: CaptureExporter, make_server: Callable[..., Any]) -> None:
    srv = make_server("--requirepass", "hunter2")
    tracer = execution_context.get_opencensus_tracer()
    with tracer.span("root"):
        c = redis.dial("tcp", srv.address, password="hunter2")
        c.do("CONFIG", "SET", "requirepass", "hunter2")
        with pytest.raises(redis.Error):
            c.do("AUTH", "nobody", "hunter2")
        c.close()
    text = repr([(s.name, s.attributes, s.status and s.status.message) for s in tracing.spans])
    assert "hunter2" not in text
    assert "AUTH ?" in text


def test_unsampled_trace_makes_no_span(server: Any) -> None:
    exporter = CaptureExporter()
    tracer = tracer_module.Tracer(sampler=AlwaysOffSampler(), exporter=exporter)
    try:
        with tracer.span("root"):
            c = redis.dial("tcp", server.address)
            c.do("PING")
            c.close()
    finally:
        execution_context.clean()
    assert exporter.spans == []


def test_pool_connection_states(views: Dict[str, Any], server: Any) -> None:
    clock = [1000.0]
    import redigo_py.pool as pool_module
    real_now = pool_module._now
    pool_module._now = lambda: clock[0]
    try:
        pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_idle=2, idle_timeout=60)
        for _ in range(3):
            with pool.get() as c:  # new, then reused twice; returning is not closing
                c.do("PING")
        assert counts(views, "redis/client/connections_open") == {("new",): 1, ("reused",): 2}
        assert counts(views, "redis/client/connections_closed") == {}
        clock[0] += 120  # past idle_timeout: the idle conn is closed as "idle" on the next get
        with pool.get() as c:
            c.do("PING")
        pool.test_on_borrow = lambda c, t: (_ for _ in ()).throw(RuntimeError("stale"))
        with pool.get() as c:  # the idle one is rejected as "stale", a new one dialed
            c.do("PING")
        pool.close()  # the remaining idle conn: "complete"
        assert counts(views, "redis/client/connections_closed") == {
            ("idle",): 1, ("stale",): 1, ("complete",): 1}
        assert counts(views, "redis/client/connections_open") == {("new",): 3, ("reused",): 2}
    finally:
        pool_module._now = real_now


def test_pool_refusals_are_pool_get_errors(views: Dict[str, Any], server: Any) -> None:
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_active=1)
    held = pool.get()
    held.do("PING")
    with pytest.raises(redis.ErrPoolExhausted):
        pool.get().do("PING")
    held.close()
    pool.close()
    with pytest.raises(redis.PoolClosedError, match="get on closed pool"):
        pool.get_context(redis.context.background())
    assert counts(views, "redis/client/errors") == {
        ("POOL.GET", "ErrPoolExhausted", "pool_get"): 1, ("POOL.GET", "PoolClosedError", "pool_get"): 1}


def test_pool_get_span_parents_the_dial(tracing: CaptureExporter, server: Any) -> None:
    tracer = execution_context.get_opencensus_tracer()
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address))
    with tracer.span("request"):
        c = pool.get_with_context(redis.context.background())
        c.do("PING")
        c.close()
    pool.close()
    spans = {s.name: s for s in tracing.spans}
    assert spans["redis.dial"].parent_span_id == spans["redis.Pool.get"].span_id
    assert spans["redis.Conn.PING"].parent_span_id == spans["request"].span_id


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_span_times_format_as_opencensus_does(seconds: float) -> None:
    import datetime
    expected = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert obs._iso(seconds) == expected


def test_a_broken_exporter_does_not_break_flush(views: Dict[str, Any], conn: redis.Conn,
                                                caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def export(self, view_datas: Any) -> None:
            raise RuntimeError("exporter down")

        def on_register_view(self, view: Any) -> None:
            pass

    mtvm = stats_module.stats.view_manager.measure_to_view_map
    broken = Broken()
    mtvm.exporters.append(broken)
    try:
        conn.do("PING")
        obs.flush()  # must not raise
    finally:
        mtvm.exporters.remove(broken)
    assert "a metrics exporter failed" in caplog.text
    assert counts(views, "redis/client/writes")[("PING",)] == 1  # folded all the same


def test_context_tags_never_relabel_the_librarys_own(views: Dict[str, Any], conn: redis.Conn) -> None:
    tag_map = TagMap()
    tag_map.insert("cmd", "cli-import")
    tag_map.insert("kind", "batch")
    TagContext.set(tag_map)
    try:
        conn.do("SET", "k", "v")
        with pytest.raises(redis.Error):
            conn.do("LPUSH", "k", "x")
    finally:
        TagContext.set(None)
    assert counts(views, "redis/client/writes")[("SET",)] == 1
    assert counts(views, "redis/client/errors") == {("LPUSH", "WRONGTYPE", "reply"): 1}


def test_a_broken_trace_exporter_does_not_fail_the_command(conn: redis.Conn,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    class Broken(base_exporter.Exporter):  # type: ignore[misc]
        def export(self, span_datas: List[Any]) -> None:
            raise RuntimeError("trace backend down")

    tracer_module.Tracer(sampler=AlwaysOnSampler(), exporter=Broken())
    try:
        conn.send("INCR", "n")
        assert conn.do("GET", "n") == b"1"  # the command ran once, and its reply came back
    finally:
        execution_context.clean()
    assert "a trace exporter failed" in caplog.text


def test_aio_spans_and_views(tracing: CaptureExporter, views: Dict[str, Any], server: Any) -> None:
    """redigo_py.aio records through the same seam: OpenCensus spans under the task's
    current span, and the views' counts."""
    import asyncio

    from redigo_py import aio

    tracer = execution_context.get_opencensus_tracer()

    async def main() -> None:
        with tracer.span("aio-work") as parent:
            c = await aio.dial("tcp", server.address, database=6)
            await c.do("SET", "k", "v")
            await asyncio.sleep(0)
            with pytest.raises(redis.Error):
                await c.do("INCR", "k")
            await c.close()
        return parent

    parent = asyncio.run(main())
    spans = {s.name: s for s in tracing.spans}
    assert spans["redis.Conn.SET"].parent_span_id == parent.span_id
    assert spans["redis.Conn.INCR"].status.code != 0
    assert "redis.dial" in spans and "redis.Conn.SELECT" in spans
    assert counts(views, "redis/client/writes")[("SET",)] == 1
    assert counts(views, "redis/client/roundtrip_latency")[("SET",)] == 1
    assert counts(views, "redis/client/connections_open") == {("new",): 1}


def test_client_cache_view(views: Dict[str, Any], server: Any) -> None:
    """register_views() also registers redis/client/cache_requests (not one of the fork's 8)."""
    assert "redis/client/cache_requests" in views
    assert "redis/client/cache_requests" not in {v.name for v in redis.OBSERVABILITY_METRIC_VIEWS}
    cache = redis.ClientCache()
    c = redis.dial("tcp", server.address, protocol=3, client_cache=cache, database=7)
    c.do("SET", "ck", "v")
    for _ in range(4):
        c.do("HGETALL", "nohash")
    c.close()
    assert counts(views, "redis/client/cache_requests") == {("HGETALL", "miss"): 1, ("HGETALL", "hit"): 3}
