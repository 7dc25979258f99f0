"""What observability costs per ``do("GET")``, in each world: metrics off/on, traces unsampled/sampled.

Run: ``.venv/bin/python benchmarks/bench_observability.py``, and pinned with
the server it starts: ``taskset -c 0 .venv/bin/python benchmarks/bench_observability.py``
(unpinned, a loopback round trip here is mostly cross-CPU wake-up). One
process, one server, many short interleaved rounds; the median round of
each setting is compared with the plain client (no sink, no tracer) of the
same run, in wall time and in the process's CPU time (every thread of it,
the export threads included):

- OpenCensus: all 8 views registered with an exporter attached (target
  <= 1.05x); a tracer that does not sample; one that samples, its spans
  dropped;
- OpenTelemetry: ``otel.instrument()`` with a ``PeriodicExportingMetricReader``
  (1 s, an exporter that drops) (targets: <= 1.05x wall, <= 1.10x CPU); a
  current span that is not recording (target: <= 1 µs per command); a
  recording one with a ``BatchSpanProcessor`` whose exporter drops
  (target: <= 15 µs per command);
- both worlds' metrics at once;
- and, for scale, opencensus's own recording path (``stats_recorder``) for
  the same five measurements a GET records.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from typing import Any, Callable, Dict, Iterator, List

from opencensus.stats import stats as stats_module
from opencensus.tags import TagMap
from opencensus.trace import base_exporter, execution_context
from opencensus.trace import tracer as tracer_module
from opencensus.trace.samplers import AlwaysOffSampler, AlwaysOnSampler
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from _timing import per_op, per_op_cpu
from bench_otel import DropMetrics, DropSpans, instrumented

import redigo_py as redis
from redigo_py import _recorder
from redigo_py import observability as obs
from _harness import RedisServer


class DropExporter(base_exporter.Exporter):  # type: ignore[misc]
    """Receives spans and view data and throws them away: the cost of having one."""

    def export(self, data: object) -> None:
        pass

    def emit(self, data: object) -> None:
        pass

    def on_register_view(self, view: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("-n", type=int, default=300, help="commands per round")
    opts = parser.parse_args()
    with RedisServer() as server:
        c = redis.dial("tcp", server.address)
        c.do("SET", "k100", b"x" * 100)
        get = lambda: c.do("GET", "k100")  # noqa: E731
        manager = stats_module.stats.view_manager
        manager.register_exporter(DropExporter())
        redis.register_views()
        recorder = stats_module.stats.stats_recorder
        m = obs._measures
        tags = TagMap()
        tags.insert("cmd", "GET")

        def naive_get() -> None:
            c.do("GET", "k100")
            mm = recorder.new_measurement_map()
            mm.measure_int_put(m[obs.MEASURE_BYTES_WRITTEN], 25)
            mm.measure_int_put(m[obs.MEASURE_WRITES], 1)
            mm.measure_int_put(m[obs.MEASURE_BYTES_READ], 108)
            mm.measure_int_put(m[obs.MEASURE_READS], 1)
            mm.measure_float_put(m[obs.MEASURE_ROUNDTRIP_LATENCY], 0.05)
            mm.record(tags)

        meter_provider = MeterProvider(metric_readers=[
            PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=1000)])
        sampled = TracerProvider()
        sampled.add_span_processor(BatchSpanProcessor(DropSpans()))
        unsampled = TracerProvider(sampler=ALWAYS_OFF)

        @contextlib.contextmanager
        def setting(oc_views: bool = False, oc_sampler: object = None, otel_on: bool = False,
                    otel_span: Any = None) -> Iterator[None]:
            execution_context.clean()
            if oc_views:
                obs._enable()
            else:
                _recorder.remove_sink(obs._SINK)
            if oc_sampler is not None:
                tracer_module.Tracer(sampler=oc_sampler, exporter=DropExporter())
            with instrumented(sampled, meter_provider, otel_span) if otel_on else contextlib.nullcontext():
                yield

        settings: Dict[str, Callable[[], Any]] = {
            "plain (no sink, no tracer)": lambda: setting(),
            "OC: 8 views + exporter": lambda: setting(oc_views=True),
            "OC: trace not sampled": lambda: setting(oc_sampler=AlwaysOffSampler()),
            "OC: trace sampled": lambda: setting(oc_sampler=AlwaysOnSampler()),
            "OTel: metrics": lambda: setting(otel_on=True),
            "OTel: span not recording": lambda: setting(otel_on=True, otel_span=unsampled),
            "OTel: span sampled": lambda: setting(otel_on=True, otel_span=sampled),
            "both worlds' metrics": lambda: setting(oc_views=True, otel_on=True),
        }
        times: Dict[str, List[float]] = {name: [] for name in settings}
        cpu: Dict[str, List[float]] = {name: [] for name in settings}
        naive: List[float] = []
        for _ in range(opts.rounds):
            for name, make in settings.items():
                with make():
                    times[name].append(per_op(get, opts.n))
                    cpu[name].append(per_op_cpu(get, opts.n))
            with setting():
                naive.append(per_op(naive_get, max(1, opts.n // 10)))
        base = statistics.median(times["plain (no sink, no tracer)"])
        base_cpu = statistics.median(cpu["plain (no sink, no tracer)"])
        print(f"do('GET') of 100 B, median of {opts.rounds} interleaved rounds of {opts.n}; "
              "wall time per command, then the client process's CPU time per command")
        for name, ts in times.items():
            t = statistics.median(ts)
            u = statistics.median(cpu[name])
            print(f"  {name:28s} wall {t * 1e6:8.2f} us {t / base:6.3f}x (+{(t - base) * 1e6:6.2f} us)"
                  f"   cpu {u * 1e6:7.2f} us {u / base_cpu:6.3f}x (+{(u - base_cpu) * 1e6:6.2f} us)")
        t = statistics.median(naive)
        print(f"  {'naive opencensus recording':28s} wall {t * 1e6:8.2f} us {t / base:6.3f}x "
              f"(+{(t - base) * 1e6:6.2f} us)")
        c.close()
        meter_provider.shutdown()
        sampled.shutdown()


if __name__ == "__main__":
    main()
