"""OpenTelemetry for redigo_py: metrics and spans from the same recorder as OpenCensus.

::

    from redigo_py import otel
    otel.instrument()            # OpenTelemetry's global providers; idempotent
    ...
    otel.uninstrument()          # back to one flag check per command

or, with no code change, ``opentelemetry-instrument python app.py``: the
:class:`RedigoInstrumentor` is registered under the ``opentelemetry_instrumentor``
entry point as ``redigo_py``.

Metrics (the database semantic conventions; the fork's byte measures too):

==================================  =============  ===========  ==========================================
instrument                          kind           unit         attributes
==================================  =============  ===========  ==========================================
db.client.operation.duration        Histogram      s            db.system.name, db.operation.name,
                                                                db.namespace, server.address, server.port;
                                                                on failure error.type, db.response.status_code
redis.client.bytes_written / _read  Histogram      By           db.operation.name
db.client.connection.count          UpDownCounter  {connection} db.client.connection.pool.name,
                                                                db.client.connection.state (idle, used)
db.client.connection.max/.idle.max  UpDownCounter  {connection} db.client.connection.pool.name
db.client.connection.pending_requests UpDownCounter {request}   db.client.connection.pool.name
db.client.connection.timeouts       Counter        {timeout}    db.client.connection.pool.name
db.client.connection.create_time,   Histogram      s            db.client.connection.pool.name
 .wait_time, .use_time
==================================  =============  ===========  ==========================================

How the metrics reach the SDK: the SDK's own ``Histogram.record`` costs
~7 µs a call, more than a tenth of a loopback GET, and the Python SDK has
neither a ``MetricProducer`` nor an observable histogram. So the library
aggregates in its recorder (bucket counts, sums, min and max, exact) and,
when one of the ``MeterProvider``'s readers collects, adds its own
``ScopeMetrics`` (scope ``redigo_py``) to what the SDK collected: each
reader's collection callback is wrapped. That callback is the SDK's
internal seam between a provider and its readers, which is why the
``[otel]`` extra pins the SDK line it is verified on (1.45); every reader
(periodic OTLP export, Prometheus, in-memory) goes through it. A reader that
asks for delta temporality gets deltas.

Spans: a ``do`` is a CLIENT span named by its command (``GET``); the commands
one ``flush`` writes are one span, ``PIPELINE`` (``PIPELINE GET`` when all
are the same command, ``MULTI`` for a transaction), from the flush to the
last reply, with ``db.operation.batch.size``; a dial, and a pool get that
waits or dials, are spans of their own. A span is made only under a
recording parent span (``with tracer.start_as_current_span(...)``): a
command outside any trace, or in a trace that is not sampled, costs one
check of the current span.
"""

from __future__ import annotations

import bisect
import logging
from contextvars import ContextVar
import threading
import time
from typing import (
    TYPE_CHECKING,
    Callable,
    Collection,
    Dict,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypedDict,
    TypeVar,
    Union,
    cast,
)

from . import _recorder
from .errors import Error

if TYPE_CHECKING:  # the SDK is typed; it is imported at run time only once instrumented
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, MetricsData, ScopeMetrics
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event
    from opentelemetry.sdk.trace import Tracer as SdkTracer
    from opentelemetry.trace import Span, SpanContext, Status, TraceState, Tracer, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from ._exchange import Exchange

    class _Collect(Protocol):
        """A reader's collection callback, as the SDK calls it (its annotation of
        ``MetricReader._collect`` says ``(reader, temporality) -> metrics``)."""

        def __call__(self, reader: MetricReader, timeout_millis: float = ...) -> Optional[MetricsData]: ...

__all__ = ["instrument", "uninstrument", "RedigoInstrumentor", "DURATION_BOUNDS_S", "BYTES_BOUNDS"]

_log = logging.getLogger(__name__)

#: Bounds of the duration histograms, seconds: Redis answers in well under a millisecond,
#: so they start at 0.1 ms (the conventions' advisory buckets start at 1 ms).
DURATION_BOUNDS_S: Tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)
#: Bounds of the byte-size histograms: 16 B to 1 GiB, as the OpenCensus views'.
BYTES_BOUNDS: Tuple[float, ...] = (
    16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
    268435456, 1073741824,
)

# The duration bounds in nanoseconds: the recorder's samples are compared as they are
# (integers), and only a series' sum, min and max are turned into seconds, when collected.
_DURATION_BOUNDS_NS: Tuple[int, ...] = tuple(round(b * 1e9) for b in DURATION_BOUNDS_S)
_STORED_PROCEDURES = frozenset(("EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO"))
Attrs = Tuple[Tuple[str, _recorder.AttributeValue], ...]
_K = TypeVar("_K")  # a series' key: its attributes, or a pool's name


def _version() -> str:
    from . import __version__

    return __version__


# -- metrics ---------------------------------------------------------------------

class _Hist:
    """One histogram series, cumulative: count, sum, bucket counts, min, max, in the samples'
    own unit (nanoseconds for durations, bytes for sizes)."""

    __slots__ = ("count", "sum", "buckets", "min", "max", "windows")

    def __init__(self, n_bounds: int) -> None:
        self.count = 0
        self.sum = 0
        self.buckets = [0] * (n_bounds + 1)
        self.min = 1 << 62
        self.max = -1
        # Per delta reader: [min, max] of the samples since that reader's last collection.
        self.windows: Dict[int, List[int]] = {}

    def add(self, values: List[int], bounds: Sequence[float], readers: Sequence[int] = ()) -> None:
        """Fold a batch: sorted once, then one bisect per bound (C, not a Python step per value)."""
        values.sort()
        n = len(values)
        below = [bisect.bisect_left(values, b) for b in bounds] + [n]
        previous = 0
        for i, upto in enumerate(below):
            self.buckets[i] += upto - previous
            previous = upto
        self.count += n
        self.sum += sum(values)
        self.min = min(self.min, values[0])
        self.max = max(self.max, values[-1])
        for reader in readers:
            window = self.windows.get(reader)
            if window is None:
                self.windows[reader] = [values[0], values[-1]]
            else:
                window[0], window[1] = min(window[0], values[0]), max(window[1], values[-1])

    def copy(self, reader: Optional[int]) -> "_Hist":
        """A copy; for a delta ``reader``, with the min and max of its window (which starts anew)."""
        other = _Hist(len(self.buckets) - 1)
        other.count, other.sum, other.buckets = self.count, self.sum, list(self.buckets)
        other.min, other.max = self.min, self.max
        if reader is not None:
            other.min, other.max = self.windows.pop(reader, (self.min, self.max))
        return other


class _OtelSink:
    """The recorder's batches, kept as cumulative OpenTelemetry series until a reader collects."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.start_ns = time.time_ns()
        self.delta_readers: List[int] = []  # the ids of the hooks of delta readers
        self.duration: Dict[Attrs, _Hist] = {}
        self.written: Dict[Attrs, _Hist] = {}
        self.read: Dict[Attrs, _Hist] = {}
        self.pool_times: Dict[Tuple[str, str], _Hist] = {}
        self.timeouts: Dict[str, int] = {}
        self.cache: Dict[Tuple[str, str], int] = {}  # client-side cache lookups by (command, hit/miss)

    def fold(self, batch: _recorder.Batch) -> None:
        attach = _state.get("attach")
        if attach is not None:
            attach()
        with self.lock:
            for s, written, read, latency, failed in batch.commands:
                op = (("db.operation.name", s.cmd),)
                delta = self.delta_readers
                if written:
                    _hist(self.written, op, BYTES_BOUNDS).add(written, BYTES_BOUNDS, delta)
                if read:
                    _hist(self.read, op, BYTES_BOUNDS).add(read, BYTES_BOUNDS, delta)
                base = _operation_attributes(s)
                if latency:
                    _hist(self.duration, base, _DURATION_BOUNDS_NS).add(latency, _DURATION_BOUNDS_NS, delta)
                for ns, error_type, status in failed:
                    attrs = base + (("error.type", error_type),)
                    if status:
                        attrs += (("db.response.status_code", status),)
                    _hist(self.duration, attrs, _DURATION_BOUNDS_NS).add([ns], _DURATION_BOUNDS_NS, delta)
            for (pool, what), times in batch.pool_times.items():
                key = (pool, what)
                series = self.pool_times.get(key)
                if series is None:
                    series = self.pool_times[key] = _Hist(len(DURATION_BOUNDS_S))
                series.add(times, _DURATION_BOUNDS_NS, self.delta_readers)
            for pool, n in batch.pool_timeouts.items():
                self.timeouts[pool] = self.timeouts.get(pool, 0) + n
            for (event, tags), n in batch.counts.items():
                if event == _recorder.EVENT_CACHE:
                    found = dict(tags)
                    key = (found["cmd"], found["result"])
                    self.cache[key] = self.cache.get(key, 0) + n

    def forked(self) -> None:
        """The series are the parent's (it exports them): the child's start empty, and so do
        the delta readers' last snapshots."""
        self.lock = threading.Lock()
        readers = self.delta_readers
        self._reset()
        self.delta_readers = readers
        for hook in _state.get("hooks", ()):
            hook.last = None

    def scope_metrics(self, delta_from: Optional["_Snapshot"],
                      reader: Optional[int] = None) -> Tuple["ScopeMetrics", "_Snapshot"]:
        """This library's ``ScopeMetrics`` now (deltas against ``delta_from`` if given), and the
        snapshot a delta reader's next collection subtracts."""
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Histogram,
            HistogramDataPoint,
            Metric,
            NumberDataPoint,
            ScopeMetrics,
            Sum,
        )
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        now = time.time_ns()
        with self.lock:
            snapshot = _Snapshot(
                {k: h.copy(reader) for k, h in self.duration.items()},
                {k: h.copy(reader) for k, h in self.written.items()},
                {k: h.copy(reader) for k, h in self.read.items()},
                {k: h.copy(reader) for k, h in self.pool_times.items()},
                dict(self.timeouts), dict(self.cache), now)
        temporality = (AggregationTemporality.DELTA if delta_from is not None
                       else AggregationTemporality.CUMULATIVE)
        start = delta_from.time_ns if delta_from is not None else self.start_ns

        def histogram(name: str, unit: str, description: str, series: Dict[_K, _Hist],
                      before: Optional[Dict[_K, _Hist]], bounds: Sequence[float],
                      attrs_of: Callable[[_K], Attrs]) -> Optional[Metric]:
            scale = 1e-9 if unit == "s" else 1  # durations were kept in nanoseconds
            points = []
            for key, h in series.items():
                old = before.get(key) if before is not None else None
                count = h.count - (old.count if old else 0)
                if before is not None and count == 0:
                    continue
                buckets = [a - (b if old else 0) for a, b in zip(h.buckets, old.buckets if old else h.buckets)]
                points.append(HistogramDataPoint(
                    attributes=dict(attrs_of(key)), start_time_unix_nano=start, time_unix_nano=now,
                    count=count, sum=(h.sum - (old.sum if old else 0)) * scale, bucket_counts=buckets,
                    explicit_bounds=list(bounds), min=h.min * scale, max=h.max * scale))
            if not points:
                return None
            return Metric(name=name, description=description, unit=unit,
                          data=Histogram(data_points=points, aggregation_temporality=temporality))

        def updown(name: str, unit: str, description: str,
                   values: List[Tuple[Dict[str, str], int]]) -> Optional[Metric]:
            points = [NumberDataPoint(attributes=a, start_time_unix_nano=self.start_ns, time_unix_nano=now,
                                      value=v) for a, v in values]
            # A gauge-like sum is the current value whatever the temporality asked.
            return Metric(name=name, description=description, unit=unit, data=Sum(
                data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE,
                is_monotonic=False)) if points else None

        metrics: List[Optional[Metric]] = [
            histogram("db.client.operation.duration", "s", "Duration of database client operations.",
                      snapshot.duration, delta_from.duration if delta_from else None, DURATION_BOUNDS_S,
                      lambda key: key),
            histogram("redis.client.bytes_written", "By", "Bytes of each command written to the server.",
                      snapshot.written, delta_from.written if delta_from else None, BYTES_BOUNDS,
                      lambda key: key),
            histogram("redis.client.bytes_read", "By", "Bytes of each reply read from the server.",
                      snapshot.read, delta_from.read if delta_from else None, BYTES_BOUNDS,
                      lambda key: key),
        ]
        for what, description in ((_recorder.POOL_CREATE, "The time it took to create a new connection."),
                                  (_recorder.POOL_WAIT, "The time it took to obtain an open connection "
                                                        "from the pool."),
                                  (_recorder.POOL_USE, "The time between borrowing a connection and "
                                                       "returning it to the pool.")):
            series = {pool: h for (pool, w), h in snapshot.pool_times.items() if w == what}
            before = ({pool: h for (pool, w), h in delta_from.pool_times.items() if w == what}
                      if delta_from else None)
            metrics.append(histogram(f"db.client.connection.{what}", "s", description, series, before,
                                     DURATION_BOUNDS_S,
                                     lambda pool: (("db.client.connection.pool.name", pool),)))
        timeouts = [NumberDataPoint(
            attributes={"db.client.connection.pool.name": pool}, start_time_unix_nano=start,
            time_unix_nano=now, value=n - (delta_from.timeouts.get(pool, 0) if delta_from else 0))
            for pool, n in snapshot.timeouts.items()]
        if timeouts:
            metrics.append(Metric(
                name="db.client.connection.timeouts", unit="{timeout}",
                description="The number of connection timeouts that have occurred trying to obtain a "
                            "connection from the pool.",
                data=Sum(data_points=timeouts, aggregation_temporality=temporality, is_monotonic=True)))
        lookups = [NumberDataPoint(
            attributes={"db.operation.name": cmd, "redis.client.cache.result": result},
            start_time_unix_nano=start, time_unix_nano=now,
            value=n - (delta_from.cache.get((cmd, result), 0) if delta_from else 0))
            for (cmd, result), n in snapshot.cache.items()]
        if lookups:
            metrics.append(Metric(
                name="redis.client.cache.requests", unit="{request}",
                description="The number of lookups in a client-side cache, by result: hit or miss.",
                data=Sum(data_points=lookups, aggregation_temporality=temporality, is_monotonic=True)))
        counts: List[Tuple[Dict[str, str], int]] = []
        maxes: List[Tuple[Dict[str, str], int]] = []
        idle_maxes: List[Tuple[Dict[str, str], int]] = []
        pending: List[Tuple[Dict[str, str], int]] = []
        for pool in _recorder.pools():
            name = pool._pool_name()
            if not name:
                continue
            stats = pool.stats()
            attrs = {"db.client.connection.pool.name": name}
            counts.append(({**attrs, "db.client.connection.state": "idle"}, stats.idle_count))
            counts.append(({**attrs, "db.client.connection.state": "used"},
                           stats.active_count - stats.idle_count))
            if pool.max_active > 0:
                maxes.append((attrs, pool.max_active))
            if pool.max_idle > 0:
                idle_maxes.append((attrs, pool.max_idle))
            pending.append((attrs, pool.waiting()))
        for name, unit, description, values in (
                ("db.client.connection.count", "{connection}",
                 "The number of connections that are currently in state described by the state attribute.",
                 counts),
                ("db.client.connection.max", "{connection}", "The maximum number of open connections allowed.",
                 maxes),
                ("db.client.connection.idle.max", "{connection}",
                 "The maximum number of idle open connections allowed.", idle_maxes),
                ("db.client.connection.pending_requests", "{request}",
                 "The number of current pending requests for an open connection.", pending)):
            metrics.append(updown(name, unit, description, values))
        scope = InstrumentationScope("redigo_py", _version())
        return ScopeMetrics(scope=scope, metrics=[m for m in metrics if m is not None], schema_url=""), snapshot


class _Snapshot:
    """What a delta reader was last given."""

    __slots__ = ("duration", "written", "read", "pool_times", "timeouts", "cache", "time_ns")

    def __init__(self, duration: Dict[Attrs, _Hist], written: Dict[Attrs, _Hist], read: Dict[Attrs, _Hist],
                 pool_times: Dict[Tuple[str, str], _Hist], timeouts: Dict[str, int],
                 cache: Dict[Tuple[str, str], int], time_ns: int) -> None:
        self.duration, self.written, self.read = duration, written, read
        self.pool_times, self.timeouts, self.cache, self.time_ns = pool_times, timeouts, cache, time_ns


def _hist(table: Dict[Attrs, _Hist], key: Attrs, bounds: Sequence[float]) -> _Hist:
    h = table.get(key)
    if h is None:
        h = table[key] = _Hist(len(bounds))
    return h


def _operation_attributes(s: _recorder.CommandSamples) -> Attrs:
    database, network, host, port = s.server
    attrs: Attrs = (("db.system.name", "redis"), ("db.operation.name", s.cmd), ("db.namespace", str(database)))
    if network == "unix":
        return attrs + (("network.peer.address", host), ("network.transport", "unix"))
    return attrs + (("server.address", host), ("server.port", port))


class _ReaderHook:
    """A reader's collection callback, wrapped: the SDK's metrics, plus this library's scope."""

    def __init__(self, reader: MetricReader, sink: _OtelSink, resource: Resource) -> None:
        self.reader = reader
        self.sink = sink
        self.resource = resource
        # The SDK's annotation of _collect is not how it calls it (see _Collect).
        self.original: _Collect = reader._collect  # type: ignore[assignment]
        self.last: Optional[_Snapshot] = None
        from opentelemetry.sdk.metrics import Histogram as SdkHistogram
        from opentelemetry.sdk.metrics.export import AggregationTemporality

        preferred = getattr(reader, "_instrument_class_temporality", {})
        self.delta = any(issubclass(cls, SdkHistogram) and temporality == AggregationTemporality.DELTA
                         for cls, temporality in preferred.items())
        if self.delta:
            with sink.lock:
                sink.delta_readers.append(id(self))

    def __call__(self, reader: MetricReader, timeout_millis: float = 10_000) -> Optional[MetricsData]:
        from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics

        collected = self.original(reader, timeout_millis=timeout_millis)
        try:
            _recorder.flush()  # what the connections recorded since the last flush, now
            if self.delta:
                scope, self.last = self.sink.scope_metrics(
                    self.last or _Snapshot({}, {}, {}, {}, {}, {}, self.sink.start_ns), id(self))
            else:
                scope, _ = self.sink.scope_metrics(None)
        except Exception:  # noqa: BLE001 - the SDK's own metrics must still reach the reader
            _log.exception("redigo_py: collecting the OpenTelemetry metrics failed")
            return collected
        if not scope.metrics:
            return collected
        if collected is None or not collected.resource_metrics:
            return MetricsData(resource_metrics=[ResourceMetrics(resource=self.resource, scope_metrics=[scope],
                                                                 schema_url="")])
        first = collected.resource_metrics[0]
        merged = ResourceMetrics(resource=first.resource, scope_metrics=list(first.scope_metrics) + [scope],
                                 schema_url=first.schema_url)
        return MetricsData(resource_metrics=[merged] + list(collected.resource_metrics[1:]))

    def remove(self) -> None:
        if self.reader._collect is self:  # type: ignore[comparison-overlap]  # see _Collect
            self.reader._collect = self.original  # type: ignore[assignment]  # see _Collect


# -- spans -------------------------------------------------------------------------

def _failure(exc: BaseException) -> Tuple[Dict[str, str], Status]:
    """The attributes and the status a failure gives a span: error.type, and for an error
    reply db.response.status_code, both its first word (bounded, never the message)."""
    from opentelemetry.trace import Status, StatusCode

    detail = _recorder.error_detail(exc)
    attributes = {"error.type": detail}
    if isinstance(exc, Error):
        attributes["db.response.status_code"] = detail
    return attributes, Status(StatusCode.ERROR, detail)


class _Span:
    """An OpenTelemetry span of this library, with the recorder seam's methods."""

    __slots__ = ("span", "token")

    def __init__(self, span: Span, token: Optional[Token[Context]] = None) -> None:
        self.span = span
        self.token = token

    def fail(self, exc: BaseException) -> None:
        attributes, status = _failure(exc)
        self.span.set_attributes(attributes)
        self.span.set_status(status)

    def event(self, name: str, **attributes: _recorder.AttributeValue) -> None:
        self.span.add_event(name, attributes)

    def set(self, name: str, value: _recorder.AttributeValue) -> None:
        self.span.set_attribute(name, value)

    def end(self) -> None:
        if self.token is not None:
            from opentelemetry import context

            context.detach(self.token)
        try:
            self.span.end()
        except Exception:  # noqa: BLE001 - what the span timed (a dial, a pool get) must reach the caller
            _log.exception("redigo_py: a span processor failed")


class _LeanSpan:
    """The span of a ``do`` or a pipeline, made without the SDK's span machinery.

    The SDK's ``start_span`` + ``end`` cost ~17 µs with a BatchSpanProcessor,
    more than the command they would time. These spans are leaves, so only
    what a span processor receives is built: the sampler still decides (and
    its trace state and attributes are kept), the ids come from the tracer's
    id generator, and at the end a ``ReadableSpan`` goes to the tracer's
    span processor (``on_end``; ``on_start`` is not called for them).
    """

    __slots__ = ("tracer", "name", "context", "parent", "attributes", "start", "events", "status")

    def __init__(self, tracer: SdkTracer, name: str, context: SpanContext, parent: SpanContext,
                 attributes: Dict[str, AttributeValue]) -> None:
        self.tracer, self.name, self.context, self.parent = tracer, name, context, parent
        self.attributes = attributes
        self.events: List[Event] = []
        self.status: Optional[Status] = None
        self.start = time.time_ns()

    def fail(self, exc: BaseException) -> None:
        attributes, self.status = _failure(exc)
        self.attributes.update(attributes)

    def set(self, name: str, value: _recorder.AttributeValue) -> None:
        self.attributes[name] = value

    def event(self, name: str, **attributes: _recorder.AttributeValue) -> None:
        from opentelemetry.sdk.trace import Event

        self.events.append(Event(name, attributes))

    def end(self) -> None:
        tracer = self.tracer
        span = _SDK.readable_span(
            name=self.name, context=self.context, parent=self.parent, resource=tracer.resource,
            attributes=self.attributes, events=self.events, kind=_SDK.client, status=self.status or _SDK.unset,
            start_time=self.start, end_time=time.time_ns(), instrumentation_scope=tracer._instrumentation_scope)
        try:
            tracer.span_processor.on_end(span)
        except Exception:  # noqa: BLE001 - the command has run: its result must reach the caller
            _log.exception("redigo_py: a span processor failed")


class _SdkNames:
    """The SDK's classes and constants a lean span needs, looked up once (an import statement
    per span would cost more than the rest of it)."""

    def __init__(self) -> None:
        from opentelemetry.sdk.trace import ReadableSpan, sampling
        from opentelemetry.trace import SpanContext, SpanKind, Status, TraceFlags

        self.readable_span = ReadableSpan
        self.span_context = SpanContext
        self.client = SpanKind.CLIENT
        self.unset = Status()
        self.sampled = TraceFlags(TraceFlags.SAMPLED)
        self.default = TraceFlags(TraceFlags.DEFAULT)
        self.parent_based = sampling.ParentBased
        self.always_on = sampling.ALWAYS_ON


_SDK: _SdkNames


class _LazySpan:
    """A pool get's span: made (with its real start time) only if the get waited or dialled."""

    __slots__ = ("tracer", "name", "attributes", "start_ns", "parent", "span")

    def __init__(self, tracer: Tracer, name: str, attributes: Dict[str, object], parent: Context) -> None:
        self.tracer, self.name, self.attributes, self.parent = tracer, name, attributes, parent
        self.start_ns = time.time_ns()
        self.span: Optional[_Span] = None

    def _real(self) -> _Span:
        """The span, made now; current until it ends, so that the dial it times is its child."""
        if self.span is None:
            from opentelemetry import context, trace
            from opentelemetry.trace import SpanKind

            # The recorder's attribute values (str, int) are OpenTelemetry AttributeValues.
            span = self.tracer.start_span(self.name, context=self.parent, kind=SpanKind.CLIENT,
                                          attributes=self.attributes,  # type: ignore[arg-type]
                                          start_time=self.start_ns)
            self.span = _Span(span, context.attach(trace.set_span_in_context(span, self.parent)))
        return self.span

    def fail(self, exc: BaseException) -> None:
        self._real().fail(exc)

    def event(self, name: str, **attributes: _recorder.AttributeValue) -> None:
        self._real().event(name, **attributes)

    def set(self, name: str, value: _recorder.AttributeValue) -> None:
        self._real().set(name, value)

    def end(self) -> None:
        if self.span is not None:
            self.span.end()


def _span_attributes(conn: "Exchange", operation: str) -> Dict[str, AttributeValue]:
    """A command or pipeline span's attributes: the server's, and the operation's name."""
    # The recorder's attribute values (str, int) are OpenTelemetry AttributeValues.
    attrs: Dict[str, AttributeValue] = _recorder.conn_attributes(conn)  # type: ignore[assignment]
    if conn.network == "unix":
        attrs["network.transport"] = "unix"
    attrs["db.operation.name"] = operation
    return attrs


class _OtelTracing:
    """OpenTelemetry's spans for the recorder's tracer seam (see the module docstring)."""

    def __init__(self, tracer: Tracer, capture_query_text: bool) -> None:
        global _SDK
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        self.tracer = tracer
        self.capture_query_text = capture_query_text
        self.current: Callable[[], Optional[Span]] = trace.get_current_span
        self.client = SpanKind.CLIENT
        _SDK = _SdkNames()
        # Every command asks for the current span: read the API's context variable directly
        # (~0.1 µs) where it is the one this API line keeps, else ask the API (~0.5 µs).
        from opentelemetry.context import _RUNTIME_CONTEXT
        from opentelemetry.trace.propagation import _SPAN_KEY

        variable = getattr(_RUNTIME_CONTEXT, "_current_context", None)
        self.gate: "Optional[ContextVar[Mapping[object, object]]]" = None  # as the recorder reads it
        if isinstance(variable, ContextVar):
            get, key = variable.get, _SPAN_KEY

            def current() -> Optional[Span]:
                return get().get(key)  # type: ignore[no-any-return]  # the context's span: the current one

            self.current = current
            self.gate = variable  # the recorder's span gate: no current span, no call

    def _lean(self, parent: Span, name: str, attrs: Dict[str, AttributeValue]) -> Optional[_LeanSpan]:
        """A leaf span under ``parent`` (a recording span), if the sampler samples it.

        The SDK's default sampler, ``ParentBased`` whose local sampled parents
        go to ``ALWAYS_ON``, samples every child of a sampled local parent
        with the parent's trace state: that decision is taken here without
        the call; any other sampler is asked.
        """
        # A proxy's, once its provider is set; an SDK tracer if it has a span processor (checked next).
        tracer: SdkTracer = getattr(self.tracer, "_tracer", self.tracer)  # type: ignore[arg-type]
        if not hasattr(tracer, "span_processor"):
            return None  # the API's no-op tracer
        parent_context = parent.get_span_context()
        sampler = tracer.sampler
        trace_state: Optional[TraceState]
        if (type(sampler) is _SDK.parent_based and sampler._local_parent_sampled is _SDK.always_on
                and not parent_context.is_remote and parent_context.trace_flags.sampled):
            flags, trace_state = _SDK.sampled, parent_context.trace_state
        else:
            result = sampler.should_sample(None, parent_context.trace_id, name, self.client, attrs, ())
            # The SDK leaves Decision's methods unannotated.
            if not result.decision.is_recording():  # type: ignore[no-untyped-call]
                return None
            if result.attributes:
                attrs.update(result.attributes)
            flags = _SDK.sampled if result.decision.is_sampled() else _SDK.default  # type: ignore[no-untyped-call]
            trace_state = result.trace_state
        context = _SDK.span_context(parent_context.trace_id, tracer.id_generator.generate_span_id(),
                                    is_remote=False, trace_flags=flags, trace_state=trace_state)
        return _LeanSpan(tracer, name, context, parent_context, attrs)

    def _recording_parent(self) -> Optional[Span]:
        """The current span if it records (spans are made only under one), else None."""
        parent = self.current()
        return parent if parent is not None and parent.is_recording() else None

    def command(self, conn: "Exchange", command: object, args: Sequence[object]) -> Optional[_LeanSpan]:
        parent = self._recording_parent()
        if parent is None:
            return None
        name = _recorder.command_name(command)
        upper = name.upper() if name else "PIPELINE"
        attrs = _span_attributes(conn, upper)
        if self.capture_query_text:
            attrs["db.query.text"] = " ".join([upper] + ["?"] * len(args))
        if upper in _STORED_PROCEDURES and args:
            first = args[0]
            attrs["db.stored_procedure.name"] = (first.decode("utf-8", "replace")
                                                 if isinstance(first, (bytes, bytearray)) else str(first))
        return self._lean(parent, upper, attrs)

    def method(self, conn: "Exchange", method: str) -> None:
        """``send``/``flush``/``receive`` make a pipeline span instead; ``close`` none."""
        return None

    def operation(self, name: str, attributes: Dict[str, object]) -> Union[_LazySpan, _Span, None]:
        if self._recording_parent() is None:
            return None
        from opentelemetry import context, trace

        if name == "redis.Pool.get":
            return _LazySpan(self.tracer, name, attributes, context.get_current())
        # The recorder's attribute values (str, int) are OpenTelemetry AttributeValues.
        span = self.tracer.start_span(name, kind=self.client, attributes=attributes)  # type: ignore[arg-type]
        return _Span(span, context.attach(trace.set_span_in_context(span)))

    def pipeline(self, conn: "Exchange", commands: List[str]) -> Optional[_LeanSpan]:
        parent = self._recording_parent()
        if parent is None:
            return None
        upper = [c.upper() for c in commands]
        if upper[0] == "MULTI" and upper[-1] == "EXEC":
            name = "MULTI"
        elif all(c == upper[0] for c in upper):
            name = "PIPELINE " + upper[0]
        else:
            name = "PIPELINE"
        attrs = _span_attributes(conn, name)
        attrs["db.operation.batch.size"] = len(commands)
        return self._lean(parent, name, attrs)


# -- turning it on -------------------------------------------------------------------

class _State(TypedDict, total=False):
    """What :func:`instrument` turned on (empty: not instrumented)."""

    backend: _OtelTracing
    sink: _OtelSink
    hooks: List[_ReaderHook]
    attach: Callable[[], None]  # hooks the readers, while the meter provider has none yet


_lock = threading.Lock()
_state: _State = {}


def instrument(tracer_provider: Optional[TracerProvider] = None,
               meter_provider: Optional[MeterProvider] = None, *, capture_query_text: bool = True) -> None:
    """Send redigo_py's metrics and spans to OpenTelemetry (None: its global providers).

    Idempotent: a second call while instrumented does nothing. Metrics reach
    the readers of the SDK ``MeterProvider`` (each gets this library's scope
    on each collection); while the global provider is still the API's proxy
    (a program that sets its providers after ``opentelemetry-instrument`` ran
    this), they are kept and the readers are hooked once it is set.
    """
    from opentelemetry import metrics, trace

    with _lock:
        if _state:
            return
        tracer = trace.get_tracer("redigo_py", _version(), tracer_provider=tracer_provider)
        backend = _OtelTracing(tracer, capture_query_text)
        sink = _OtelSink()
        hooks: List[_ReaderHook] = []
        _state.update({"backend": backend, "sink": sink, "hooks": hooks})

        def attach() -> None:
            """Hook the provider's readers, once there is an SDK provider with readers.

            Under ``opentelemetry-instrument`` this runs before the program
            sets its providers: until then the global one is a proxy, and
            the sink tries again at each flush.
            """
            provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
            readers = list(getattr(provider, "_metric_readers", ()) or ())
            if not readers:
                return
            resource = getattr(provider, "_sdk_config").resource
            for reader in readers:
                hook = _ReaderHook(reader, sink, resource)
                reader._collect = hook
                hooks.append(hook)
            _state.pop("attach", None)

        _state["attach"] = attach
        attach()
        _recorder.add_backend(backend)
        _recorder.add_sink(sink)
        if backend.gate is not None:
            from opentelemetry.trace.propagation import _SPAN_KEY

            _recorder.set_gate(backend.gate, _SPAN_KEY)
        else:  # this API line keeps its context elsewhere: ask the backend on every command
            _recorder.set_gate(ContextVar("redigo_py_ask", default={"ask": True}), "ask")


def uninstrument() -> None:
    """Stop sending to OpenTelemetry; the readers get back their own collection callbacks."""
    with _lock:
        if not _state:
            return
        _recorder.remove_backend(_state["backend"])
        _recorder.remove_sink(_state["sink"])
        _recorder.set_gate(None, None)
        for hook in _state["hooks"]:
            hook.remove()
        _state.clear()  # type: ignore[attr-defined]  # TypedDict has no clear(): every key is optional here


def _instrumentor_base() -> type:
    try:
        from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
            BaseInstrumentor,
        )
    except ImportError:  # opentelemetry-instrumentation is not installed: instrument() still works
        return object
    return BaseInstrumentor  # type: ignore[no-any-return]  # a class (mypy does not find it: see the import)


class RedigoInstrumentor(_instrumentor_base()):  # type: ignore[misc]
    """``opentelemetry-instrument``'s way in: ``RedigoInstrumentor().instrument(tracer_provider=...,
    meter_provider=...)`` is :func:`instrument`; registered as the ``redigo_py`` entry point."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: object) -> None:
        # What BaseInstrumentor.instrument(**kwargs) was given, passed on as instrument() takes it.
        instrument(cast("Optional[TracerProvider]", kwargs.get("tracer_provider")),
                   cast("Optional[MeterProvider]", kwargs.get("meter_provider")),
                   capture_query_text=bool(kwargs.get("capture_query_text", True)))

    def _uninstrument(self, **kwargs: object) -> None:
        uninstrument()
