"""The seed's "Tracing" program: the leaderboard under custom spans.

Its ``enableOpenCensus`` is ported line for line here; the leaderboard is
the repository's one copy, :func:`harness.leaderboard.leaderboard`, under
opencensus's spans.

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
from typing import Callable

from redigo_py import exporters

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
