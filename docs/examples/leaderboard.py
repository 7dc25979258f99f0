"""The seed's end-to-end leaderboard program (metrics and traces to Stackdriver), ported."""
import logging
import os
import sys

from opencensus.ext.stackdriver import stats_exporter, trace_exporter
from opencensus.trace import samplers
from opencensus.trace import tracer as tracer_module

import redigo_py as redis
from redigo_py import observability
# The program itself, shared by the demo, the examples and these pages (shown below).
from harness.leaderboard import OpenCensusTracing, pooled_leaderboard

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")


def enable_open_census():
    """Go's enableOpenCensus: returns the flush function."""
    # Metrics: the stats exporter polls opencensus's view data every interval
    # (Go: view.RegisterExporter(sd); view.SetReportingPeriod(60 * time.Second)).
    sd_stats = stats_exporter.new_stats_exporter(
        stats_exporter.Options(project_id="census-demos", metric_prefix="redigodemo"),
        interval=60)
    redis.register_views()      # Go: view.Register(redis.ObservabilityMetricViews...)

    # Tracing; for demo purposes, always sample. The tracer becomes the current one.
    sd_trace = trace_exporter.StackdriverExporter(project_id="census-demos")
    tracer_module.Tracer(exporter=sd_trace, sampler=samplers.AlwaysOnSampler())

    def flush():
        observability.flush()   # fold the last samples into the view data
        sd_stats.export_metrics(observability_metrics())
    return flush


def observability_metrics():
    from opencensus.stats import stats as stats_module
    return stats_module.stats.get_metrics()


def main():
    flush = enable_open_census()
    logging.basicConfig(format="%(message)s", level=logging.INFO,
                        stream=sys.stdout)  # Go's log.SetFlags(0); stdout for the docs' test
    try:
        pooled_leaderboard(URL, logging.getLogger(), OpenCensusTracing())
    finally:
        flush()


if __name__ == "__main__":
    main()
