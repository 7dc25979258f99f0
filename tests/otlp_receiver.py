"""A local OTLP/HTTP receiver: what the real OpenTelemetry exporters sent, decoded.

Why not an in-memory exporter: it skips the part that breaks in production,
the encoding to protobuf, compression, the HTTP request and the endpoint
paths. This receiver is the far end of the wire instead: a stdlib
``ThreadingHTTPServer`` on a free loopback port that accepts
``POST /v1/traces`` and ``POST /v1/metrics`` as the OTLP/HTTP spec says
(binary protobuf, optionally ``Content-Encoding: gzip`` or ``deflate``), decodes them with
opentelemetry-proto's own messages, keeps them, and answers with the empty
``Export*ServiceResponse`` the exporters expect.

Tests read :meth:`OtlpReceiver.spans` and :meth:`OtlpReceiver.metrics` and
wait with :meth:`OtlpReceiver.wait_for`, which has a deadline, never a guessed
sleep.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple,
                    Type, TypeVar, Union)

import pytest

if TYPE_CHECKING:  # the protobuf messages are imported lazily, see _signals()
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

T = TypeVar("T")


def _signals() -> Dict[str, Tuple[type, bytes]]:
    """path -> (request message class, serialized empty response).

    Imported here, not at module level, because conftest.py imports this
    module for every test run, including ``make test-stackdriver``'s venv,
    which has no opentelemetry-proto (and a protobuf too old for it). Raises
    ImportError there; the fixture turns that into a skip.
    """
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    return {
        "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse().SerializeToString()),
        "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse().SerializeToString()),
    }


PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class Received:
    """One accepted export request, decoded, with the HTTP details worth asserting on."""

    path: str
    headers: Dict[str, str]  # lower-cased names
    content_encoding: str    # "", "gzip" or "deflate"
    message: Any             # ExportTraceServiceRequest or ExportMetricsServiceRequest


class ReceivedSpan(NamedTuple):
    """A span with the resource and instrumentation scope it was exported under."""

    resource: Resource
    scope: InstrumentationScope
    span: Span

    @property
    def name(self) -> str:
        return self.span.name

    @property
    def attributes(self) -> Dict[str, Any]:
        return attributes(self.span.attributes)


class ReceivedMetric(NamedTuple):
    """``(scope name, metric)``, as the brief for these helpers asks; unpacks like a pair."""

    scope: str
    metric: Metric


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as the Python value it carries (lists and maps recursively)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(kvs: Iterable[KeyValue]) -> Dict[str, Any]:
    """Repeated KeyValue -> dict."""
    return {kv.key: any_value(kv.value) for kv in kvs}


def data_points(metric: Metric) -> List[Any]:
    """The data points of a metric whatever its type (sum, gauge, histogram, ...)."""
    kind = metric.WhichOneof("data")
    return [] if kind is None else list(getattr(metric, kind).data_points)


@dataclass
class _Store:
    received: List[Received] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)  # requests refused, and why
    generation: int = 0                              # bumped on every request, accepted or not
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Union[Received, str]) -> None:
        with self.cond:
            if isinstance(item, Received):
                self.received.append(item)
            else:
                self.errors.append(item)
            self.generation += 1
            self.cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if path not in self.server.signals:
            return self._refuse(404, f"no OTLP signal at {path}")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != PROTOBUF:
            return self._refuse(415, f"{path}: Content-Type {content_type!r}, only {PROTOBUF} is decoded")
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        try:
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding not in ("", "identity"):
                return self._refuse(415, f"{path}: Content-Encoding {encoding!r}")
            message_type, response = self.server.signals[path]
            message = message_type()
            message.ParseFromString(body)
        except (OSError, EOFError, zlib.error, self.server.decode_error) as exc:
            return self._refuse(400, f"{path}: undecodable body ({encoding or 'identity'}): {exc}")
        self.server.store.add(Received(path, {k.lower(): v for k, v in self.headers.items()},
                                       encoding, message))
        self._reply(200, response)

    def _refuse(self, status: int, why: str) -> None:
        self.server.store.add(why)
        self._reply(status, why.encode(), "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str = PROTOBUF) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        """Quiet: pytest output is no place for an access log; ``errors`` keeps refusals."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: _Store
    signals: Dict[str, Tuple[type, bytes]]
    decode_error: Type[Exception]


class OtlpReceiver:
    """The receiver: ``with OtlpReceiver() as r: ... r.endpoint ...`` (or ``start``/``stop``)."""

    def __init__(self) -> None:
        from google.protobuf.message import DecodeError

        self._signals = _signals()  # ImportError without opentelemetry-proto
        self._decode_error = DecodeError
        self._store = _Store()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "OtlpReceiver":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.store = self._store
        self._server.signals = self._signals
        self._server.decode_error = self._decode_error
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="otlp-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "OtlpReceiver":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "receiver not started"
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL; the HTTP exporters want ``endpoint + "/v1/traces"`` (or ``/v1/metrics``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def traces_endpoint(self) -> str:
        return self.endpoint + "/v1/traces"

    @property
    def metrics_endpoint(self) -> str:
        return self.endpoint + "/v1/metrics"

    # -- what arrived ------------------------------------------------------------------------

    def requests(self, path: Optional[str] = None) -> List[Received]:
        """Accepted requests in arrival order, all or those to ``path`` ("/v1/traces")."""
        with self._store.cond:
            return [r for r in self._store.received if path is None or r.path == path]

    @property
    def errors(self) -> List[str]:
        """Why requests were refused (wrong path, content type or encoding, bad protobuf)."""
        with self._store.cond:
            return list(self._store.errors)

    def clear(self) -> None:
        with self._store.cond:
            self._store.received.clear()
            self._store.errors.clear()

    def spans(self) -> List[ReceivedSpan]:
        """Every span received, flattened out of resource_spans / scope_spans."""
        return [ReceivedSpan(rs.resource, ss.scope, span)
                for r in self.requests("/v1/traces")
                for rs in r.message.resource_spans
                for ss in rs.scope_spans
                for span in ss.spans]

    def metrics(self) -> List[ReceivedMetric]:
        """Every metric received as (scope name, metric), flattened; one entry per export."""
        return [ReceivedMetric(sm.scope.name, metric)
                for r in self.requests("/v1/metrics")
                for rm in r.message.resource_metrics
                for sm in rm.scope_metrics
                for metric in sm.metrics]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Wait until ``predicate()`` is truthy and return its value; fail after ``timeout`` s.

        Re-checks whenever a request arrives (and at least every 0.1 s), so it
        returns as soon as the exporter's request is stored.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._store.cond:
                generation = self._store.generation
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"after {timeout} s the predicate still fails: {len(self.requests())} requests "
                    f"received ({[r.path for r in self.requests()]}), refused: {self.errors}")
            with self._store.cond:
                if self._store.generation == generation:
                    self._store.cond.wait(min(remaining, 0.1))


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A fresh receiver per test, stopped at the test's end (skips without opentelemetry-proto)."""
    try:
        receiver = OtlpReceiver()
    except ImportError as exc:
        pytest.skip(f"the OTLP receiver needs opentelemetry-proto: {exc}")
    with receiver:
        yield receiver


__all__ = ["OtlpReceiver", "Received", "ReceivedMetric", "ReceivedSpan", "any_value", "attributes",
           "data_points", "otlp_receiver"]
