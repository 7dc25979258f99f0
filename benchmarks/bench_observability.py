"""What observability costs per ``do("GET")``: metrics off/on, traces unsampled/sampled.

Run: ``.venv/bin/python benchmarks/bench_observability.py``. One process, one
server, many short interleaved rounds; the median round of each setting is
compared with the plain client (no views, no tracer) of the same run:

- metrics on: all 8 views registered with opencensus's view manager and an
  exporter attached (targets: <= 1.05x; with no views ~1.00x)
- trace not sampled: a Tracer with AlwaysOffSampler (target: <= 2 us per command)
- trace sampled: AlwaysOnSampler with an exporter that drops spans
  (target: <= 20 us per command)
- and, for scale, opencensus's own recording path (``stats_recorder``) for
  the same five measurements a GET records.

Metrics cannot be unregistered in opencensus, so the script flips the
library's ``observability.ENABLED`` switch between rounds to interleave
"no views" and "views registered" in one process.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Callable, Dict, List

from opencensus.stats import stats as stats_module
from opencensus.tags import TagMap
from opencensus.trace import base_exporter, execution_context
from opencensus.trace import tracer as tracer_module
from opencensus.trace.samplers import AlwaysOffSampler, AlwaysOnSampler

from _timing import per_op, per_op_cpu

import redigo_py as redis
from redigo_py import observability as obs
from redigo_py._server import RedisServer


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

        def setting(metrics: bool, sampler: object = None) -> Callable[[], None]:
            def prepare() -> None:
                obs.ENABLED = metrics
                execution_context.clean()
                if sampler is not None:
                    tracer_module.Tracer(sampler=sampler, exporter=DropExporter())
            return prepare

        settings: Dict[str, Callable[[], None]] = {
            "plain (no views, no tracer)": setting(False),
            "8 views + exporter": setting(True),
            "trace not sampled": setting(False, AlwaysOffSampler()),
            "trace sampled": setting(False, AlwaysOnSampler()),
            "8 views + sampled trace": setting(True, AlwaysOnSampler()),
        }
        times: Dict[str, List[float]] = {name: [] for name in settings}
        cpu: Dict[str, List[float]] = {name: [] for name in settings}
        naive: List[float] = []
        for _ in range(opts.rounds):
            for name, prepare in settings.items():
                prepare()
                times[name].append(per_op(get, opts.n))
                cpu[name].append(per_op_cpu(get, opts.n))
            setting(False)()
            naive.append(per_op(naive_get, max(1, opts.n // 10)))
        obs.ENABLED = True
        obs.flush()
        base = statistics.median(times["plain (no views, no tracer)"])
        base_cpu = statistics.median(cpu["plain (no views, no tracer)"])
        print(f"do('GET') of 100 B, median of {opts.rounds} interleaved rounds of {opts.n}; "
              "wall time per command, then the client process's CPU time per command")
        for name, ts in times.items():
            t = statistics.median(ts)
            u = statistics.median(cpu[name])
            print(f"  {name:30s} wall {t * 1e6:8.2f} us {t / base:6.3f}x (+{(t - base) * 1e6:6.2f} us)"
                  f"   cpu {u * 1e6:7.2f} us {u / base_cpu:6.3f}x (+{(u - base_cpu) * 1e6:6.2f} us)")
        t = statistics.median(naive)
        print(f"  {'naive opencensus recording':30s} wall {t * 1e6:8.2f} us {t / base:6.3f}x (+{(t - base) * 1e6:6.2f} us)")
        c.close()


if __name__ == "__main__":
    main()
