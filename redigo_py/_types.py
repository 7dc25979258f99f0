"""The library's one open type, named once.

A reply is whatever the server sent: ``None``, ``int``, ``bytes``, ``str``,
an :class:`~redigo_py.errors.Error`, or a list of these, nested. The type
checker cannot know which a command returns, so ``do`` and ``receive`` say
``Reply`` (an alias of ``Any``) and typed code narrows it with the reply
helpers (``redis.int_``, ``redis.string``, ``redis.values``...), which check
at run time what a static type could only assume. Everything else in the
library is typed precisely: arguments are ``object`` (the encoder checks them
at run time and refuses what it cannot send).
"""

from typing import Any

Reply = Any  # the one explicit Any: see the module docstring

Untyped = Any
"""An object of an untyped library: opencensus (views, view data, span data,
tracers), which ships no type information to check it against."""
