"""redigo_py.sentinel (FZambia/sentinel's API) against real Sentinel processes.

A module-scoped deployment (a master, a replica, two sentinels) serves the
tests that leave it as it is; the failover test gets a deployment of its
own. Sentinels that are down are loopback ports nothing listens on.
"""

from __future__ import annotations

import pickle
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import redigo_py as redis
from redigo_py import sentinel
from redigo_py.pool import Pool

from harness.sentinel import SentinelDeployment, command, poll, sentinel_dial, unused_address
from .conftest import ScriptedServer, read_command

MASTER = SentinelDeployment.master_name


@pytest.fixture(scope="module")
def deployment() -> Iterator[SentinelDeployment]:
    d = SentinelDeployment(sentinels=2).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def make_sentinel() -> Iterator[Callable[..., sentinel.Sentinel]]:
    made: List[sentinel.Sentinel] = []

    def make(addrs: List[str], master_name: str = MASTER) -> sentinel.Sentinel:
        s = sentinel.Sentinel(addrs, master_name, sentinel_dial)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_master_addr(deployment: SentinelDeployment, make_sentinel: Callable[..., sentinel.Sentinel]) -> None:
    assert deployment.master is not None
    s = make_sentinel(deployment.sentinel_addresses)
    assert s.master_addr() == deployment.master.address


@pytest.mark.parametrize("layout, expected", [
    # "L0"/"L1": live sentinels; "D0"/"D1": down ones. The first to answer
    # moves to the front, each that failed moves to the back.
    (["L0", "L1"], ["L0", "L1"]),
    (["D0", "L0"], ["L0", "D0"]),
    (["D0", "D1", "L0", "L1"], ["L0", "L1", "D0", "D1"]),
    (["L0", "D0", "L1"], ["L0", "D0", "L1"]),
])
def test_answering_sentinel_moves_to_front(deployment: SentinelDeployment,
                                           make_sentinel: Callable[..., sentinel.Sentinel],
                                           layout: List[str], expected: List[str]) -> None:
    names = {f"L{i}": addr for i, addr in enumerate(deployment.sentinel_addresses)}
    names.update({f"D{i}": unused_address() for i in range(2)})
    s = make_sentinel([names[n] for n in layout])
    assert deployment.master is not None
    assert s.master_addr() == deployment.master.address
    assert s.addrs == [names[n] for n in expected]


@pytest.mark.parametrize("addrs, master_name, message", [
    (lambda d: [], MASTER, r"^redigo: no sentinels available$"),
    (lambda d: [d], MASTER, r"^redigo: no sentinels available; last error: dial tcp {dead}: connect: connection refused$"),
    (lambda d: [d, unused_address()], MASTER, r"^redigo: no sentinels available; last error: dial tcp "),
    (lambda d: None, "nosuchmaster", r"^redigo: no sentinels available; last error: redigo: nil returned$"),
])
def test_no_sentinels_available(deployment: SentinelDeployment, make_sentinel: Callable[..., sentinel.Sentinel],
                                addrs: Callable[[str], Optional[List[str]]], master_name: str,
                                message: str) -> None:
    dead = unused_address()
    chosen = addrs(dead)
    s = make_sentinel(deployment.sentinel_addresses if chosen is None else chosen, master_name)
    with pytest.raises(sentinel.NoSentinelsAvailable, match=message.replace("{dead}", dead)) as info:
        s.master_addr()
    assert isinstance(info.value, redis.RedigoError)
    assert (info.value.last_error is None) == (chosen == [])
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is sentinel.NoSentinelsAvailable and str(copy) == str(info.value)


def test_addrs_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="addrs must be a list"):
        sentinel.Sentinel("127.0.0.1:26379", MASTER, sentinel_dial)


def test_slaves(deployment: SentinelDeployment, make_sentinel: Callable[..., sentinel.Sentinel]) -> None:
    assert deployment.replica is not None
    s = make_sentinel(deployment.sentinel_addresses)
    [replica] = s.slaves()
    assert replica.addr() == deployment.replica.address and replica.available()
    assert s.slave_addrs() == [deployment.replica.address]


@pytest.mark.parametrize("slave, addr, available", [
    (sentinel.Slave("127.0.0.1", "6380", "slave"), "127.0.0.1:6380", True),
    (sentinel.Slave("::1", "6380", "slave"), "[::1]:6380", True),
    (sentinel.Slave("10.0.0.1", "6380", "slave,disconnected"), "10.0.0.1:6380", False),
    (sentinel.Slave("10.0.0.1", "6380", "s_down,slave"), "10.0.0.1:6380", False),
])
def test_slave(slave: sentinel.Slave, addr: str, available: bool) -> None:
    assert slave.addr() == addr and slave.available() is available


def test_sentinel_addrs_and_discover(deployment: SentinelDeployment,
                                     make_sentinel: Callable[..., sentinel.Sentinel]) -> None:
    first, second = deployment.sentinel_addresses
    s = make_sentinel([first])
    # Sentinels find each other through hello messages on the master, every 2 s.
    assert poll(lambda: s.sentinel_addrs() == [second], 15, "the sentinels to meet")
    s.discover()
    assert s.addrs == [first, second]
    s.discover()  # nothing new: nothing added
    assert s.addrs == [first, second]


def test_test_role(deployment: SentinelDeployment) -> None:
    assert deployment.master is not None and deployment.replica is not None
    cases = [
        (deployment.master.address, "master", True),
        (deployment.master.address, "slave", False),
        (deployment.replica.address, "slave", True),
        (deployment.sentinel_addresses[0], "sentinel", True),
    ]
    for address, role, expected in cases:
        with redis.dial("tcp", address) as c:
            assert sentinel.test_role(c, role) is expected, (address, role)


def scripted_reply(scripted: Callable[..., ScriptedServer], reply: bytes) -> ScriptedServer:
    """A server that answers every command with ``reply``."""
    def handler(sock: socket.socket) -> None:
        while True:
            read_command(sock)
            sock.sendall(reply)
    return scripted(handler)


@pytest.mark.parametrize("reply, message", [
    (b"*1\r\n$9\r\n127.0.0.1\r\n", "redigo: malformed get-master-addr-by-name reply"),
    (b"-ERR unknown command\r\n", "ERR unknown command"),
    (b":1\r\n", "redigo: unexpected type for Strings, got type int"),
])
def test_bad_master_reply(scripted: Callable[..., ScriptedServer], make_sentinel: Callable[..., sentinel.Sentinel],
                          reply: bytes, message: str) -> None:
    s = make_sentinel([scripted_reply(scripted, reply).address])
    with pytest.raises(sentinel.NoSentinelsAvailable) as info:
        s.master_addr()
    assert str(info.value) == f"redigo: no sentinels available; last error: {message}"


@pytest.mark.parametrize("reply", [b"+OK\r\n", b"*0\r\n", b"$-1\r\n"])
def test_test_role_refuses_a_reply_that_is_not_a_role(scripted: Callable[..., ScriptedServer], reply: bytes) -> None:
    with redis.dial("tcp", scripted_reply(scripted, reply).address) as c:
        with pytest.raises(redis.RedigoError, match="redigo: can not transform ROLE reply to string"):
            sentinel.test_role(c, "master")


def test_close_and_concurrent_queries(deployment: SentinelDeployment,
                                      make_sentinel: Callable[..., sentinel.Sentinel]) -> None:
    assert deployment.master is not None
    s = make_sentinel(deployment.sentinel_addresses)
    results: List[Any] = []

    def ask() -> None:
        for _ in range(20):
            try:
                results.append(s.master_addr())
            except BaseException as exc:
                results.append(exc)
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [deployment.master.address] * 120
    s.close()
    assert s.master_addr() == deployment.master.address  # a closed Sentinel reconnects on the next query
    s.close()
    s.close()


def test_pool_follows_a_failover() -> None:
    """After SENTINEL FAILOVER, a pool built as API.md shows never writes to the old master.

    Sentinel turns the old master into a replica only some seconds after the
    switch; until then ROLE still says "master" there, so ``test_on_borrow``
    also compares the connection's address with ``master_addr()``. Every
    borrow that starts once the sentinel reports the new master must write
    to it.
    """
    d = SentinelDeployment(sentinels=1, down_after_ms=1000, failover_timeout_ms=3000).start()
    try:
        assert d.master is not None and d.replica is not None
        s = sentinel.Sentinel(d.sentinel_addresses, d.master_name, sentinel_dial)

        def dial_master() -> redis.Conn:
            addr = s.master_addr()
            c = redis.dial("tcp", addr, connect_timeout=1, read_timeout=2, write_timeout=2)
            if not sentinel.test_role(c, "master"):
                c.close()
                raise redis.RedigoError(f"{addr} is not redis master")
            return c

        def check(c: redis.Conn, last_used: float) -> None:
            if f"{c.host}:{c.port}" != s.master_addr() or not sentinel.test_role(c, "master"):
                raise redis.RedigoError("not the master any more")

        pool = Pool(dial=dial_master, test_on_borrow=check, max_idle=4)
        prefix = uuid.uuid4().hex[:8]
        writes: List[Tuple[float, int, str]] = []  # (borrow started, server port, key)
        stop = threading.Event()

        def writer(t: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                key = f"{prefix}:{t}:{i}"
                started = time.monotonic()
                try:
                    with pool.get() as c:
                        c.send("SET", key, i)
                        c.send("CONFIG", "GET", "port")
                        ok, (_, port) = c.do("")
                        if ok == "OK":
                            writes.append((started, int(port), key))
                except redis.RedigoError:
                    time.sleep(0.01)  # back off while the switch is under way

        threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
        for t in threads:
            t.start()
        try:
            poll(lambda: len(writes) >= 30, 20, "writes before the failover")
            poll(lambda: command(d.sentinel_addresses[0], "SENTINEL", "FAILOVER", d.master_name) == "OK",
                 20, "SENTINEL FAILOVER to be accepted")
            poll(lambda: d.master_seen_by_all() == [d.replica.address], 30, "the switch")  # type: ignore[union-attr]
            switched = time.monotonic()
            poll(lambda: sum(w[0] > switched for w in writes) >= 60, 30, "writes after the switch")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
            pool.close()
            s.close()
        after = [w for w in writes if w[0] > switched]
        assert {port for _, port, _ in after} == {d.replica.port}
        with redis.dial("tcp", d.replica.address) as c:
            for _, _, key in after:
                c.send("EXISTS", key)
            assert c.do("") == [1] * len(after)
    finally:
        d.stop()


def test_sentinel_after_fork(deployment: SentinelDeployment,
                             make_sentinel: Callable[..., sentinel.Sentinel]) -> None:
    """The sentinel pools are the parent's: after a fork both processes ask the sentinels
    at once, each on its own connections, and both get the master's address."""
    from .test_processes import Child

    s = make_sentinel(deployment.sentinel_addresses)
    master = s.master_addr()
    warm = {addr: p.active_count() for addr, p in s._pools.items()}
    assert sum(warm.values()) >= 1

    def child() -> Dict[str, Any]:
        empty = all(p.active_count() == 0 for p in s._pools.values())
        return {"empty": empty, "answers": [s.master_addr() for _ in range(200)]}

    forked = Child(child)
    answers = [s.master_addr() for _ in range(200)]
    report = forked.result()
    assert report["empty"]
    assert set(report["answers"]) == {master} and set(answers) == {master}
    assert {addr: p.active_count() for addr, p in s._pools.items()} == warm
