"""Tracing: the seed's custom spans around redigo_py's own, with an in-memory exporter."""
import os

from opencensus.trace import base_exporter, samplers
from opencensus.trace import tracer as tracer_module

import redigo_py as redis
from redigo_py import context


class Collect(base_exporter.Exporter):
    """Keeps the spans it is given (a real program exports to Stackdriver, Zipkin...)."""

    def __init__(self):
        self.spans = []

    def export(self, span_datas):
        self.spans.extend(span_datas)

    def emit(self, span_datas):
        self.export(span_datas)


exporter = Collect()
# Go: trace.ApplyConfig(trace.Config{DefaultSampler: trace.AlwaysSample()})
tracer = tracer_module.Tracer(sampler=samplers.AlwaysOnSampler(), exporter=exporter)

ctx = context.background()
c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"),
                   default_attributes={"service": "leaderboard"})

# Go: ctx, span := trace.StartSpan(ctx, "LeaderBoardModification")
with tracer.span(name="LeaderBoardModification"):
    with tracer.span(name="AddToLeaderBoard"):
        c.do_context(ctx, "ZADD", "leader-board-scores", 10, "alice", 25, "bob")
    with tracer.span(name="Scan"):
        c.do_context(ctx, "ZSCAN", "leader-board-scores", 0)
    with tracer.span(name="Cleanup"):
        c.do_context(ctx, "DEL", "leader-board-scores")
c.close()

by_id = {s.span_id: s for s in exporter.spans}


def depth(span):
    parent, n = by_id.get(span.parent_span_id), 0
    while parent is not None:
        parent, n = by_id.get(parent.parent_span_id), n + 1
    return n


for s in sorted(exporter.spans, key=lambda s: (s.start_time, depth(s))):
    line = "  " * depth(s) + s.name
    a = s.attributes
    if "db.system.name" in a:  # one of redigo_py's spans
        line += f"  [{a['db.system.name']} db={a['db.namespace']} service={a['service']}"
        if "db.query.text" in a:
            line += f" query={a['db.query.text']!r}"
        line += "]"
    print(line)
