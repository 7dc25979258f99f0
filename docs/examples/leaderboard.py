"""The seed's end-to-end leaderboard program (metrics and traces to Stackdriver), ported."""
import logging
import os
import sys
import time

from opencensus.ext.stackdriver import stats_exporter, trace_exporter
from opencensus.trace import samplers
from opencensus.trace import tracer as tracer_module
from opencensus.trace.status import Status

import redigo_py as redis
from redigo_py import context, observability

INTERNAL = 13  # Go's trace.StatusCodeInternal
URL = os.environ.get("REDIS_URL", "redis://localhost:6379")


def test_on_borrow(c, t):
    if time.monotonic() - t < 5 * 60:
        return
    c.do("PING")


redis_pool = redis.Pool(dial=lambda: redis.dial_url(URL), test_on_borrow=test_on_borrow)


def enable_open_census():
    """Go's enableOpenCensus: returns the flush function."""
    # Metrics: the stats exporter polls opencensus's view data every interval
    # (Go: view.RegisterExporter(sd); view.SetReportingPeriod(60 * time.Second)).
    sd_stats = stats_exporter.new_stats_exporter(
        stats_exporter.Options(project_id="census-demos", metric_prefix="redigodemo"),
        interval=60)
    redis.register_views()      # Go: view.Register(redis.ObservabilityMetricViews...)

    # Tracing; for demo purposes, always sample.
    sd_trace = trace_exporter.StackdriverExporter(project_id="census-demos")
    tracer = tracer_module.Tracer(exporter=sd_trace, sampler=samplers.AlwaysOnSampler())

    def flush():
        observability.flush()   # fold the last samples into the view data
        sd_stats.export_metrics(observability_metrics())
    return tracer, flush


def observability_metrics():
    from opencensus.stats import stats as stats_module
    return stats_module.stats.get_metrics()


def main():
    tracer, flush = enable_open_census()
    logging.basicConfig(format="%(message)s", level=logging.INFO,
                        stream=sys.stdout)  # Go's log.SetFlags(0); stdout for the docs' test
    ctx = context.background()
    try:
        # Go: ctx, span := trace.StartSpan(context.Background(), "LeaderBoardModification")
        with tracer.span(name="LeaderBoardModification"):
            conn = redis_pool.get_with_context(ctx)
            try:
                leader_board_key = "leader-board-scores"
                with tracer.span(name="AddToLeaderBoard"):
                    conn.do_context(ctx, "ZADD", leader_board_key,
                                    10, "76d38ff6-fd76-4fb1-ba26-e8779a766faf",
                                    25, "98fb173b-ae91-4b46-9401-20e98e5856d9")
                with tracer.span(name="Scan") as scan_span:
                    try:
                        dt = conn.do_context(ctx, "ZSCAN", leader_board_key, 0)
                    except redis.RedigoError as e:
                        scan_span.set_status(Status(INTERNAL, str(e)))
                        logging.critical("Failed to run ZSCAN: %s", e)
                        raise
                logging.info("ZSCAN response: %s", dt)
                # Now clean up.
                with tracer.span(name="Cleanup"):
                    conn.do_context(ctx, "DEL", leader_board_key)
            finally:
                conn.close_context(ctx)
    finally:
        flush()


if __name__ == "__main__":
    main()
