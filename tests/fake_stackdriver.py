"""In-process stand-ins for the Google API clients behind opencensus-ext-stackdriver.

Only the network edge is replaced: opencensus's exporters, the
google-cloud-trace wrapper and the protobuf conversion all run for real, and
the fakes record the ``TimeSeries`` and ``Span`` messages they would have
sent. Used in-process (with pytest's ``monkeypatch.setattr``) and by the
example tests, whose subprocess calls :func:`main` to run an example with
the fakes in place and dump what they recorded as JSON at exit. There the
fakes go in as the program imports the clients' modules, not before: the
program alone decides when protobuf is loaded, and so its backend, which is
what the Stackdriver trace exporter depends on.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import runpy
import sys
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple


class Recorder:
    """What the fake clients were given, as plain data."""

    def __init__(self) -> None:
        self.time_series: List[Any] = []
        self.descriptors: List[Any] = []
        self.spans: List[Any] = []

    def series(self) -> List[Dict[str, Any]]:
        """One dict per TimeSeries: metric type, labels and the last point's value."""
        from google.cloud import monitoring_v3

        result = []
        for ts in self.time_series:
            value = ts.points[-1].value
            kind = monitoring_v3.TypedValue.pb(value).WhichOneof("value")
            if kind == "distribution_value":
                dist = value.distribution_value
                point: Any = {"count": dist.count, "mean": dist.mean, "buckets": list(dist.bucket_counts)}
            else:
                point = getattr(value, kind)
            result.append({"type": ts.metric.type, "labels": dict(ts.metric.labels), "value": point})
        return result

    def span_dicts(self) -> List[Dict[str, Any]]:
        """One dict per Span message: display name, ids and attributes."""
        result = []
        for span in self.spans:
            attrs: Dict[str, Any] = {}
            for key, attr in span.attributes.attribute_map.items():
                kind = attr.WhichOneof("value")
                attrs[key] = attr.string_value.value if kind == "string_value" else getattr(attr, kind)
            result.append({"name": span.display_name.value, "span_id": span.span_id,
                           "parent_span_id": span.parent_span_id, "attributes": attrs})
        return result

    def dump(self) -> Dict[str, Any]:
        return {"time_series": self.series(), "spans": self.span_dicts()}


def _fakes(recorder: Recorder) -> Dict[str, Tuple[str, Any]]:
    """Module -> (attribute, fake) for the Monitoring and Trace API clients and the default credentials."""

    class FakeMetricServiceClient:
        """monitoring_v3.MetricServiceClient, minus the network."""

        def __init__(self, **_: Any) -> None:
            pass

        def common_project_path(self, project: str) -> str:
            return f"projects/{project}"

        def create_metric_descriptor(self, name: str, metric_descriptor: Any) -> Any:
            recorder.descriptors.append(metric_descriptor)
            return metric_descriptor

        def create_time_series(self, name: str, time_series: List[Any]) -> None:
            recorder.time_series.extend(time_series)

    class FakeTraceServiceClient:
        """trace_v2's TraceServiceClient, minus the network."""

        def __init__(self, **_: Any) -> None:
            pass

        def batch_write_spans(self, name: str, spans: List[Any], retry: Any = None, timeout: Any = None) -> None:
            recorder.spans.extend(spans)

    def default(*_: Any, **__: Any) -> Tuple[Any, Optional[str]]:
        """google.auth.default: anonymous credentials for the project in GOOGLE_CLOUD_PROJECT."""
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials(), os.environ.get("GOOGLE_CLOUD_PROJECT")

    return {
        "google.cloud.monitoring_v3": ("MetricServiceClient", FakeMetricServiceClient),
        "google.cloud.trace_v2.gapic.trace_service_client": ("TraceServiceClient", FakeTraceServiceClient),
        "google.auth": ("default", default),
    }


def install(setattr_: Callable[[Any, str, Any], None]) -> Recorder:
    """Import the clients' modules and replace the clients (and default credentials) with recording fakes."""
    recorder = Recorder()
    for name, (attribute, fake) in _fakes(recorder).items():
        setattr_(importlib.import_module(name), attribute, fake)
    return recorder


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Sets each fake on its module right after the module first runs, whoever imports it."""

    def __init__(self, fakes: Dict[str, Tuple[str, Any]]) -> None:
        self.fakes = fakes

    def find_spec(self, name: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None) -> Optional[importlib.machinery.ModuleSpec]:
        if name not in self.fakes:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        attribute, fake = self.fakes[name]
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            setattr(module, attribute, fake)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def main() -> None:
    """``python fake_stackdriver.py OUT.json PROGRAM.py [ARGS...]``: run PROGRAM with the fakes, dump to OUT.

    The dump is registered before the program starts, so it runs after the
    exporters' own exit handlers (atexit is last in, first out).
    """
    out, program, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    recorder = Recorder()
    sys.meta_path.insert(0, _PatchOnImport(_fakes(recorder)))

    def dump() -> None:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(recorder.dump(), f)

    atexit.register(dump)
    sys.argv = [program, *args]
    runpy.run_path(program, run_name="__main__")


if __name__ == "__main__":
    main()
