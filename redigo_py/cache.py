"""Server-assisted client-side caching (RESP3 ``CLIENT TRACKING``), opt-in.

::

    cache = redis.ClientCache(max_entries=10_000, max_bytes=64 << 20)
    pool = redis.Pool(dial=lambda: redis.dial("tcp", address, protocol=3, client_cache=cache))
    with pool.get() as c:
        c.do("GET", "config:flags")     # a miss: asked of the server, and kept
        c.do("GET", "config:flags")     # a hit: from memory, no round trip

A connection dialled with ``client_cache`` turns tracking on (default mode:
the server pushes an invalidation on that same connection when any client
writes a key it has read). Only the read-only commands of one key whose
reply depends on that key alone are cached (:data:`CACHEABLE`: GET, HGETALL,
LRANGE, SMEMBERS, ZRANGE...; not MGET, not anything that reads several keys,
the clock or a random choice), keyed by (database, command, arguments).

The rules that keep it correct:

- Each entry remembers the connection whose tracking covers it (the one
  that read it from the server). Before a hit is returned, whatever that
  connection's socket already holds is taken in without waiting, so an
  invalidation delivered before the hit is applied before it. When that
  connection cannot be looked at now (another thread is reading it, or it
  is owed replies), the lookup is a miss: asked of the server, never stale.
- A reply is stored only if no invalidation of its key arrived between the
  command's sending and its reply (an invalidation epoch per key).
- A connection that loses its tracking (closed, broken, forked away)
  takes what it cached with it; an invalidation of everything (``FLUSHALL``)
  empties the cache.
- A returned value is the caller's: lists, dicts and sets are copied.

For :mod:`redigo_py.aio` connections the "take in what the socket holds"
step is what the event loop has already read: an invalidation the loop has
received is applied before a hit; one still in the kernel's buffer is
applied at the loop's next read.

When not to cache: keys written far more often than read (every write costs
an invalidation on each connection that read the key), and values that must
reflect another client's write within the same round trip (a hit does not
ask the server at all).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Optional, Set, Tuple, Union

from . import _fork
from .commandinfo import command_word
from .resp import encode_arg
from ._types import Reply

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = ["ClientCache", "CacheStats", "CACHEABLE"]

#: The commands whose reply depends on their one key alone (and not on the clock or
#: chance): what a :class:`ClientCache` keeps.
CACHEABLE = frozenset((
    b"GET", b"GETRANGE", b"STRLEN", b"GETBIT", b"BITCOUNT", b"BITPOS", b"SUBSTR",
    b"HGET", b"HGETALL", b"HMGET", b"HKEYS", b"HVALS", b"HLEN", b"HEXISTS", b"HSTRLEN",
    b"LRANGE", b"LLEN", b"LINDEX", b"LPOS",
    b"SMEMBERS", b"SCARD", b"SISMEMBER", b"SMISMEMBER",
    b"ZRANGE", b"ZRANGEBYSCORE", b"ZRANGEBYLEX", b"ZREVRANGE", b"ZREVRANGEBYSCORE", b"ZREVRANGEBYLEX",
    b"ZCARD", b"ZSCORE", b"ZMSCORE", b"ZRANK", b"ZREVRANK", b"ZCOUNT", b"ZLEXCOUNT",
    b"XLEN", b"XRANGE", b"XREVRANGE", b"GEOPOS", b"GEODIST", b"GEOHASH", b"TYPE",
))
_NAMES: Dict[Union[str, bytes], bytes] = {}  # command as given -> its upper-case bytes, if cacheable

CacheKey = Tuple[int, bytes, Tuple[object, ...]]
# What a miss hands to store(): the entry's key, the Redis key, and the invalidation
# epochs (of that key, and of everything) when the command was looked up.
_Token = Tuple[CacheKey, bytes, int, int]


def cacheable(command: Union[str, bytes]) -> Optional[bytes]:
    """``command``'s name if a cache may keep its replies, else None (memoised per spelling)."""
    try:
        name = _NAMES.get(command)
    except TypeError:  # an unhashable name (a bytearray): not memoised
        name = None
    if name is None:
        word = command_word(command)
        name = word if word in CACHEABLE else b""
        if len(_NAMES) < 1024 and isinstance(command, (str, bytes)):
            _NAMES[command] = name
    return name or None


@dataclass(frozen=True)
class CacheStats:
    """A snapshot of a cache's counters."""

    hits: int
    misses: int
    evictions: int  #: entries dropped for room (max_entries, max_bytes) or age (ttl)
    invalidations: int  #: entries dropped because the server said their key changed, or tracking was lost
    entries: int
    bytes: int  #: the approximate size of what is kept


class _Entry:
    __slots__ = ("value", "mutable", "size", "owner", "key", "expires")

    def __init__(self, value: Reply, size: int, owner: "Exchange", key: bytes, expires: float) -> None:
        self.value = value
        self.mutable = not isinstance(value, _IMMUTABLE)  # then each hit returns a copy
        self.size = size
        self.owner = owner  # the connection whose tracking covers this entry
        self.key = key
        self.expires = expires


class ClientCache:
    """Replies of read-only single-key commands, kept until the server invalidates them.

    ``max_entries`` and ``max_bytes`` bound it (the least recently used go
    first); ``ttl`` (seconds, None: no limit) also ages entries out. Share
    one cache between the connections of a pool; it is thread-safe.
    """

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 << 20, ttl: Optional[float] = None) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._start()
        _fork.track(self)

    def _start(self) -> None:
        self._lock = threading.Lock()
        self._entries: "OrderedDict[CacheKey, _Entry]" = OrderedDict()
        self._by_key: Dict[bytes, Set[CacheKey]] = {}
        self._epochs: Dict[bytes, int] = {}  # per key: invalidations seen, for the race rule
        self._epoch_all = 0  # invalidations of everything seen
        self._bytes = 0
        self._hits = self._misses = self._evictions = self._invalidations = 0

    def _forked(self) -> None:
        """In a forked child: the connections that tracked these entries are the parent's."""
        self._start()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, self._invalidations,
                              len(self._entries), self._bytes)

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()
            self._by_key.clear()
            self._bytes = 0

    def __repr__(self) -> str:
        s = self.stats()
        return f"<redigo_py.ClientCache entries={s.entries} hits={s.hits} misses={s.misses}>"

    # -- what a connection asks ------------------------------------------------------

    def lookup(self, conn: "Exchange", name: bytes, args: Tuple[object, ...]) -> Tuple[bool, Reply, Optional[_Token]]:
        """(True, a copy of the value) on a hit; (False, None, token) on a miss, where the
        token is what :meth:`store` needs to tell whether the key was invalidated since."""
        if not args:
            return False, None, None
        try:
            ckey: CacheKey = (conn.database, name, args)
            entry = self._entries.get(ckey)
        except TypeError:  # an unhashable argument: never cached
            return False, None, None
        if entry is not None and entry.owner.take_in_pushes() and (
                not entry.expires or entry.expires > time.monotonic()):
            lock = self._lock
            lock.acquire()
            if self._entries.get(ckey) is entry:  # not invalidated by what was taken in
                self._entries.move_to_end(ckey)
                self._hits += 1
                lock.release()
                return True, _copy(entry.value) if entry.mutable else entry.value, None
            lock.release()
        key = encode_arg(args[0])  # the key as it is sent, and as an invalidation names it
        with self._lock:
            self._misses += 1
            if entry is not None and self._entries.get(ckey) is entry and entry.expires and \
                    entry.expires <= time.monotonic():
                self._drop(ckey, entry)
                self._evictions += 1
            return False, None, (ckey, key, self._epochs.get(key, 0), self._epoch_all)

    def store(self, conn: "Exchange", token: Optional[_Token], value: Reply) -> Reply:
        """Keep ``value`` (read by ``conn``) unless its key was invalidated since :meth:`lookup`;
        return it."""
        if token is None or conn._err is not None:
            return value
        ckey, key, epoch, epoch_all = token
        size = _size(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            if self._epochs.get(key, 0) != epoch or self._epoch_all != epoch_all:
                return value  # raced with an invalidation of its key: its value may be the old one
            old = self._entries.get(ckey)
            if old is not None:
                self._drop(ckey, old)
            expires = time.monotonic() + self.ttl if self.ttl else 0.0
            self._entries[ckey] = _Entry(_copy(value), size, conn, key, expires)  # the caller keeps its own
            self._by_key.setdefault(key, set()).add(ckey)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                oldest, entry = next(iter(self._entries.items()))
                self._drop(oldest, entry)
                self._evictions += 1
        return value

    # -- what a connection tells it ----------------------------------------------------

    def invalidated(self, conn: "Exchange", keys: Reply) -> None:
        """An invalidation push: these keys (None: every key) changed on the server."""
        with self._lock:
            if keys is None:
                self._epoch_all += 1
                self._invalidations += len(self._entries)
                self._entries.clear()
                self._by_key.clear()
                self._bytes = 0
                return
            for raw in keys if isinstance(keys, list) else (keys,):
                key = encode_arg(raw)
                self._epochs[key] = self._epochs.get(key, 0) + 1
                for ckey in self._by_key.pop(key, ()):
                    entry = self._entries.pop(ckey, None)
                    if entry is not None:
                        self._bytes -= entry.size
                        self._invalidations += 1
            if len(self._epochs) > 4 * max(self.max_entries, 1024):
                # Old epochs matter only to a lookup still in flight: start over,
                # which makes those few refuse to store (safe), not store stale.
                self._epochs.clear()
                self._epoch_all += 1

    def lost(self, conn: "Exchange") -> None:
        """``conn`` lost its tracking (closed, broken): what it covered can go stale unseen."""
        with self._lock:
            self._epoch_all += 1  # a lookup of it in flight must not store
            gone = [(ckey, e) for ckey, e in self._entries.items() if e.owner is conn]
            for ckey, entry in gone:
                self._drop(ckey, entry)
            self._invalidations += len(gone)

    def _drop(self, ckey: CacheKey, entry: _Entry) -> None:
        """Remove one entry (lock held)."""
        del self._entries[ckey]
        self._bytes -= entry.size
        keys = self._by_key.get(entry.key)
        if keys is not None:
            keys.discard(ckey)
            if not keys:
                del self._by_key[entry.key]


def _size(value: Reply) -> int:
    """About how much memory a reply takes: its strings' lengths plus a word per element."""
    if isinstance(value, (bytes, str)):
        return len(value) + 48
    if isinstance(value, (list, tuple, set, frozenset)):
        return 56 + sum(_size(v) for v in value)
    if isinstance(value, dict):
        return 64 + sum(_size(k) + _size(v) for k, v in value.items())
    return 32


_IMMUTABLE = (bytes, str, int, float, bool, type(None), tuple, frozenset)


def _copy(value: Reply) -> Reply:
    """A copy the caller may mutate without changing the cached value."""
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, set):
        return set(value)
    return value  # an Error: never stored (``do`` raises it instead)
