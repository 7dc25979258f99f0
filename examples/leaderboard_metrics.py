"""The seed's "Metrics" program: the leaderboard with the views exported.

Its ``enableOpenCensus`` is ported line for line here; the leaderboard is
the repository's one copy, :func:`harness.leaderboard.leaderboard`, with no
spans.

Run: ``python examples/leaderboard_metrics.py`` (``REDIS_URL``, default
``redis://localhost:6379``). With ``GOOGLE_CLOUD_PROJECT`` set (and the
``[stackdriver]`` extra and Google credentials), the metrics go to
Stackdriver under the prefix ``redigodemo`` as in Go; without it, the same
views are printed as a table, so the program runs with no cloud account.
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
from harness.leaderboard import NoTracing, pooled_leaderboard  # noqa: E402


def main() -> None:
    flush_fn = enable_open_census()
    try:
        logging.basicConfig(format="%(message)s", level=logging.INFO)
        pooled_leaderboard(REDIS_URL, logging.getLogger(), NoTracing())
    finally:
        # Go waits ~60 s for the exporter's next report; exporting once more by hand is the same.
        flush_fn()


def enable_open_census() -> Callable[[], None]:
    if not PROJECT_ID:  # no cloud project: print what Stackdriver would receive
        return exporters.enable_console(tracing=False)
    from opencensus.ext.stackdriver import stats_exporter as stackdriver
    from opencensus.stats import stats

    # Enable metrics
    redis.register_views()
    sd = stackdriver.new_stats_exporter(
        # Change the metric prefix as desirable, for easy filtering/finding of metrics
        stackdriver.Options(project_id=PROJECT_ID, metric_prefix="redigodemo"),
        interval=60,  # view.SetReportingPeriod(60 * time.Second)
    )

    def flush() -> None:  # sd.Flush
        observability.flush()
        sd.export_metrics(stats.stats.get_metrics())

    return flush


if __name__ == "__main__":
    main()
