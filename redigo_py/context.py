"""Go's ``context`` package, as far as redigo needs it.

A Go program passes a ``context.Context`` to bound and cancel a call; a port
must be able to do the same line by line. ``background()`` and ``todo()`` are
never cancelled; ``with_cancel``, ``with_timeout`` and ``with_deadline`` derive
a child that ends when its parent ends, when its ``cancel`` is called, or when
its deadline passes; ``with_value`` carries a value.

Deadlines are ``time.monotonic()`` seconds, and they are checked lazily
(``err()``, ``done().is_set()`` and ``done().wait()`` look at the clock), so a
context with a timeout costs no thread and no timer. Cancellation is eager:
``cancel()`` runs the callbacks that connections register for the length of
one call, which is how cancelling from another thread interrupts a blocked
read at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import ArgumentError, RedigoError

__all__ = [
    "Context",
    "Canceled",
    "DeadlineExceeded",
    "background",
    "todo",
    "with_cancel",
    "with_timeout",
    "with_deadline",
    "with_value",
    "CancelFunc",
]

CancelFunc = Callable[[], None]


class Canceled(RedigoError):
    """The context was cancelled (Go's ``context.Canceled``)."""

    def __init__(self, message: str = "context canceled") -> None:
        super().__init__(message)


class DeadlineExceeded(RedigoError, TimeoutError):
    """The context's deadline passed (Go's ``context.DeadlineExceeded``)."""

    def __init__(self, message: str = "context deadline exceeded") -> None:
        super().__init__(message)


class _Done:
    """The ``threading.Event``-like object that ``Context.done()`` returns.

    ``is_set()`` and ``wait()`` also notice a passed deadline, which is what
    makes deadlines work without timer threads.
    """

    __slots__ = ("_ctx", "_event")

    def __init__(self, ctx: "Context") -> None:
        self._ctx = ctx
        self._event = threading.Event()

    def is_set(self) -> bool:
        return self._ctx.err() is not None

    def wait(self, timeout: Optional[float] = None) -> bool:
        ctx = self._ctx
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if ctx.err() is not None:
                return True
            now = time.monotonic()
            waits = [t - now for t in (end, ctx.deadline()) if t is not None]
            if waits and min(waits) <= 0:
                return ctx.err() is not None
            if self._event.wait(min(waits) if waits else None):
                return True


class Context:
    """A Go-style context: a deadline, a cancellation signal and values.

    Use the module functions to make one; the methods mirror Go's interface.
    """

    __slots__ = ("_parent", "_deadline", "_lock", "_err", "_callbacks", "_done", "_unparent", "_key", "_val")

    def __init__(
        self,
        parent: Optional["Context"] = None,
        deadline: Optional[float] = None,
        key: object = None,
        value: object = None,
    ) -> None:
        self._parent = parent
        inherited = parent.deadline() if parent is not None else None
        if deadline is None or (inherited is not None and inherited < deadline):
            deadline = inherited
        self._deadline = deadline
        self._lock = threading.Lock()
        self._err: Optional[RedigoError] = None
        self._callbacks: Dict[int, Callable[[RedigoError], object]] = {}
        self._done: Optional[_Done] = None
        self._unparent: Callable[[], None] = _noop
        self._key = key
        self._val = value

    def deadline(self) -> Optional[float]:
        """The ``time.monotonic()`` instant at which this context expires, or None."""
        return self._deadline

    def done(self) -> _Done:
        """An Event-like object that is set once the context has ended."""
        done = self._done
        if done is None:
            with self._lock:
                created = self._done is None
                if created:
                    self._done = _Done(self)
                done = self._done
            if created and self._parent is not None and self._parent.cancellable():
                # Someone may block on this event: a parent's cancel must set it.
                self._unparent = self._parent.on_cancel(self._cancel)
        return done  # type: ignore[return-value]

    def err(self) -> Optional[RedigoError]:
        """None while the context is live, else a ``Canceled`` or ``DeadlineExceeded``."""
        err = self._err
        if err is not None:
            return err
        if self._parent is not None:
            err = self._parent.err()
            if err is not None:
                self._cancel(err)
                return self._err
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._cancel(DeadlineExceeded())
            return self._err
        return None

    def value(self, key: object) -> Any:  # Go's interface{}: a value of the caller's, of any type
        """The value stored under ``key`` here or in an ancestor, else None."""
        ctx: Optional[Context] = self
        while ctx is not None:
            if ctx._key is not None and ctx._key == key:
                return ctx._val
            ctx = ctx._parent
        return None

    def cancellable(self) -> bool:
        """False for contexts that can never end (background, todo and their value children)."""
        ctx: Optional[Context] = self
        while ctx is not None:
            if ctx._deadline is not None or isinstance(ctx, _CancelContext):
                return True
            ctx = ctx._parent
        return False

    def remaining(self) -> Optional[float]:
        """Seconds until the deadline (may be <= 0), or None without one."""
        return None if self._deadline is None else self._deadline - time.monotonic()

    def on_cancel(self, callback: Callable[[RedigoError], object]) -> Callable[[], None]:
        """Run ``callback(err)`` once when this context (or an ancestor) is cancelled.

        Returns a function that unregisters it. Connections use this for the
        length of one call; the callback runs in the cancelling thread. A
        passed deadline runs callbacks only once some thread notices it
        (``err()``, ``done().wait()``), in that thread, since nothing watches
        the clock; connections bound their socket waits by the deadline
        instead of relying on that.
        """
        key = id(callback)
        with self._lock:
            if self._err is None:
                self._callbacks[key] = callback
                registered = True
            else:
                registered = False
        if not registered:
            callback(self._err)  # type: ignore[arg-type]
            return _noop
        unregister_parent = self._parent.on_cancel(self._cancel) if self._parent is not None else _noop

        def unregister() -> None:
            with self._lock:
                self._callbacks.pop(key, None)
            unregister_parent()

        return unregister

    def _cancel(self, err: RedigoError) -> None:
        with self._lock:
            if self._err is not None:
                return
            self._err = err
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
            done = self._done
            unparent, self._unparent = self._unparent, _noop
        unparent()
        if done is not None:
            done._event.set()
        for callback in callbacks:
            callback(err)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} deadline={self._deadline} err={self._err!r}>"


class _CancelContext(Context):
    __slots__ = ()


def _noop() -> None:
    return None


_BACKGROUND = Context()
_TODO = Context()


def background() -> Context:
    """The root context: never cancelled, no deadline, no values."""
    return _BACKGROUND


def todo() -> Context:
    """Like ``background()``; marks code that has yet to be given a context."""
    return _TODO


def with_cancel(parent: Context) -> Tuple[Context, CancelFunc]:
    """A child of ``parent`` and the function that cancels it (``Canceled``)."""
    ctx = _CancelContext(parent)
    return ctx, lambda: ctx._cancel(Canceled())


def with_deadline(parent: Context, deadline: float) -> Tuple[Context, CancelFunc]:
    """A child that expires at ``deadline`` (``time.monotonic()`` seconds) or earlier with its parent."""
    ctx = _CancelContext(parent, deadline=deadline)
    return ctx, lambda: ctx._cancel(Canceled())


def with_timeout(parent: Context, seconds: float) -> Tuple[Context, CancelFunc]:
    """``with_deadline(parent, time.monotonic() + seconds)``."""
    return with_deadline(parent, time.monotonic() + seconds)


def with_value(parent: Context, key: object, value: object) -> Context:
    """A child that carries ``value`` under ``key`` (see ``Context.value``)."""
    if key is None:
        raise ArgumentError("context: key must not be None")
    return Context(parent, key=key, value=value)
