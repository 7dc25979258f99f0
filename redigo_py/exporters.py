"""Console exporters: the library's metrics and spans on a terminal, no cloud account needed.

The Go fork's demo needs a Stackdriver project to show anything. These two
exporters plug into opencensus exactly where a Stackdriver or Prometheus
exporter would, so the demo (``python -m redigo_py demo``) and the examples
show the same data a backend would receive::

    stats_exporter = ConsoleStatsExporter()
    stats.view_manager.register_exporter(stats_exporter)   # like view.RegisterExporter
    redis.register_views()
    trace_exporter = ConsoleTraceExporter()
    tracer = Tracer(exporter=trace_exporter, sampler=AlwaysOnSampler())
    ...
    redis.observability.flush()
    print(stats_exporter.table())
    print(trace_exporter.tree())

Neither imports opencensus: opencensus only calls ``export`` (and
``on_register_view``) on them, and they read what it hands over by duck
typing. So importing this module costs nothing for a program that never
uses them, as the client itself never needs opencensus.

For the real Stackdriver trace exporter, :func:`import_stackdriver_trace`
imports it under the protobuf backend it needs.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
from importlib.util import find_spec
from types import ModuleType
from typing import Callable, Dict, Iterable, List, Optional, Sequence, TextIO, Tuple, cast

from ._types import Untyped

__all__ = ["ConsoleStatsExporter", "ConsoleTraceExporter", "enable_console", "import_stackdriver_trace",
           "percentile"]

#: opencensus's span time format.
_SPAN_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def percentile(bounds: Sequence[float], counts: Sequence[int], q: float) -> Optional[float]:
    """Estimate the ``q`` quantile (0 < q <= 1) of a distribution from its buckets alone.

    A distribution keeps only per-bucket counts, so (as a metrics backend
    does) this finds the bucket that holds the sample of rank ``q * count``
    and interpolates linearly inside it: bucket ``i`` spans
    ``[bounds[i-1], bounds[i])``, the first from 0. The last bucket has no
    upper bound, so a quantile that lands there is reported as its lower
    bound (an underestimate, the best the data allows). None when empty.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(counts):
        if n and seen + n >= rank:
            lower = bounds[i - 1] if i > 0 else 0.0
            if i >= len(bounds):
                return float(lower)
            return lower + (bounds[i] - lower) * (rank - seen) / n
        seen += n
    raise ValueError(f"quantile {q} is not in (0, 1]")


def _format_value(value: Optional[float], unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "By":
        return f"{value:.1f} B"
    return f"{value:g}"


class ConsoleStatsExporter:
    """A view-manager exporter that keeps the latest data of every view and prints it as a table.

    opencensus calls ``export`` with a copy of each view's cumulative data
    whenever samples are folded in (:func:`redigo_py.observability.flush`),
    so the newest copy per view is the whole story. ``views`` lists views to
    show even before (or without) any data: an exporter registered after
    the views never hears of them through ``on_register_view``.
    """

    HEADER = ("VIEW", "TAGS", "COUNT", "P50", "P99", "MEAN")

    def __init__(self, views: Iterable[Untyped] = ()) -> None:
        self._lock = threading.Lock()
        self._views: Dict[str, Untyped] = {}
        self._data: Dict[str, Untyped] = {}
        for view in views:
            self.on_register_view(view)

    def on_register_view(self, view: Untyped) -> None:
        """Called by opencensus for each view registered after this exporter."""
        with self._lock:
            self._views.setdefault(view.name, view)

    def export(self, view_datas: Iterable[Untyped]) -> None:
        """Called by opencensus with the current data of the views that changed."""
        with self._lock:
            for vd in view_datas:
                self._views.setdefault(vd.view.name, vd.view)
                self._data[vd.view.name] = vd

    def rows(self) -> List[Tuple[str, str, str, str, str, str]]:
        """One row per view and tag-value tuple (``(no data)`` for a view with none), as strings."""
        with self._lock:
            views = list(self._views.values())
            data = dict(self._data)
        rows = []
        for view in views:
            vd = data.get(view.name)
            series = vd.tag_value_aggregation_data_map if vd is not None else {}
            if not series:
                rows.append((view.name, "(no data)", "", "", "", ""))
                continue
            unit = view.measure.unit
            for values in sorted(series, key=lambda t: tuple(v or "" for v in t)):
                tags = ",".join(f"{k}={v}" for k, v in zip(view.columns, values) if v is not None)
                rows.append((view.name, tags) + _summary(series[values], unit))
        return rows

    def table(self) -> str:
        """The rows under a header, in aligned columns."""
        rows = [self.HEADER] + self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.HEADER))]
        lines = []
        for r in rows:
            left = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
            right = [c.rjust(w) for c, w in zip(r[2:], widths[2:])]
            lines.append("  ".join(left + right).rstrip())
        return "\n".join(lines)


def _summary(agg: Untyped, unit: str) -> Tuple[str, str, str, str]:
    """(count, p50, p99, mean) of one opencensus AggregationData, told apart by its fields."""
    if hasattr(agg, "counts_per_bucket"):  # DistributionAggregationData
        bounds, counts = agg.bounds, agg.counts_per_bucket
        if agg.sum_of_sqd_deviations == 0:  # every sample equals the mean: quantiles are exact
            p50 = p99 = agg.mean_data
        else:
            p50, p99 = percentile(bounds, counts, 0.5), percentile(bounds, counts, 0.99)
        return (str(agg.count_data), _format_value(p50, unit), _format_value(p99, unit),
                _format_value(agg.mean_data, unit))
    if hasattr(agg, "count_data"):  # CountAggregationData
        return (str(agg.count_data), "", "", "")
    if hasattr(agg, "sum_data"):  # SumAggregationData
        return ("", "", "", _format_value(agg.sum_data, unit))
    return ("", "", "", _format_value(agg.value, unit))  # LastValueAggregationData


class ConsoleTraceExporter:
    """A trace exporter that collects finished spans and prints them as a tree.

    opencensus's tracer and this library's spans both hand each finished
    span (a ``SpanData``) to ``export``; children finish before their parent,
    so the tree can only be drawn at the end, from ``parent_span_id``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: List[Untyped] = []

    def export(self, span_datas: Iterable[Untyped]) -> None:
        """Called by the tracer (and by this library's spans) with finished spans."""
        with self._lock:
            self._spans.extend(span_datas)

    @property
    def spans(self) -> List[Untyped]:
        """The spans collected so far, in the order they finished."""
        with self._lock:
            return list(self._spans)

    def tree(self) -> str:
        """Every span, indented under its parent, children by start time, with its duration.

        A span whose parent was not collected (a remote parent, or one not
        finished yet) is drawn as a root. A ``redis.*`` span shows its
        ``db.query.text`` (arguments already replaced by ``?``), and a
        failed span its status message.
        """
        spans = self.spans
        ids = {s.span_id for s in spans}
        children: Dict[Optional[str], List[Untyped]] = {}
        for s in spans:
            parent = s.parent_span_id if s.parent_span_id in ids else None
            children.setdefault(parent, []).append(s)
        lines: List[str] = []

        def draw(parent: Optional[str], depth: int) -> None:
            for s in sorted(children.get(parent, ()), key=lambda s: s.start_time):
                lines.append("  " * depth + _describe(s))
                draw(s.span_id, depth + 1)

        draw(None, 0)
        return "\n".join(lines)


def _describe(span: Untyped) -> str:
    start = datetime.datetime.strptime(span.start_time, _SPAN_TIME_FORMAT)
    end = datetime.datetime.strptime(span.end_time, _SPAN_TIME_FORMAT)
    text = f"{span.name}  {(end - start).total_seconds() * 1e3:.3f} ms"
    query = (span.attributes or {}).get("db.query.text")
    if query:
        text += f"  [{query}]"
    if span.status is not None and span.status.code != 0:
        text += f"  !{span.status.message}"
    return text


def otel_metrics_table(metrics_data: Untyped, scope: str = "redigo_py") -> str:
    """The metrics of ``scope`` in an OpenTelemetry ``MetricsData`` as a table: a histogram's
    count, p50, p99 and mean (by :func:`percentile`), a sum's value."""
    rows: List[Tuple[str, ...]] = [("INSTRUMENT", "ATTRIBUTES", "COUNT", "P50", "P99", "MEAN/VALUE")]
    for rm in metrics_data.resource_metrics if metrics_data is not None else ():
        for sm in rm.scope_metrics:
            if sm.scope.name != scope:
                continue
            for metric in sm.metrics:
                for point in metric.data.data_points:
                    attrs = ",".join(f"{k}={v}" for k, v in sorted(point.attributes.items())
                                     if k not in ("db.system.name", "server.address", "server.port"))
                    if hasattr(point, "bucket_counts"):
                        unit = "ms" if metric.unit == "s" else metric.unit
                        scale = 1e3 if metric.unit == "s" else 1.0
                        bounds = [b * scale for b in point.explicit_bounds]
                        if point.min == point.max:  # every sample the same: the quantiles are exact
                            p50 = p99 = point.min * scale
                        else:
                            p50 = percentile(bounds, point.bucket_counts, 0.5)
                            p99 = percentile(bounds, point.bucket_counts, 0.99)
                        mean = point.sum * scale / point.count if point.count else None
                        rows.append((metric.name, attrs, str(point.count), _format_value(p50, unit),
                                     _format_value(p99, unit), _format_value(mean, unit)))
                    else:
                        rows.append((metric.name, attrs, "", "", "", f"{point.value:g}"))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    return "\n".join("  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1])] +
                               [c.rjust(w) for c, w in zip(r[2:], widths[2:])]).rstrip() for r in rows)


def otel_span_tree(spans: Sequence[Untyped]) -> str:
    """OpenTelemetry's finished spans, each indented under its parent, children by start time."""
    ids = {s.context.span_id for s in spans}
    children: Dict[Optional[int], List[Untyped]] = {}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        children.setdefault(parent, []).append(s)
    lines: List[str] = []

    def draw(parent: Optional[int], depth: int) -> None:
        for s in sorted(children.get(parent, ()), key=lambda s: s.start_time):
            text = f"{s.name}  {(s.end_time - s.start_time) / 1e6:.3f} ms"
            query = (s.attributes or {}).get("db.query.text")
            if query:
                text += f"  [{query}]"
            if not s.status.is_ok:
                text += f"  !{s.status.description}"
            lines.append("  " * depth + text)
            draw(s.context.span_id, depth + 1)

    draw(None, 0)
    return "\n".join(lines)


def enable_console(metrics: bool = True, tracing: bool = True, out: Optional[TextIO] = None) -> Callable[[], None]:
    """Console stand-ins for a program's Stackdriver set-up; returns the flush that prints.

    ``metrics``: register the views with a :class:`ConsoleStatsExporter`
    (as ``view.Register`` + ``view.RegisterExporter``); ``tracing``: make an
    always-sampling tracer with a :class:`ConsoleTraceExporter` the current
    one (as ``trace.RegisterExporter`` + ``AlwaysSample``). The flush folds
    the pending samples in and prints the table and the span tree to
    ``out`` (stdout by default), which is what the examples run without a
    cloud project.
    """
    from opencensus.stats import stats as stats_module
    from opencensus.trace.samplers import AlwaysOnSampler
    from opencensus.trace.tracer import Tracer

    from . import observability

    stats_exporter = ConsoleStatsExporter()
    trace_exporter = ConsoleTraceExporter()
    if metrics:
        stats_module.stats.view_manager.register_exporter(stats_exporter)
        observability.register_views()
    if tracing:
        Tracer(exporter=trace_exporter, sampler=AlwaysOnSampler())

    def flush() -> None:
        stream = out or sys.stdout
        if metrics:
            observability.flush()
            print("Metrics:", stats_exporter.table(), sep="\n", file=stream)
        if tracing:
            print("Trace:", trace_exporter.tree(), sep="\n", file=stream)
        stream.flush()

    return flush


#: The environment variable from which protobuf picks its backend when ``google.protobuf`` is first imported.
_PROTOBUF_BACKEND_VARIABLE = "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"


def import_stackdriver_trace() -> ModuleType:
    """``opencensus.ext.stackdriver.trace_exporter``, imported under a protobuf backend that loads it.

    That module (opencensus-ext-stackdriver 0.8, the seed's trace exporter)
    sits on google-cloud-trace 0.x, whose generated protobuf code predates
    protobuf 3.19. The compiled backend of PyPI's protobuf wheels (upb, since
    4.21) refuses such code (``TypeError: Descriptors cannot be created
    directly``); the pure-Python backend loads it. protobuf picks its
    backend once per process, when ``google.protobuf`` is first imported,
    from ``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION``. So when the exporter is
    installed, nothing has imported protobuf yet and the variable is unset,
    this sets it to ``python`` in ``os.environ`` (child processes inherit it)
    and then imports: the whole process then encodes protobuf in Python,
    slower but unnoticeable for an exporter that sends a batch every few
    seconds. A value set by the user is kept. Without the extra nothing is
    changed, so a process that cannot use the exporter keeps its backend.

    opencensus's tracing modules import protobuf themselves (through
    ``opencensus.trace.status``), as does the Stackdriver stats exporter, so
    a program that imports either first must set the variable in its
    environment instead. The stats exporter itself works on any backend.

    Raises ModuleNotFoundError without the ``[stackdriver]`` extra, and
    ImportError, naming the variable, when protobuf was loaded earlier with
    a backend that refuses the module.
    """
    try:
        installed = find_spec("opencensus.ext.stackdriver") is not None
    except ImportError:  # opencensus itself is missing
        installed = False
    if installed and "google.protobuf" not in sys.modules:
        os.environ.setdefault(_PROTOBUF_BACKEND_VARIABLE, "python")
    try:
        from opencensus.ext.stackdriver import trace_exporter
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"{exc}; pip install 'redigo_py[stackdriver]'", name=exc.name) from exc
    except TypeError as exc:
        from google.protobuf.internal import api_implementation

        raise ImportError(
            f"opencensus.ext.stackdriver.trace_exporter does not load under protobuf's "
            f"{api_implementation.Type()!r} backend, chosen when google.protobuf was first imported: "
            f"set {_PROTOBUF_BACKEND_VARIABLE}=python in the environment, or call "
            f"import_stackdriver_trace() before anything imports google.protobuf") from exc
    return cast(ModuleType, trace_exporter)  # Untyped where the extra is not installed
