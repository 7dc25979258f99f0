"""Redis Sentinel: a port of Go's ``github.com/FZambia/sentinel`` on top of redigo_py.

Sentinel watches a master and its replicas and, when the master fails (or
on ``SENTINEL FAILOVER``), promotes a replica. A client asks a sentinel
where the master is now, and re-asks whenever it opens a connection::

    from redigo_py import sentinel

    s = sentinel.Sentinel(["127.0.0.1:26379", "127.0.0.1:26380"], "mymaster",
                          dial=lambda addr: redis.dial("tcp", addr, connect_timeout=0.5,
                                                       read_timeout=0.5, write_timeout=0.5))

    def dial_master() -> redis.Conn:
        addr = s.master_addr()
        c = redis.dial("tcp", addr)
        if not sentinel.test_role(c, "master"):
            c.close()
            raise redis.RedigoError(f"{addr} is not redis master")
        return c

    def check(c: redis.Conn, last_used: float) -> None:
        # Sentinel turns the old master into a replica some seconds after the
        # switch; until then ROLE still says "master", so compare addresses too.
        if f"{c.host}:{c.port}" != s.master_addr() or not sentinel.test_role(c, "master"):
            raise redis.RedigoError("not the master any more")

    pool = redis.Pool(dial=dial_master, test_on_borrow=check, max_idle=3)

The sentinels are asked in list order; one that answers moves to the front
(as the Sentinel client guidelines say), one that fails moves to the back.
Each sentinel address gets a small pool of its own, so concurrent callers do
not queue on one connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

from . import _fork
from .conn import Conn, join_host_port
from .errors import RedigoError
from .pool import Pool
from .reply import string, string_map, strings, values

__all__ = ["Sentinel", "Slave", "NoSentinelsAvailable", "test_role"]

T = TypeVar("T")


class NoSentinelsAvailable(RedigoError):
    """Every sentinel failed (or none is configured); ``last_error`` is the last failure."""

    def __init__(self, last_error: Optional[BaseException] = None) -> None:
        self.last_error = last_error
        if last_error is None:
            super().__init__("redigo: no sentinels available")
        else:
            super().__init__(f"redigo: no sentinels available; last error: {last_error}")

    def __reduce__(self) -> Tuple[object, ...]:
        """Pickle the cause, not the message (the default would pass the message as ``last_error``)."""
        return (NoSentinelsAvailable, (self.last_error,))


@dataclass(frozen=True)
class Slave:
    """A replica as a sentinel reports it (SENTINEL SLAVES)."""

    ip: str
    port: str
    flags: str

    def addr(self) -> str:
        """``host:port`` of the replica."""
        return join_host_port(self.ip, self.port)

    def available(self) -> bool:
        """Whether the sentinel thinks the replica works now (neither disconnected nor down)."""
        return "disconnected" not in self.flags and "s_down" not in self.flags


class Sentinel:
    """Sentinels that monitor the master named ``master_name``; thread-safe.

    ``dial(address)`` connects to one sentinel; give it timeouts, as the
    Sentinel client guidelines require (a sentinel that hangs must not hang
    the client). ``pool(address)``, if given, makes the pool for one sentinel
    instead of the default (3 idle, 10 active, wait, PING on borrow).
    """

    def __init__(self, addrs: Sequence[str], master_name: str, dial: Callable[[str], Conn],
                 pool: Optional[Callable[[str], Pool]] = None) -> None:
        if isinstance(addrs, (str, bytes)):  # list("host:port") would be its characters
            raise TypeError('redigo: sentinel addrs must be a list of "host:port" strings')
        self.addrs = list(addrs)
        self.master_name = master_name
        self.dial = dial
        self.pool = pool
        self._lock = threading.Lock()  # guards addrs (the order) and _pools
        self._pools: Dict[str, Pool] = {}
        _fork.track(self)

    def _forked(self) -> None:
        """In a forked child: a fresh lock; the sentinel pools reset themselves."""
        self._lock = threading.Lock()

    # -- the sentinel list ---------------------------------------------------------

    def _put_to_top(self, addr: str) -> None:
        """The sentinel that answered is asked first next time: it is likely up."""
        with self._lock:
            if addr in self.addrs:
                i = self.addrs.index(addr)
                self.addrs[0], self.addrs[i] = self.addrs[i], self.addrs[0]

    def _put_to_bottom(self, addr: str) -> None:
        """The sentinel that failed is asked last next time."""
        with self._lock:
            if addr in self.addrs:
                self.addrs.remove(addr)
                self.addrs.append(addr)

    def _default_pool(self, addr: str) -> Pool:
        def ping(c: Conn, last_used: float) -> None:
            c.do("PING")

        return Pool(dial=lambda: self.dial(addr), test_on_borrow=ping,
                    max_idle=3, max_active=10, wait=True, idle_timeout=240)

    def _pool_for(self, addr: str) -> Pool:
        with self._lock:
            pool = self._pools.get(addr)
        if pool is not None:
            return pool
        new = self.pool(addr) if self.pool is not None else self._default_pool(addr)
        with self._lock:
            pool = self._pools.setdefault(addr, new)
        if pool is not new:
            new.close()  # another thread made one first
        return pool

    def _do_until_success(self, query: Callable[[Conn], T]) -> T:
        """``query(conn)`` on each sentinel in turn until one succeeds."""
        with self._lock:
            addrs = list(self.addrs)
        last: Optional[BaseException] = None
        for addr in addrs:
            conn = self._pool_for(addr).get()
            try:
                result = query(conn)
            except Exception as exc:
                last = exc
                self._put_to_bottom(addr)
                continue
            finally:
                conn.close()
            self._put_to_top(addr)
            return result
        raise NoSentinelsAvailable(last)

    # -- queries -------------------------------------------------------------------

    def master_addr(self) -> str:
        """``host:port`` of the current master (SENTINEL GET-MASTER-ADDR-BY-NAME)."""
        return self._do_until_success(lambda c: _query_for_master(c, self.master_name))

    def slave_addrs(self) -> List[str]:
        """``host:port`` of each replica the sentinel knows."""
        return [s.addr() for s in self.slaves()]

    def slaves(self) -> List[Slave]:
        """The replicas the sentinel knows, with their state flags (SENTINEL SLAVES)."""
        return self._do_until_success(lambda c: _query_for_slaves(c, self.master_name))

    def sentinel_addrs(self) -> List[str]:
        """``host:port`` of the other sentinels of this master (SENTINEL SENTINELS)."""
        return self._do_until_success(lambda c: _query_for_sentinels(c, self.master_name))

    def discover(self) -> None:
        """Append the sentinels that the sentinels know of and this list lacks (the guidelines' step)."""
        found = self.sentinel_addrs()
        with self._lock:
            for addr in found:
                if addr not in self.addrs:
                    self.addrs.append(addr)

    def close(self) -> None:
        """Close the connections to the sentinels (a later query opens new ones)."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools = {}
        for pool in pools:
            pool.close()

    def __repr__(self) -> str:
        return f"<redigo_py.sentinel.Sentinel {self.master_name!r} {self.addrs}>"


def test_role(conn: Conn, expected_role: str) -> bool:
    """Whether ROLE says ``expected_role`` ("master" or "slave"); raises if ROLE fails."""
    reply = conn.do("ROLE")
    if not isinstance(reply, list) or not reply:
        raise RedigoError("redigo: can not transform ROLE reply to string")
    return string(reply[0]) == expected_role


test_role.__test__ = False  # type: ignore[attr-defined]  # a library function, not a pytest test


def _query_for_master(conn: Conn, master_name: str) -> str:
    reply = strings(conn.do("SENTINEL", "get-master-addr-by-name", master_name))
    if len(reply) < 2:
        raise RedigoError("redigo: malformed get-master-addr-by-name reply")
    return join_host_port(reply[0], reply[1])


def _query_for_slaves(conn: Conn, master_name: str) -> List[Slave]:
    slaves = []
    for item in values(conn.do("SENTINEL", "slaves", master_name)):
        fields = string_map(item)
        slaves.append(Slave(ip=fields.get("ip", ""), port=fields.get("port", ""), flags=fields.get("flags", "")))
    return slaves


def _query_for_sentinels(conn: Conn, master_name: str) -> List[str]:
    addrs = []
    for item in values(conn.do("SENTINEL", "sentinels", master_name)):
        fields = string_map(item)
        addrs.append(f"{fields.get('ip', '')}:{fields.get('port', '')}")
    return addrs
