"""OpenCensus metrics and traces for redigo_py, at almost no cost per command.

The measures, tag keys and views carry the exact names of the Go fork
(``opencensus-integrations/redigo``), so dashboards built for it keep
working:

========================  ================================  ============  =================
measure                   view                              aggregation   tag keys
========================  ================================  ============  =================
redis/bytes_written       redis/client/bytes_written        distribution  cmd
redis/bytes_read          redis/client/bytes_read           distribution  cmd
redis/roundtrip_latency   redis/client/roundtrip_latency    distribution  cmd
redis/writes              redis/client/writes               count         cmd
redis/reads               redis/client/reads                count         cmd
redis/errors              redis/client/errors               count         cmd, detail, kind
redis/connections_closed  redis/client/connections_closed   count         state
redis/connections_open    redis/client/connections_open     count         state
========================  ================================  ============  =================

What is measured (exact, where the fork was not): one *write* per command
put on the wire, its size the command's exact RESP bytes; one *read* per
reply, its size the reply's exact wire bytes (a nil bulk is 5 bytes); one
*roundtrip latency* per ``do`` in milliseconds; an *error* per failure with
a bounded ``kind`` (dial, write, read, reply, pool_get, timeout, protocol)
and ``detail`` (an error reply's first word such as ``WRONGTYPE``, or the
exception's class name, never a free-form message); connections opened
(``new``, ``reused``) and really closed (``complete``, ``error``, ``stale``,
``idle``, ``lifetime``), once each.

Why not call opencensus on every command: its recorder deep-copies the view
data on every ``record()`` (~78 µs with three views, more than a loopback
GET). Instead the connection records each sample once, in the library's own
recorder (:mod:`redigo_py._recorder`, the one seam that OpenTelemetry's
metrics are fed from too), and :func:`flush` — run by a background thread
every :data:`FLUSH_INTERVAL` seconds, at exit, or by hand — hands the
samples to this module, which folds them into opencensus's own view data,
bucket by bucket, with the same rules as
``DistributionAggregationData.add_sample``, then notifies the registered
exporters once. Exporters and ``stats.get_metrics()`` therefore see the
values naive recording would give, for a fraction of the cost.

Recording is on only while at least one view of these measures is
registered (with :func:`register_views`, or ``view_manager.register_view``
on the views of :data:`OBSERVABILITY_METRIC_VIEWS`); otherwise a command
pays one flag check. opencensus is imported only when views or the
tracing helpers are used, so the client works without it installed.

Tracing: when the current opencensus tracer samples the current trace,
each call opens a CLIENT span (``redis.Conn.GET``, ``redis.Conn.send``,
``redis.Conn.flush``, ``redis.Conn.receive``, ``redis.Conn.close``,
``redis.Pool.get``, ``redis.dial``) under the current span, with
OpenTelemetry semantic-convention attributes (``db.system.name``,
``db.operation.name``, ``db.namespace``, ``server.address``/``server.port``
or ``network.peer.address``, ``db.query.text`` with every argument replaced
by ``?``) and the dial option ``default_attributes``. An unsampled trace
costs a context-variable lookup and no span.
"""

from __future__ import annotations

import datetime
import logging
import math
import sys
import threading
import time
from bisect import bisect_left
from contextvars import ContextVar
from fractions import Fraction
from operator import mul
from random import getrandbits as _random_bits
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from ._types import Untyped
from . import _recorder

if TYPE_CHECKING:
    from ._exchange import Exchange
from ._recorder import (  # noqa: F401 - the bounded label values, named here as the fork names them
    FLUSH_INTERVAL,
    KIND_DIAL,
    KIND_POOL_GET,
    KIND_PROTOCOL,
    KIND_READ,
    KIND_REPLY,
    KIND_TIMEOUT,
    KIND_WRITE,
    STATE_COMPLETE,
    STATE_ERROR,
    STATE_IDLE,
    STATE_LIFETIME,
    STATE_NEW,
    STATE_REUSED,
    STATE_STALE,
    Tags,
    error_detail,
    flush,
)

__all__ = [
    "OBSERVABILITY_METRIC_VIEWS", "register_views", "flush", "FLUSH_INTERVAL",
    "MEASURE_BYTES_WRITTEN", "MEASURE_BYTES_READ", "MEASURE_ROUNDTRIP_LATENCY", "MEASURE_WRITES",
    "MEASURE_READS", "MEASURE_ERRORS", "MEASURE_CONNECTIONS_CLOSED", "MEASURE_CONNECTIONS_OPEN",
    "KEY_COMMAND", "KEY_KIND", "KEY_DETAIL", "KEY_STATE",
    "LATENCY_BOUNDS_MS", "BYTES_BOUNDS",
]

MEASURE_BYTES_WRITTEN = "redis/bytes_written"
MEASURE_BYTES_READ = "redis/bytes_read"
MEASURE_ROUNDTRIP_LATENCY = "redis/roundtrip_latency"
MEASURE_WRITES = "redis/writes"
MEASURE_READS = "redis/reads"
MEASURE_ERRORS = "redis/errors"
MEASURE_CONNECTIONS_CLOSED = "redis/connections_closed"
MEASURE_CONNECTIONS_OPEN = "redis/connections_open"
MEASURE_CACHE_REQUESTS = "redis/cache_requests"

KEY_COMMAND = "cmd"
KEY_KIND = "kind"
KEY_DETAIL = "detail"
KEY_STATE = "state"
KEY_RESULT = "result"
_OWN_KEYS = frozenset((KEY_COMMAND, KEY_KIND, KEY_DETAIL, KEY_STATE, KEY_RESULT))

# ``kind`` of an error and ``state`` of a connection: bounded sets, so that a
# metrics backend never sees an unbounded label.
#: Latency buckets, milliseconds: 0.01 ms to 10 s (opencensus drops a 0 bound).
LATENCY_BOUNDS_MS: Tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
    7.5, 10.0, 15.0, 25.0, 50.0, 75.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 2000.0, 5000.0, 10000.0,
)
#: Size buckets, bytes: 16 B to 1 GiB.
BYTES_BOUNDS: Tuple[int, ...] = (
    16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
    268435456, 1073741824,
)

# (measure, description, unit, view name, view description, tag keys, distribution bounds or None)
_DEFINITIONS = (
    (MEASURE_BYTES_WRITTEN, "The number of bytes written out to the server", "By",
     "redis/client/bytes_written", "The distribution of bytes written out to the server",
     (KEY_COMMAND,), BYTES_BOUNDS),
    (MEASURE_BYTES_READ, "The number of bytes read from the server", "By",
     "redis/client/bytes_read", "The distribution of bytes read from the server",
     (KEY_COMMAND,), BYTES_BOUNDS),
    (MEASURE_ROUNDTRIP_LATENCY, "The latency in milliseconds of a method/operation", "ms",
     "redis/client/roundtrip_latency",
     "The distribution of milliseconds of the roundtrip latencies for a Redis method invocation",
     (KEY_COMMAND,), LATENCY_BOUNDS_MS),
    (MEASURE_WRITES, "The number of write invocations", "1",
     "redis/client/writes", "The number of write operations", (KEY_COMMAND,), None),
    (MEASURE_READS, "The number of read invocations", "1",
     "redis/client/reads", "The number of read operations", (KEY_COMMAND,), None),
    (MEASURE_ERRORS, "The number of errors encountered", "1",
     "redis/client/errors", "The number of errors encountered", (KEY_COMMAND, KEY_DETAIL, KEY_KIND), None),
    (MEASURE_CONNECTIONS_CLOSED, "The number of connections that have been closed", "1",
     "redis/client/connections_closed",
     "The number of connections that have been closed, disambiguated by keys such as stale, idle, complete",
     (KEY_STATE,), None),
    (MEASURE_CONNECTIONS_OPEN, "The number of open connections", "1",
     "redis/client/connections_open",
     "The number of open connections, but disambiguated by different states e.g. new, reused",
     (KEY_STATE,), None),
    # Not one of the fork's 8 (OBSERVABILITY_METRIC_VIEWS): register_views() adds it.
    (MEASURE_CACHE_REQUESTS, "The number of lookups in a client-side cache", "1",
     "redis/client/cache_requests", "The number of client-side cache lookups, by result: hit or miss",
     (KEY_COMMAND, KEY_RESULT), None),
)
_FORK_VIEWS = 8

_log = logging.getLogger(__name__)

# -- the hot path: plain lists, no locks ------------------------------------

_tag_var: "Optional[ContextVar[Untyped]]" = None  # opencensus's context variable of the current tag map


def _context_tags() -> Tags:
    """The tags of opencensus's current tag map (Go's ctx tags), as the base of ours."""
    global _tag_var
    var = _tag_var
    if var is None:
        module = sys.modules.get("opencensus.tags")
        if module is None:
            return ()
        var = _tag_var = module.TagContext.contextvar
    tag_map = var.get(None)
    if not tag_map or not tag_map.map:
        return ()
    # The library's own keys win, as Go's tag.Upsert does: a context tag
    # named cmd/kind/detail/state must not relabel the library's samples.
    return tuple((str(k), str(v)) for k, v in tag_map.map.items() if k not in _OWN_KEYS)


_recorder._tag_source = _context_tags


# -- opencensus objects (imported lazily) -------------------------------------

_views: Optional[List[Untyped]] = None
_measures: Dict[str, object] = {}
_views_lock = threading.Lock()


def _make_views() -> List[Untyped]:
    from opencensus.stats import aggregation, measure, view

    class _View(view.View):  # type: ignore[misc]
        """A view that turns recording on when opencensus registers it.

        ``MeasureToViewMap.register_view`` reads ``view.measure``; hooking
        that read is how ``view_manager.register_view(v)`` (the Go port's
        ``view.Register(redis.ObservabilityMetricViews...)``) enables the fast
        path without a call of ours.
        """

        @property
        def measure(self) -> Untyped:
            _enable()
            return self._measure

    result = []
    for name, description, unit, view_name, view_description, keys, bounds in _DEFINITIONS:
        cls = measure.MeasureFloat if name == MEASURE_ROUNDTRIP_LATENCY else measure.MeasureInt
        m = cls(name, description, unit)
        _measures[name] = m
        agg = aggregation.DistributionAggregation(list(bounds)) if bounds else aggregation.CountAggregation()
        result.append(_View(view_name, view_description, list(keys), m, agg))
    return result


def _all_views() -> List[Untyped]:
    """The fork's 8 views and the cache's; imports opencensus."""
    global _views
    with _views_lock:
        if _views is None:
            _views = _make_views()
        return _views


def observability_metric_views() -> List[Untyped]:
    """The 8 views (Go's ``ObservabilityMetricViews``); imports opencensus."""
    return _all_views()[:_FORK_VIEWS]


def register_views() -> None:
    """Register every view with opencensus's view manager (``view.Register`` in Go): the
    fork's 8 and ``redis/client/cache_requests`` (client-side cache hits and misses)."""
    from opencensus.stats import stats as stats_module

    manager = stats_module.stats.view_manager
    for v in _all_views():  # the fork's 8 and redis/client/cache_requests
        manager.register_view(v)


def __getattr__(name: str) -> Untyped:
    if name == "OBSERVABILITY_METRIC_VIEWS":
        return observability_metric_views()
    if name == "ENABLED":  # whether recording is on (for any world)
        return _recorder.ENABLED
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _enable() -> None:
    _recorder.add_sink(_SINK)


# -- folding samples into opencensus's view data -------------------------------

_EVENT_MEASURES = {
    _recorder.EVENT_ERROR: MEASURE_ERRORS,
    _recorder.EVENT_OPEN: MEASURE_CONNECTIONS_OPEN,
    _recorder.EVENT_CLOSED: MEASURE_CONNECTIONS_CLOSED,
    _recorder.EVENT_CACHE: MEASURE_CACHE_REQUESTS,
}


class _OpenCensusSink:
    """The recorder's batches, folded into opencensus's view data and exported once per flush."""

    def fold(self, batch: _recorder.Batch) -> None:
        if "opencensus.stats.stats" not in sys.modules:
            return
        batches: List[Tuple[str, Tags, List[Untyped]]] = []
        for s, written, read, latency, failed in batch.commands:
            tags = ((KEY_COMMAND, s.cmd),) + s.tags
            if written:
                batches.append((MEASURE_BYTES_WRITTEN, tags, written))
                batches.append((MEASURE_WRITES, tags, [1] * len(written)))
            if read:
                batches.append((MEASURE_BYTES_READ, tags, read))
                batches.append((MEASURE_READS, tags, [1] * len(read)))
            if latency or failed:
                batches.append((MEASURE_ROUNDTRIP_LATENCY, tags,
                                [ns / 1e6 for ns in latency] + [f[0] / 1e6 for f in failed]))
        for (event, tags), n in batch.counts.items():
            batches.append((_EVENT_MEASURES[event], tags, [1] * n))
        if not batches:
            return
        from opencensus.stats import stats as stats_module

        mtvm = stats_module.stats.view_manager.measure_to_view_map
        touched: Dict[int, Untyped] = {}
        for measure, tags, values in batches:
            registered = mtvm._registered_measures.get(measure)
            if registered is None or registered is not _measures.get(measure):
                continue  # someone else's measure of that name: not ours to feed
            tag_dict = dict(tags)
            for vd in mtvm._measure_to_view_data_list_map.get(measure, ()):
                key = tuple(tag_dict.get(column) for column in vd.view.columns)
                data = vd.tag_value_aggregation_data_map.get(key)
                if data is None:
                    data = vd.tag_value_aggregation_data_map[key] = vd.view.new_aggregation_data()
                _fold(data, values)
                touched[id(vd)] = vd
        if touched and mtvm.exporters:
            try:
                mtvm.export(list(touched.values()))
            except Exception:  # noqa: BLE001 - the data is folded; one broken exporter must not
                _log.exception("redigo_py: a metrics exporter failed")  # fail the caller (or exit)

    def forked(self) -> None:
        """The view data of our measures is the parent's, exported by it: the child starts empty."""
        global _views_lock
        _views_lock = threading.Lock()
        if "opencensus.stats.stats" in sys.modules:
            from opencensus.stats import stats as stats_module

            mtvm = stats_module.stats.view_manager.measure_to_view_map
            for measure, ours in _measures.items():
                if mtvm._registered_measures.get(measure) is ours:
                    for vd in mtvm._measure_to_view_data_list_map.get(measure, ()):
                        vd.tag_value_aggregation_data_map.clear()
                        vd.start()


_SINK = _OpenCensusSink()


def _fold(data: Untyped, values: Sequence[Untyped]) -> None:
    """Add ``values`` to an opencensus AggregationData as if each were ``add_sample``-ed."""
    from opencensus.stats import aggregation_data as ad

    if isinstance(data, ad.DistributionAggregationData):
        _fold_distribution(data, values)
    elif isinstance(data, ad.CountAggregationData):
        data._count_data += len(values)
    elif isinstance(data, ad.SumAggregationData):
        data._sum_data += math.fsum(values) if isinstance(values[0], float) else sum(values)
    elif isinstance(data, ad.LastValueAggregationData):
        data._value = values[-1]
    else:  # an aggregation this module does not know: fall back to the public path
        for v in values:
            data.add_sample(v, None, None)


def _fold_distribution(data: Untyped, values: Sequence[Untyped]) -> None:
    """Merge a batch into a distribution: bucket counts and count exactly, mean and
    sum of squared deviations by the parallel form of Welford's update (Chan et al.).
    Integer samples (byte sizes) are summed exactly before the one rounding."""
    n = len(values)
    ordered = sorted(values)
    bounds = data._bounds
    if bounds:
        below = [bisect_left(ordered, b) for b in bounds] + [n]
        previous = 0
        for i, upto in enumerate(below):
            data._counts_per_bucket[i] += upto - previous
            previous = upto
    else:
        data._counts_per_bucket[0] += n
    if isinstance(ordered[0], int):
        total = sum(ordered)
        mean_b = total / n
        ssd_b = float(Fraction(n * sum(map(mul, ordered, ordered)) - total * total, n))
    else:
        mean_b = math.fsum(ordered) / n
        ssd_b = math.fsum((v - mean_b) ** 2 for v in ordered)
    n_a = data._count_data
    if n_a == 0:
        data._count_data, data._mean_data, data._sum_of_sqd_deviations = n, mean_b, ssd_b
        return
    total_n = n_a + n
    delta = mean_b - data._mean_data
    data._mean_data = data._mean_data + delta * n / total_n
    data._sum_of_sqd_deviations = data._sum_of_sqd_deviations + ssd_b + delta * delta * n_a * n / total_n
    data._count_data = total_n


# -- tracing -----------------------------------------------------------------


_current_span: "ContextVar[Optional[Span]]" = ContextVar("redigo_py_span", default=None)


_iso_second: Tuple[int, str] = (-1, "")  # (whole second, its date and time), replaced atomically


def _iso(seconds: float) -> str:
    """opencensus's span time format (``%Y-%m-%dT%H:%M:%S.%fZ``), without strftime's cost:
    the date and time of day are formatted once per second, only the microseconds per span."""
    global _iso_second
    fraction, whole_seconds = math.modf(seconds)  # datetime.utcfromtimestamp's rounding
    whole, micros = int(whole_seconds), round(fraction * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    cached_second, text = _iso_second
    if cached_second != whole:
        tm = time.gmtime(whole)
        text = "%04d-%02d-%02dT%02d:%02d:%02d" % (tm[0], tm[1], tm[2], tm[3], tm[4], tm[5])
        _iso_second = (whole, text)
    return "%s.%06dZ" % (text, micros)


class Span:
    """A CLIENT span of this library, exported through the current tracer's exporter.

    opencensus's ``tracer.span()`` costs ~15-25 µs (uuid-based ids, bounded
    containers, strftime, its span list under a lock), more than the command
    it would time. A library span is a leaf (or the parent of the library's
    own spans, as ``redis.dial`` is of AUTH), so this keeps only what the
    exporter receives, a ``SpanData``: same trace, parent = the current span,
    same fields, for a few microseconds.
    """

    __slots__ = ("tracer", "name", "span_id", "parent_span_id", "attributes", "start", "status",
                 "annotations", "_token")

    def __init__(self, tracer: Untyped, name: str, attributes: Dict[str, object]) -> None:
        self.tracer = tracer
        self.name = name
        self.span_id = "%016x" % _random_bits(64)
        parent = _current_span.get()
        if parent is not None:
            self.parent_span_id: Optional[str] = parent.span_id
        else:
            current = sys.modules["opencensus.trace.execution_context"].get_current_span()
            self.parent_span_id = current.span_id if current is not None else tracer.span_context.span_id
        self.attributes = attributes
        self.status: Untyped = None
        self.annotations: List[Untyped] = []
        self.start = time.time()
        self._token = _current_span.set(self)

    def fail(self, exc: BaseException) -> None:
        """Set the status from a failure: a bounded message, no arguments, no secrets."""
        from opencensus.trace.status import Status

        code = 4 if isinstance(exc, TimeoutError) else 2  # DEADLINE_EXCEEDED or UNKNOWN
        self.status = Status(code, f"{error_detail(exc)}: {_safe_message(exc)}")

    def set(self, name: str, value: _recorder.AttributeValue) -> None:
        self.attributes[name] = value

    def event(self, name: str, **attributes: _recorder.AttributeValue) -> None:
        """A timed annotation (an event) on this span."""
        from opencensus.trace.attributes import Attributes
        from opencensus.trace.time_event import Annotation

        self.annotations.append(Annotation(datetime.datetime.utcnow(), name, Attributes(attributes)))

    def end(self) -> None:
        """Finish the span and hand it to the tracer's exporter."""
        end = time.time()
        _current_span.reset(self._token)
        span_data, client = _span_types()
        data = span_data(self.name, self.tracer.span_context, self.span_id, self.parent_span_id,
                         self.attributes, _iso(self.start), _iso(end), 0, None, self.annotations,
                         [], [], self.status, True, client)
        exporter = getattr(self.tracer, "exporter", None)
        if exporter is not None:
            try:
                exporter.export([data])
            except Exception:  # noqa: BLE001 - the command has run: its result must reach the caller
                _log.exception("redigo_py: a trace exporter failed")


_SPAN_TYPES: List[Untyped] = []


def _span_types() -> List[Untyped]:
    """(SpanData, SpanKind.CLIENT), imported once: an import statement per span costs."""
    if not _SPAN_TYPES:
        from opencensus.trace.span import SpanKind
        from opencensus.trace.span_data import SpanData

        _SPAN_TYPES[:] = [SpanData, SpanKind.CLIENT]
    return _SPAN_TYPES


def _safe_message(exc: BaseException) -> str:
    """An exception's text, unless the server may have echoed arguments back in it."""
    text = str(exc)
    return "(message withheld: it may echo arguments)" if "args beginning with" in text else text


_tracer_var: "Optional[ContextVar[Untyped]]" = None  # opencensus's context variable of the current tracer
_last_decision: Tuple[Untyped, Untyped] = (None, None)  # (tracer, tracer if it samples else None)


def _sampled_tracer() -> Untyped:
    """The current opencensus tracer if it samples its trace, else None.

    Called on every command, so it reads opencensus's context variable
    directly and remembers the last tracer's decision (a tracer's sampling
    decision is made once, when it is created).
    """
    global _tracer_var, _last_decision
    var = _tracer_var
    if var is None:
        module = sys.modules.get("opencensus.trace.execution_context")
        if module is None:
            return None
        var = _tracer_var = module._tracer_slot.contextvar
    tracer = var.get(None)
    if tracer is None:
        return None
    last, decision = _last_decision
    if tracer is last:
        return decision
    span_context = getattr(tracer, "span_context", None)
    sampled = span_context is not None and span_context.trace_options.get_enabled()
    decision = tracer if sampled else None
    _last_decision = (tracer, decision)
    return decision


class _OpenCensusTracing:
    """opencensus's spans for the recorder's tracer seam: ``redis.Conn.<CMD>``, one span per
    ``send``/``flush``/``receive``/``close``, under the current tracer when it samples."""

    def command(self, conn: "Exchange", command: object, args: Sequence[object]) -> Optional[Span]:
        tracer = _sampled_tracer()
        if tracer is None:
            return None
        name = _recorder.command_name(command)
        upper = name.upper() if name else "DO"
        attrs = _attributes(conn)
        attrs["db.operation.name"] = upper
        attrs["db.query.text"] = " ".join([upper] + ["?"] * len(args))
        return Span(tracer, "redis.Conn." + upper, attrs)

    def method(self, conn: "Exchange", method: str) -> Optional[Span]:
        tracer = _sampled_tracer()
        if tracer is None:
            return None
        return Span(tracer, "redis.Conn." + method, _attributes(conn))

    def operation(self, name: str, attributes: Dict[str, object]) -> Optional[Span]:
        tracer = _sampled_tracer()
        if tracer is None:
            return None
        return Span(tracer, name, attributes)

    def pipeline(self, conn: "Exchange", commands: List[str]) -> None:
        """opencensus has a span per ``send``/``flush``/``receive`` instead."""
        return None


def _attributes(conn: "Exchange") -> Dict[str, object]:
    """The connection's server attributes, and its ``default_attributes`` (the fork's option)."""
    attrs = _recorder.conn_attributes(conn)
    if conn.default_attributes:
        attrs.update(conn.default_attributes)
    return attrs


_recorder.set_oc_backend(_OpenCensusTracing())
