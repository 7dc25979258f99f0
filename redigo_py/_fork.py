"""Processes: what the child of ``os.fork()`` must not take over from its parent.

A forked child shares its parent's open sockets. If both used one, each
would read replies meant for the other (a data leak between requests, with
no error), and a ``shutdown`` or a ``QUIT`` from either would end the
other's connection too. Locks held by a parent's thread at the instant of the
fork stay held for ever in the child, and no thread but the forking one
survives.

So every object that owns such things (a connection, a pool, a cluster, a
sentinel client) registers here when it is made, and in the child, right
after the fork, each one's ``_forked()`` runs once: connections become fatal
and give up their file descriptors without a byte written, pools forget what
they held and dial anew, locks are made afresh. Nothing is checked per
command: a connection made fatal here fails on the ``err`` check that every
call already makes. Module-level state (a module's locks, the metrics
recorder) registers a function with :func:`at_child` instead.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import Callable, List, Protocol


class Forkable(Protocol):
    """What :func:`track` needs of an object: a hook run in the child of a fork."""

    def _forked(self) -> None:
        """Drop what belongs to the parent process; called once, in the child, single-threaded."""


_log = logging.getLogger("redigo_py")
_tracked: "weakref.WeakSet[Forkable]" = weakref.WeakSet()
_module_hooks: List[Callable[[], None]] = []


def track(obj: Forkable) -> None:
    """Run ``obj._forked()`` in the child of every later fork, for as long as ``obj`` lives."""
    _tracked.add(obj)


def at_child(hook: Callable[[], None]) -> None:
    """Run ``hook()`` in the child of every later fork, before the objects' hooks."""
    _module_hooks.append(hook)


def _in_child() -> None:
    # One failing hook must not leave the others undone: an inherited connection
    # that is not made fatal would be shared with the parent.
    for hook in _module_hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - reported, and the rest still run
            _log.exception("redigo_py: a fork hook failed")
    for obj in list(_tracked):
        try:
            obj._forked()
        except Exception:  # noqa: BLE001
            _log.exception("redigo_py: a fork hook failed")


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_in_child)
