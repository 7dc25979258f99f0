"""The seed's end-to-end program: metrics and traces together.

Its ``enableOpenCensus`` is ported line for line here; the leaderboard it
runs is the repository's one copy, :func:`harness.leaderboard.leaderboard`
(the demo and the docs run it too), under opencensus's spans.

Run: ``python examples/leaderboard.py`` (``REDIS_URL``, default
``redis://localhost:6379``). With ``GOOGLE_CLOUD_PROJECT`` set (and the
``[stackdriver]`` extra, Google credentials and
``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``, which the Stackdriver trace
exporter needs: see :func:`redigo_py.exporters.import_stackdriver_trace`),
metrics (prefix ``redigodemo``) and spans go to Stackdriver as in Go;
without it, the views table and the span tree are printed, so the program
runs with no cloud account. ``python -m redigo_py demo`` runs the same
program with both.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

import redigo_py as redis
from redigo_py import exporters, observability

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379")
# Change your ProjectID here (the Go program says "census-demos").
PROJECT_ID = os.environ.get("GOOGLE_CLOUD_PROJECT", "")

# Run from a clone: the program itself is the repository's one leaderboard, harness.leaderboard.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.leaderboard import OpenCensusTracing, pooled_leaderboard  # noqa: E402


def main() -> None:
    flush_fn = enable_open_census()
    try:
        logging.basicConfig(format="%(message)s", level=logging.INFO)
        pooled_leaderboard(REDIS_URL, logging.getLogger(), OpenCensusTracing())
    finally:
        flush_fn()


def enable_open_census() -> Callable[[], None]:
    if not PROJECT_ID:  # no cloud project: print what Stackdriver would receive
        return exporters.enable_console()
    from opencensus.ext.stackdriver import stats_exporter
    from opencensus.stats import stats
    from opencensus.trace.samplers import AlwaysOnSampler
    from opencensus.trace.tracer import Tracer

    # Enable metrics
    redis.register_views()
    sd = stats_exporter.new_stats_exporter(
        # Change the metric prefix as desirable, for easy filtering/finding of metrics
        stats_exporter.Options(project_id=PROJECT_ID, metric_prefix="redigodemo"),
        interval=0.05,  # view.SetReportingPeriod(50 * time.Millisecond)
    )

    # Enable tracing; for demo purposes, we are always sampling
    trace_exporter = exporters.import_stackdriver_trace()
    Tracer(exporter=trace_exporter.StackdriverExporter(project_id=PROJECT_ID), sampler=AlwaysOnSampler())

    def flush() -> None:  # sd.Flush; queued spans are sent by the trace transport at exit
        observability.flush()
        sd.export_metrics(stats.stats.get_metrics())

    return flush


if __name__ == "__main__":
    main()
