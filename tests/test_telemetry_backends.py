"""The telemetry test backends prove themselves against real producers.

* tests/prometheus_server.py: the real Prometheus scrapes opencensus'
  Prometheus exporter serving redigo_py's views, and PromQL over its HTTP API
  returns exactly the number of GETs a real redis-server answered.
* tests/otlp_receiver.py: the real OpenTelemetry SDK and OTLP/HTTP exporters
  send a span and a counter (uncompressed, gzip, deflate) and the receiver
  decodes them.

If these pass, a later failure in a test built on the backends is the
library's, not the harness's.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any, Callable, Iterator, List

import pytest

import redigo_py as redis
from redigo_py import observability as obs
from harness.server import RedisServer, free_port

from .otlp_receiver import OtlpReceiver, attributes, data_points
from .prometheus_server import PrometheusServer

N_GETS = 7
#: Not test_exporters' "redigo": both exporters' collectors end up in prometheus_client's global
#: REGISTRY, which every exporter's endpoint serves; a namespace of our own keeps series apart.
NAMESPACE = "redigo_backends"


@pytest.fixture
def oc_prometheus_exporter() -> Iterator[int]:
    """opencensus' PrometheusStatsExporter on a free port, registered for one test; yields the port.

    Its HTTP server cannot be stopped (opencensus keeps no handle), so at the
    end its collector leaves the global registry and the view manager.
    """
    exporter_module = pytest.importorskip("opencensus.ext.prometheus.stats_exporter")
    from opencensus.stats import stats as stats_module
    from prometheus_client import REGISTRY, CollectorRegistry

    port = free_port()
    exporter = exporter_module.new_stats_exporter(exporter_module.Options(
        namespace=NAMESPACE, port=port, address="127.0.0.1", registry=CollectorRegistry()))
    stats_module.stats.view_manager.register_exporter(exporter)
    try:
        yield port
    finally:
        stats_module.stats.view_manager.unregister_exporter(exporter)
        REGISTRY.unregister(exporter.collector)


def test_real_prometheus_scrapes_exact_get_count(fresh_views: None, oc_prometheus_exporter: int,
                                                  server: RedisServer,
                                                  prometheus: Callable[..., PrometheusServer]) -> None:
    c = redis.dial("tcp", server.address)
    try:
        for i in range(N_GETS):
            assert c.do("GET", f"telemetry-backends:{i}") is None
    finally:
        c.close()
    obs.flush()  # before the first scrape: every scrape then sees the final count

    target = f"127.0.0.1:{oc_prometheus_exporter}"
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as response:
        exposed = response.read().decode()
    assert f'{NAMESPACE}_redis_client_reads_total{{cmd="GET"}} {float(N_GETS)}' in exposed.splitlines()

    prom = prometheus([target])
    started = time.monotonic()
    result = prom.wait_for(f'{NAMESPACE}_redis_client_reads_total{{job="{prom.job}",cmd="GET"}}')
    print(f"first scrape visible after {time.monotonic() - started:.2f} s")
    assert [(s["metric"]["instance"], float(s["value"][1])) for s in result] == [(target, N_GETS)]
    # The scrape itself was healthy, not merely non-empty: Prometheus' own "up" series says so.
    assert [float(s["value"][1]) for s in prom.query(f'up{{job="{prom.job}"}}')] == [1.0]


# -- the OTLP receiver with the real SDK ----------------------------------------------------

try:  # without the OTLP exporter the parametrized span test reports an empty parameter set (skip)
    from opentelemetry.exporter.otlp.proto.http import Compression

    COMPRESSIONS: List[Any] = list(Compression)
except ImportError:
    COMPRESSIONS = []


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=lambda c: c.value)
def test_otlp_receiver_decodes_a_span(otlp_receiver: OtlpReceiver, compression: Any) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "redigo-py-tests"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=otlp_receiver.endpoint + "/v1/traces", compression=compression)))
    try:
        with provider.get_tracer("tests.telemetry_backends").start_as_current_span(
                "probe", attributes={"probe.n": 7, "probe.tags": ["a", "b"]}) as sent:
            sent_trace_id = sent.get_span_context().trace_id
        assert provider.force_flush(10_000)
        probes = otlp_receiver.wait_for(lambda: [s for s in otlp_receiver.spans() if s.name == "probe"])
    finally:
        provider.shutdown()

    assert len(probes) == 1
    probe = probes[0]
    assert probe.scope.name == "tests.telemetry_backends"
    assert probe.attributes == {"probe.n": 7, "probe.tags": ["a", "b"]}
    assert attributes(probe.resource.attributes)["service.name"] == "redigo-py-tests"
    assert int.from_bytes(probe.span.trace_id, "big") == sent_trace_id
    expected_encoding = "" if compression.value == "none" else compression.value
    assert [r.content_encoding for r in otlp_receiver.requests("/v1/traces")] == [expected_encoding]
    assert otlp_receiver.errors == []


def test_otlp_receiver_decodes_a_counter(otlp_receiver: OtlpReceiver) -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    reader = PeriodicExportingMetricReader(  # an hour: only force_flush and shutdown export
        OTLPMetricExporter(endpoint=otlp_receiver.endpoint + "/v1/metrics"), export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    try:
        counter = provider.get_meter("tests.telemetry_backends").create_counter("probe.count", unit="1")
        counter.add(3, {"probe": "yes"})
        assert provider.force_flush(10_000)

        def probe_counts() -> List[Any]:
            return [m for scope, m in otlp_receiver.metrics()
                    if scope == "tests.telemetry_backends" and m.name == "probe.count"]

        received = otlp_receiver.wait_for(probe_counts)
    finally:
        provider.shutdown()  # exports once more: cumulative, so the same 3

    assert len(received) == 1
    metric = received[0]
    assert metric.WhichOneof("data") == "sum" and metric.sum.is_monotonic
    assert [(p.as_int, attributes(p.attributes)) for p in data_points(metric)] == [(3, {"probe": "yes"})]
    assert all([p.as_int for p in data_points(m)] == [3] for m in probe_counts())
    assert otlp_receiver.errors == []
