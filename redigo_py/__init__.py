"""redigo_py: Go's redigo Redis client, in Python, with OpenCensus built in.

Users write ``import redigo_py as redis``; a Go program that uses
``github.com/gomodule/redigo/redis`` ports line by line.

Connections
    ``dial("tcp", "localhost:6379", read_timeout=5)`` (every Go ``DialOption``
    is a keyword), ``dial_url("redis://user:pw@host/0")``, ``new_conn(sock,
    read_timeout, write_timeout)``. Close with ``close()`` or a ``with`` block.

Executing commands
    ``reply = c.do("SET", "k", 1)``. Arguments are encoded as redigo encodes
    them (str as UTF-8, int in decimal, float as its shortest repr, bool as
    1/0, None as empty, an object's ``redis_arg()``). Replies: simple string
    -> ``str``, bulk -> ``bytes``, integer -> ``int``, array -> ``list``, nil
    -> ``None``. A server error reply is raised as :class:`Error`.

Pipelining
    ``c.send(...)`` buffers, ``c.flush()`` writes, ``c.receive()`` reads one
    reply; ``c.do("")`` flushes and returns all pending replies; ``c.do(cmd)``
    flushes, reads every pending reply and returns its own (raising the first
    error reply among them).

Concurrency
    A connection supports one thread calling ``receive`` and one calling
    ``send``/``flush`` at a time (the pub/sub pattern). Other threads wait
    their turn, or are refused with a "concurrent" :class:`RedigoError` where
    they would read another thread's reply; share connections through a
    :class:`Pool`, which is thread-safe. After ``os.fork()`` the child's
    pools start empty and an inherited connection raises: each process dials
    its own.

Errors
    Every exception derives from :class:`RedigoError`; bad input (an invalid
    URL, address, timeout or argument) is an :class:`ArgumentError`, also a
    ``ValueError``. A network, protocol or
    timeout failure is fatal: ``c.err()`` returns it and every later call
    raises it, so a half-read reply can never reach the next caller.

Contexts
    :mod:`redigo_py.context` is Go's ``context``: ``c.do_context(ctx, ...)``
    is bounded by the context's deadline and cancelled with it.

Reply helpers, scanning, scripts, pub/sub
    ``int_(c.do("GET", k))``, ``strings(...)``, ``scan``, ``scan_struct``,
    ``Args``, ``Script``, ``PubSubConn``: redigo's helpers with its rules.

Observability
    ``register_views()`` (or registering ``OBSERVABILITY_METRIC_VIEWS`` with
    opencensus's view manager) turns on the fork's metrics; spans follow the
    current opencensus tracer. See :mod:`redigo_py.observability`.
"""

from __future__ import annotations

from typing import List

from . import context, resp
from .cache import CacheStats, ClientCache
from .conn import (
    Conn,
    ConnWithContext,
    ConnWithTimeout,
    dial,
    dial_context,
    dial_url,
    dial_url_context,
    do_context,
    do_with_timeout,
    new_conn,
    receive_context,
    receive_with_timeout,
)
from .errors import (
    ArgumentError,
    ConnectionError,
    Error,
    ErrNil,
    ErrPoolExhausted,
    PoolClosedError,
    ProtocolError,
    RedigoError,
    TimeoutError,
)
from .log import new_logging_conn, new_logging_conn_filter
from .observability import register_views
from .pool import Pool, PoolStats, new_pool
from .pubsub import Message, Pong, PubSubConn, Subscription
from .reply import (
    Latency,
    LatencyHistory,
    SlowLog,
    bool_,
    byte_slices,
    bytes_,
    float64,
    float64_map,
    float64s,
    int64,
    int64_map,
    int64s,
    int_,
    int_map,
    ints,
    latencies,
    latency_histories,
    multi_bulk,
    positions,
    slow_logs,
    string,
    string_map,
    strings,
    uint64,
    uint64_map,
    uint64s,
    values,
)
from .scan import Args, scan, scan_slice, scan_struct
from .script import Script, new_script
from ._types import Untyped

__version__ = "0.1.0"


def __getattr__(name: str) -> List[Untyped]:  # the views are opencensus objects, which are untyped
    """``OBSERVABILITY_METRIC_VIEWS`` is built on first use: it imports opencensus,
    which the client itself does not need."""
    if name == "OBSERVABILITY_METRIC_VIEWS":
        from .observability import observability_metric_views

        return observability_metric_views()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "context", "resp",
    "Conn", "ConnWithTimeout", "ConnWithContext", "dial", "dial_context", "dial_url", "dial_url_context", "new_conn",
    "do_context", "do_with_timeout", "receive_context", "receive_with_timeout",
    "new_logging_conn", "new_logging_conn_filter",
    "RedigoError", "ArgumentError", "Error", "ErrNil", "ErrPoolExhausted", "PoolClosedError",
    "ProtocolError", "ConnectionError", "TimeoutError",
    "PubSubConn", "Message", "Subscription", "Pong",
    "Latency", "LatencyHistory", "SlowLog",
    "bool_", "byte_slices", "bytes_", "float64", "float64_map", "float64s", "int64", "int64_map",
    "int64s", "int_", "int_map", "ints", "latencies", "latency_histories", "multi_bulk", "positions",
    "slow_logs", "string", "string_map", "strings", "uint64", "uint64_map", "uint64s", "values",
    "Args", "scan", "scan_slice", "scan_struct",
    "Script", "new_script",
    "Pool", "PoolStats", "new_pool",
    "ClientCache", "CacheStats",
    "OBSERVABILITY_METRIC_VIEWS", "register_views",
]
