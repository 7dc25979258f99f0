"""The seed's "Tracing" program, ported line for line: the leaderboard under custom spans.

Run: ``python examples/leaderboard_tracing.py`` (``REDIS_URL``, default
``redis://localhost:6379``). With ``GOOGLE_CLOUD_PROJECT`` set (and the
``[stackdriver]`` extra, Google credentials and
``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``, which the Stackdriver trace
exporter needs: see :func:`redigo_py.exporters.import_stackdriver_trace`),
the spans go to Stackdriver Trace as in Go; without it, the span tree is
printed, so the program runs with no cloud account.

Go passes the span in a ``context.Context``; opencensus-python keeps the
current span in its execution context, so each ``trace.StartSpan(ctx, ...)``
/ ``span.End()`` pair is a ``with tracer.span(...)`` block, and the
library's ``redis.Conn.<CMD>`` spans nest under whichever block is open.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Callable

from opencensus.trace import execution_context
from opencensus.trace.status import Status

import redigo_py as redis
from redigo_py import context, exporters
from redigo_py.pool import Pool

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379")
# Change your ProjectID here (the Go program says "census-demos").
PROJECT_ID = os.environ.get("GOOGLE_CLOUD_PROJECT", "")
STATUS_CODE_INTERNAL = 13


def test_on_borrow(c: redis.Conn, t: float) -> None:
    if time.monotonic() - t < 5 * 60:
        return
    c.do("PING")


redis_pool = Pool(dial=lambda: redis.dial_url(REDIS_URL), test_on_borrow=test_on_borrow)


def main() -> None:
    flush_fn = enable_open_census()
    try:
        tracer = execution_context.get_opencensus_tracer()
        ctx = context.background()
        with tracer.span("LeaderBoardModification"):
            conn = redis_pool.get_with_context(ctx)
            try:
                logging.basicConfig(format="%(message)s", level=logging.INFO)
                log = logging.getLogger()

                leader_board_key = "leader-board-scores"
                with tracer.span("AddToLeaderBoard"):
                    conn.do_context(ctx, "ZADD", leader_board_key, 10, "76d38ff6-fd76-4fb1-ba26-e8779a766faf",
                                    25, "98fb173b-ae91-4b46-9401-20e98e5856d9")

                with tracer.span("Scan") as scan_span:
                    try:
                        dt = conn.do_context(ctx, "ZSCAN", leader_board_key, 0)
                    except redis.RedigoError as err:
                        scan_span.set_status(Status(STATUS_CODE_INTERNAL, str(err)))
                        sys.exit(f"Failed to run ZSCAN: {err}")

                log.info("ZSCAN response: %s", dt)

                # Now clean up
                with tracer.span("Cleanup"):
                    conn.do_context(ctx, "DEL", leader_board_key)
            finally:
                conn.close_context(ctx)
    finally:
        flush_fn()


def enable_open_census() -> Callable[[], None]:
    if not PROJECT_ID:  # no cloud project: print what Stackdriver would receive
        return exporters.enable_console(metrics=False)
    from opencensus.trace.samplers import AlwaysOnSampler
    from opencensus.trace.tracer import Tracer

    stackdriver = exporters.import_stackdriver_trace()
    sd = stackdriver.StackdriverExporter(project_id=PROJECT_ID)

    # Enable tracing; for demo purposes, we are always sampling
    Tracer(exporter=sd, sampler=AlwaysOnSampler())

    # sd.Flush: the exporter's transport sends what is still queued when the process exits.
    return lambda: None


if __name__ == "__main__":
    main()
