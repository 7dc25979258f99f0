"""Connections: dialing, and redigo's ``conn`` over a socket.

A :class:`NetConn` (redigo's unexported ``conn``; it satisfies the
:mod:`redigo_py.protocols` ``Conn``, ``ConnWithTimeout`` and
``ConnWithContext``) owns one socket, a write buffer of encoded commands and a
:class:`~redigo_py.resp.Reader`. It keeps redigo's semantics exactly:

- ``send`` buffers a command, ``flush`` writes the buffer, ``receive`` reads
  one reply; ``do`` flushes, then reads every pending reply plus its own,
  raises the first error reply among them and otherwise returns the last.
- A network, protocol or timeout failure, or any exception (a
  ``KeyboardInterrupt`` too) that interrupts a read or a write half-way, makes
  the connection *fatal*: ``err()`` returns the error and every later call
  raises it. The rest of a half-read reply is still on the wire, so the only
  safe thing is to never read from that socket again; that is how a reply is
  never handed to the wrong caller.
- One thread may send/flush while another receives (the pub/sub pattern),
  as redigo allows, and a reply never reaches a thread that did not send its
  command. Two locks, one for each side, make threads take turns: a ``do``,
  ``send`` or ``flush`` waits while another thread writes or runs a ``do``,
  a ``receive`` while another thread reads. What taking turns cannot make
  safe is refused with a :class:`RedigoError` that says "concurrent", before
  a byte moves: a ``send`` or ``do`` while another thread's replies are
  still owed (they would be read as this call's), and a ``do`` while
  another thread is in ``receive`` (which would take this call's reply).
- In the child of ``os.fork()`` an inherited connection is fatal ("inherited
  across fork"); its socket is closed there without a byte written, so the
  parent's connection is untouched (see :mod:`redigo_py._fork`).
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, fields
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qs, unquote, urlsplit

from . import context as _context
from . import _recorder as _rec
from . import _fork
from ._gotext import quote
from .protocols import Conn, ConnWithContext, ConnWithTimeout
from .cache import ClientCache
from .errors import ArgumentError, ConnectionError, Error, ProtocolError, RedigoError, TimeoutError
from .resp import encode_command
from ._exchange import (
    EOF_TEXT,
    NOT_YET,
    Exchange,
    PushHandler,
    again,
    push_answered,
    settle,
    timeout_value,
    within,
)
from ._types import Reply

__all__ = [
    "Conn",
    "ConnWithContext",
    "ConnWithTimeout",
    "NetConn",
    "dial",
    "dial_context",
    "dial_url",
    "dial_url_context",
    "new_conn",
    "do_context",
    "do_with_timeout",
    "receive_context",
    "receive_with_timeout",
]

_monotonic = time.monotonic
_get_ident = threading.get_ident
# Whether a call is observed: the recorder's flag, or opencensus's tracing
# module imported (a program turns that tracing on by making a tracer, not
# through us). Checked inline, so a pipeline's per-command calls pay no
# function call for it.
_modules = sys.modules
_OC_TRACE = _rec.OC_TRACE_MODULE
_OC_TAGS = _rec.OC_TAGS_MODULE  # context tags exist only once opencensus's tags are loaded

# Buffered sends are written once they pass this size, as Go's bufio.Writer
# does when its buffer fills, so a long pipeline does not grow without bound.
_SEND_BUFFER_LIMIT = 64 * 1024
_RECV_SIZE = 64 * 1024
_MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_POSIX = os.name == "posix"  # a socket is a file descriptor that os.write takes


def _concurrent() -> RedigoError:
    """:meth:`Exchange._concurrent` for threads."""
    return RedigoError("redigo: concurrent use of one Conn by two threads: another thread's replies are "
                       "still owed, or it is receiving; give each thread its own conn, from a Pool")


class NetConn(Exchange):
    """A connection to one Redis server (redigo's ``conn``).

    Make one with :func:`dial`, :func:`dial_url` or :func:`new_conn`. Also a
    context manager that closes the connection on exit.

    Metrics and spans (see :mod:`redigo_py.observability`) are recorded here,
    in the read and write paths themselves; while no view is registered and
    no trace is sampled, a call pays two cheap checks.
    """

    __slots__ = ("_sock", "_read_timeout", "_write_timeout", "_sock_timeout",
                 "_send_lock", "_receive_lock", "__weakref__")
    _concurrent = staticmethod(_concurrent)

    def __init__(
        self,
        sock: socket.socket,
        read_timeout: Optional[float] = None,
        write_timeout: Optional[float] = None,
        *,
        network: str = "",
        host: str = "",
        port: int = 0,
        database: int = 0,
        default_attributes: Optional[Dict[str, object]] = None,
        protocol: int = 2,
        push_handler: Optional[PushHandler] = None,
    ) -> None:
        Exchange.__init__(self, network, host, port, database, default_attributes, protocol, push_handler)
        self._sock = sock
        # Held by the call that writes, resp. reads, so that threads take turns.
        self._send_lock = threading.Lock()
        self._receive_lock = threading.Lock()
        self._read_timeout = timeout_value(read_timeout)
        self._write_timeout = timeout_value(write_timeout)
        self._sock_timeout = sock.gettimeout()
        _fork.track(self)

    # -- redigo's Conn interface -------------------------------------------

    def close(self) -> None:
        """Close the connection. Closing twice, or after a failure, does nothing."""
        span = _rec.method_span(self, "close") if _rec.traced() else None
        self._close(_rec.STATE_COMPLETE)
        if span is not None:
            span.end()

    def do(self, command: Union[str, bytes], *args: object) -> Reply:
        """Send a command, flush, and return its reply (see the module docstring)."""
        return self._do(self._read_timeout, command, args, None)

    def do_with_timeout(self, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
        """``do`` with this read timeout (seconds; 0/None: none) instead of the dial option."""
        return self._do(timeout_value(timeout), command, args, None)

    def send(self, command: Union[str, bytes], *args: object) -> None:
        """Buffer a command; its reply comes from ``receive`` (or a later ``do``)."""
        if self._err is not None:
            raise again(self._err)
        data = encode_command(command, args)  # a bad argument raises before any state changes
        lock = self._send_lock
        lock.acquire()
        try:
            me = _get_ident()
            if self._sender != me:
                if self._sent != self._received:  # another thread's replies are owed
                    raise _concurrent()
                self._sender = me
            span = self._observe_send(command, len(data)) if _rec.ON or _OC_TRACE in _modules else None
            try:
                self._wbuf.append(data)  # before counting: an interrupt in between must not leave a reply owed
                self._sent += 1
                self._wbuf_len += len(data)
                if self._wbuf_len > _SEND_BUFFER_LIMIT:
                    self._flush(span)
            finally:
                if span is not None:
                    span.end()
        finally:
            lock.release()

    def flush(self) -> None:
        """Write every buffered command to the server."""
        if self._err is not None:
            raise again(self._err)
        if self._wbuf:
            lock = self._send_lock
            lock.acquire()
            span = _rec.method_span(self, "flush") if _rec.traced() else None
            try:
                self._flush(span)
            finally:
                lock.release()
                if span is not None:
                    span.end()

    def receive(self) -> Reply:
        """Read one reply; raise it if it is an error reply."""
        if self._err is None and not _rec.ON and _OC_TRACE not in _modules:
            # A pipeline's replies are usually parsed already: take the next
            # one without the general path's three calls.
            lock = self._receive_lock
            lock.acquire()
            try:
                reply = self._gets()
                if reply is not NOT_YET:
                    if self._sent > self._received:
                        self._received += 1
                    if type(reply) is Error:
                        raise reply
                    return reply
            except ProtocolError as exc:
                raise self._failed(exc, None, "", "read") from None
            finally:
                lock.release()
        return self._receive(self._read_timeout, None)

    def receive_with_timeout(self, timeout: Optional[float]) -> Reply:
        """``receive`` with this read timeout (seconds; 0/None: none)."""
        return self._receive(timeout_value(timeout), None)

    # -- the fork's ConnWithContext ---------------------------------------

    def do_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
        """``do`` bounded by ``ctx``: min(deadline, read timeout); cancel closes the connection."""
        if not ctx.cancellable():
            return self._do(self._read_timeout, command, args, None)
        timeout = self._context_timeout(ctx)
        unregister = self._watch(ctx)
        try:
            return self._do(timeout, command, args, ctx)
        finally:
            unregister()

    def receive_context(self, ctx: _context.Context) -> Reply:
        """``receive`` bounded by ``ctx`` as ``do_context`` is."""
        if not ctx.cancellable():
            return self._receive(self._read_timeout, None)
        timeout = self._context_timeout(ctx)
        unregister = self._watch(ctx)
        try:
            return self._receive(timeout, ctx)
        finally:
            unregister()

    def send_context(self, ctx: _context.Context, command: Union[str, bytes], *args: object) -> None:
        """``send``, refused (nothing buffered) if ``ctx`` has already ended."""
        err = ctx.err()
        if err is not None:
            raise again(err)
        self.send(command, *args)

    def flush_context(self, ctx: _context.Context) -> None:
        """``flush``, refused (nothing written) if ``ctx`` has already ended."""
        err = ctx.err()
        if err is not None:
            raise again(err)
        if self._err is not None:
            raise again(self._err)
        if self._wbuf:
            lock = self._send_lock
            lock.acquire()
            try:
                self._flush(None, ctx)
            finally:
                lock.release()

    def close_context(self, ctx: _context.Context) -> None:
        """``close`` (the context only parents the close span)."""
        self.close()

    def __enter__(self) -> "NetConn":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    def _do(self, timeout: Optional[float], command: Union[str, bytes], args: Tuple[object, ...],
            ctx: Optional[_context.Context]) -> Reply:
        """The one exchange of ``do``: encode, write, read every reply owed plus its own, account.

        Unobserved (no metrics, no tracing), it is the bare exchange. Observed,
        the same steps also time the call, count the bytes each reply took
        under the command it answers, and keep the span; the recorder is told
        at these fixed points and nothing else.
        """
        if self._err is not None:
            raise again(self._err)
        data = encode_command(command, args) if command else b""
        send_lock, receive_lock = self._send_lock, self._receive_lock
        send_lock.acquire()
        if not receive_lock.acquire(False):  # a receiving thread would take this call's reply
            send_lock.release()
            raise _concurrent()
        try:
            begun = self._begin_do(command, args, _get_ident())
            if begun is None:
                return None
            pending, observed, span, series, start = begun
            phase = "write"
            try:
                self._write_buffered(
                    data, self._write_timeout if ctx is None else self._context_write_timeout(ctx))
                phase = "read"
                deadline = None if timeout is None else _monotonic() + timeout
                if observed:
                    if pending or series is None:
                        read = self._read_observed
                        if series is not None:
                            series.written.append(len(data))
                        if pending:
                            replies = [read(deadline, None) for _ in range(pending)]
                            if command:
                                replies.append(read(deadline, series))
                        else:
                            reply = read(deadline, series)
                    else:  # the usual observed do: _read_observed's accounting, inline
                        series.written.append(len(data))
                        before = self._reader.consumed
                        reply = self._read(deadline)
                        series.read.append(self._reader.consumed - before)
                        if type(reply) is Error:
                            _rec.record_error(series.cmd, _rec.KIND_REPLY, _rec.error_detail(reply))
                elif not pending:
                    reply = self._read(deadline)
                else:
                    read_bare = self._read
                    replies = [read_bare(deadline) for _ in range(pending + 1 if command else pending)]
            except BaseException as exc:
                raise self._do_failed(exc, ctx, command, phase, observed, span, series, start) from None
            if observed:
                self._observed_do_end(span, series, start, pending, replies if pending else [reply], command)
        finally:
            receive_lock.release()
            send_lock.release()
        if pending:
            return settle(replies, command)
        if type(reply) is Error:
            raise reply
        return reply

    def _read_observed(self, deadline: Optional[float], series: Optional[_rec.CommandSamples]) -> Reply:
        """One reply, its size counted under ``series`` or under the command it answers."""
        reader = self._reader
        before = reader.consumed
        reply = self._read(deadline)
        self._count_reply(reply, reader.consumed - before, series)
        return reply

    def _receive(self, timeout: Optional[float], ctx: Optional[_context.Context]) -> Reply:
        if self._err is not None:
            raise again(self._err)
        lock = self._receive_lock
        lock.acquire()
        observed = _rec.ON or _OC_TRACE in _modules
        span = _rec.method_span(self, "receive") if observed and _rec.traced() else None
        self._want_push = self._sent == self._received  # RESP3: then a pub/sub push is what comes
        try:
            try:
                deadline = None if timeout is None else _monotonic() + timeout
                reply = self._read_observed(deadline, None) if observed else self._read(deadline)
            except BaseException as exc:
                raise self._receive_failed(exc, ctx, span, observed) from None
            return self._taken(reply, span)
        finally:
            self._want_push = False
            lock.release()
            if span is not None:
                span.end()

    def _flush(self, span: Optional[_rec.SpanLike], ctx: Optional[_context.Context] = None) -> None:
        """Write the buffered commands (send lock held) within the write timeout, or within
        ``ctx`` for ``flush_context``; their pipeline span starts here."""
        try:
            self._write_buffered(b"", self._write_timeout if ctx is None else self._context_write_timeout(ctx))
        except BaseException as exc:
            raise self._flush_failed(exc, ctx, span) from None
        if self._batch:
            self._start_batch()

    def _read(self, deadline: Optional[float]) -> Reply:
        """One complete reply; ``deadline`` (monotonic) bounds the whole reply."""
        reader = self._reader
        reply = self._gets()
        if reply is not NOT_YET:
            return reply
        sock = self._sock
        if deadline is None:
            if self._sock_timeout is not None:
                sock.settimeout(None)
                self._sock_timeout = None
            drain = _MSG_DONTWAIT and not isinstance(sock, ssl.SSLSocket)
            while reply is NOT_YET:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    raise ConnectionError(EOF_TEXT)
                reader.feed(data)
                # A full read means a large reply is streaming in: take what else has
                # arrived, without waiting, before parsing, so that it is parsed in
                # fewer, larger attempts (an EOF met there: the parse below, then
                # the next recv, report it).
                if drain and len(data) == _RECV_SIZE:
                    self._feed_ready()
                reply = self._gets()
            return reply
        while reply is NOT_YET:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out")
            sock.settimeout(remaining)
            self._sock_timeout = remaining
            data = sock.recv(_RECV_SIZE)
            if not data:
                raise ConnectionError(EOF_TEXT)
            reader.feed(data)
            reply = self._gets()
        return reply

    def _feed_ready(self) -> bool:
        """Feed the reader what the socket holds now, without waiting (the socket has no
        timeout of its own: MSG_DONTWAIT does the not waiting); False if it met EOF."""
        sock, reader = self._sock, self._reader
        while True:
            try:
                data = sock.recv(_RECV_SIZE, _MSG_DONTWAIT)
            except BlockingIOError:
                return True
            if not data:
                return False
            reader.feed(data)
            if len(data) < _RECV_SIZE:
                return True

    def _write_buffered(self, data: bytes, timeout: Optional[float]) -> None:
        """Write the buffered sends, then ``data``, in one system call, within ``timeout``."""
        if self._wbuf:
            data = self._take_buffered(data)
        if not data:
            return
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket):  # TLS takes no send flags: the socket's own timeout
            if self._sock_timeout != timeout:
                sock.settimeout(timeout)
                self._sock_timeout = timeout
            sock.sendall(data)
            return
        # The socket's timeout is the reading side's: a pub/sub reader thread may
        # be waiting in recv under it. A write never changes it; it sends
        # without blocking and waits for room itself, within its own timeout
        # (usually everything is sent at once).
        sent = _send_now(sock, data)
        if sent < len(data):
            _send_rest(sock, memoryview(data)[sent:], timeout)

    def _context_timeout(self, ctx: _context.Context) -> Optional[float]:
        err = ctx.err()
        if err is not None:
            raise self._fatal(err)
        return within(self._read_timeout, ctx)

    def _context_write_timeout(self, ctx: _context.Context) -> Optional[float]:
        """The write's bound in a *_context call: min(write timeout, time left on ``ctx``)."""
        return within(self._write_timeout, ctx)

    def _close_transport(self) -> None:
        _close_socket(self._sock)

    def _forked(self) -> None:
        """In a forked child: unusable for good, and the inherited descriptor given up.

        The socket is closed, not shut down: ``shutdown`` (or a QUIT) would
        end the parent's connection too, since both processes share it.
        Nothing is counted: the close belongs to no command of this process.
        """
        self._send_lock = threading.Lock()
        self._receive_lock = threading.Lock()
        if self._err is None:
            self._err = ConnectionError(
                "redigo: connection inherited across fork: it is the parent process's; "
                "dial a new one in this process (a Pool does so by itself)")
            try:
                self._sock.close()
            except OSError:
                pass


class Resp3Conn(NetConn):
    """A :class:`NetConn` that speaks RESP3 (``dial(..., protocol=3)``), and the one that
    feeds a :class:`~redigo_py.cache.ClientCache` (see :mod:`redigo_py.cache`).

    Pushes never reach a caller as a reply: ``_gets`` routes them as they
    are read (pub/sub notifications to ``receive``, invalidations to the
    client-side cache, the rest to the push handler). The subscribe family
    is answered by pushes only, so those commands owe no reply: ``send``
    buffers them uncounted and ``do`` sends and flushes them and returns
    None (their confirmations come through ``receive``). A subscribed RESP3
    connection still runs other commands.
    """

    __slots__ = ("_poller", "_tls")

    def __init__(self, sock: socket.socket, read_timeout: Optional[float] = None,
                 write_timeout: Optional[float] = None, **where: object) -> None:
        NetConn.__init__(self, sock, read_timeout, write_timeout, **where)  # type: ignore[arg-type]
        # What a cache hit asks first: has anything arrived for this connection?
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        self._tls = isinstance(sock, ssl.SSLSocket)

    def receive(self) -> Reply:
        """Read one reply; with none owed, the next pub/sub notification."""
        return self._receive(self._read_timeout, None)

    def take_in_pushes(self) -> bool:
        # Both sides, without waiting: the owner's own calls then wait the moment this
        # takes (on the send lock) instead of finding the receive lock held and refusing
        # themselves as "concurrent".
        send_lock, lock = self._send_lock, self._receive_lock
        if not send_lock.acquire(False):
            return False
        if not lock.acquire(False):
            send_lock.release()
            return False
        try:
            if self._err is not None or self._sent != self._received:
                return False
            if self._poller.poll(0) or (self._tls and self._sock.pending()):  # type: ignore[attr-defined]
                if self._tls:
                    return False  # TLS may hold part of a record: read it with the next command
                if self._sock_timeout is not None:
                    self._sock.settimeout(None)  # so that MSG_DONTWAIT is not preceded by a wait
                    self._sock_timeout = None
                try:
                    if not self._feed_ready():
                        return False  # EOF: the next command reports it
                except OSError:
                    return False
            self._route_ready()  # also what an earlier read left in the reader behind its reply
            return self._err is None
        except ProtocolError as exc:
            self._failed(exc, None, "", "read")
            return False
        finally:
            lock.release()
            send_lock.release()

    def send(self, command: Union[str, bytes], *args: object) -> None:
        if not push_answered(command, args):
            NetConn.send(self, command, *args)
            return
        if self._err is not None:
            raise again(self._err)
        data = encode_command(command, args)
        with self._send_lock:
            self._wbuf.append(data)
            self._wbuf_len += len(data)
            if self._wbuf_len > _SEND_BUFFER_LIMIT:
                self._flush(None)

    def _do(self, timeout: Optional[float], command: Union[str, bytes], args: Tuple[object, ...],
            ctx: Optional[_context.Context]) -> Reply:
        push = bool(command) and push_answered(command, args)  # refuses a return to RESP2 first
        if self._cache is not None:
            hit, value, token = self._cached(command, args)
            if hit:
                return value
            if token is not None:  # a miss that may be kept: the reply is stored on its way out
                return self._cache.store(self, token, NetConn._do(self, timeout, command, args, ctx))
        if push:
            self.send(command, *args)
            if ctx is None:
                self.flush()
            else:
                self.flush_context(ctx)
            return None
        return NetConn._do(self, timeout, command, args, ctx)


def _send_now(sock: socket.socket, data: Union[bytes, memoryview]) -> int:
    """Send what fits in the socket's buffer now, never waiting; how many bytes went.

    A socket with a timeout (the reading side's) is non-blocking underneath,
    but its ``send`` first waits up to that timeout for room: so then the
    bytes go to the descriptor directly. A socket without one is blocking,
    and ``MSG_DONTWAIT`` makes its ``send`` return at once.
    """
    try:
        if sock.gettimeout() is not None and _POSIX:
            return os.write(sock.fileno(), data)
        return sock.send(data, _MSG_DONTWAIT)
    except BlockingIOError:
        return 0


def _send_rest(sock: socket.socket, data: memoryview, timeout: Optional[float]) -> None:
    """Send what did not fit in the socket's buffer, waiting for room within ``timeout``."""
    deadline = None if timeout is None else _monotonic() + timeout
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    while data:
        if deadline is None:
            wait_ms = -1
        else:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise socket.timeout("timed out")
            wait_ms = max(1, int(remaining * 1000))
        poller.poll(wait_ms)
        data = data[_send_now(sock, data):]


def _close_socket(sock: socket.socket) -> None:
    """Shut down (which wakes a thread blocked in recv) and close, ignoring errors."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# -- dialing ---------------------------------------------------------------

_FAMILIES = {"tcp": socket.AF_UNSPEC, "tcp4": socket.AF_INET, "tcp6": socket.AF_INET6}


def split_host_port(address: str) -> Tuple[str, int]:
    """``"host:port"`` or ``"[v6]:port"`` -> (host, port), as Go's net.SplitHostPort."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ArgumentError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or int(port) > 65535:
        raise ArgumentError(f"address {address}: invalid port")
    return host, int(port)


def join_host_port(host: str, port: Union[int, str]) -> str:
    """Go's net.JoinHostPort: ``host:port``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _go_strerror(exc: OSError) -> str:
    """An OSError's text as Go's syscall.Errno prints it: "connection refused"."""
    # The errno's own text: asyncio's connect puts its own words in strerror.
    text = os.strerror(exc.errno) if exc.errno and not isinstance(exc, socket.gaierror) else exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _dial_error(network: str, where: str, exc: OSError, ctx: _context.Context) -> BaseException:
    """A failed connect as Go's net.OpError reads: ``dial tcp 127.0.0.1:6378: connect:
    connection refused``, with the errno kept and the OSError chained by the caller."""
    if isinstance(exc, socket.timeout):
        return ctx.err() or TimeoutError(f"dial {network} {where}: i/o timeout")
    err = ConnectionError(f"dial {network} {where}: connect: {_go_strerror(exc)}")
    err.errno = exc.errno
    return err


def lookup_error(network: str, host: str, exc: socket.gaierror) -> ConnectionError:
    """A failed name lookup as Go reads it: ``dial tcp: lookup h: no such host``."""
    reason = "no such host" if exc.errno == socket.EAI_NONAME else _go_strerror(exc)
    err = ConnectionError(f"dial {network}: lookup {host}: {reason}")
    err.errno = exc.errno
    return err


def address_error(network: str, host: str, port: int, sockaddr: Tuple[object, ...], exc: OSError,
                  ctx: _context.Context) -> BaseException:
    """One resolved address's failed connect, naming that address (with no host given,
    the port alone, ":6378", as Go does); the OSError chained."""
    where = join_host_port(str(sockaddr[0]), port) if host else f":{port}"
    failure = _dial_error(network, where, exc, ctx)
    failure.__cause__ = exc
    return failure


# One address to connect to, as getaddrinfo gives it: family, type, protocol, name, address.
AddrInfo = Tuple[int, int, int, str, Union[str, Tuple[object, ...]]]


class Attempts:
    """The sockets a dial tries in turn (a unix path; each address a host name resolves to)
    and the error it raises when none connects: Go reports the first address's failure,
    its OSError chained.

    Used as ``for target in attempts.targets(infos): with attempts as sock: ...connect
    sock to target...; return sock`` then ``raise attempts.error()``: the ``with`` closes
    the socket on any exception, lets an OSError (a refused or timed-out connect) go on to
    the next address and propagates anything else. The blocking and the asyncio dial
    differ only in how they resolve and connect.
    """

    def __init__(self, network: str, address: str, ctx: _context.Context) -> None:
        self.network, self.address, self.ctx = network, address, ctx
        self.host, self.port = ("", 0) if network == "unix" else split_host_port(address)
        self.failure: Optional[BaseException] = None
        self._sock: Optional[socket.socket] = None
        self._target: Union[str, Tuple[object, ...]] = address

    def unix(self) -> Optional[Sequence[AddrInfo]]:
        """The one address of a unix socket; None for TCP, whose addresses need a lookup."""
        return [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", self.address)] if self.network == "unix" else None

    def lookup_failed(self, exc: socket.gaierror) -> ConnectionError:
        return lookup_error(self.network, self.host, exc)

    def targets(self, infos: Sequence[AddrInfo]) -> Iterator[Union[str, Tuple[object, ...]]]:
        """Each address to connect to, its socket made (the ``with`` gives it)."""
        for af, kind, proto, _, target in infos:
            self._sock, self._target = socket.socket(af, kind, proto), target
            yield target

    def __enter__(self) -> socket.socket:
        assert self._sock is not None
        return self._sock

    def __exit__(self, kind: Optional[type], exc: Optional[BaseException], tb: object) -> bool:
        if exc is None:
            return False
        assert self._sock is not None
        self._sock.close()
        if not isinstance(exc, OSError):
            return False
        if self.failure is None:
            if self.network == "unix":
                self.failure = _dial_error(self.network, self.address, exc, self.ctx)
                self.failure.__cause__ = exc
            else:  # a TCP address is a tuple (host, port[, flow, scope])
                target = self._target if isinstance(self._target, tuple) else (self._target,)
                self.failure = address_error(self.network, self.host, self.port, target, exc, self.ctx)
        return True

    def error(self) -> BaseException:
        return self.failure or ConnectionError(f"dial {self.network}: lookup {self.host}: no such host")


def _connect(network: str, address: str, timeout: Optional[float], ctx: _context.Context) -> socket.socket:
    """A connected socket, or the library's error for the first address tried (OSError chained)."""
    attempts = Attempts(network, address, ctx)
    infos: Optional[Sequence[AddrInfo]] = attempts.unix()
    if infos is None:
        try:
            infos = socket.getaddrinfo(attempts.host or None, attempts.port, _FAMILIES[network], socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise attempts.lookup_failed(exc) from exc
    for target in attempts.targets(infos):
        with attempts as sock:
            sock.settimeout(timeout)
            sock.connect(target)
            return sock
    raise attempts.error()


def dial(network: str, address: str, **options: object) -> NetConn:
    """Connect to the server at ``address`` ("host:port" or a unix path).

    ``network`` is "tcp", "tcp4", "tcp6" or "unix". Keyword options are
    redigo's ``DialOption`` functions (see :class:`DialOptions`).
    """
    return dial_context(_context.background(), network, address, **options)


@dataclass(frozen=True)
class DialOptions:
    """redigo's ``DialOption`` functions, as the keywords of every dial function here
    (and of :mod:`redigo_py.aio`'s): one place for their names and defaults.

    ``connect_timeout`` (DialConnectTimeout), ``read_timeout`` and
    ``write_timeout`` (seconds; None or 0 for none), ``keep_alive`` (TCP
    keep-alive period; 0 disables), ``net_dial(network, address)`` or
    ``dial_context_func(ctx, network, address)`` to make the socket yourself,
    ``database`` (SELECT), ``password`` and ``username`` (AUTH),
    ``client_name`` (CLIENT SETNAME), ``use_tls``, ``tls_config`` (an
    ``ssl.SSLContext``), ``tls_skip_verify`` (only when no ``tls_config``),
    ``tls_handshake_timeout``, ``default_attributes`` (added to every span);
    and for RESP3 (see the docs' RESP3 page): ``protocol`` (2, the default,
    or 3: the connection opens with ``HELLO 3``, which carries AUTH and
    SETNAME), ``push_handler(push)`` (every push that is neither pub/sub nor
    an invalidation the cache consumes) and ``client_cache`` (a
    :class:`~redigo_py.cache.ClientCache`; needs ``protocol=3``).
    An unknown keyword is a ``TypeError`` naming it.
    """

    connect_timeout: Optional[float] = 30.0
    read_timeout: Optional[float] = None
    write_timeout: Optional[float] = None
    keep_alive: Optional[float] = 300.0
    net_dial: Optional[Callable[[str, str], socket.socket]] = None
    dial_context_func: Optional[Callable[[_context.Context, str, str], socket.socket]] = None
    database: int = 0
    password: str = ""
    username: str = ""
    client_name: str = ""
    use_tls: bool = False
    tls_config: Optional[ssl.SSLContext] = None
    tls_skip_verify: bool = False
    tls_handshake_timeout: Optional[float] = 10.0
    default_attributes: Optional[Dict[str, object]] = None
    protocol: int = 2
    push_handler: Optional[PushHandler] = None
    client_cache: Optional[ClientCache] = None

    def handshake(self) -> List[Tuple[str, Tuple[object, ...]]]:
        """The commands a new connection runs before it is handed out: AUTH, CLIENT SETNAME,
        SELECT; under RESP3, HELLO 3 carrying the first two, and CLIENT TRACKING for a cache."""
        commands: List[Tuple[str, Tuple[object, ...]]] = []
        if self.protocol == 3:
            hello: Tuple[object, ...] = ("3",)
            if self.password:
                hello += ("AUTH", self.username or "default", self.password)
            if self.client_name:
                hello += ("SETNAME", self.client_name)
            commands.append(("HELLO", hello))
            if self.client_cache is not None:
                commands.append(("CLIENT", ("TRACKING", "ON")))
        else:
            if self.password:
                commands.append(("AUTH", (self.username, self.password) if self.username else (self.password,)))
            if self.client_name:
                commands.append(("CLIENT", ("SETNAME", self.client_name)))
        if self.database:
            commands.append(("SELECT", (self.database,)))
        return commands


_DIAL_OPTION_NAMES = frozenset(f.name for f in fields(DialOptions))


def dial_options(options: Dict[str, object]) -> DialOptions:
    """The keywords of a dial call as :class:`DialOptions`; an unknown one is a ``TypeError``
    naming it, as Python words it for a function's own keywords."""
    for name in options:
        if name not in _DIAL_OPTION_NAMES:
            raise TypeError(f"dial_context() got an unexpected keyword argument {name!r}")
    return DialOptions(**options)  # type: ignore[arg-type]  # each checked at its use


def handshake_error(command: str, exc: BaseException) -> BaseException:
    """What a refused handshake command raises: a HELLO the server does not know (before
    Redis 6) or whose protocol it refuses (NOPROTO) names the protocol; anything else
    (a wrong password) is raised as it came."""
    if command == "HELLO" and isinstance(exc, Error) and (exc.kind == "NOPROTO" or "unknown command" in str(exc)):
        err = ConnectionError(f"redigo: the server does not speak RESP3 (protocol=3): HELLO 3 was answered {exc}")
        err.__cause__ = exc
        return err
    return exc


def dial_target(ctx: _context.Context, network: str, address: str,
                options: DialOptions) -> Tuple[str, int, Optional[float], Dict[str, object]]:
    """Check a dial's arguments before anything is dialled: (host, port, connect timeout
    within ``ctx``, the attributes of its span)."""
    err = ctx.err()
    if err is not None:
        raise again(err)
    if options.protocol not in (2, 3):
        raise ArgumentError(f"redigo: protocol must be 2 or 3, got {options.protocol!r}")
    if options.client_cache is not None and options.protocol != 3:
        raise ArgumentError("redigo: a client_cache needs protocol=3 (invalidations are RESP3 pushes)")
    timeout_value(options.read_timeout)  # a bad timeout is refused before anything is dialed
    timeout_value(options.write_timeout)
    timeout = within(timeout_value(options.connect_timeout), ctx)
    if network != "unix" and network not in _FAMILIES:
        raise ArgumentError(f"dial {network}: unknown network {network}")
    try:
        host, port = (address, 0) if network == "unix" else split_host_port(address)
    except ArgumentError as exc:
        raise ArgumentError(f"dial {network}: {exc}") from None
    attrs = _rec.server_attributes((options.database, network, host, port))
    return host, port, timeout, {**attrs, **(options.default_attributes or {})}


def own_socket(opts: DialOptions, ctx: _context.Context, network: str, address: str) -> Optional[socket.socket]:
    """The connected socket of the caller's own dial function (``dial_context_func``, else
    ``net_dial``); None when there is none and the library connects."""
    if opts.dial_context_func is not None:
        return opts.dial_context_func(ctx, network, address)
    if opts.net_dial is not None:
        return opts.net_dial(network, address)
    return None


def tune_socket(sock: socket.socket, keep_alive: Optional[float]) -> None:
    """A TCP connection's options, as Go's dialer sets them: no Nagle delay, keep-alive probes."""
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _set_keep_alive(sock, keep_alive)


def handshake_failed(conn: Exchange, span: Optional[_rec.SpanLike], exc: BaseException) -> None:
    """A dialled connection whose handshake (AUTH, SELECT, HELLO...) failed: closed, its dial
    span failed (the caller ends it)."""
    conn._close(_rec.STATE_ERROR)
    if span is not None:
        _rec.fail(span, exc)


def dial_failed(span: Optional[_rec.SpanLike], exc: BaseException) -> None:
    """A dial that failed before its connection existed: counted, its span failed and ended."""
    if isinstance(exc, Exception):
        _rec.record_error("DIAL", _rec.KIND_DIAL, _rec.error_detail(exc))
    if span is not None:
        _rec.fail(span, exc)
        span.end()


def dial_context(ctx: _context.Context, network: str, address: str, **options: object) -> NetConn:
    """``dial`` bounded by ``ctx``; each keyword is one of redigo's DialOptions (see :class:`DialOptions`)."""
    opts = dial_options(options)
    host, port, timeout, attrs = dial_target(ctx, network, address, opts)
    span = _rec.start_span("redis.dial", attrs) if _rec.ON or _OC_TRACE in _modules else None
    try:
        try:
            sock = own_socket(opts, ctx, network, address) or _connect(network, address, timeout, ctx)
            tune_socket(sock, opts.keep_alive)
        except OSError as exc:
            if isinstance(exc, RedigoError):  # _connect's error, already in Go's words
                raise
            raise _dial_error(network, address, exc, ctx) from exc
        try:
            if opts.use_tls:
                sock = _wrap_tls(sock, host, opts.tls_config, opts.tls_skip_verify,
                                 timeout_value(opts.tls_handshake_timeout))
            sock.settimeout(None)
        except BaseException:
            _close_socket(sock)
            raise
    except BaseException as exc:
        dial_failed(span, exc)
        raise
    conn = (Resp3Conn if opts.protocol == 3 else NetConn)(
        sock, opts.read_timeout, opts.write_timeout, network="unix" if network == "unix" else "tcp",
        host=host, port=port, database=opts.database, default_attributes=opts.default_attributes,
        protocol=opts.protocol, push_handler=opts.push_handler)
    _rec.record_open(_rec.STATE_NEW)
    try:
        for command, args in opts.handshake():
            try:
                conn.do_context(ctx, command, *args)
            except Error as exc:
                raise handshake_error(command, exc) from None
        conn._cache = opts.client_cache  # tracking is on: from now on the cache hears of this conn
    except BaseException as exc:
        handshake_failed(conn, span, exc)
        raise
    finally:
        if span is not None:
            span.end()
    return conn


def _set_keep_alive(sock: socket.socket, period: Optional[float]) -> None:
    """Go's net.Dialer KeepAlive: probes start after ``period`` idle seconds, every ``period``."""
    if not period:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    seconds = max(1, int(period))
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, seconds)


def _wrap_tls(sock: socket.socket, host: str, config: Optional[ssl.SSLContext],
              skip_verify: bool, handshake_timeout: Optional[float]) -> socket.socket:
    """TLS with certificate and hostname verification unless explicitly skipped."""
    sock.settimeout(handshake_timeout)
    try:
        return tls_context(config, skip_verify).wrap_socket(sock, server_hostname=host or None)
    except OSError as exc:
        raise tls_error(exc) from None


def tls_context(config: Optional[ssl.SSLContext], skip_verify: bool) -> ssl.SSLContext:
    """``config``, or a default context that verifies certificate and host name unless
    ``tls_skip_verify`` says not to."""
    if config is None:
        config = ssl.create_default_context()
        if skip_verify:
            config.check_hostname = False
            config.verify_mode = ssl.CERT_NONE
    return config


def tls_error(exc: OSError) -> RedigoError:
    """A failed TLS handshake as the library's error (timed out, refused, or reset)."""
    if isinstance(exc, socket.timeout):
        return TimeoutError("redigo: TLS handshake timeout")
    if isinstance(exc, ssl.SSLError):
        return ConnectionError(f"redigo: TLS handshake failed: {exc}")
    return ConnectionError(f"redigo: TLS handshake failed: {exc.strerror or exc}")  # e.g. a reset


def new_conn(sock: socket.socket, read_timeout: Optional[float] = None,
             write_timeout: Optional[float] = None) -> NetConn:
    """Wrap an already connected socket (redigo's NewConn)."""
    network, host, port = "tcp", "", 0
    try:
        peer = sock.getpeername()
        if sock.family == socket.AF_UNIX:
            network, host = "unix", str(peer)
        else:
            host, port = peer[0], peer[1]
    except OSError:
        pass
    return NetConn(sock, read_timeout, write_timeout, network=network, host=host, port=port)


# -- URLs ------------------------------------------------------------------

_URL_SCHEMES = {"redis": False, "rediss": True, "valkey": False, "valkeys": True}
# The ASCII characters Go's url.Parse accepts in a host name (IPv6 hosts and
# zones included); any other ASCII character makes the URL invalid there.
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-._~!$&'()*+,;=:[]<>\"%")


def _redacted(url: str) -> str:
    """``url`` with any password replaced by ``xxxxx``, as Go's URL.Redacted shows it."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, tail = rest.rpartition("@")  # the last "@": a password may hold "/" or "@"
    if not sep or not at:
        return url
    user, has_password, _ = userinfo.partition(":")
    # A lone user-info word is a password here (see parse_url), so it goes too.
    return f"{scheme}://{user + ':' if has_password else ''}xxxxx@{tail}"


def dial_url(url: str, **options: object) -> NetConn:
    """Connect using a Redis URL (redigo's DialURL rules, plus ``unix://``).

    ``redis://[[user]:password@]host[:port][/db]``; ``rediss://`` (and the
    ``valkey``/``valkeys`` spellings) for TLS; host defaults to localhost and
    port to 6379; a lone user-info word is a password (redis-cli's habit).
    ``unix://[[user]:password@]/path/to.sock[?db=N]`` for a unix socket.
    ``?protocol=3`` (either kind) opens the connection in RESP3.
    Options from the URL override the keyword options.
    """
    return dial_url_context(_context.background(), url, **options)


def dial_url_context(ctx: _context.Context, url: str, **options: object) -> NetConn:
    """``dial_url`` bounded by ``ctx``."""
    network, address, url_options = parse_url(url)
    options.update(url_options)
    return dial_context(ctx, network, address, **options)


def parse_url(url: str) -> Tuple[str, str, Dict[str, object]]:
    """(network, address, dial options) of a Redis URL; errors never echo the password."""
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep or (scheme not in _URL_SCHEMES and scheme != "unix"):
        raise ArgumentError(f"invalid redis URL scheme: {scheme if sep else ''}")
    if not rest.startswith("/"):
        raise ArgumentError("invalid redis URL, url is opaque")
    authority_end = min((i for i in (rest.find(c, 2) for c in "/?#") if i >= 0), default=len(rest))
    if scheme != "unix" and "@" in rest[authority_end:]:  # a socket path may hold an "@"
        # A password holding "/", "?" or "#" ends the host part early; the rest of
        # the URL would then be read as host, port and database, and echoed in errors.
        raise ArgumentError(f'parse "{_redacted(url)}": a "/", "?" or "#" in the user information '
                            "must be percent-encoded")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host
        # The message may quote the network location, password included: not echoed.
        reason = "missing ']' in host" if "IPv6" in str(exc) else "invalid characters in host"
        raise ArgumentError(f'parse "{_redacted(url)}": {reason}') from None
    options: Dict[str, object] = {}
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        user, has_password, secret = userinfo.partition(":")
        user, secret = unquote(user), unquote(secret)
        if has_password:
            if user:
                options["username"] = user
            options["password"] = secret
        elif user:
            options["password"] = user
    query = parse_qs(parts.query)
    if "protocol" in query:
        protocol = query["protocol"][-1]
        if protocol not in ("2", "3"):
            raise ArgumentError(f"invalid redis URL protocol: {protocol}")
        options["protocol"] = int(protocol)
    if scheme == "unix":
        if "db" in query:
            db = query["db"][-1]
            if not db.isdigit():
                raise ArgumentError(f"invalid database: {db}")
            options["database"] = int(db)
        return "unix", unquote(parts.path), options
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port = hostport[1:close], hostport[close + 2:] if hostport[close + 1:close + 2] == ":" else ""
    else:
        host, _, port = hostport.partition(":")
    bad = next((ch for ch in host if ch < "\x80" and ch not in _HOST_CHARS), None)
    if bad is not None:
        raise ArgumentError(f'parse "{_redacted(url)}": invalid character {quote(bad.encode())} in host name')
    host = host or "localhost"
    if port and not port.isdigit():
        raise ArgumentError(f"invalid redis URL port: {port}")
    address = join_host_port(host, port or 6379)
    path = parts.path
    if path:
        db = path[1:]
        if db and not db.isdigit():
            raise ArgumentError(f"invalid database: {db}")
        if db and int(db):
            options["database"] = int(db)
    options["use_tls"] = _URL_SCHEMES[scheme]
    return "tcp", address, options


# -- redigo's package-level helpers ------------------------------------------

# The "..." (an explicit Any): the arguments are those of the interface's method.
def optional_method(conn: object, name: str, interface: str) -> Callable[..., Reply]:
    """``conn``'s method ``name`` of an optional interface, as redigo's type assertion finds it;
    a connection without it raises redigo's "does not support" error."""
    method = getattr(conn, name, None)
    if method is None:
        raise RedigoError(f"redis: connection does not support {interface}")
    return method  # type: ignore[no-any-return]  # getattr: the interface's method


def do_context(conn: Conn, ctx: _context.Context, command: Union[str, bytes], *args: object) -> Reply:
    """``conn.do_context(ctx, ...)`` for any connection that supports it."""
    return optional_method(conn, "do_context", "ConnWithContext")(ctx, command, *args)


def do_with_timeout(conn: Conn, timeout: Optional[float], command: Union[str, bytes], *args: object) -> Reply:
    """``conn.do_with_timeout(timeout, ...)`` for any connection that supports it."""
    return optional_method(conn, "do_with_timeout", "ConnWithTimeout")(timeout, command, *args)


def receive_context(conn: Conn, ctx: _context.Context) -> Reply:
    """``conn.receive_context(ctx)`` for any connection that supports it."""
    return optional_method(conn, "receive_context", "ConnWithContext")(ctx)


def receive_with_timeout(conn: Conn, timeout: Optional[float]) -> Reply:
    """``conn.receive_with_timeout(timeout)`` for any connection that supports it."""
    return optional_method(conn, "receive_with_timeout", "ConnWithTimeout")(timeout)
