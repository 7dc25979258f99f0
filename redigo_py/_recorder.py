"""The one observability seam: what connections and pools record, once, for every world.

Connections and pools call this module at fixed points of their exchange
(a command written, a reply read, a ``do`` timed, a connection opened or
closed with its reason, a pool get waited or dialled, a connection borrowed
and returned) and nothing else; they know no telemetry library. What is
recorded here is fed to *sinks*, one per telemetry world that is turned on
(OpenCensus views: :mod:`redigo_py.observability`; OpenTelemetry metrics:
:mod:`redigo_py.otel`), and spans go through *tracer backends* of the same
two worlds. Both worlds may be on at once; a command is then recorded once
and counted once in each.

Why aggregate here rather than call a telemetry SDK per command: both SDKs
cost more per recorded value than a loopback GET costs (opencensus's
recorder deep-copies view data, ~78 µs; OpenTelemetry's
``Histogram.record`` ~7 µs). A connection appends each sample to a plain
list (atomic under the GIL, no lock) and :func:`flush`, run by a background
thread every :data:`FLUSH_INTERVAL` seconds, at exit, or by a sink about to
be read, takes the samples away and hands each sink the same batch.

While no sink is on and no tracer backend can trace, a call pays one flag
check (:data:`ON`) plus, for opencensus tracing (which a user turns on by
creating a tracer, not through us), a ``sys.modules`` lookup of
:data:`OC_TRACE_MODULE`.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, TypeVar, Union

from . import _fork
from .errors import Error

if TYPE_CHECKING:
    from ._exchange import Exchange
    from .pool import EitherPool

_log = logging.getLogger("redigo_py.observability")

# Error kinds and connection states: bounded label values shared by every world.
KIND_DIAL = "dial"
KIND_WRITE = "write"
KIND_READ = "read"
KIND_REPLY = "reply"
KIND_POOL_GET = "pool_get"
KIND_TIMEOUT = "timeout"
KIND_PROTOCOL = "protocol"
STATE_NEW = "new"
STATE_REUSED = "reused"
STATE_STALE = "stale"
STATE_IDLE = "idle"
STATE_LIFETIME = "lifetime"
STATE_COMPLETE = "complete"
STATE_ERROR = "error"

# The events counted (not sampled): their keys in a batch's ``counts``.
EVENT_ERROR = "error"  # tags: cmd, kind, detail
EVENT_OPEN = "open"  # tags: state
EVENT_CLOSED = "closed"  # tags: state
EVENT_CACHE = "cache"  # tags: cmd, result (hit, miss)

#: Seconds between background flushes into the sinks.
FLUSH_INTERVAL = 1.0

#: opencensus's tracing module: once a program has imported it, a tracer may be current.
OC_TRACE_MODULE = "opencensus.trace.execution_context"
#: opencensus's tags module: until a program imports it, no call has context tags.
OC_TAGS_MODULE = "opencensus.tags"

Tags = Tuple[Tuple[str, str], ...]
#: Where a command went: (database, network, host, port); the server attributes of OpenTelemetry.
Server = Tuple[int, str, str, int]

#: True while a sink is on or an OpenTelemetry tracer is instrumented. Read by
#: conn and pool on every call; written only here.
ON = False
#: True while a metrics sink is on (samples are recorded).
ENABLED = False


class CommandSamples:
    """Samples of one command (under one set of context tags, to one server) since the last flush.

    The connection appends to these lists directly: ``list.append`` is atomic
    under the GIL, so recording needs no lock, and :func:`flush` takes a
    prefix of each list away without losing a concurrent append. ``failed``
    holds the ``do``s that failed, as (nanoseconds, error type, status code):
    the worlds that label a duration by its outcome need them apart.
    """

    __slots__ = ("cmd", "tags", "server", "written", "read", "latency_ns", "failed")

    def __init__(self, cmd: str, tags: Tags, server: Server) -> None:
        self.cmd = cmd
        self.tags = tags
        self.server = server
        self.written: List[int] = []
        self.read: List[int] = []
        self.latency_ns: List[int] = []
        self.failed: List[Tuple[int, str, str]] = []


_commands: Dict[Tuple[object, Tags, Server], CommandSamples] = {}  # by (command as sent, tags, server)
# Past this many (command, context tags, server) series, new ones are counted
# under cmd=OTHER: the table, and the backends' label sets, stay bounded.
_MAX_SERIES = 4096
_OVERFLOW = "OTHER"
_counts: Dict[Tuple[str, Tags], int] = {}
_counts_lock = threading.Lock()
# Per pool name: the durations (ns) of dials with their handshake, of waits in
# get, and of borrows (get to close); and the gets whose context expired while waiting.
_pool_times: Dict[Tuple[str, str], List[int]] = {}
_pool_timeouts: Dict[str, int] = {}
POOL_CREATE = "create_time"
POOL_WAIT = "wait_time"
POOL_USE = "use_time"

_tag_source: Optional[Callable[[], Tags]] = None  # the context tags of the current call (opencensus's tag map)


def command_name(command: object) -> str:
    """A command as text, as it was given (bytes decoded, case kept)."""
    return command.decode("utf-8", "replace") if isinstance(command, bytes) else str(command)


def current_tags() -> Tags:
    """The context tags of the current call, as the base of ours (none without a tag source)."""
    source = _tag_source
    return source() if source is not None else ()


def samples(command: object, server: Server) -> CommandSamples:
    """The sample lists for ``command`` to ``server`` under the current context tags."""
    tags = current_tags()
    key = (command, tags, server)
    try:
        found = _commands.get(key)
    except TypeError:  # an unhashable name (a bytearray): count it under its bytes
        return samples(bytes(command) if isinstance(command, (bytearray, memoryview)) else str(command), server)
    if found is None:
        name = command_name(command)
        if len(_commands) >= _MAX_SERIES:  # made-up names or high-cardinality context tags
            key, name, tags = (_OVERFLOW, (), server), _OVERFLOW, ()
            found = _commands.get(key)
            if found is not None:
                return found
        found = _commands.setdefault(key, CommandSamples(name.upper(), tags, server))
    return found


def _count(event: str, tags: Dict[str, str]) -> None:
    items = tuple(sorted(tags.items())) + current_tags()
    with _counts_lock:
        key = (event, items)
        _counts[key] = _counts.get(key, 0) + 1


def record_error(command: object, kind: str, detail: str) -> None:
    """One error; ``detail`` must already be bounded (see :func:`error_detail`)."""
    if ENABLED:
        _count(EVENT_ERROR, {"cmd": command_name(command).upper(), "kind": kind, "detail": detail})


def record_cache(command: bytes, hit: bool) -> None:
    """A lookup in a client-side cache: a hit or a miss, by command."""
    if ENABLED:
        _count(EVENT_CACHE, {"cmd": command.decode(), "result": "hit" if hit else "miss"})


def record_open(state: str) -> None:
    """A connection lent out: ``new`` from a dial, ``reused`` from a pool."""
    if ENABLED:
        _count(EVENT_OPEN, {"state": state})


def record_closed(state: str) -> None:
    """A socket really closed, once, with the reason (``complete``, ``stale``, ``idle``...)."""
    if ENABLED:
        _count(EVENT_CLOSED, {"state": state})


def record_pool_time(pool: str, what: str, ns: int) -> None:
    """A pool's dial (``POOL_CREATE``), wait in get (``POOL_WAIT``) or borrow (``POOL_USE``)."""
    if ENABLED:
        times = _pool_times.get((pool, what))
        if times is None:
            times = _pool_times.setdefault((pool, what), [])
        times.append(ns)


def record_pool_timeout(pool: str) -> None:
    """A get whose context expired while it waited for a free connection."""
    if ENABLED:
        with _counts_lock:
            _pool_timeouts[pool] = _pool_timeouts.get(pool, 0) + 1


def error_detail(exc: BaseException) -> str:
    """Bounded ``detail``: an error reply's first word, else the exception class name."""
    if isinstance(exc, Error):
        word = exc.kind
        return word if word.isupper() and len(word) <= 32 else "ERR"
    return type(exc).__name__


# -- sinks and flushing -------------------------------------------------------------

class Batch:
    """What :func:`flush` took: every sink gets the same one."""

    __slots__ = ("commands", "counts", "pool_times", "pool_timeouts")

    def __init__(self) -> None:
        # (series, written sizes, read sizes, do latencies in ns, failed dos)
        self.commands: List[Tuple[CommandSamples, List[int], List[int], List[int], List[Tuple[int, str, str]]]] = []
        self.counts: Dict[Tuple[str, Tags], int] = {}
        self.pool_times: Dict[Tuple[str, str], List[int]] = {}
        self.pool_timeouts: Dict[str, int] = {}


class Sink(Protocol):
    """A telemetry world's metrics: it receives every batch while it is on."""

    def fold(self, batch: Batch) -> None:
        """Take in one batch (called from :func:`flush`, under its lock)."""

    def forked(self) -> None:
        """In a forked child: drop what the parent's batches put in."""


_sinks: List[Sink] = []
_sinks_lock = threading.Lock()
_flush_lock = threading.Lock()
_flusher: Optional[threading.Thread] = None
_stop_flusher = threading.Event()


def add_sink(sink: Sink) -> None:
    """Turn recording on for ``sink`` (idempotent); starts the flush thread with the first one."""
    global ENABLED
    if sink in _sinks:  # cheap and lock-free: opencensus asks on every view read
        return
    flush()  # what was recorded before belongs to the sinks that were on then
    with _sinks_lock:
        if sink in _sinks:
            return
        _sinks.append(sink)
        first = not ENABLED
        ENABLED = True
        _update_on()
    if first:
        _start_flusher()
        atexit.register(flush)


def remove_sink(sink: Sink) -> None:
    """Stop feeding ``sink``; what it was owed is flushed to it first."""
    global ENABLED
    flush()
    with _sinks_lock:
        if sink in _sinks:
            _sinks.remove(sink)
        ENABLED = bool(_sinks)
        _update_on()


def _start_flusher() -> None:
    global _flusher
    _flusher = threading.Thread(target=_flush_loop, name="redigo_py-metrics", daemon=True)
    _flusher.start()


def _flush_loop() -> None:
    while not _stop_flusher.wait(FLUSH_INTERVAL):
        try:
            flush()
        except Exception:  # noqa: BLE001 - the thread must outlive any one failure
            _log.exception("redigo_py: folding metrics failed")


T = TypeVar("T")


def _take(values: List[T]) -> List[T]:
    """Remove and return the current prefix of ``values``; later appends stay."""
    n = len(values)
    taken = values[:n]
    del values[:n]
    return taken


def flush() -> None:
    """Hand every sample recorded so far to every sink, once.

    Called every :data:`FLUSH_INTERVAL` seconds by a background thread, at
    exit, and by a sink before it is read; call it yourself before reading
    view data in a test or before shutting an exporter down.
    """
    with _flush_lock:
        batch = Batch()
        for s in list(_commands.values()):
            written, read, latency, failed = _take(s.written), _take(s.read), _take(s.latency_ns), _take(s.failed)
            if written or read or latency or failed:
                batch.commands.append((s, written, read, latency, failed))
        with _counts_lock:
            batch.counts = dict(_counts)
            _counts.clear()
            batch.pool_timeouts = dict(_pool_timeouts)
            _pool_timeouts.clear()
        for key, times in list(_pool_times.items()):
            taken = _take(times)
            if taken:
                batch.pool_times[key] = taken
        for sink in list(_sinks):
            try:
                sink.fold(batch)
            except Exception:  # noqa: BLE001 - one broken world must not fail the caller (or the others)
                _log.exception("redigo_py: a metrics sink failed")


# -- pools, as the worlds that report connection counts see them -------------------

_pools: "weakref.WeakSet[EitherPool]" = weakref.WeakSet()


def track_pool(pool: "EitherPool") -> None:
    """A pool whose counts (idle, used, waiting) a sink may read when it is collected."""
    _pools.add(pool)


def pools() -> "List[EitherPool]":
    """The live pools, for the gauges a sink reads when it is collected."""
    return list(_pools)


# -- tracing ---------------------------------------------------------------------------

#: What a span's event carries (the redirect event: type, slot, address).
AttributeValue = Union[str, bool, int, float]


class SpanLike(Protocol):
    """A span of some world: what conn, pool and cluster do with one."""

    def fail(self, exc: BaseException) -> None:
        """Mark the span failed by ``exc`` (a bounded message, never arguments)."""

    def event(self, name: str, **attributes: AttributeValue) -> None:
        """A timed event on the span (a cluster redirect)."""

    def set(self, name: str, value: AttributeValue) -> None:
        """An attribute of the span (a client-side cache hit)."""

    def end(self) -> None:
        """Finish and export the span."""


class TracerBackend(Protocol):
    """A world's spans. Each method returns None when that world does not trace this call."""

    def command(self, conn: "Exchange", command: object, args: Sequence[object]) -> Optional[SpanLike]:
        """The span of a ``do``."""

    def method(self, conn: "Exchange", method: str) -> Optional[SpanLike]:
        """The span of ``send``, ``flush``, ``receive`` or ``close``."""

    def operation(self, name: str, attributes: Dict[str, object]) -> Optional[SpanLike]:
        """The span of a dial, a pool get, a cluster refresh."""

    def pipeline(self, conn: "Exchange", commands: List[str]) -> Optional[SpanLike]:
        """The span of the commands one ``flush`` wrote, until their last reply."""


class _Both:
    """The spans of two worlds for one call, when both trace it."""

    __slots__ = ("spans",)

    def __init__(self, spans: List[SpanLike]) -> None:
        self.spans = spans

    def fail(self, exc: BaseException) -> None:
        for s in self.spans:
            s.fail(exc)

    def event(self, name: str, **attributes: AttributeValue) -> None:
        for s in self.spans:
            s.event(name, **attributes)

    def set(self, name: str, value: AttributeValue) -> None:
        for s in self.spans:
            s.set(name, value)

    def end(self) -> None:
        for s in reversed(self.spans):
            s.end()


def _join(span: Optional[SpanLike], made: Optional[SpanLike]) -> Optional[SpanLike]:
    """``span`` (one world's, or None) with another world's ``made`` beside it.

    The fan-out below is a plain loop over the backends with this: a span
    is asked for per command, where building lists costs as much as the check.
    """
    if made is None:
        return span
    return made if span is None else _Both([span, made])


_backends: List[TracerBackend] = []
_oc_backend: List[TracerBackend] = []  # opencensus's: traces once a program imports its tracer
# The backends a call asks, without and with opencensus's: tuples made when they change,
# so that a command pays no list building for them.
_only: Tuple[TracerBackend, ...] = ()
_with_oc: Tuple[TracerBackend, ...] = ()
PIPELINES = False  # True while a backend wants pipeline spans (conn then notes what it buffers)
#: The span gate, checked inline by conn before it asks the backends (a function call per
#: command is most of what an untraced command costs): a span can be made only if
#: ``GATE_VAR.get().get(GATE_KEY)`` is not None (a world's current span), or once
#: :data:`OC_TRACE_MODULE` is loaded. Closed by default.
GATE_VAR: "ContextVar[Mapping[object, object]]" = ContextVar("redigo_py_no_span", default={})
GATE_KEY: object = object()


def _backends_changed() -> None:
    global _only, _with_oc
    _only = tuple(_backends)
    _with_oc = tuple(_oc_backend) + _only


def traced() -> bool:
    """Whether any world may make a span now: opencensus's tracing is loaded, or the gate
    finds a current span. Callers ask this before they ask the backends."""
    return OC_TRACE_MODULE in sys.modules or GATE_VAR.get().get(GATE_KEY) is not None


def set_gate(var: "Optional[ContextVar[Mapping[object, object]]]", key: object) -> None:
    """Where a world keeps its current span (None: back to closed)."""
    global GATE_VAR, GATE_KEY
    if var is None:
        GATE_VAR, GATE_KEY = ContextVar("redigo_py_no_span", default={}), object()
    else:
        GATE_VAR, GATE_KEY = var, key


def set_oc_backend(backend: TracerBackend) -> None:
    _oc_backend[:] = [backend]
    _backends_changed()


def add_backend(backend: TracerBackend) -> None:
    """Turn a world's spans on (idempotent)."""
    global PIPELINES
    with _sinks_lock:
        if backend not in _backends:
            _backends.append(backend)
        PIPELINES = True
        _backends_changed()
        _update_on()


def remove_backend(backend: TracerBackend) -> None:
    global PIPELINES
    with _sinks_lock:
        if backend in _backends:
            _backends.remove(backend)
        PIPELINES = bool(_backends)
        _backends_changed()
        _update_on()


def _update_on() -> None:
    global ON
    ON = ENABLED or bool(_backends)


def _active() -> Tuple[TracerBackend, ...]:
    return _with_oc if OC_TRACE_MODULE in sys.modules else _only


def command_span(conn: "Exchange", command: object, args: Sequence[object]) -> Optional[SpanLike]:
    span = None
    for backend in _active():
        span = _join(span, backend.command(conn, command, args))
    return span


def method_span(conn: "Exchange", method: str) -> Optional[SpanLike]:
    span = None
    for backend in _active():
        span = _join(span, backend.method(conn, method))
    return span


def start_span(name: str, attributes: Dict[str, object]) -> Optional[SpanLike]:
    span = None
    for backend in _active():
        span = _join(span, backend.operation(name, attributes))
    return span


def pipeline_span(conn: "Exchange", commands: List[str]) -> Optional[SpanLike]:
    span = None
    for backend in _only:
        span = _join(span, backend.pipeline(conn, commands))
    return span


def fail(span: SpanLike, exc: BaseException) -> None:
    """Mark ``span`` failed; a cluster redirect (MOVED/ASK) also becomes a ``redirect`` event
    on it: where the slot lives now, on the span of the command that got it."""
    span.fail(exc)
    redirect = exc.redirect() if isinstance(exc, Error) else None
    if redirect is not None:
        kind, slot, address = redirect
        span.event("redirect", type=kind, slot=slot, address=address)


def server_attributes(server: Server) -> Dict[str, object]:
    """The semantic-convention attributes that describe a server (a dial's, a connection's)."""
    database, network, host, port = server
    attrs: Dict[str, object] = {"db.system.name": "redis", "db.namespace": str(database)}
    if network == "unix":
        attrs["network.peer.address"] = host
    else:
        attrs["server.address"] = host
        attrs["server.port"] = port
    return attrs


def conn_attributes(conn: "Exchange") -> Dict[str, object]:
    """:func:`server_attributes` of a connection's server."""
    return server_attributes(conn._server)


# -- processes ----------------------------------------------------------------------------

def _forked() -> None:
    """In a forked child: record from empty, and flush on the parent's schedule.

    The samples not yet flushed are the parent's: the parent exports them, so
    the child drops its copies rather than count them twice, and each sink
    drops what the parent's batches put in it. Locks are made afresh (a
    parent's thread may have held one at the fork), and the flush thread,
    which did not survive the fork, is started again.
    """
    global _commands, _counts, _counts_lock, _flush_lock, _sinks_lock, _pool_times, _pool_timeouts
    _commands = {}
    _counts = {}
    _pool_times = {}
    _pool_timeouts = {}
    _counts_lock = threading.Lock()
    _flush_lock = threading.Lock()
    _sinks_lock = threading.Lock()
    for sink in _sinks:
        sink.forked()
    if ENABLED:
        _start_flusher()


_fork.at_child(_forked)
