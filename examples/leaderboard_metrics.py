"""The seed's "Metrics" program, ported line for line: the leaderboard with the views exported.

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
import time
from typing import Callable

import redigo_py as redis
from redigo_py import context, exporters, observability
from redigo_py.pool import Pool

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379")
# Change your ProjectID here (the Go program says "census-demos").
PROJECT_ID = os.environ.get("GOOGLE_CLOUD_PROJECT", "")


def test_on_borrow(c: redis.Conn, t: float) -> None:
    if time.monotonic() - t < 5 * 60:
        return
    c.do("PING")


redis_pool = Pool(dial=lambda: redis.dial_url(REDIS_URL), test_on_borrow=test_on_borrow)


def main() -> None:
    flush_fn = enable_open_census()
    try:
        ctx = context.background()

        conn = redis_pool.get_with_context(ctx)
        try:
            logging.basicConfig(format="%(message)s", level=logging.INFO)
            log = logging.getLogger()

            leader_board_key = "leader-board-scores"
            conn.do_context(ctx, "ZADD", leader_board_key, 10, "76d38ff6-fd76-4fb1-ba26-e8779a766faf",
                            25, "98fb173b-ae91-4b46-9401-20e98e5856d9")

            try:
                dt = conn.do_context(ctx, "ZSCAN", leader_board_key, 0)
            except redis.RedigoError as err:
                sys.exit(f"Failed to run ZSCAN: {err}")

            log.info("ZSCAN response: %s", dt)

            # Now clean up
            conn.do_context(ctx, "DEL", leader_board_key)
        finally:
            conn.close_context(ctx)
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
