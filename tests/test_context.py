"""redigo_py.context: Go's context package as redigo needs it, without a server."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Optional, Tuple

import pytest

import redigo_py as redis
from redigo_py import context


def test_background_and_todo_never_end() -> None:
    for ctx in (context.background(), context.todo()):
        assert ctx.err() is None and ctx.deadline() is None and ctx.remaining() is None
        assert not ctx.cancellable()
        assert not ctx.done().is_set()
        assert ctx.value("k") is None


def test_cancel_ends_the_context_and_its_children_once() -> None:
    parent, cancel = context.with_cancel(context.background())
    child, _ = context.with_timeout(parent, 60)
    seen: List[Any] = []
    child.on_cancel(seen.append)
    assert parent.cancellable() and child.err() is None
    cancel()
    cancel()  # a second cancel changes nothing
    assert isinstance(parent.err(), context.Canceled) and isinstance(child.err(), context.Canceled)
    assert str(parent.err()) == "context canceled"
    assert parent.done().is_set() and child.done().wait(0)
    assert len(seen) == 1 and isinstance(seen[0], context.Canceled)


def test_a_deadline_passes_without_a_timer_thread() -> None:
    before = threading.active_count()
    ctx, cancel = context.with_timeout(context.background(), 0.02)
    assert threading.active_count() == before
    deadline = ctx.deadline()
    assert deadline is not None and 0 < deadline - time.monotonic() <= 0.02
    assert ctx.done().wait(5)  # returns once the deadline has passed
    err = ctx.err()
    assert isinstance(err, context.DeadlineExceeded) and isinstance(err, TimeoutError)
    assert str(err) == "context deadline exceeded"
    remaining = ctx.remaining()
    assert remaining is not None and remaining <= 0
    cancel()
    assert isinstance(ctx.err(), context.DeadlineExceeded)  # the first error stays


@pytest.mark.parametrize("make, expected", [
    (lambda parent: context.with_deadline(parent, time.monotonic() + 100), 100),
    (lambda parent: context.with_timeout(parent, 5), 5),
], ids=["with_deadline", "with_timeout"])
def test_a_child_keeps_the_earlier_deadline(make: Callable[[context.Context], Tuple[context.Context, Any]],
                                            expected: float) -> None:
    parent, _ = context.with_timeout(context.background(), 10)
    child, _ = make(parent)
    remaining = child.remaining()
    assert remaining is not None and remaining <= min(10, expected) + 0.01


def test_values_are_found_up_the_chain() -> None:
    a = context.with_value(context.background(), "user", "alice")
    b, _ = context.with_cancel(a)
    c = context.with_value(b, "request", 7)
    assert (c.value("user"), c.value("request"), c.value("other")) == ("alice", 7, None)
    shadow = context.with_value(c, "user", "bob")
    assert shadow.value("user") == "bob" and c.value("user") == "alice"


def test_a_none_key_is_bad_input() -> None:
    with pytest.raises(redis.ArgumentError, match="key must not be None"):
        context.with_value(context.background(), None, 1)


def test_an_unregistered_callback_is_not_called() -> None:
    ctx, cancel = context.with_cancel(context.background())
    seen: List[Optional[BaseException]] = []
    unregister = ctx.on_cancel(seen.append)
    unregister()
    cancel()
    assert seen == []


def test_a_callback_on_an_ended_context_runs_at_once() -> None:
    ctx, cancel = context.with_cancel(context.background())
    cancel()
    seen: List[BaseException] = []
    ctx.on_cancel(seen.append)
    assert len(seen) == 1 and isinstance(seen[0], context.Canceled)
