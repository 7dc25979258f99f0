"""The spine: every connection the library hands out is a ``redis.Conn`` (and has the optional
interfaces it says), at run time and to a type checker."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any, List, Tuple

import pytest

import redigo_py as redis
from redigo_py import cluster as redisc
from harness.server import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def connections(server: RedisServer) -> List[Tuple[str, Any, bool, bool]]:
    """(what, conn, has ConnWithTimeout, has ConnWithContext) for each kind the library makes."""
    pool = redis.Pool(dial=lambda: redis.dial("tcp", server.address), max_idle=1)
    closed = redis.Pool(dial=lambda: redis.dial("tcp", server.address))
    closed.close()
    cluster = redisc.Cluster([server.address])
    plain = redis.dial("tcp", server.address)
    return [
        ("dialled", plain, True, True),
        ("pooled", pool.get(), True, True),
        ("pool error", closed.get(), True, True),
        ("logging", redis.new_logging_conn(plain, logging.getLogger("t"), "p"), True, True),
        ("cluster", cluster.get(), True, True),
        ("retry", redisc.retry_conn(cluster.get(), 3, 0.01), False, False),
    ]


def test_every_connection_is_a_conn(server: RedisServer) -> None:
    for what, conn, timeout, ctx in connections(server):
        assert isinstance(conn, redis.Conn), what
        assert isinstance(conn, redis.ConnWithTimeout) is timeout, what
        assert isinstance(conn, redis.ConnWithContext) is ctx, what
        conn.close()


def test_something_else_is_not() -> None:
    class OnlyDo:
        def do(self, command: str, *args: Any) -> Any:
            return None

    assert not isinstance(OnlyDo(), redis.Conn)


def test_helpers_ask_for_the_optional_interfaces(server: RedisServer) -> None:
    """redigo's DoContext/DoWithTimeout on a conn without them: its "does not support" error."""
    cluster = redisc.Cluster([server.address])
    retry = redisc.retry_conn(cluster.get(), 3, 0.01)
    with pytest.raises(redis.RedigoError, match="does not support ConnWithContext"):
        redis.do_context(retry, redis.context.background(), "PING")
    with pytest.raises(redis.RedigoError, match="does not support ConnWithTimeout"):
        redis.do_with_timeout(retry, 1.0, "PING")
    with redis.dial("tcp", server.address) as c:
        assert redis.do_with_timeout(c, 1.0, "PING") == "PONG"


PORT = '''
import logging
import redigo_py as redis
from redigo_py import cluster as redisc


def get_count(conn: redis.Conn, key: str) -> int:
    """A Go function ``func getCount(conn redis.Conn, key string) (int, error)``, ported."""
    try:
        return redis.int_(conn.do("GET", key))
    except redis.ErrNil:
        return 0


def with_deadline(conn: redis.ConnWithContext) -> object:
    ctx, cancel = redis.context.with_timeout(redis.context.background(), 1.0)
    try:
        return conn.do_context(ctx, "PING")
    finally:
        cancel()


plain = redis.dial("tcp", "127.0.0.1:1")
pool = redis.Pool(dial=lambda: redis.dial("tcp", "127.0.0.1:1"), max_idle=1)
cluster = redisc.Cluster(["127.0.0.1:1"])
for conn in (plain, pool.get(), redis.new_logging_conn(plain, logging.getLogger("x"), "p"), cluster.get(),
             redisc.retry_conn(cluster.get(), 3, 0.1)):
    get_count(conn, "k")
for context_conn in (plain, pool.get_context(redis.context.background()), cluster.get()):
    with_deadline(context_conn)
with pool.get() as borrowed:
    get_count(borrowed, "k")
'''


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
@pytest.mark.parametrize("source, ok", [
    (PORT, True),
    (PORT + "\nclass OnlyDo:\n    def do(self, command: str) -> None: ...\n\nget_count(OnlyDo(), 'k')\n", False),
    (PORT + "\nwith_deadline(redisc.retry_conn(cluster.get(), 3, 0.1))\n", False),
], ids=["port-type-checks", "not-a-conn-is-refused", "retry-conn-has-no-context"])
def test_a_typed_port_type_checks(tmp_path: Any, source: str, ok: bool) -> None:
    """Run mypy --strict on a ported Go function called with every kind of connection, from a
    directory outside the repository: mypy finds the installed package (and its py.typed)."""
    (tmp_path / "port.py").write_text(textwrap.dedent(source))
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "port.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    if not ok:
        assert "incompatible type" in result.stdout, result.stdout


