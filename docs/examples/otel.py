"""OpenTelemetry: the seed's leaderboard traced and measured through the OpenTelemetry SDK."""
import os

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import redigo_py as redis
from redigo_py import otel

# The application's own SDK set-up (an OTLP exporter, Prometheus... in real life).
spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
trace.set_tracer_provider(tracer_provider)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

otel.instrument()  # or: opentelemetry-instrument python app.py, with no code change

pool = redis.Pool(dial=lambda: redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379")),
                  max_idle=2, name="leaderboard")
tracer = trace.get_tracer("leaderboard")
with tracer.start_as_current_span("LeaderBoardModification"):
    with pool.get() as c:
        c.do("ZADD", "leader-board-scores", 10, "alice", 25, "bob")
        c.send("ZINCRBY", "leader-board-scores", 5, "alice")
        c.send("ZSCORE", "leader-board-scores", "alice")
        c.flush()
        c.receive()
        print("alice:", c.receive())

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
