"""MOVED and ASK replies, TRYAGAIN and CROSSSLOT: redisc's redirection errors."""

from __future__ import annotations

from typing import Optional, Tuple, Type

from ..errors import Error


# -- redirections ----------------------------------------------------------------

class RedirError(Error):
    """A MOVED or ASK reply (redisc's ``RedirError``); ``str()`` is the server's message.

    ``type`` is ``"MOVED"`` (the slot lives at ``addr`` now) or ``"ASK"`` (this
    one command, preceded by ASKING, must go to ``addr`` while ``new_slot`` is
    migrating).
    """

    def __init__(self, message: str, type: str, new_slot: int, addr: str) -> None:  # noqa: A002 - redisc's field name
        super().__init__(message)
        self.type = type
        self.new_slot = new_slot
        self.addr = addr

    def __reduce__(self) -> Tuple[Type[RedirError], Tuple[str, str, int, str]]:
        """Pickle with every field (the default would call ``__init__`` with the message alone)."""
        return (RedirError, (str(self), self.type, self.new_slot, self.addr))

    def __repr__(self) -> str:
        return f"RedirError({str(self)!r})"


def parse_redir(exc: Optional[BaseException]) -> Optional[RedirError]:
    """``exc`` as a :class:`RedirError` if it is a MOVED or ASK error reply, else None."""
    if isinstance(exc, RedirError):
        return exc
    redirect = exc.redirect() if isinstance(exc, Error) else None
    if redirect is None:
        return None
    return RedirError(str(exc), *redirect)


def _is_redis_err(exc: Optional[BaseException], kind: str) -> bool:
    return isinstance(exc, Error) and exc.kind == kind


def is_try_again(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is a TRYAGAIN reply: valid command, slot mid-migration, retry later."""
    return _is_redis_err(exc, "TRYAGAIN")


def is_cross_slot(exc: Optional[BaseException]) -> bool:
    """Whether ``exc`` is a CROSSSLOT reply: the command's keys are in different slots."""
    return _is_redis_err(exc, "CROSSSLOT")
