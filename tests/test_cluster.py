"""redigo_py.cluster (redisc's API) against a real Redis Cluster.

A module-scoped cluster of 3 masters + 3 replicas serves the tests that
leave it healthy (the slot migration test moves one slot for good, which is
a healthy state too); the failover test kills a master, so it gets a
cluster of its own. Keys carry a random prefix per test, so tests never
see each other's data. Bad input needs no cluster, except where the point
is that a real cluster stays usable afterwards.
"""

from __future__ import annotations

import pickle
import queue
import random
import socket
import threading
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import redigo_py as redis
from redigo_py import context
from redigo_py import cluster as redisc
from harness.server import RedisServer
from redigo_py.pool import Pool, PoolStats

from harness.sentinel import RedisCluster, command, poll, unused_address
from .conftest import DIAL_OPTIONS, ScriptedServer, finish_migration, read_command


def pooled(max_idle: int = 4, **pool_options: Any) -> Callable[..., Pool]:
    """A ``create_pool`` as redisc's tests write it: one Pool per node address."""
    def create_pool(address: str, **dial_options: Any) -> Pool:
        return Pool(dial=lambda: redis.dial("tcp", address, **dial_options), max_idle=max_idle, **pool_options)
    return create_pool


@pytest.fixture
def make_cluster(nodes: RedisCluster) -> Iterator[Callable[..., redisc.Cluster]]:
    """Clusters on the shared nodes (startup node: the first one), closed after the test."""
    made: List[redisc.Cluster] = []

    def make(refresh: bool = True, **options: Any) -> redisc.Cluster:
        options.setdefault("dial_options", DIAL_OPTIONS)
        c = redisc.Cluster(nodes.addresses[:1], **options)
        made.append(c)
        if refresh:
            c.refresh()
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def prefix() -> str:
    """A random key prefix of the test's own."""
    return uuid.uuid4().hex[:10]


# -- hashing: redisc's vectors, and the server's own CLUSTER KEYSLOT ------------------

SLOT_VECTORS = [  # redisc's hash_test.go
    ("", 0), ("a", 15495), ("b", 3300), ("ab", 13567), ("abc", 7638), ("a{b}", 3300),
    ("{a}b", 15495), ("{a}{b}", 15495), ("{}{a}{b}", 11267), ("a{b}c", 3300), ("{a}bc", 15495),
    ("{a}{b}{c}", 15495), ("{}{a}{b}{c}", 1044), ("a{bc}d", 12685), ("a{bcd}", 1872),
    ("{abcd}", 10294), ("abcd", 10294), ("{a", 10276), ("a}", 5921), ("123456789", 12739),
    ("a≠b", 11870), ("•", 97), ("a{}{b}c", 14872),
]


@pytest.mark.parametrize("key, expected", SLOT_VECTORS)
def test_slot_vectors(key: str, expected: int) -> None:
    assert redisc.slot(key) == expected
    assert redisc.slot(key.encode()) == expected


@pytest.mark.parametrize("keys, expected", [  # redisc's TestSplitBySlot
    ([], []),
    (["a"], [["a"]]),
    (["a", "b"], [["b"], ["a"]]),
    (["a", "b", "cb{a}"], [["b"], ["a", "cb{a}"]]),
    (["a", "b", "cb{a}", "a{b}"], [["b", "a{b}"], ["a", "cb{a}"]]),
    (["a", "b", "cb{a}", "a{b}", "abc"], [["b", "a{b}"], ["abc"], ["a", "cb{a}"]]),
])
def test_split_by_slot(keys: List[str], expected: List[List[str]]) -> None:
    assert redisc.split_by_slot(*keys) == expected


def random_keys(n: int, rnd: random.Random) -> List[Any]:
    """Keys of every kind a caller sends: text, bytes with braces, unicode, ints, tags."""
    alphabet = "ab{}c:é•≠\x00z"
    keys: List[Any] = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            keys.append("".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 12))))
        elif kind == 1:
            keys.append(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 16))))
        elif kind == 2:
            keys.append(f"user:{{{rnd.randrange(10**6)}}}:{rnd.random()}")
        else:
            keys.append(rnd.randrange(-10**12, 10**12))
    return keys


def test_slot_matches_cluster_keyslot(nodes: RedisCluster) -> None:
    keys = random_keys(400, random.Random(9)) + [k for k, _ in SLOT_VECTORS]
    with redis.dial("tcp", nodes.addresses[0]) as c:
        for key in keys:
            c.send("CLUSTER", "KEYSLOT", key)
        server = c.do("")
    assert [redisc.slot(k) for k in keys] == server


# -- redirections: parsing --------------------------------------------------------------

@pytest.mark.parametrize("exc, expected", [
    (redis.Error("MOVED 3999 127.0.0.1:6381"), ("MOVED", 3999, "127.0.0.1:6381")),
    (redis.Error("ASK 1 10.0.0.1:7000"), ("ASK", 1, "10.0.0.1:7000")),
    (redis.Error("MOVED 3999"), None),
    (redis.Error("MOVED x 127.0.0.1:6381"), None),
    (redis.Error("ERR MOVED 1 a:1"), None),
    (redis.Error("TRYAGAIN Multiple keys request during rehashing of slot"), None),
    (redis.RedigoError("MOVED 1 a:1"), None),  # not a server reply
    (ValueError("MOVED 1 a:1"), None),
    (None, None),
])
def test_parse_redir(exc: Optional[BaseException], expected: Optional[Tuple[str, int, str]]) -> None:
    redir = redisc.parse_redir(exc)
    if expected is None:
        assert redir is None
        return
    assert redir is not None and (redir.type, redir.new_slot, redir.addr) == expected
    assert isinstance(redir, redis.Error) and str(redir) == str(exc)
    assert redisc.parse_redir(redir) is redir
    copy = pickle.loads(pickle.dumps(redir))
    assert (type(copy), str(copy), copy.type, copy.new_slot, copy.addr) == (type(redir), str(redir), *expected)


@pytest.mark.parametrize("exc, try_again, cross_slot", [
    (redis.Error("TRYAGAIN Multiple keys request during rehashing of slot"), True, False),
    (redis.Error("CROSSSLOT Keys in request don't hash to the same slot"), False, True),
    (redis.Error("ERR TRYAGAIN"), False, False),
    (redis.Error(""), False, False),
    (redis.RedigoError("TRYAGAIN"), False, False),
    (None, False, False),
])
def test_is_try_again_and_is_cross_slot(exc: Optional[BaseException], try_again: bool, cross_slot: bool) -> None:
    assert redisc.is_try_again(exc) is try_again
    assert redisc.is_cross_slot(exc) is cross_slot


@pytest.mark.parametrize("call, message", [
    (lambda c: redisc.retry_conn(c, 3, 0), "redisc: connection is not a *Conn"),
    (lambda c: redisc.bind_conn(c, "a"), "redisc: no Bind method"),
    (lambda c: redisc.read_only_conn(c), "redisc: no ReadOnly method"),
])
def test_helpers_refuse_a_plain_conn(server: RedisServer, call: Callable[[Any], Any], message: str) -> None:
    with redis.dial("tcp", server.address) as c:
        with pytest.raises(redis.RedigoError, match=message.replace("*", r"\*")):
            call(c)


# -- bad input and faults ------------------------------------------------------------------

@pytest.mark.parametrize("startup_nodes", ["127.0.0.1:7000", b"127.0.0.1:7000"])
def test_startup_nodes_must_be_a_list(startup_nodes: Any) -> None:
    with pytest.raises(TypeError, match="startup_nodes must be a list"):
        redisc.Cluster(startup_nodes)


def test_no_startup_nodes() -> None:
    c = redisc.Cluster([])
    with pytest.raises(redis.RedigoError, match="redisc: all nodes failed\nredisc: no startup nodes"):
        c.refresh()
    with pytest.raises(redis.RedigoError, match="redisc: failed to get a connection"):
        c.get().do("GET", "a")
    with pytest.raises(redis.RedigoError, match="redisc: no known node address"):
        c.each_node(False, lambda addr, conn: None)


def test_every_startup_node_unreachable() -> None:
    addrs = [unused_address(), unused_address()]
    c = redisc.Cluster(addrs, dial_options={"connect_timeout": 1})
    with pytest.raises(redis.RedigoError) as info:
        c.refresh()
    message = str(info.value)
    assert message.startswith("redisc: all nodes failed\n")
    for addr in addrs:
        assert f"{addr}: dial tcp {addr}: connect: connection refused" in message
    with pytest.raises(redis.RedigoError, match="redisc: failed to get a connection") as info:
        c.get().do("SET", "a", 1)
    assert all(addr in str(info.value) for addr in addrs)


def test_refresh_on_a_standalone_server(server: RedisServer) -> None:
    c = redisc.Cluster([server.address])
    with pytest.raises(redis.RedigoError, match="redisc: all nodes failed") as info:
        c.refresh()
    assert "cluster support disabled" in str(info.value) and server.address in str(info.value)


MALFORMED_SLOTS = [
    (b"+OK\r\n", "got str"),
    (b":7\r\n", "got int"),
    (b"*1\r\n:5\r\n", "entry 0 is not an array"),
    (b"*1\r\n*2\r\n:0\r\n:10\r\n", "entry 0 is not an array of at least 3"),
    (b"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n", "slot range 0..16384"),
    (b"*1\r\n*3\r\n:9\r\n:3\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n", "slot range 9..3"),
    (b"*1\r\n*3\r\n$1\r\n0\r\n:3\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n", "slot range b'0'..3"),
    (b"*1\r\n*3\r\n:0\r\n:3\r\n*1\r\n$9\r\n127.0.0.1\r\n", "entry 0, node 0 is not [host, port, ...]"),
    (b"*1\r\n*3\r\n:0\r\n:3\r\n*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7000\r\n", "entry 0, node 0 is not"),
    (b"*2\r\n*3\r\n:0\r\n:3\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n*3\r\n:4\r\n:5\r\n:6\r\n", "entry 1, node 0"),
]


def cluster_slots_server(scripted: Callable[..., ScriptedServer], reply: bytes) -> ScriptedServer:
    """A node that answers CLUSTER SLOTS with ``reply`` (a shape no real server sends)."""
    def handler(sock: socket.socket) -> None:
        while True:
            read_command(sock)
            sock.sendall(reply)
    return scripted(handler)


@pytest.mark.parametrize("reply, detail", MALFORMED_SLOTS)
def test_malformed_cluster_slots_is_refused_and_the_cluster_stays_usable(
        nodes: RedisCluster, scripted: Callable[..., ScriptedServer], prefix: str, reply: bytes, detail: str) -> None:
    bad = cluster_slots_server(scripted, reply)
    refreshed: List[List[Tuple[str, ...]]] = []
    c = redisc.Cluster([bad.address], dial_options=DIAL_OPTIONS,
                       layout_refresh=lambda old, new: refreshed.append(new))
    with pytest.raises(redis.RedigoError) as info:
        c.refresh()
    assert str(info.value).startswith(f"redisc: all nodes failed\n{bad.address}: redisc: malformed CLUSTER SLOTS reply")
    assert detail in str(info.value)
    assert refreshed == []  # nothing half-applied

    # The bad node first, then a good one: the bad reply is skipped, the good one applied.
    c = redisc.Cluster([bad.address, nodes.addresses[0]], dial_options=DIAL_OPTIONS,
                       layout_refresh=lambda old, new: refreshed.append(new))
    c.refresh()
    assert len(refreshed) == 1 and all(refreshed[0])
    with c.get() as conn:
        assert conn.do("SET", f"{prefix}:k", "v") == "OK"
    c.close()


def test_bind_mistakes_leave_the_conn_unbound_and_usable(make_cluster: Callable[..., redisc.Cluster],
                                                         prefix: str) -> None:
    c = make_cluster()
    conn = c.get()
    with pytest.raises(redis.RedigoError, match="redisc: keys do not belong to the same slot"):
        conn.bind("a", "b")
    assert conn.bound_addr is None
    conn.read_only()  # still unbound, so still allowed
    conn.bind(f"{{{prefix}}}1", f"{{{prefix}}}2")
    assert conn.bound_addr is not None
    for call in (lambda: conn.bind(f"{{{prefix}}}1"), conn.bind, conn.read_only,
                 lambda: redisc.bind_conn(conn, "x"), lambda: redisc.read_only_conn(conn)):
        with pytest.raises(redis.RedigoError, match="redisc: connection already bound to a node"):
            call()
    assert conn.do("GET", f"{{{prefix}}}1") is None
    conn.close()
    for call in (conn.bind, conn.read_only, lambda: conn.do("GET", "x")):
        with pytest.raises(redis.ConnectionError, match="redisc: closed"):
            call()
    conn.close()  # a second close does nothing


def test_unreachable_slot_owner_falls_back_to_a_random_node(nodes: RedisCluster, prefix: str) -> None:
    """A bind whose node cannot be dialed tries the others (redisc), and the MOVED then says where to go."""
    c = redisc.Cluster([unused_address(), nodes.addresses[0]], dial_options=DIAL_OPTIONS)
    with c.get() as conn:  # never refreshed: the dead startup node and a live one are the known "masters"
        try:
            conn.do("SET", f"{prefix}:k", 1)
        except redisc.RedirError as redir:
            assert redir.type == "MOVED"
        assert conn.bound_addr == nodes.addresses[0]
    c.close()


# -- routing ----------------------------------------------------------------------------------

def test_routing_after_refresh(nodes: RedisCluster, make_cluster: Callable[..., redisc.Cluster],
                               prefix: str) -> None:
    layouts: List[Tuple[Any, Any]] = []
    c = make_cluster(layout_refresh=lambda old, new: layouts.append((old, new)))
    [(old, new)] = layouts
    assert len(old) == len(new) == redisc.HASH_SLOTS
    assert all(entry == () for entry in old)
    for start, end, owners in nodes.slots():
        assert new[start] == new[end] == tuple(owners)

    slots = nodes.slots()
    for i in range(60):
        key = f"{prefix}:{i}"
        with c.get() as conn:
            assert conn.do("SET", key, i) == "OK"  # a wrong node would raise a MOVED
            s = redisc.slot(key)
            assert conn.bound_addr == next(o[0] for a, b, o in slots if a <= s <= b)
            assert conn.do("GET", key) == str(i).encode()


@pytest.mark.parametrize("call, expected", [
    (lambda conn, key: conn.do("PING"), "PONG"),  # no key: any master
    (lambda conn, key: conn.do_with_timeout(2, "SET", key, "v"), "OK"),
    (lambda conn, key: conn.do_context(context.background(), "SET", key, "v"), "OK"),
    (lambda conn, key: (conn.send("SET", key, "v"), conn.send("GET", key), conn.do(""))[-1], ["OK", b"v"]),
    (lambda conn, key: (conn.send("SET", key, "v"), conn.flush(), conn.receive())[-1], "OK"),
    (lambda conn, key: (conn.send_context(context.background(), "SET", key, "v"),
                        conn.flush_context(context.background()),
                        conn.receive_with_timeout(2))[-1], "OK"),
    (lambda conn, key: (conn.send("GET", key), conn.flush(), conn.receive_context(context.background()))[-1], None),
    (lambda conn, key: conn.do(""), None),  # never bound: nothing to flush, and no bind
])
def test_every_call_binds_and_delegates(make_cluster: Callable[..., redisc.Cluster], prefix: str,
                                        call: Callable[[redisc.Conn, str], Any], expected: Any) -> None:
    c = make_cluster()
    with c.get() as conn:
        assert call(conn, f"{prefix}:k") == expected
        assert conn.err() is None


def test_do_with_timeout_on_a_cluster_conn(make_cluster: Callable[..., redisc.Cluster], prefix: str) -> None:
    c = make_cluster()
    conn = c.get()
    with pytest.raises(redis.TimeoutError):
        conn.do_with_timeout(0.05, "BLPOP", f"{prefix}:empty", 0)
    assert isinstance(conn.err(), redis.TimeoutError)  # the node connection is fatal, as a plain one
    conn.close()


def test_cross_slot(make_cluster: Callable[..., redisc.Cluster]) -> None:
    c = make_cluster()
    for conn in (c.get(), redisc.retry_conn(c.get(), 3, 0)):  # a retry conn does not retry it
        with pytest.raises(redis.Error) as info:
            conn.do("MGET", "a", "b")
        assert redisc.is_cross_slot(info.value) and redisc.parse_redir(info.value) is None
        conn.close()


def test_unrefreshed_cluster_learns_from_moved(nodes: RedisCluster, prefix: str) -> None:
    """A MOVED fixes its slot before the call returns, then a background refresh loads the rest."""
    refreshed: "queue.Queue[Any]" = queue.Queue()
    key = f"{prefix}:k"
    owner = nodes.owner(redisc.slot(key))[0]
    other = next(m for m in nodes.master_addresses() if m != owner)
    c = redisc.Cluster([other], dial_options=DIAL_OPTIONS, layout_refresh=lambda old, new: refreshed.put(new))
    try:
        with c.get() as conn:  # no map yet: binds to the one known node, the wrong one
            with pytest.raises(redisc.RedirError) as info:
                conn.do("SET", key, 1)
            assert (info.value.type, info.value.new_slot, info.value.addr) == ("MOVED", redisc.slot(key), owner)
            assert conn.bound_addr == other
        with c.get() as conn:  # the slot already points at its owner
            assert conn.do("SET", key, 1) == "OK" and conn.bound_addr == owner
        new = refreshed.get(timeout=10)
        assert all(new)  # the background refresh filled every slot
    finally:
        c.close()


# -- a slot migration, step by step: ASK, TRYAGAIN, MOVED ----------------------------------------

def test_slot_migration(nodes: RedisCluster, make_cluster: Callable[..., redisc.Cluster], prefix: str) -> None:
    a, b = f"{{{prefix}}}:a", f"{{{prefix}}}:b"  # one slot
    s = redisc.slot(a)
    src = nodes.owner(s)[0]
    dst = next(m for m in nodes.master_addresses() if m != src)
    src_id, dst_id = nodes.node_id(src), nodes.node_id(dst)
    refreshed: "queue.Queue[Any]" = queue.Queue()
    c = make_cluster(layout_refresh=lambda old, new: refreshed.put(new))
    stale = make_cluster()  # keeps the pre-migration map, for the retry conn's MOVED
    refreshed.get_nowait()

    assert c.get().do("SET", a, "1") == "OK"
    command(dst, "CLUSTER", "SETSLOT", s, "IMPORTING", src_id)
    command(src, "CLUSTER", "SETSLOT", s, "MIGRATING", dst_id)
    try:
        # The source still serves the keys it holds...
        assert c.get().do("GET", a) == b"1"
        # ...and sends the others to the target with an ASK, which never changes the map.
        with c.get() as conn:
            with pytest.raises(redisc.RedirError) as info:
                conn.do("GET", b)
            assert (info.value.type, info.value.new_slot, info.value.addr) == ("ASK", s, dst)
        with c.get() as conn:
            conn.bind(b)
            assert conn.bound_addr == src
        # A retry conn follows the ASK, with ASKING first: the write lands on the target.
        with redisc.retry_conn(c.get(), 3, 0.01) as retry:
            assert retry.do("SET", b, "2") == "OK"
            assert retry.bound_addr == dst
        with redis.dial("tcp", dst) as plain:
            plain.send("ASKING")
            assert plain.do("GET", b) == b"2"
        # A multi-key command over keys on both sides: the target answers TRYAGAIN...
        tried: List[BaseException] = []

        def mget_asking(addr: str, conn: redisc.Conn) -> None:
            if addr == dst:
                conn.send("ASKING")
                with pytest.raises(redis.Error) as info:
                    conn.do("MGET", a, b)
                tried.append(info.value)
        c.each_node(False, mget_asking)
        assert len(tried) == 1 and redisc.is_try_again(tried[0])
        # ...(7.0's source too), and a retry conn gives up after max_attempts.
        started = time.monotonic()
        with redisc.retry_conn(c.get(), 3, 0.02) as retry:
            with pytest.raises(redis.RedigoError, match="^redisc: too many attempts$"):
                retry.do("MGET", a, b)
        assert time.monotonic() - started >= 0.02  # it waited try_again_delay after a TRYAGAIN
        # The last key moves; then the slot is handed over on every master.
        command(src, "MIGRATE", *dst.rsplit(":", 1), "", 0, 5000, "KEYS", a)
        with pytest.raises(redisc.RedirError, match=f"^ASK {s} {dst}$"):
            c.get().do("GET", a)
    finally:
        finish_migration(nodes, s, src, dst, dst_id, [a, b])

    # MOVED without retry: raised, the slot re-pointed at once, a refresh in the background.
    with c.get() as conn:
        with pytest.raises(redisc.RedirError) as info:
            conn.do("GET", a)
        assert (info.value.type, info.value.new_slot, info.value.addr) == ("MOVED", s, dst)
    with c.get() as conn:
        assert conn.do("GET", a) == b"1" and conn.bound_addr == dst
    assert poll(lambda: refreshed.get_nowait()[s][0] == dst, 10, "the background refresh")
    # MOVED with retry: followed, on a cluster whose map predates the move.
    with redisc.retry_conn(stale.get(), 3, 0.01) as retry:
        assert retry.do("MGET", a, b) == [b"1", b"2"]
        assert retry.bound_addr == dst
    nodes.wait_stable()  # replicas of the target know the slot before the next test reads them


# -- replicas ------------------------------------------------------------------------------------

def test_read_only_is_served_by_a_replica(nodes: RedisCluster, make_cluster: Callable[..., redisc.Cluster],
                                          prefix: str) -> None:
    c = make_cluster(create_pool=pooled(max_idle=1))
    key = f"{prefix}:k"
    master, replica = nodes.owner(redisc.slot(key))
    with c.get() as conn:
        conn.do("SET", key, "v")
        assert conn.do("WAIT", 1, 5000) == 1  # the replica has it
    ro = c.get()
    ro.read_only()
    assert ro.do("GET", key) == b"v"
    assert ro.bound_addr == replica
    # A write on a replica is a MOVED to its master, which the map already says: no change.
    with pytest.raises(redisc.RedirError) as info:
        ro.do("SET", key, "w")
    assert (info.value.type, info.value.addr) == ("MOVED", master)
    ro.close()  # READWRITE, then back to the replica's pool

    # The pooled connection came back in READWRITE mode: a read on it is a MOVED again.
    moved: List[str] = []

    def read(addr: str, conn: redisc.Conn) -> None:
        if addr == replica:
            with pytest.raises(redisc.RedirError) as info:
                conn.do("GET", key)
            moved.append(info.value.type)
    c.each_node(True, read)
    assert moved == ["MOVED"]

    # A read-only retry conn sends the write to the master and stays there.
    rr = c.get()
    redisc.read_only_conn(rr)
    with redisc.retry_conn(rr, 3, 0.01) as retry:
        assert retry.do("GET", key) == b"v" and retry.bound_addr == replica
        assert retry.do("SET", key, "w") == "OK" and retry.bound_addr == master


def test_each_node(nodes: RedisCluster, make_cluster: Callable[..., redisc.Cluster]) -> None:
    c = make_cluster()
    for replicas, role, expected in ((False, "master", nodes.master_addresses()),
                                     (True, "slave", nodes.replica_addresses())):
        seen: Dict[str, str] = {}
        c.each_node(replicas, lambda addr, conn: seen.__setitem__(addr, redis.string(conn.do("ROLE")[0])))
        assert sorted(seen) == expected and set(seen.values()) == {role}

    calls: List[str] = []

    def fail(addr: str, conn: redisc.Conn) -> None:
        calls.append(addr)
        raise KeyError(addr)
    with pytest.raises(KeyError):
        c.each_node(False, fail)
    assert len(calls) == 1


def test_each_node_before_refresh_and_with_a_dead_node(nodes: RedisCluster) -> None:
    dead = unused_address()
    c = redisc.Cluster([nodes.addresses[0], dead], dial_options=DIAL_OPTIONS)
    with pytest.raises(redis.RedigoError, match="redisc: no known node address"):
        c.each_node(True, lambda addr, conn: None)  # no replica is known before a refresh
    outcomes: Dict[str, Any] = {}

    def ping(addr: str, conn: redisc.Conn) -> None:
        try:
            outcomes[addr] = conn.do("PING")
        except redis.ConnectionError as exc:
            outcomes[addr] = exc
            assert conn.err() is exc
    c.each_node(False, ping)  # the startup nodes, the dead one included
    assert outcomes[nodes.addresses[0]] == "PONG"
    assert isinstance(outcomes[dead], redis.ConnectionError)


# -- pools, stats, close ------------------------------------------------------------------------------

def test_stats(nodes: RedisCluster, make_cluster: Callable[..., redisc.Cluster], prefix: str) -> None:
    assert make_cluster().stats() == {}  # no create_pool: no pools
    c = make_cluster(create_pool=pooled(max_idle=2))
    held = [c.get() for _ in range(3)]
    for i, conn in enumerate(held):
        conn.bind(f"{prefix}:{i}")
    stats = c.stats()
    assert set(stats) >= {conn.bound_addr for conn in held} and set(stats) <= set(nodes.addresses)
    assert all(isinstance(s, PoolStats) for s in stats.values())
    assert sum(s.active_count - s.idle_count for s in stats.values()) == 3  # three lent out
    for conn in held:
        conn.close()
    assert sum(s.active_count - s.idle_count for s in c.stats().values()) == 0
    before = c.stats()
    with c.dial() as conn:  # unpooled even with create_pool
        conn.do("SET", f"{prefix}:0", 1)
        assert c.stats() == before
    c.close()
    after = c.stats()  # still answers after close
    assert set(after) == set(stats) and all(s.active_count == 0 for s in after.values())


def test_pool_wait_time(make_cluster: Callable[..., redisc.Cluster]) -> None:
    """A full ``wait`` pool is waited on for ``pool_wait_time``, then the borrow fails (redisc's TestGetPoolTimedOut)."""
    c = make_cluster(create_pool=pooled(max_idle=1, max_active=1, wait=True), pool_wait_time=0.2)
    held: List[redisc.Conn] = []
    masters: List[str] = []
    c.each_node(False, lambda addr, conn: masters.append(addr))  # and makes every master's pool
    for addr in masters:
        conn = c.get()
        conn.bind(next(k for k in (str(i) for i in range(10000)) if _owner_of(c, k) == addr))
        held.append(conn)
    failures: List[BaseException] = []

    def use(addr: str, conn: redisc.Conn) -> None:
        started = time.monotonic()
        with pytest.raises(context.DeadlineExceeded) as info:
            conn.do("PING")
        assert time.monotonic() - started < 1  # the error was known at borrow time: no second wait
        failures.append(info.value)
    started = time.monotonic()
    c.each_node(False, use)
    assert len(failures) == len(held) and time.monotonic() - started >= 0.2 * len(held)
    for conn in held:
        conn.close()
    c.each_node(False, lambda addr, conn: conn.do("PING"))  # slots free again


def _owner_of(c: redisc.Cluster, key: str) -> Optional[str]:
    """The master a key binds to (a throwaway conn, unpooled)."""
    with c.dial() as conn:
        conn.bind(key)
        return conn.bound_addr


def test_close(make_cluster: Callable[..., redisc.Cluster], prefix: str) -> None:
    """redisc's testClusterClose: what works and what raises after ``Cluster.close()``."""
    c = make_cluster(create_pool=pooled())
    unbound = c.get()
    bound = c.get()
    redisc.bind_conn(bound, f"{prefix}:b")
    retry = redisc.retry_conn(c.get(), 3, 0.001)

    c.close()
    c.close()  # a second close does nothing
    closed = "redisc: closed"
    assert closed in str(c.get().err())
    for call in (c.dial, c.refresh,
                 lambda: c.get().do("GET", "a"),
                 lambda: c.each_node(False, lambda addr, conn: conn.do("PING")),
                 lambda: unbound.do("SET", "a", 1),
                 lambda: retry.do("GET", "a")):
        with pytest.raises(redis.RedigoError, match=closed):
            call()
    assert bound.do("SET", f"{prefix}:b", 1) == "OK"  # bound before the close: still works
    bound.close()
    assert len(c.stats()) > 0


def test_closed_cluster_reports_its_background_refresh(nodes: RedisCluster) -> None:
    """redisc's testClusterClosedRefresh: the refresh that a conn starts after close fails via bg_error."""
    errors: "queue.Queue[Tuple[redisc.BgErrorSrc, BaseException]]" = queue.Queue()
    c = redisc.Cluster(nodes.addresses[:1], bg_error=lambda src, exc: errors.put((src, exc)))
    conn = c.get()
    c.close()
    with pytest.raises(redis.RedigoError, match="redisc: closed"):
        conn.do("SET", "a", 1)  # no node for the slot: a background refresh starts, and fails
    src, exc = errors.get(timeout=5)
    assert src is redisc.CLUSTER_REFRESH and "redisc: closed" in str(exc)
    assert errors.empty()


# -- threads --------------------------------------------------------------------------------------

def test_threads_share_one_cluster(nodes: RedisCluster, prefix: str) -> None:
    """Threads on one Cluster (unrefreshed, so MOVEDs and background refreshes race the
    commands, while another thread refreshes in a loop): every reply is the caller's own."""
    c = redisc.Cluster(nodes.addresses[:1], dial_options=DIAL_OPTIONS, create_pool=pooled(max_idle=8))
    stop = threading.Event()
    errors: List[BaseException] = []
    threads_n, ops = 6, 120

    def worker(t: int) -> None:
        try:
            for i in range(ops):
                key, value = f"{prefix}:{t}:{i}", f"{t}/{i}/{random.random()}".encode()
                with redisc.retry_conn(c.get(), 10, 0.01) as retry:
                    assert retry.do("SET", key, value) == "OK"
                    assert retry.do("GET", key) == value
                with c.get() as conn:  # a pipeline on a bound conn
                    tagged = f"{{{key}}}"
                    conn.bind(tagged)
                    conn.send("SET", tagged, value)
                    conn.send("GET", tagged)
                    conn.send("GET", tagged + ":missing")
                    assert conn.do("") == ["OK", value, None]
        except BaseException as exc:
            errors.append(exc)

    def refresher() -> None:
        while not stop.is_set():
            try:
                c.refresh()
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    side = threading.Thread(target=refresher)
    for t in [*threads, side]:
        t.start()
    for t in threads:
        t.join(60)
    stop.set()
    side.join(10)
    c.close()
    assert errors == []


# -- a master dies ---------------------------------------------------------------------------------

def test_master_failover_loses_no_acknowledged_write() -> None:
    """Kill a master while a writer runs; its replica takes over and the writer follows.

    Redis replicates asynchronously, so a write the dying master acknowledged
    but never shipped dies with it, and no client can prevent that. A write
    counts as acknowledged here when the server said OK and, on the master
    about to die, WAIT confirmed that its replica has it too (the durable-
    write pattern of a Redis Cluster).
    """
    rc = RedisCluster(node_timeout_ms=1000).start()
    try:
        c = redisc.Cluster(rc.addresses, dial_options={"connect_timeout": 0.5, "read_timeout": 3})
        c.refresh()
        slots = rc.slots()
        victim, heir = slots[0][2][:2]
        victim_slots = [(a, b) for a, b, owners in slots if owners[0] == victim]
        acked: Dict[str, int] = {}
        acked_after_kill: List[str] = []
        killed = threading.Event()
        stop = threading.Event()
        failures: List[BaseException] = []

        def on_victim_slot(key: str) -> bool:
            s = redisc.slot(key)
            return any(a <= s <= b for a, b in victim_slots)

        def writer() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                key = f"fo:{i}"
                conn = redisc.retry_conn(c.get(), 10, 0.05)
                try:
                    assert conn.do("SET", key, i) == "OK"
                    if conn.bound_addr == victim and conn.do("WAIT", 1, 1000) < 1:
                        continue  # the replica may not have it: not acknowledged
                    after = killed.is_set()
                    acked[key] = i
                    if after and on_victim_slot(key):
                        acked_after_kill.append(key)
                except redis.RedigoError as exc:  # the dead node, or no node yet: try the next write
                    failures.append(exc)
                    time.sleep(0.01)  # back off, so the retries leave the CPU to the failover
                finally:
                    conn.close()

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            poll(lambda: sum(on_victim_slot(k) for k in list(acked)) >= 30, 20, "writes on the victim")
            rc.server(victim).stop()  # SIGKILL
            killed.set()
            poll(lambda: len(acked_after_kill) >= 20, 60, "writes on the promoted replica")
        finally:
            stop.set()
            thread.join(30)
        assert failures, "the kill should have interrupted some writes"
        with redis.dial("tcp", heir) as c2:
            assert redis.string(c2.do("ROLE")[0]) == "master"

        check = redisc.Cluster([heir], dial_options=DIAL_OPTIONS, create_pool=pooled())
        check.refresh()
        missing = []
        for key, value in acked.items():
            with redisc.retry_conn(check.get(), 5, 0.05) as retry:
                if retry.do("GET", key) != str(value).encode():
                    missing.append(key)
        assert missing == []
        with check.get() as conn:
            conn.bind(acked_after_kill[0])
            assert conn.bound_addr == heir
        check.close()
        c.close()
    finally:
        rc.stop()


# -- observability per node ------------------------------------------------------

def test_redirects_are_counted_and_annotated(nodes: RedisCluster, make_cluster: Callable[..., redisc.Cluster],
                                             prefix: str) -> None:
    """A MOVED is an error of kind reply with detail MOVED, and the span of the command that
    got it carries a ``redirect`` annotation; every span names the node that served it;
    a refresh is a span of its own."""
    from opencensus.stats import stats as stats_module
    from opencensus.trace import base_exporter, execution_context
    from opencensus.trace import tracer as tracer_module
    from opencensus.trace.samplers import AlwaysOnSampler

    from redigo_py import observability as obs

    class Capture(base_exporter.Exporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self.spans: List[Any] = []

        def export(self, span_datas: List[Any]) -> None:
            self.spans.extend(span_datas)

    redis.register_views()
    obs.flush()
    mtvm = stats_module.stats.view_manager.measure_to_view_map
    errors_vd = next(vd for vd in mtvm._measure_to_view_data_list_map[obs.MEASURE_ERRORS]
                     if vd.view.name == "redis/client/errors")
    before = {k: v.count_data for k, v in errors_vd.tag_value_aggregation_data_map.items()}
    key = prefix + "k"
    owner = nodes.owner(redisc.slot(key))[0]
    other = next(a for a in nodes.master_addresses() if a != owner)
    exporter = Capture()
    tracer = tracer_module.Tracer(sampler=AlwaysOnSampler(), exporter=exporter)
    try:
        with tracer.span("request"):
            cluster = make_cluster()
            with redis.dial("tcp", other) as wrong:
                with pytest.raises(redis.Error, match="MOVED"):
                    wrong.do("GET", key)
            with cluster.get() as conn:
                conn.do("SET", key, "v")
    finally:
        execution_context.clean()
    obs.flush()
    after = {k: v.count_data for k, v in errors_vd.tag_value_aggregation_data_map.items()}
    assert after.get(("GET", "MOVED", "reply"), 0) - before.get(("GET", "MOVED", "reply"), 0) == 1
    spans = exporter.spans
    moved = next(s for s in spans if s.name == "redis.Conn.GET")
    host, port = other.rsplit(":", 1)
    assert (moved.attributes["server.address"], moved.attributes["server.port"]) == (host, int(port))
    note = moved.annotations[0]
    assert note.description == "redirect"
    assert note.attributes.attributes == {"type": "MOVED", "slot": redisc.slot(key), "address": owner}
    served = next(s for s in spans if s.name == "redis.Conn.SET")
    assert f"{served.attributes['server.address']}:{served.attributes['server.port']}" == owner
    assert any(s.name == "redis.Cluster.refresh" for s in spans)


def test_background_refresh_joins_the_callers_trace(nodes: RedisCluster, prefix: str) -> None:
    """The refresh a MOVED starts runs in another thread, but its span is in the caller's trace."""
    from opencensus.trace import base_exporter, execution_context
    from opencensus.trace import tracer as tracer_module
    from opencensus.trace.samplers import AlwaysOnSampler

    class Capture(base_exporter.Exporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self.spans: "queue.Queue[Any]" = queue.Queue()

        def export(self, span_datas: List[Any]) -> None:
            for s in span_datas:
                self.spans.put(s)

    key = f"{prefix}:k"
    owner = nodes.owner(redisc.slot(key))[0]
    other = next(m for m in nodes.master_addresses() if m != owner)
    exporter = Capture()
    tracer = tracer_module.Tracer(sampler=AlwaysOnSampler(), exporter=exporter)
    c = redisc.Cluster([other], dial_options=DIAL_OPTIONS)
    try:
        with tracer.span("request") as request:
            with c.get() as conn:
                with pytest.raises(redisc.RedirError):
                    conn.do("SET", key, 1)
        deadline = time.monotonic() + 10
        refresh = None
        while refresh is None:
            span = exporter.spans.get(timeout=max(0.01, deadline - time.monotonic()))
            if span.name == "redis.Cluster.refresh":
                refresh = span
        assert refresh.parent_span_id == request.span_id
        assert refresh.context.trace_id == tracer.span_context.trace_id
    finally:
        c.close()
        execution_context.clean()


# -- fork ---------------------------------------------------------------------------

def test_cluster_after_fork_parent_and_child_both_busy(make_cluster: Callable[..., redisc.Cluster],
                                                      prefix: str) -> None:
    """Node pools warm before the fork; parent and child each run 500 SET/GETs of their own keys
    through pooled cluster conns: none crosses, the child dials its own, the parent keeps its."""
    from .test_processes import Child

    c = make_cluster(create_pool=pooled(max_idle=2))
    keys = [f"{{{prefix}-{i}}}" for i in range(500)]  # a tag: "-parent", "-child" keep the slot

    def run(tag: str) -> int:
        crossed = 0
        for key in keys:
            with c.get() as conn:
                conn.do("SET", f"{key}-{tag}", tag)
            with c.get() as conn:
                crossed += conn.do("GET", f"{key}-{tag}") != tag.encode()
        return crossed

    assert run("warm") == 0
    before = {addr: s.active_count for addr, s in c.stats().items()}
    bound = c.get()
    bound.do("GET", keys[0])  # bound across the fork

    def child() -> Dict[str, Any]:
        empty = all(s.active_count == 0 for s in c.stats().values())
        try:
            bound.do("GET", keys[0])
            inherited = "no error"
        except redis.ConnectionError as exc:
            inherited = str(exc)
        bound.close()
        return {"empty": empty, "inherited": inherited, "crossed": run("child")}

    forked = Child(child)
    crossed = run("parent")
    report = forked.result()
    assert crossed == 0 and report["crossed"] == 0
    assert report["empty"] and "inherited across fork" in report["inherited"]
    assert bound.do("GET", f"{keys[0]}-warm") == b"warm"
    bound.close()
    after = {addr: s.active_count for addr, s in c.stats().items()}
    assert after.keys() == before.keys() and all(after[a] >= before[a] for a in before)  # none lost
