"""What OpenTelemetry costs per ``do("GET")`` in a service that uses only OpenTelemetry.

Run: ``.venv/bin/python benchmarks/bench_otel.py``, and pinned with the
server it starts: ``taskset -c 0 .venv/bin/python benchmarks/bench_otel.py``.
Unlike ``bench_observability.py``, which measures both worlds in one process,
this one never imports opencensus, as an OpenTelemetry-only service would
not (once opencensus's tracing module is loaded, every command also asks it
for a tracer). Median of interleaved rounds, against the plain client of the
same run, in wall time and in the process's CPU time (the SDK's periodic
export thread included). Targets: metrics <= 1.05x wall and <= 1.10x CPU;
a current span that is not recording <= 1 µs; a sampled span <= 15 µs.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from typing import Any, Callable, ContextManager, Dict, Iterator, List

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from _timing import per_op, per_op_cpu

import redigo_py as redis
from redigo_py import otel
from _harness import RedisServer


class DropMetrics(MetricExporter):
    """An OpenTelemetry metric exporter that drops what it is given: the cost of having one."""

    def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


class DropSpans(SpanExporter):
    def export(self, spans: Any) -> Any:
        return SpanExportResult.SUCCESS


@contextlib.contextmanager
def instrumented(tracer_provider: Any, meter_provider: Any, span_provider: Any = None) -> Iterator[None]:
    """A setting of the benchmarks: ``otel.instrument`` on these providers, under a current span
    of ``span_provider`` (recording or not, per its sampler) when one is given."""
    otel.instrument(tracer_provider, meter_provider)
    try:
        if span_provider is not None:
            with span_provider.get_tracer("bench").start_as_current_span("request"):
                yield
        else:
            yield
    finally:
        otel.uninstrument()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("-n", type=int, default=300, help="commands per round")
    opts = parser.parse_args()
    meter_provider = MeterProvider(metric_readers=[
        PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=1000)])
    sampled = TracerProvider()
    sampled.add_span_processor(BatchSpanProcessor(DropSpans()))
    unsampled = TracerProvider(sampler=ALWAYS_OFF)
    with RedisServer() as server:
        c = redis.dial("tcp", server.address)
        c.do("SET", "k100", b"x" * 100)
        get = lambda: c.do("GET", "k100")  # noqa: E731

        def setting(on: bool, span: Any = None) -> ContextManager[None]:
            return instrumented(sampled, meter_provider, span) if on else contextlib.nullcontext()

        settings: Dict[str, Callable[[], Any]] = {
            "plain": lambda: setting(False),
            "metrics": lambda: setting(True),
            "span not recording": lambda: setting(True, unsampled),
            "span sampled": lambda: setting(True, sampled),
        }
        times: Dict[str, List[float]] = {name: [] for name in settings}
        cpu: Dict[str, List[float]] = {name: [] for name in settings}
        for _ in range(opts.rounds):
            for name, make in settings.items():
                with make():
                    times[name].append(per_op(get, opts.n))
                    cpu[name].append(per_op_cpu(get, opts.n))
        c.close()
    base, base_cpu = statistics.median(times["plain"]), statistics.median(cpu["plain"])
    print(f"do('GET') of 100 B, OpenTelemetry only, median of {opts.rounds} interleaved rounds of {opts.n}")
    for name in settings:
        t, u = statistics.median(times[name]), statistics.median(cpu[name])
        print(f"  {name:20s} wall {t * 1e6:8.2f} us {t / base:6.3f}x (+{(t - base) * 1e6:6.2f} us)"
              f"   cpu {u * 1e6:7.2f} us {u / base_cpu:6.3f}x (+{(u - base_cpu) * 1e6:6.2f} us)")
    meter_provider.shutdown()
    sampled.shutdown()


if __name__ == "__main__":
    main()
