"""The sans-IO core of a connection: what the blocking and the asyncio clients share.

A connection's bookkeeping does not depend on how its bytes move: the
replies owed (``_sent - _received``), the buffered commands, the fatal
error that ends it (first error wins, the transport closed exactly once),
how an interruption becomes the library's error, and what the recorder is
told (each reply's bytes under the command it answers, a pipeline's span
from its flush to its last reply). :class:`Exchange` holds all of that;
:class:`~redigo_py.conn.NetConn` drives it over a blocking socket and
:class:`~redigo_py.aio.Conn` over an asyncio transport, and each adds only
its I/O and its own way of taking turns (threads, resp. tasks).
"""

from __future__ import annotations

import builtins
import socket
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Deque, Dict, List, Optional, Tuple, Union

from . import _fork
from . import _recorder as _rec
from . import context as _context
from .errors import ArgumentError, ConnectionError, Error, ProtocolError, TimeoutError
from .cache import cacheable
from .commandinfo import command_word
from .resp import Push, Reader
from ._types import Reply

if TYPE_CHECKING:
    from .cache import ClientCache, _Token  # noqa: F401 - names of annotations

_modules = sys.modules
_OC_TRACE = _rec.OC_TRACE_MODULE
_perf_ns = time.perf_counter_ns


class _NotYet:
    """What a connection's reader returns while no reply is complete."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no complete reply yet>"


NOT_YET = _NotYet()

# The pushes that are pub/sub notifications, which ``receive`` returns (RESP3).
PUBSUB_PUSHES = frozenset((b"message", b"pmessage", b"smessage", b"subscribe", b"psubscribe", b"ssubscribe",
                           b"unsubscribe", b"punsubscribe", b"sunsubscribe", b"pong"))
# Commands whose answer under RESP3 is a push, not a reply: they owe none.
PUSH_ANSWERED = frozenset((b"SUBSCRIBE", b"PSUBSCRIBE", b"SSUBSCRIBE",
                           b"UNSUBSCRIBE", b"PUNSUBSCRIBE", b"SUNSUBSCRIBE"))

PushHandler = Callable[[Push], object]


def push_answered(command: Union[str, bytes], args: Tuple[object, ...]) -> bool:
    """Whether ``command`` is answered by pushes only under RESP3 (the subscribe family).

    A command that would return a RESP3 connection to RESP2 (RESET, HELLO 2)
    is refused with :class:`ArgumentError` before it is sent: the connection
    would go on treating the subscribe family as answered by pushes, and
    their RESP2 replies would reach the commands after them.
    """
    name = command_word(command)
    if name in PUSH_ANSWERED:
        return True
    if name == b"RESET" or (name == b"HELLO" and args and command_word(args[0]) == b"2"):
        what = "RESET" if name == b"RESET" else "HELLO 2"
        raise ArgumentError(f"redigo: {what} would return this RESP3 connection to RESP2, which it "
                            "cannot follow: close it and dial one with protocol=2 instead")
    return False


def _ends_tracking(command: Union[str, bytes], args: Tuple[object, ...]) -> bool:
    """Whether ``command`` turns this connection's CLIENT TRACKING off."""
    return command_word(command) == b"CLIENT" and [command_word(a) for a in args[:2]] == [b"TRACKING", b"OFF"]


def new_reader(protocol: int) -> Reader:
    """A connection's reader: RESP2 or RESP3, and NOT_YET while no reply is complete."""
    return Reader(protocol=protocol, not_enough_data=NOT_YET)


# Guards only the first-error-wins of Exchange._fatal (a cancel callback may
# race the owning thread); failures are rare, so one lock serves every connection.
_FATAL_LOCK = threading.Lock()


def _fresh_fatal_lock() -> None:
    """In a forked child: a thread of the parent may have held the lock at the fork."""
    global _FATAL_LOCK
    _FATAL_LOCK = threading.Lock()


_fork.at_child(_fresh_fatal_lock)


class Exchange:
    """The state and accounting of one connection, without its transport.

    Subclasses provide ``_close_transport()`` (close the socket or transport,
    waking whoever waits on it) and the I/O that calls the methods here.
    """

    __slots__ = (
        "_reader", "_wbuf", "_wbuf_len", "_sent", "_received", "_sender", "_err", "_ctx_call",
        "_server", "_series", "_pending_series", "_last_series", "_batch", "_batch_span",
        "_pushes", "_push_handler", "_want_push", "_cache", "_gets",
        "network", "host", "port", "database", "default_attributes",
    )

    def __init__(self, network: str, host: str, port: int, database: int,
                 default_attributes: Optional[Dict[str, object]], protocol: int = 2,
                 push_handler: Optional[PushHandler] = None, reader: Optional[Reader] = None) -> None:
        # ``gets()`` says "no reply yet" with NOT_YET: under RESP3, False is a reply.
        self._reader = reader or new_reader(protocol)
        # RESP3: pub/sub pushes waiting for ``receive``; the handler of the
        # other pushes; whether the receive in progress wants a pub/sub push
        # (nothing is owed); the client-side cache this connection feeds.
        self._pushes: Deque[Push] = deque()
        self._push_handler = push_handler
        self._want_push = False
        self._cache: Optional[ClientCache] = None
        # The next reply already read, or NOT_YET: the reader's own gets() under
        # RESP2 (no cost added), the push filter under RESP3.
        self._gets: Callable[[], Reply] = self._reader.gets if protocol == 2 else self._gets_resp3
        self._wbuf: List[bytes] = []
        self._wbuf_len = 0
        # Replies pending = _sent - _received. The sending side writes only
        # _sent and the receiving side only _received, so the pub/sub
        # pattern (one sends, another receives) needs no lock.
        self._sent = 0
        self._received = 0
        # Who sent the commands whose replies are owed (a thread id, a task): only
        # that caller may read them.
        self._sender: object = None
        self._err: Optional[BaseException] = None
        # Bumped (under _FATAL_LOCK) when a *_context call starts and ends: a
        # cancel callback kills the connection only while its own call runs.
        self._ctx_call = 0
        # What the recorder needs, kept here so a command costs no lookup:
        # where this connection goes, its sample series by command name;
        # while metrics are on, the series of each sent command whose reply
        # is still to come (a pipelined reply is counted under its own
        # command) and of the last one sent (pub/sub pushes count under it);
        # while a pipeline span is wanted, the names buffered and the span of
        # the pipeline written but not yet all read.
        self._server: _rec.Server = (database, network, host, port)
        self._series: Dict[Union[str, bytes], _rec.CommandSamples] = {}
        self._pending_series: Deque[_rec.CommandSamples] = deque()
        self._last_series: Optional[_rec.CommandSamples] = None
        self._batch: List[str] = []
        self._batch_span: Optional[_rec.SpanLike] = None
        self.network = network  #: "tcp" or "unix": how the server was reached
        self.host = host  #: the server's host, or the unix socket's path
        self.port = port  #: the server's TCP port (0 for a unix socket)
        self.database = database  #: the database index selected at dial time
        self.default_attributes = default_attributes  #: added to every span of this connection

    def err(self) -> Optional[BaseException]:
        """The error that made this connection unusable, or None."""
        return self._err

    def last_attributes(self) -> Optional[Dict[Reply, Reply]]:
        """The last RESP3 attribute map the server sent (None until one came; RESP2 has none)."""
        return self._reader.last_attributes

    # -- RESP3 pushes ------------------------------------------------------------

    def _route(self, push: Push) -> None:
        """A push, out of the reply stream: an invalidation to the cache, a pub/sub
        notification to ``receive``, anything else to the push handler (or dropped)."""
        kind = push[0] if push else b""
        if isinstance(kind, str):
            kind = kind.encode()
        if kind == b"invalidate" and self._cache is not None:
            self._cache.invalidated(self, push[1] if len(push) > 1 else None)
        elif kind in PUBSUB_PUSHES:
            self._pushes.append(push)
        elif self._push_handler is not None:
            self._push_handler(push)

    def _gets_resp3(self) -> Reply:
        """The next reply already read (NOT_YET if none), the pushes before it routed away;
        for a ``receive`` owed no reply (``_want_push``), the next pub/sub push instead."""
        pushes = self._pushes
        while True:
            if self._want_push and pushes:
                return pushes.popleft()
            reply = self._reader.gets()
            if type(reply) is not Push:
                return reply
            self._route(reply)

    def take_in_pushes(self) -> bool:
        """Take in, without waiting, what has arrived for this connection and route the pushes
        (a cache hit asks its entry's connection this first). False when that cannot be done
        now: it failed, it is owed replies, or another caller is reading it."""
        raise NotImplementedError

    def _route_ready(self) -> None:
        """Route every complete push in the reader (nothing is owed: no reply can be among them)."""
        gets = self._gets
        while gets() is not NOT_YET:
            pass

    def _cached(self, command: Union[str, bytes], args: Tuple[object, ...]) -> Tuple[bool, Reply, Optional[_Token]]:
        """Ask this connection's cache: (True, value) on a hit; on a miss of a cacheable
        command, (False, None, token) for ``cache.store`` once the reply is read; else
        (False, None, None)."""
        cache = self._cache
        if cache is None:
            return False, None, None
        name = cacheable(command)
        if name is None:
            if _ends_tracking(command, args):
                # CLIENT TRACKING OFF: the server stops telling this connection of
                # writes, so what it cached could go stale unseen; it caches no more.
                self._cache = None
                cache.lost(self)
            return False, None, None
        hit, value, token = cache.lookup(self, name, args)
        if _rec.ON or _OC_TRACE in _modules:
            self._cache_observed(name, command, args, hit)
        return hit, value, token

    def _cache_observed(self, name: bytes, command: Union[str, bytes], args: Tuple[object, ...],
                        hit: bool) -> None:
        """A client-side cache lookup, for the recorder: counted by result, and a hit's span
        (a miss's is its command's own) marked ``redis.client.cache.hit``."""
        _rec.record_cache(name, hit)
        if hit and _rec.traced():
            span = _rec.command_span(self, command, args)
            if span is not None:
                span.set("redis.client.cache.hit", True)
                span.end()

    def _forget_pushes(self) -> None:
        """Drop the pub/sub pushes not received (a pooled connection cleaned up for reuse)."""
        self._pushes.clear()

    def __repr__(self) -> str:
        where = self.host if self.network == "unix" else f"{self.host}:{self.port}"
        state = "ok" if self._err is None else repr(self._err)
        return f"<redigo_py.{type(self).__qualname__} {self.network} {where} db={self.database} {state}>"

    def _take_buffered(self, data: bytes) -> bytes:
        """The buffered sends followed by ``data``, as one write; the buffer is left empty."""
        wbuf = self._wbuf
        wbuf.append(data)
        data = b"".join(wbuf)
        wbuf.clear()
        self._wbuf_len = 0
        return data

    def _taken(self, reply: Reply, span: Optional[_rec.SpanLike]) -> Reply:
        """A reply that ``receive`` read: counted as received, raised if it is an error reply.

        Pub/sub receives more replies than it sends; the count never goes
        negative, so the connection works normally again after unsubscribing.
        """
        if self._sent > self._received:
            self._received += 1
            if self._sent == self._received and self._batch_span is not None:
                self._end_batch(None)
        if type(reply) is Error:
            if span is not None:
                _rec.fail(span, reply)
            raise reply
        return reply

    def _receive_failed(self, exc: BaseException, ctx: Optional[_context.Context],
                        span: Optional[_rec.SpanLike], observed: bool) -> BaseException:
        """What a ``receive`` interrupted mid-read raises; its span failed (the caller ends it),
        and any pipeline span left open failed and ended."""
        err = self._failed(exc, ctx, "", "read")
        if observed:
            if span is not None:
                _rec.fail(span, err)
            self._end_batch(err)
        return err

    def _flush_failed(self, exc: BaseException, ctx: Optional[_context.Context],
                      span: Optional[_rec.SpanLike]) -> BaseException:
        """What a flush interrupted mid-write raises; its span and its pipeline's failed."""
        err = self._failed(exc, ctx, "", "write")
        if span is not None:
            _rec.fail(span, err)
        self._end_batch(err)
        return err

    # -- the recorder's side -----------------------------------------------------

    def _series_of(self, command: Union[str, bytes]) -> _rec.CommandSamples:
        """The recorder's series for ``command`` on this connection (cached while the context
        has no tags of its own)."""
        if _rec.OC_TAGS_MODULE in _modules and _rec.current_tags():
            return _rec.samples(command, self._server)
        try:
            series = self._series.get(command)
        except TypeError:  # an unhashable name (a bytearray)
            return _rec.samples(command, self._server)
        if series is None:
            series = self._series[command] = _rec.samples(command, self._server)
        return series

    def _observe_send(self, command: Union[str, bytes], size: int) -> Optional[_rec.SpanLike]:
        """An observed ``send``: its span (if traced), and the command noted (:meth:`_note_sent`)."""
        span = _rec.method_span(self, "send") if _rec.traced() else None
        self._note_sent(command, size)
        return span

    def _note_sent(self, command: Union[str, bytes], size: int) -> None:
        """A buffered command, for the recorder: its write counted, its reply's series queued,
        and its name kept for the span of the pipeline it will be flushed in."""
        if _rec.ENABLED:
            series = self._last_series = self._series_of(command)
            series.written.append(size)
            self._pending_series.append(series)
        if _rec.PIPELINES:
            self._batch.append(_rec.command_name(command))

    def _begin_do(self, command: Union[str, bytes], args: Tuple[object, ...], caller: object
                  ) -> Optional[Tuple[int, bool, Optional[_rec.SpanLike], Optional[_rec.CommandSamples], int]]:
        """A ``do`` that has its turn, by ``caller`` (a thread id or a task): the replies it
        reads first (``pending``; refused if they are another caller's, whose replies they
        are), whether it is observed, and its observation begun (span, series, start time).
        None for ``do("")`` with nothing owed: it has nothing to do."""
        pending = self._sent - self._received
        if pending and self._sender != caller:
            raise self._concurrent()
        self._received = self._sent
        if not command and pending == 0:
            return None
        begun = (pending, True, *self._observe_do(command, args)) if _rec.ON or _OC_TRACE in _modules else (
            pending, False, None, None, 0)
        if self._batch:  # the buffered commands go with this do, inside its span
            self._batch.clear()
        return begun

    @staticmethod
    def _concurrent() -> BaseException:
        """The refusal of a call that would share the connection beyond redigo's rule."""
        raise NotImplementedError

    def _do_failed(self, exc: BaseException, ctx: Optional[_context.Context], command: Union[str, bytes],
                   phase: str, observed: bool, span: Optional[_rec.SpanLike],
                   series: Optional[_rec.CommandSamples], start: int) -> BaseException:
        """:meth:`_failed` for a ``do``, which also ends its observation as failed."""
        err = self._failed(exc, ctx, command, phase)
        if observed:
            self._observed_failure(span, series, start, err)
        return err

    def _observed_do_end(self, span: Optional[_rec.SpanLike], series: Optional[_rec.CommandSamples],
                         start: int, pending: int, replies: List[Reply], command: Union[str, bytes]) -> None:
        """An observed ``do`` whose replies all came: the pipeline they ended (if it read
        replies owed) and its own duration and span."""
        if pending:
            self._end_batch(None)
        self._observed_end(span, series, start, first_error(replies, command))

    def _observe_do(self, command: Union[str, bytes], args: Tuple[object, ...]
                    ) -> Tuple[Optional[_rec.SpanLike], Optional[_rec.CommandSamples], int]:
        """An observed ``do`` starting: its span (if traced), its series (if metrics are on;
        pub/sub pushes count under it after) and its start time."""
        span = _rec.command_span(self, command, args) if _rec.traced() else None
        series = None
        if _rec.ENABLED and command:
            series = self._last_series = self._series_of(command)
        return span, series, (_perf_ns() if series is not None else 0)

    def _count_reply(self, reply: Reply, size: int, series: Optional[_rec.CommandSamples]) -> None:
        """A reply of ``size`` bytes, counted under ``series`` or under the command it answers."""
        if _rec.ENABLED:
            if series is None:
                queue = self._pending_series
                series = queue.popleft() if queue else self._last_series or self._series_of("")
            series.read.append(size)
            if type(reply) is Error:
                _rec.record_error(series.cmd, _rec.KIND_REPLY, _rec.error_detail(reply))

    def _observed_end(self, span: Optional[_rec.SpanLike], series: Optional[_rec.CommandSamples],
                      start: int, failure: Optional[Error]) -> None:
        """An observed ``do`` whose replies all came: its duration and its span, labelled with
        the error reply it raises, if any."""
        if series is not None:
            elapsed = _perf_ns() - start
            if failure is None:
                series.latency_ns.append(elapsed)
            else:
                series.failed.append((elapsed, failure.kind, failure.kind))
        if span is not None:
            if failure is not None:
                _rec.fail(span, failure)
            span.end()

    def _observed_failure(self, span: Optional[_rec.SpanLike], series: Optional[_rec.CommandSamples],
                          start: int, err: BaseException) -> None:
        """A call that failed before its replies were all read: timed, and its span (and any
        pipeline span left open) failed and ended."""
        if series is not None:
            series.failed.append((_perf_ns() - start, type(err).__name__, ""))
        if span is not None:
            _rec.fail(span, err)
            span.end()
        self._end_batch(err)

    def _start_batch(self) -> None:
        """After a flush wrote buffered commands: the span of that pipeline, until its last reply."""
        names, self._batch = self._batch, []
        if self._batch_span is None and names:
            self._batch_span = _rec.pipeline_span(self, names)

    def _end_batch(self, err: Optional[BaseException]) -> None:
        span = self._batch_span
        if span is not None:
            self._batch_span = None
            if err is not None:
                _rec.fail(span, err)
            span.end()

    def _watch(self, ctx: _context.Context) -> Callable[[], None]:
        """Kill the connection if ``ctx`` is cancelled during this call, and only then.

        The callback runs in the cancelling thread, possibly late (a context
        runs its callbacks after releasing its lock): the call's number,
        checked under the lock that guards the kill, keeps a late cancel from
        killing the connection once the call is over and someone else uses it.
        """
        with _FATAL_LOCK:
            self._ctx_call += 1
            call = self._ctx_call
        unregister = ctx.on_cancel(lambda err: self._fatal(err, _rec.STATE_ERROR, call))

        def done() -> None:
            with _FATAL_LOCK:
                self._ctx_call += 1
            unregister()

        return done

    # -- the end of a connection --------------------------------------------------

    def _close_transport(self) -> None:
        raise NotImplementedError

    def _close(self, state: str) -> None:
        """Close, counting the close under ``state`` (the pool says why: stale, idle...)."""
        err = self._fatal(ConnectionError("redigo: closed"), state)
        self._end_batch(err)  # a pipeline whose replies will never come

    def _fatal(self, err: BaseException, state: str = "error", call: Optional[int] = None) -> BaseException:
        """Make the connection unusable for good; return the error that did it first.

        The transport is closed exactly once, here, so the close is counted
        once. With ``call``, only if that *_context call is still the current one.
        """
        with _FATAL_LOCK:
            first = self._err is None and (call is None or call == self._ctx_call)
            if first:
                self._err = err
        if first:
            self._close_transport()
            _rec.record_closed(state)
            if self._cache is not None:
                self._cache.lost(self)  # its tracking is gone: what it cached may go stale
        return self._err  # type: ignore[return-value]

    def _failed(self, exc: BaseException, ctx: Optional[_context.Context], command: Union[str, bytes],
                phase: str) -> BaseException:
        """Turn what interrupted an exchange into the library's error, fatally, and count it.

        A ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt,
        SystemExit, an asyncio task's cancellation) still kills the
        connection but is re-raised as itself. ``phase`` ("read" or "write")
        is the error's ``kind`` unless it was a timeout or a protocol error.
        """
        err: BaseException
        if ctx is not None and (ctx.err() is not None or
                                (isinstance(exc, socket.timeout) and (ctx.remaining() or 1.0) <= 0.001)):
            # A timeout is the context's only when its deadline was the bound
            # that ran out; a shorter read/write timeout stays an i/o timeout.
            err = ctx.err() or _context.DeadlineExceeded()
        elif isinstance(exc, (ProtocolError, ConnectionError)):
            err = exc
        elif isinstance(exc, socket.timeout):
            err = TimeoutError("redigo: i/o timeout")
        elif isinstance(exc, OSError):
            err = ConnectionError(f"redigo: {exc.strerror or exc}")
        elif isinstance(exc, Exception):
            err = ConnectionError(f"redigo: I/O interrupted by {type(exc).__name__}: {exc}")
        else:
            self._fatal(ConnectionError(
                f"redigo: I/O interrupted by {type(exc).__name__}: the connection is closed, "
                "so that the reply it was owed can never reach another caller"))
            _rec.record_error(command, phase, type(exc).__name__)
            return exc
        first = self._fatal(err)
        if first is err:
            kind = (_rec.KIND_PROTOCOL if isinstance(err, ProtocolError) else
                    _rec.KIND_TIMEOUT if isinstance(err, builtins.TimeoutError) else phase)
            _rec.record_error(command, kind, type(err).__name__)
        return first


def first_error(replies: List[Reply], command: Union[str, bytes]) -> Optional[Error]:
    """The error reply a ``do`` raises (see :func:`settle`), or None: what its span and
    its duration are labelled with."""
    for reply in replies if command else ():
        if type(reply) is Error:
            return reply
    return None


def settle(replies: List[Reply], command: Union[str, bytes]) -> Reply:
    """redigo's result of a ``do``: every reply for ``do("")``, else the last one,
    unless an earlier reply was an error, which is raised (the first one)."""
    if not command:
        return replies
    failure = first_error(replies, command)
    if failure is not None:
        raise failure
    return replies[-1]


def timeout_value(seconds: Optional[float]) -> Optional[float]:
    """Go's zero Duration means "no timeout"; so do 0 and None here."""
    if seconds is None or seconds == 0:
        return None
    if seconds < 0:
        raise ArgumentError(f"redigo: negative timeout {seconds}")
    return float(seconds)


def within(timeout: Optional[float], ctx: _context.Context) -> Optional[float]:
    """min(``timeout``, the time left on ``ctx``): Go's rule for every *Context call.
    None means unbounded; a deadline already passed still gives a (tiny) positive bound."""
    remaining = ctx.remaining()
    if remaining is not None and (timeout is None or remaining < timeout):
        return max(remaining, 1e-6)
    return timeout


def again(err: BaseException) -> BaseException:
    """A stored error, with no traceback left over from where it was raised before."""
    return err.with_traceback(None)


EOF_TEXT = "redigo: EOF (the server closed the connection)"
