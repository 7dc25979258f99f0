"""OpenTelemetry: the seed's leaderboard traced and measured through the OpenTelemetry SDK."""
import logging
import os
import sys

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import redigo_py as redis
from redigo_py import otel
# The leaderboard program, shared by the demo, the examples and these pages.
from harness.leaderboard import OpenTelemetryTracing, pooled_leaderboard

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")

# The application's own SDK set-up (an OTLP exporter, Prometheus... in real life).
spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

otel.instrument()  # or: opentelemetry-instrument python app.py, with no code change

logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stdout)
tracer = trace.get_tracer("leaderboard")
pooled_leaderboard(URL, logging.getLogger(), OpenTelemetryTracing(tracer))

with tracer.start_as_current_span("Visits"):
    c = redis.dial_url(URL)  # a pipeline is one span, PIPELINE, that counts its commands
    c.send("INCR", "visits")
    c.send("INCR", "visits")
    c.flush()
    c.receive()
    print("visits:", c.receive())
    c.close()

for span in spans.get_finished_spans():
    attrs = dict(span.attributes)
    print(span.name, {k: attrs[k] for k in ("db.operation.name", "db.operation.batch.size") if k in attrs})

for resource_metrics in reader.get_metrics_data().resource_metrics:
    for scope in resource_metrics.scope_metrics:
        if scope.scope.name != "redigo_py":
            continue
        for metric in scope.metrics:
            for point in metric.data.data_points:
                name = point.attributes.get("db.operation.name") or point.attributes.get(
                    "db.client.connection.state", "")
                value = getattr(point, "count", None) if hasattr(point, "bucket_counts") else point.value
                print(f"{metric.name} {name} {value}")
otel.uninstrument()
