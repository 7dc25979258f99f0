"""Tracing: the seed's custom spans around redigo_py's own, with an in-memory exporter."""
import logging
import os
import sys

from opencensus.trace import base_exporter, samplers
from opencensus.trace import tracer as tracer_module

# The leaderboard program, shared by the demo, the examples and these pages.
from harness.leaderboard import OpenCensusTracing, pooled_leaderboard


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
tracer_module.Tracer(sampler=samplers.AlwaysOnSampler(), exporter=exporter)

logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stdout)
pooled_leaderboard(os.environ.get("REDIS_URL", "redis://localhost:6379"), logging.getLogger(),
                   OpenCensusTracing(), default_attributes={"service": "leaderboard"})

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
        shown = [a["db.system.name"]] + [f"{label}={a[key]}" for label, key in (
            ("db", "db.namespace"), ("service", "service")) if key in a]
        if "db.query.text" in a:
            shown.append(f"query={a['db.query.text']!r}")
        line += f"  [{' '.join(shown)}]"
    print(line)
