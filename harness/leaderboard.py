"""The seed's leaderboard program: the one copy that the demo, the examples and the docs run.

The Go fork's integration guide ends with one program: a pooled connection,
ZADD / ZSCAN / DEL under the spans LeaderBoardModification >
AddToLeaderBoard / Scan / Cleanup. :func:`leaderboard` is that program; its
callers differ only in what they plug in: how a connection is had (the
seed's pool, a cluster through ``retry_conn``, :mod:`redigo_py.aio`'s pool
in :func:`aio_leaderboard`) and whose spans wrap the calls (opencensus's,
OpenTelemetry's, none), while the exporters are set up around it
(``python -m harness demo``, ``examples/``, ``docs/examples/``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Awaitable, Callable, ContextManager, Iterator, Protocol, Sequence, Union

import redigo_py as redis
from redigo_py import aio
from redigo_py import cluster as redisc
from redigo_py import context
from redigo_py.pool import Pool

LEADER_BOARD_KEY = "leader-board-scores"
#: Status code INTERNAL, the seed's ``trace.StatusCodeInternal``.
STATUS_INTERNAL = 13
#: How many times a cluster command may be redirected (MOVED/ASK) or retried (TRYAGAIN).
CLUSTER_MAX_ATTEMPTS = 3
#: Seconds between TRYAGAIN retries (a multi-key command during a slot migration).
CLUSTER_TRY_AGAIN_DELAY = 0.1


class DemoConn(Protocol):
    """What the leaderboard needs of a connection: the seed's ``DoContext`` and ``Close``."""

    def do_context(self, ctx: context.Context, command: Union[str, bytes], *args: Any) -> Any: ...

    def close_context(self, ctx: context.Context) -> None: ...


def new_pool(dial: Callable[[], redis.Conn]) -> Pool:
    """The seed's ``redisPool``: PING a connection only if it sat idle five minutes or more."""

    def test_on_borrow(c: redis.Conn, last_used: float) -> None:
        if time.monotonic() - last_used < 5 * 60:
            return
        c.do("PING")

    return Pool(dial=dial, test_on_borrow=test_on_borrow)


class Tracing(Protocol):
    """The application's spans, in whichever world the demo runs: a span as a context
    manager, and marking one failed (the seed's ``span.SetStatus``)."""

    def span(self, name: str) -> ContextManager[Any]: ...

    def failed(self, span: Any, err: BaseException) -> None: ...


class NoTracing:
    """No spans: the seed's metrics-only program."""

    @contextlib.contextmanager
    def span(self, name: str) -> Iterator[None]:
        yield None

    def failed(self, span: Any, err: BaseException) -> None:
        pass


class OpenCensusTracing:
    """The seed's spans: opencensus's current tracer."""

    def span(self, name: str) -> ContextManager[Any]:
        from opencensus.trace import execution_context

        return execution_context.get_opencensus_tracer().span(name)  # type: ignore[no-any-return]

    def failed(self, span: Any, err: BaseException) -> None:
        from opencensus.trace.status import Status

        span.set_status(Status(STATUS_INTERNAL, str(err)))


class OpenTelemetryTracing:
    """The same spans from an OpenTelemetry tracer."""

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def span(self, name: str) -> ContextManager[Any]:
        return self.tracer.start_as_current_span(name)  # type: ignore[no-any-return]

    def failed(self, span: Any, err: BaseException) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, str(err)))


def leaderboard(get_conn: Callable[[context.Context], DemoConn], log: logging.Logger,
                tracing: Tracing) -> None:
    """The seed's end-to-end ``main()``: the leaderboard under four spans.

    ``get_conn`` is the seed's ``redisPool.GetWithContext``, or its cluster
    counterpart, and ``tracing`` opencensus's or OpenTelemetry's, so that
    every run is this same program.
    """
    ctx = context.background()
    with tracing.span("LeaderBoardModification"):
        conn = get_conn(ctx)
        try:
            with tracing.span("AddToLeaderBoard"):
                conn.do_context(ctx, "ZADD", LEADER_BOARD_KEY, 10, "76d38ff6-fd76-4fb1-ba26-e8779a766faf",
                                25, "98fb173b-ae91-4b46-9401-20e98e5856d9")
            with tracing.span("Scan") as scan_span:
                try:
                    dt = conn.do_context(ctx, "ZSCAN", LEADER_BOARD_KEY, 0)
                except redis.RedigoError as err:
                    tracing.failed(scan_span, err)
                    raise
            log.info("ZSCAN response: %s", dt)
            with tracing.span("Cleanup"):
                conn.do_context(ctx, "DEL", LEADER_BOARD_KEY)
        finally:
            conn.close_context(ctx)


def pooled_leaderboard(url: str, log: logging.Logger, tracing: Tracing, **dial_options: Any) -> None:
    """The leaderboard on the seed's pool of connections to one server (``dial_options`` go to
    :func:`redigo_py.dial_url`: ``default_attributes``, say)."""
    pool = new_pool(lambda: redis.dial_url(url, **dial_options))
    try:
        leaderboard(pool.get_with_context, log, tracing)
    finally:
        pool.close()


def new_aio_pool(dial: Callable[[], Awaitable[aio.Conn]]) -> aio.Pool:
    """:func:`new_pool` for asyncio: the same borrow test, awaited."""

    async def test_on_borrow(c: aio.Conn, last_used: float) -> None:
        if time.monotonic() - last_used < 5 * 60:
            return
        await c.do("PING")

    return aio.Pool(dial=dial, test_on_borrow=test_on_borrow)


async def aio_leaderboard(url: str, log: logging.Logger, tracing: Tracing) -> None:
    """:func:`leaderboard` as an asyncio service writes it: the same calls under the same
    spans, awaited; the spans follow the task across its awaits."""
    pool = new_aio_pool(lambda: aio.dial_url(url))
    ctx = context.background()
    try:
        with tracing.span("LeaderBoardModification"):
            conn = await pool.get_with_context(ctx)
            try:
                with tracing.span("AddToLeaderBoard"):
                    await conn.do_context(ctx, "ZADD", LEADER_BOARD_KEY, 10, "76d38ff6-fd76-4fb1-ba26-e8779a766faf",
                                          25, "98fb173b-ae91-4b46-9401-20e98e5856d9")
                with tracing.span("Scan") as scan_span:
                    try:
                        dt = await conn.do_context(ctx, "ZSCAN", LEADER_BOARD_KEY, 0)
                    except redis.RedigoError as err:
                        tracing.failed(scan_span, err)
                        raise
                log.info("ZSCAN response: %s", dt)
                with tracing.span("Cleanup"):
                    await conn.do_context(ctx, "DEL", LEADER_BOARD_KEY)
            finally:
                await conn.close_context(ctx)
    finally:
        await pool.close()


class NodeReportingConn:
    """A cluster conn wrapped by ``retry_conn``, offered to the leaderboard as a plain one,
    that logs which node served each command.

    What :func:`~redigo_py.cluster.retry_conn` returns offers only ``do``
    (and ``err``, ``close``), so ``do_context`` maps onto ``do``: the
    leaderboard's context is ``context.background()``, which has no deadline
    or cancel to lose. The node is read after each reply because a MOVED or
    ASK moves the conn.
    """

    def __init__(self, conn: redisc.Conn, log: logging.Logger) -> None:
        self._conn = redisc.retry_conn(conn, CLUSTER_MAX_ATTEMPTS, CLUSTER_TRY_AGAIN_DELAY)
        self._log = log

    def do_context(self, ctx: context.Context, command: Union[str, bytes], *args: Any) -> Any:
        reply = self._conn.do(command, *args)
        self._log.info("%s served by %s", command, self._conn.bound_addr)
        return reply

    def close_context(self, ctx: context.Context) -> None:
        self._conn.close()


def cluster_leaderboard(startup_nodes: Sequence[str], log: logging.Logger, tracing: Tracing) -> None:
    """The leaderboard through ``Cluster`` + ``retry_conn``, with the seed's pool for each node."""
    cluster = redisc.Cluster(
        startup_nodes, create_pool=lambda addr, **options: new_pool(lambda: redis.dial("tcp", addr, **options)))

    def get_conn(ctx: context.Context) -> DemoConn:
        # Bound before the first command, as the seed's GetWithContext dials
        # before it: the dial is then LeaderBoardModification's child, not AddToLeaderBoard's.
        conn = cluster.get()
        conn.bind(LEADER_BOARD_KEY)
        return NodeReportingConn(conn, log)

    try:
        cluster.refresh()
        leaderboard(get_conn, log, tracing)
    finally:
        cluster.close()
