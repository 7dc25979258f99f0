"""``make demo`` (``python -m harness demo``): the seed's end-to-end leaderboard program, observed.

The Go fork's integration guide ends with one program: a pooled connection,
ZADD / ZSCAN / DEL under the spans LeaderBoardModification >
AddToLeaderBoard / Scan / Cleanup, every view registered, metrics and traces
sent to Stackdriver. This runs that program and, so that nobody needs a
cloud account to see what it measures, prints the ZSCAN reply, then a table
of every view and the span tree (:mod:`redigo_py.exporters`).

``--stackdriver-project P`` also exports to Stackdriver as the seed does
(needs the ``[stackdriver]`` extra and Google credentials);
``--prometheus-port N`` serves the metrics on ``127.0.0.1:N/metrics`` until
Ctrl-C (needs the ``[prometheus]`` extra).

The server is ``$REDIS_URL``; when that is not set, a throwaway redis-server
that the demo starts on a free port and stops afterwards, so ``make demo``
works on a machine with no Redis running.

``--otel`` runs the same program through OpenTelemetry instead
(:mod:`redigo_py.otel`): the same spans from an OpenTelemetry tracer, and
the semantic-convention metrics, printed from the SDK's in-memory reader and
span exporter.

``--cluster`` runs the same program against a Redis Cluster, as a Go service
that outgrew one server does with redisc: a throwaway cluster of three
masters on free loopback ports (``$REDIS_URL`` names one server, not a
cluster, so it is not used), a :class:`~redigo_py.cluster.Cluster` with the
seed's pool per node, and each command sent through
:func:`~redigo_py.cluster.retry_conn`. After each command the demo logs the
node that served it; the command spans carry the same node as
``server.address``/``server.port``.

``--asyncio`` runs the same program on :mod:`redigo_py.aio` (an asyncio
service's port of it: the same pool, calls and spans, with ``await``);
it combines with ``--otel``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from typing import Any, Callable, Iterable, List, Optional

import redigo_py as redis
from redigo_py import observability
from redigo_py.exporters import ConsoleStatsExporter, ConsoleTraceExporter, import_stackdriver_trace

from .leaderboard import (OpenCensusTracing, OpenTelemetryTracing, Tracing, aio_leaderboard, cluster_leaderboard,
                          pooled_leaderboard)

#: The seed's ``MetricPrefix``; also the Prometheus namespace, which must not be empty.
METRIC_PREFIX = "redigodemo"


class FanOutExporter:
    """Hands each finished span to several trace exporters: a tracer takes only one."""

    def __init__(self, exporters: Iterable[Any]) -> None:
        self.exporters = list(exporters)

    def export(self, span_datas: List[Any]) -> None:
        for exporter in self.exporters:
            exporter.export(span_datas)


def enable_stackdriver(project: str, trace_exporters: List[Any]) -> Callable[[], None]:
    """The seed's ``enableOpenCensus()`` for Stackdriver; returns its ``sd.Flush`` for the metrics.

    The views are registered already. The stats exporter polls opencensus's
    view data on its own thread; the flush exports once more by hand, so
    nothing recorded after the last poll is lost (the Go program waits out a
    reporting period instead). The trace exporter's AsyncTransport sends the
    spans still queued when the process exits. It is imported first, before
    anything loads protobuf, so that it can pick the backend it needs (see
    :func:`redigo_py.exporters.import_stackdriver_trace`).
    """
    trace_exporter = import_stackdriver_trace()
    from opencensus.ext.stackdriver import stats_exporter
    from opencensus.stats import stats as stats_module

    sd_stats = stats_exporter.new_stats_exporter(
        stats_exporter.Options(project_id=project, metric_prefix=METRIC_PREFIX), interval=60)
    sd_trace = trace_exporter.StackdriverExporter(project_id=project)
    trace_exporters.append(sd_trace)

    def flush() -> None:
        observability.flush()
        sd_stats.export_metrics(stats_module.stats.get_metrics())

    return flush


def enable_prometheus(port: int) -> None:
    """Serve the views on ``127.0.0.1:port/metrics`` (a view-manager exporter plus an HTTP server)."""
    from opencensus.ext.prometheus import stats_exporter as prometheus
    from opencensus.stats import stats as stats_module

    exporter = prometheus.new_stats_exporter(
        prometheus.Options(namespace=METRIC_PREFIX, port=port, address="127.0.0.1"))
    stats_module.stats.view_manager.register_exporter(exporter)


def run_demo_otel(run: Callable[[Tracing], None]) -> None:
    """``run()`` the leaderboard through OpenTelemetry; print its metrics and its span tree."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from redigo_py import otel
    from redigo_py.exporters import otel_metrics_table, otel_span_tree

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    otel.instrument(tracer_provider, meter_provider)
    try:
        run(OpenTelemetryTracing(tracer_provider.get_tracer("redigo_py.demo")))
        print("\nMetrics (OpenTelemetry, scope redigo_py):")
        print(otel_metrics_table(reader.get_metrics_data()))
        print("\nTrace:")
        print(otel_span_tree(spans.get_finished_spans()), flush=True)
    finally:
        otel.uninstrument()
        meter_provider.shutdown()
        tracer_provider.shutdown()


def run_demo(run: Callable[[Tracing], None], log: logging.Logger, stackdriver_project: Optional[str],
             prometheus_port: Optional[int]) -> None:
    """Register views and exporters, ``run()`` the leaderboard, print the table and the tree;
    with a Prometheus port, then serve the metrics until Ctrl-C."""
    from opencensus.stats import stats as stats_module

    console_stats = ConsoleStatsExporter()
    stats_module.stats.view_manager.register_exporter(console_stats)
    redis.register_views()
    console_trace = ConsoleTraceExporter()
    trace_exporters: List[Any] = [console_trace]
    flush_stackdriver = enable_stackdriver(stackdriver_project, trace_exporters) if stackdriver_project else None
    if prometheus_port is not None:
        enable_prometheus(prometheus_port)
    # After the Stackdriver exporters: opencensus.trace loads protobuf.
    from opencensus.trace.samplers import AlwaysOnSampler
    from opencensus.trace.tracer import Tracer

    Tracer(exporter=FanOutExporter(trace_exporters), sampler=AlwaysOnSampler())  # the current tracer

    run(OpenCensusTracing())
    observability.flush()
    print("\nMetrics (every view of redigo_py.OBSERVABILITY_METRIC_VIEWS):")
    print(console_stats.table())
    print("\nTrace:")
    print(console_trace.tree(), flush=True)
    if flush_stackdriver is not None:
        flush_stackdriver()
        log.info("exported to Stackdriver project %s", stackdriver_project)
    if prometheus_port is not None:
        log.info("serving metrics on http://127.0.0.1:%d/metrics; Ctrl-C to stop", prometheus_port)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the seed's leaderboard, with its metrics and traces printed")
    demo.add_argument("--stackdriver-project", metavar="P", help="also export to this Stackdriver project")
    demo.add_argument("--prometheus-port", metavar="N", type=int,
                      help="serve the metrics on 127.0.0.1:N/metrics until Ctrl-C")
    demo.add_argument("--cluster", action="store_true",
                      help="run it on a throwaway 3-master Redis Cluster, through Cluster + retry_conn")
    demo.add_argument("--otel", action="store_true",
                      help="observe it through OpenTelemetry instead of OpenCensus")
    demo.add_argument("--asyncio", action="store_true",
                      help="run it on redigo_py.aio, the asyncio client (not with --cluster)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("redigo_py.demo")

    def observed(run: Callable[[Tracing], None]) -> None:
        if args.otel:
            run_demo_otel(run)
        else:
            run_demo(run, log, args.stackdriver_project, args.prometheus_port)

    if args.asyncio and args.cluster:
        parser.error("--asyncio runs the single-server program; use it without --cluster")

    def pooled(url: str, log: logging.Logger, tracing: Tracing) -> None:
        if args.asyncio:
            asyncio.run(aio_leaderboard(url, log, tracing))
        else:
            pooled_leaderboard(url, log, tracing)

    if args.cluster:
        from .server import RedisCluster

        with RedisCluster(masters=3, replicas=0) as nodes:
            log.info("started a throwaway 3-master Redis Cluster at %s (%s)",
                     ", ".join(nodes.addresses), nodes.nodes[0].binary)
            observed(lambda tracing: cluster_leaderboard(nodes.addresses, log, tracing))
        return 0
    url = os.environ.get("REDIS_URL")
    if url:
        observed(lambda tracing: pooled(url, log, tracing))
        return 0
    from .server import RedisServer

    with RedisServer() as server:
        log.info("started a throwaway redis-server at %s (%s)", server.address, server.binary)
        observed(lambda tracing: pooled(server.url, log, tracing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
