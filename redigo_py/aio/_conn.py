"""asyncio connections: redigo's ``conn`` over an asyncio transport.

:class:`NetConn` drives the same sans-IO core as the blocking connection
(:class:`redigo_py._exchange.Exchange`: replies owed, fatal state, the
recorder's accounting), the same codec and the same error texts; only the
I/O differs. The transport's protocol object (``_Wire``) feeds every
byte that arrives into the connection's :class:`~redigo_py.resp.Reader` and
wakes the task waiting for a reply; the task parses.

Cancellation is the reason this module is careful. A call that is cancelled
(``task.cancel()``, ``asyncio.timeout``, ``wait_for``) or times out after its
command was written makes the connection fatal and aborts its transport:
the reply it was owed is still coming, and no other call may ever read it
(the bug behind redis-py's CVE-2023-28858/28859). A call cancelled while it
only waited for its turn wrote nothing and leaves the connection as it was.

Tasks take turns on a connection as threads do on the blocking one: one
sender and one receiver at a time (a subscriber task beside a reader
task). A ``do`` waits while another task sends or runs a ``do``; what
taking turns cannot make safe is refused with a :class:`RedigoError` that
says "concurrent": a ``send`` or ``do`` while another task's replies are
owed, and a ``do`` while another task is in ``receive``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple, Union, cast

from .. import _fork
from .. import _recorder as _rec
from .. import context as _context
from .._exchange import (
    EOF_TEXT,
    NOT_YET,
    Exchange,
    PushHandler,
    again,
    new_reader,
    push_answered,
    settle,
    timeout_value,
    within,
)
from ..conn import (
    _FAMILIES,
    AddrInfo,
    Attempts,
    _dial_error,
    dial_failed,
    dial_options,
    dial_target,
    handshake_error,
    handshake_failed,
    own_socket,
    parse_url,
    tls_context,
    tls_error,
    tune_socket,
)
from ..errors import ConnectionError, Error, ProtocolError, RedigoError
from ..resp import encode_command
from .._types import Reply

__all__ = ["NetConn", "dial", "dial_context", "dial_url", "dial_url_context"]

_modules = sys.modules
_OC_TRACE = _rec.OC_TRACE_MODULE
_current_task = asyncio.current_task
_get_ident = threading.get_ident


def _wake(waiter: "Optional[asyncio.Future[None]]") -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _expire(waiter: "asyncio.Future[None]") -> None:
    """A read's or a drain's deadline passed."""
    if not waiter.done():
        waiter.set_exception(socket.timeout("timed out"))


class _Wire(asyncio.Protocol):
    """The transport's events, for one connection: bytes go into its reader at once,
    and the task waiting for them (at most one: the receiver) is woken."""

    def __init__(self, protocol: int = 2) -> None:
        self.reader = new_reader(protocol)  # the connection's: it adopts it
        self.waiter: Optional[asyncio.Future[None]] = None  # a reader waiting for bytes
        self.drain: Optional[asyncio.Future[None]] = None  # a writer waiting for room
        self.lost: Optional[ConnectionError] = None
        self.paused = False  # writing: the transport's buffer is over its high-water mark
        self.held = False  # reading paused: nobody reads what arrives
        self.fed = 0  # bytes fed to the reader, to compare with what it has handed out
        self.transport: Optional[asyncio.ReadTransport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.ReadTransport, transport)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        self.fed += len(data)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self.fed - reader.consumed > _BACKLOG_LIMIT and not self.held and self.transport is not None:
            # Nobody is reading (a subscriber that stopped receiving, replies
            # nobody asked for yet): stop taking bytes, as a blocking socket's
            # full buffer would, instead of buffering without bound. The
            # next read resumes.
            self.held = True
            self.transport.pause_reading()

    def eof_received(self) -> None:
        return None  # the transport closes itself, and connection_lost says so

    def connection_lost(self, exc: Optional[Exception]) -> None:
        reason = EOF_TEXT if exc is None else f"redigo: {getattr(exc, 'strerror', None) or exc}"
        self.lost = ConnectionError(reason)
        _wake(self.waiter)
        _wake(self.drain)
        self.waiter = self.drain = None

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        _wake(self.drain)
        self.drain = None


def _concurrent() -> RedigoError:
    """:meth:`Exchange._concurrent` for tasks."""
    return RedigoError("redigo: concurrent use of one Conn by two tasks: another task's replies are "
                       "still owed, or it is receiving; give each task its own conn, from an aio.Pool")


class NetConn(Exchange):
    """A connection to one Redis server, for asyncio (the ``aio`` twin of :class:`redigo_py.conn.NetConn`).

    Make one with :func:`dial` or :func:`dial_url`. ``do``, ``send``,
    ``flush``, ``receive`` (with their ``_with_timeout`` and ``_context``
    forms) and ``close`` are coroutines; ``err`` is not. An async context
    manager that closes the connection on exit.
    """

    __slots__ = ("_transport", "_wire", "_loop", "_thread", "_read_timeout", "_write_timeout",
                 "_sending", "_receiving", "_turns", "__weakref__")
    _concurrent = staticmethod(_concurrent)

    def __init__(self, transport: asyncio.Transport, wire: _Wire, read_timeout: Optional[float],
                 write_timeout: Optional[float], *, network: str, host: str, port: int,
                 database: int = 0, default_attributes: Optional[Dict[str, object]] = None,
                 push_handler: Optional[PushHandler] = None) -> None:
        Exchange.__init__(self, network, host, port, database, default_attributes, wire.reader.protocol,
                          push_handler, wire.reader)
        self._transport = transport
        self._wire = wire
        self._loop = asyncio.get_running_loop()
        self._thread = _get_ident()  # the event loop's thread
        self._read_timeout = timeout_value(read_timeout)
        self._write_timeout = timeout_value(write_timeout)
        # Which sides are taken (by a task inside send/flush/do, resp.
        # receive/do) and the tasks waiting for a turn (see the module docstring).
        self._sending = False
        self._receiving = False
        self._turns: Deque[asyncio.Future[None]] = deque()
        _fork.track(self)

    # -- redigo's Conn, awaited ----------------------------------------------------

    async def do(self, command: Union[str, bytes], *args: object) -> Reply:
        """Send a command, flush, and return its reply (redigo's ``Do``)."""
        if (self._sending or self._receiving or self._sent != self._received or not command
                or self._read_timeout is not None or self._err is not None
                or _rec.ON or _OC_TRACE in _modules):
            return await self._do(self._read_timeout, command, args, None)
        # The usual call, unobserved: its turn taken without waiting, one write, one read.
        data = encode_command(command, args)
        self._sending = self._receiving = True
        try:
            self._transport.write(data)
            reply = self._gets()
            if reply is NOT_YET:
                reply = await self._read(None)
        except BaseException as exc:
            raise self._failed(exc, None, command, "read") from None
        finally:
            self._sending = self._receiving = False
            if self._turns:
                self._next_turn()
        if type(reply) is Error:
            raise reply
        return reply

    async def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        """``do`` with this read timeout (seconds; 0/None: none) instead of the dial option."""
        return await self._do(timeout_value(timeout), command, args, None)

    async def send(self, command: Union[str, bytes], *args: object) -> None:
        """Buffer a command; its reply comes from ``receive`` (or a later ``do``)."""
        if self._err is not None:
            raise again(self._err)
        data = encode_command(command, args)
        if self._sending:
            await self._take_turn(True, False)
        else:
            self._sending = True
        try:
            me = _current_task()
            if self._sender is not me:
                if self._sent != self._received:
                    raise _concurrent()
                self._sender = me
            span = self._observe_send(command, len(data)) if _rec.ON or _OC_TRACE in _modules else None
            try:
                self._wbuf.append(data)
                self._sent += 1
                self._wbuf_len += len(data)
                if self._wbuf_len > _SEND_BUFFER_LIMIT:
                    await self._flush(span, None)
            finally:
                if span is not None:
                    span.end()
        finally:
            self._end_turn(True, False)

    async def flush(self) -> None:
        """Write every buffered command to the server."""
        await self._flush_turn(None)

    async def receive(self) -> Reply:
        """Read one reply; raise it if it is an error reply."""
        if self._err is None and not self._receiving and not _rec.ON and _OC_TRACE not in _modules:
            # A pipeline's replies are usually parsed already: the next one needs no
            # turn and no wait (nothing can come between, as nothing is awaited).
            try:
                reply = self._gets()
            except ProtocolError as exc:
                raise self._failed(exc, None, "", "read") from None
            if reply is not NOT_YET:
                if self._sent > self._received:
                    self._received += 1
                if type(reply) is Error:
                    raise reply
                return reply
        return await self._receive(self._read_timeout, None)

    async def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        """``receive`` with this read timeout (seconds; 0/None: none)."""
        return await self._receive(timeout_value(timeout), None)

    async def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        """``do`` bounded by ``ctx``: min(deadline, read timeout); cancel closes the connection."""
        if not ctx.cancellable():
            return await self._do(self._read_timeout, command, args, None)
        timeout = self._context_timeout(ctx)
        unregister = self._watch(ctx)
        try:
            return await self._do(timeout, command, args, ctx)
        finally:
            unregister()

    async def receive_context(self, ctx: _context.Context) -> Reply:
        """``receive`` bounded by ``ctx`` as ``do_context`` is."""
        if not ctx.cancellable():
            return await self._receive(self._read_timeout, None)
        timeout = self._context_timeout(ctx)
        unregister = self._watch(ctx)
        try:
            return await self._receive(timeout, ctx)
        finally:
            unregister()

    async def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        """``send``, refused (nothing buffered) if ``ctx`` has already ended."""
        err = ctx.err()
        if err is not None:
            raise again(err)
        await self.send(command, *args)

    async def flush_context(self, ctx: _context.Context) -> None:
        """``flush``, refused (nothing written) if ``ctx`` has already ended."""
        err = ctx.err()
        if err is not None:
            raise again(err)
        await self._flush_turn(ctx)

    async def close(self) -> None:
        """Close the connection. Closing twice, or after a failure, does nothing."""
        span = _rec.method_span(self, "close") if _rec.traced() else None
        self._close(_rec.STATE_COMPLETE)
        if span is not None:
            span.end()

    async def close_context(self, ctx: _context.Context) -> None:
        """``close`` (the context only parents the close span)."""
        await self.close()

    async def __aenter__(self) -> "NetConn":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- turns ---------------------------------------------------------------------

    async def _take_turn(self, send: bool, receive: bool) -> None:
        """Wait until the sides wanted are free, then take them. A cancel here wrote nothing."""
        while (send and self._sending) or (receive and self._receiving):
            turn = self._loop.create_future()
            self._turns.append(turn)
            try:
                await turn
            finally:
                if not turn.done() or turn.cancelled():
                    try:
                        self._turns.remove(turn)
                    except ValueError:
                        pass
            if self._err is not None:
                raise again(self._err)
        if send:
            self._sending = True
        if receive:
            self._receiving = True

    def _end_turn(self, send: bool, receive: bool) -> None:
        if send:
            self._sending = False
        if receive:
            self._receiving = False
        if self._turns:
            self._next_turn()

    def _next_turn(self) -> None:
        """Wake every task waiting for a turn: each checks again, in the order they came."""
        turns = self._turns
        while turns:
            _wake(turns.popleft())

    # -- the exchange --------------------------------------------------------------

    async def _do(self, timeout: Optional[float], command: Union[str, bytes], args: Tuple[object, ...],
                  ctx: Optional[_context.Context]) -> Reply:
        """The general ``do``: waits its turn, reads the replies owed first, times, observes."""
        if self._err is not None:
            raise again(self._err)
        data = encode_command(command, args) if command else b""
        await self._take_turn(True, False)
        if self._receiving:  # a receiving task would take this call's reply
            self._end_turn(True, False)
            raise _concurrent()
        self._receiving = True
        try:
            begun = self._begin_do(command, args, _current_task())
            if begun is None:
                return None
            pending, observed, span, series, start = begun
            phase = "write"
            replies: List[Reply] = []
            try:
                await self._write(data, self._write_timeout if ctx is None else within(self._write_timeout, ctx))
                phase = "read"
                deadline = None if timeout is None else self._loop.time() + timeout
                reader = self._reader
                if series is not None:
                    series.written.append(len(data))
                for i in range(pending + 1 if command else pending):
                    before = reader.consumed
                    reply = self._gets()
                    if reply is NOT_YET:
                        reply = await self._read(deadline)
                    if observed:
                        self._count_reply(reply, reader.consumed - before, series if i == pending else None)
                    replies.append(reply)
            except BaseException as exc:
                raise self._do_failed(exc, ctx, command, phase, observed, span, series, start) from None
            if observed:
                self._observed_do_end(span, series, start, pending, replies, command)
        finally:
            self._end_turn(True, True)
        return settle(replies, command)

    async def _receive(self, timeout: Optional[float], ctx: Optional[_context.Context]) -> Reply:
        if self._err is not None:
            raise again(self._err)
        await self._take_turn(False, True)
        observed = _rec.ON or _OC_TRACE in _modules
        span = _rec.method_span(self, "receive") if observed and _rec.traced() else None
        self._want_push = self._sent == self._received  # RESP3: then a pub/sub push is what comes
        try:
            try:
                reader = self._reader
                before = reader.consumed
                reply = self._gets()
                if reply is NOT_YET:
                    reply = await self._read(None if timeout is None else self._loop.time() + timeout)
                if observed:
                    self._count_reply(reply, reader.consumed - before, None)
            except BaseException as exc:
                raise self._receive_failed(exc, ctx, span, observed) from None
            return self._taken(reply, span)
        finally:
            self._want_push = False
            self._end_turn(False, True)
            if span is not None:
                span.end()

    async def _flush_turn(self, ctx: Optional[_context.Context]) -> None:
        if self._err is not None:
            raise again(self._err)
        if not self._wbuf:
            return
        await self._take_turn(True, False)
        span = _rec.method_span(self, "flush") if ctx is None and _rec.traced() else None
        try:
            await self._flush(span, ctx)
        finally:
            self._end_turn(True, False)
            if span is not None:
                span.end()

    async def _flush(self, span: Optional[_rec.SpanLike], ctx: Optional[_context.Context]) -> None:
        """Write the buffered commands (send side held); their pipeline span starts here."""
        try:
            await self._write(b"", self._write_timeout if ctx is None else within(self._write_timeout, ctx))
        except BaseException as exc:
            raise self._flush_failed(exc, ctx, span) from None
        if self._batch:
            self._start_batch()

    async def _write(self, data: bytes, timeout: Optional[float]) -> None:
        """Hand the buffered sends and ``data`` to the transport; wait for room within
        ``timeout`` only when its buffer is over the high-water mark."""
        if self._wbuf:
            data = self._take_buffered(data)
        wire = self._wire
        if wire.lost is not None:
            raise wire.lost
        if data:
            self._transport.write(data)
        while wire.paused and wire.lost is None:
            drain = wire.drain = self._loop.create_future()
            await self._wait(drain, None if timeout is None else self._loop.time() + timeout)
        if wire.lost is not None:
            raise wire.lost

    async def _read(self, deadline: Optional[float]) -> Reply:
        """One complete reply; ``deadline`` (the loop's clock) bounds the whole reply."""
        wire = self._wire
        loop = self._loop
        while True:
            if wire.lost is not None:
                raise wire.lost
            if wire.held:
                wire.held = False
                self._transport.resume_reading()
            waiter = wire.waiter = loop.create_future()
            if deadline is None:
                await waiter
            else:
                await self._wait(waiter, deadline)
            reply = self._gets()
            if reply is not NOT_YET:
                return reply

    async def _wait(self, waiter: "asyncio.Future[None]", deadline: Optional[float]) -> None:
        if deadline is None:
            await waiter
            return
        handle = self._loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            handle.cancel()

    def _context_timeout(self, ctx: _context.Context) -> Optional[float]:
        err = ctx.err()
        if err is not None:
            raise self._fatal(err)
        return within(self._read_timeout, ctx)

    def _close_transport(self) -> None:
        """Abort the transport (unsent bytes dropped: nothing more may reach the server),
        from the loop's thread; a context's cancel callback may run in another."""
        try:
            if _get_ident() == self._thread:
                self._transport.abort()
            else:
                self._loop.call_soon_threadsafe(self._transport.abort)
        except RuntimeError:
            pass  # the loop is closed: so is the transport

    def _forked(self) -> None:
        """In a forked child: unusable for good; the inherited descriptor is closed without a
        byte written (the parent's connection is untouched), the parent's loop left alone."""
        if self._err is None:
            self._err = ConnectionError(
                "redigo: connection inherited across fork: it is the parent process's; "
                "dial a new one in this process (a Pool does so by itself)")
            sock = self._transport.get_extra_info("socket")
            if sock is not None:
                try:
                    os.close(sock.fileno())
                except OSError:
                    pass


# Bytes that may wait in the reader, unread, before the transport stops reading.
_BACKLOG_LIMIT = 4 * 1024 * 1024
# Buffered sends are handed to the transport once they pass this size, as the
# blocking conn writes them (Go's bufio.Writer), so a long pipeline does not
# grow without bound.
_SEND_BUFFER_LIMIT = 64 * 1024


class Resp3Conn(NetConn):
    """An :class:`NetConn` that speaks RESP3 (``aio.dial(..., protocol=3)``); see
    :class:`redigo_py.conn.Resp3Conn`: the same rules, awaited."""

    __slots__ = ()

    async def do(self, command: Union[str, bytes], *args: object) -> Reply:
        return await self._do(self._read_timeout, command, args, None)

    async def receive(self) -> Reply:
        """Read one reply; with none owed, the next pub/sub notification."""
        return await self._receive(self._read_timeout, None)

    def take_in_pushes(self) -> bool:
        # What the event loop has read is in the reader already; route its pushes.
        if self._err is not None or self._receiving or self._sent != self._received:
            return False
        try:
            self._route_ready()
        except ProtocolError as exc:
            self._failed(exc, None, "", "read")
            return False
        return True

    async def send(self, command: Union[str, bytes], *args: object) -> None:
        if not push_answered(command, args):
            await NetConn.send(self, command, *args)
            return
        if self._err is not None:
            raise again(self._err)
        data = encode_command(command, args)
        await self._take_turn(True, False)
        try:
            self._wbuf.append(data)
            self._wbuf_len += len(data)
            if self._wbuf_len > _SEND_BUFFER_LIMIT:
                await self._flush(None, None)
        finally:
            self._end_turn(True, False)

    async def _do(self, timeout: Optional[float], command: Union[str, bytes], args: Tuple[object, ...],
                  ctx: Optional[_context.Context]) -> Reply:
        push = bool(command) and push_answered(command, args)  # refuses a return to RESP2 first
        if self._cache is not None:
            hit, value, token = self._cached(command, args)
            if hit:
                return value
            if token is not None:  # a miss that may be kept: the reply is stored on its way out
                return self._cache.store(self, token, await NetConn._do(self, timeout, command, args, ctx))
        if push:
            await self.send(command, *args)
            await self._flush_turn(ctx)
            return None
        return await NetConn._do(self, timeout, command, args, ctx)


# -- dialing ---------------------------------------------------------------------------

async def _connect(loop: asyncio.AbstractEventLoop, network: str, address: str,
                   timeout: Optional[float], ctx: _context.Context) -> socket.socket:
    """A connected non-blocking socket, or the library's error, as the blocking dial words it."""
    attempts = Attempts(network, address, ctx)
    infos: Optional[Sequence[AddrInfo]] = attempts.unix()
    if infos is None:
        try:
            infos = await loop.getaddrinfo(attempts.host or None, attempts.port, family=_FAMILIES[network],
                                           type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise attempts.lookup_failed(exc) from exc
    for target in attempts.targets(infos):
        with attempts as sock:
            sock.setblocking(False)
            await asyncio.wait_for(loop.sock_connect(sock, target), timeout)
            return sock
    raise attempts.error()


async def dial(network: str, address: str, **options: object) -> NetConn:
    """Connect to the server at ``address`` ("host:port" or a unix path); the keywords are
    :func:`redigo_py.dial`'s (see :class:`redigo_py.conn.DialOptions`)."""
    return await dial_context(_context.background(), network, address, **options)


async def dial_context(ctx: _context.Context, network: str, address: str, **options: object) -> NetConn:
    """``dial`` bounded by ``ctx``. ``net_dial``/``dial_context_func``, if given, are called
    as they are by the blocking dial (they return a connected socket)."""
    opts = dial_options(options)
    host, port, timeout, attrs = dial_target(ctx, network, address, opts)
    span = _rec.start_span("redis.dial", attrs) if _rec.ON or _OC_TRACE in _modules else None
    loop = asyncio.get_running_loop()
    try:
        try:
            sock = own_socket(opts, ctx, network, address) or await _connect(loop, network, address, timeout, ctx)
            tune_socket(sock, opts.keep_alive)
        except OSError as exc:
            if isinstance(exc, RedigoError):  # _connect's error, already in Go's words
                raise
            raise _dial_error(network, address, exc, ctx) from exc
        wire = _Wire(opts.protocol)
        try:
            tls = tls_context(opts.tls_config, opts.tls_skip_verify) if opts.use_tls else None
            handshake = timeout_value(opts.tls_handshake_timeout)
            try:
                transport, _ = await loop.create_connection(
                    lambda: wire, sock=sock, ssl=tls, server_hostname=(host or None) if tls else None,
                    ssl_handshake_timeout=(handshake or None) if tls else None)
            except OSError as exc:
                raise (tls_error(exc) if tls else _dial_error(network, address, exc, ctx)) from None
        except BaseException:
            sock.close()
            raise
    except BaseException as exc:
        dial_failed(span, exc)
        raise
    conn = (Resp3Conn if opts.protocol == 3 else NetConn)(
        transport, wire, opts.read_timeout, opts.write_timeout, network="unix" if network == "unix" else "tcp",
        host=host, port=port, database=opts.database, default_attributes=opts.default_attributes,
        push_handler=opts.push_handler)
    _rec.record_open(_rec.STATE_NEW)
    try:
        for command, args in opts.handshake():
            try:
                await conn.do_context(ctx, command, *args)
            except Error as exc:
                raise handshake_error(command, exc) from None
        conn._cache = opts.client_cache
    except BaseException as exc:
        handshake_failed(conn, span, exc)
        raise
    finally:
        if span is not None:
            span.end()
    return conn


async def dial_url(url: str, **options: object) -> NetConn:
    """Connect using a Redis URL (the rules of :func:`redigo_py.dial_url`)."""
    return await dial_url_context(_context.background(), url, **options)


async def dial_url_context(ctx: _context.Context, url: str, **options: object) -> NetConn:
    """``dial_url`` bounded by ``ctx``."""
    network, address, url_options = parse_url(url)
    options.update(url_options)
    return await dial_context(ctx, network, address, **options)
