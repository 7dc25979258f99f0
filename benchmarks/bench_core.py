"""Per-command and per-pipeline cost: raw socket vs redis-py (pure, hiredis) vs redigo_py.

Run: ``.venv/bin/python benchmarks/bench_core.py`` (or ``make bench``).
Starts its own redis-server on a free port, runs every workload through
every client in many short interleaved rounds (so drift and scheduling
luck hit all alike), and prints each client's median round and the ratios
of medians. Workloads (issue 2's targets):

- GET of a 100-byte value, one round trip each (target: <= 1.10x raw socket)
- 1000 pipelined GETs (target: >= 3.5x faster than redis-py pure)
- LRANGE 0 -1 of 1000 elements of one width (target: >= 2.5x faster than
  redis-py pure; issue 14: <= 1.0x redis-py + hiredis), and of mixed widths
  (the split path, not the fixed-width one)
- GET of a 1 MiB value (target: no slower than redis-py)
- XRANGE of 1000 entries of 2 fields (targets: <= 1.25x redis-py + hiredis,
  >= 4x faster than redis-py pure), HGETALL of 1000 fields to a dict
  (``string_map``, which decodes to str; redis-py's ``hgetall``, bytes; and
  RESP3's map of bytes, ``protocol=3``, the like of redis-py's), ZRANGE WITHSCORES of 1000
  (targets: <= 1.0x redis-py + hiredis). Each also has a floor: the raw
  socket with ``hiredis.Reader`` parsing the reply.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
from typing import Callable, Dict, List, Tuple

import hiredis
import redis as redispy
from redis._parsers import _HiredisParser, _RESP2Parser

from _timing import per_op

import redigo_py
from _harness import RedisServer

Op = Callable[[], object]


class Raw:
    """The floor: precomputed request bytes, read until the known reply length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.view = memoryview(bytearray(65536))  # reused: no allocation per read

    def roundtrip(self, request: bytes, reply_len: int) -> None:
        sock = self.sock
        sock.sendall(request)
        view = self.view
        got = 0
        while got < reply_len:
            got += sock.recv_into(view[:min(65536, reply_len - got)])

    def parsed(self, request: bytes) -> object:
        """The round trip with its reply parsed by hiredis's C reader: the floor of a parsed reply."""
        sock = self.sock
        sock.sendall(request)
        reader = hiredis.Reader()
        reply = reader.gets()
        while reply is False:
            reader.feed(sock.recv(65536))
            reply = reader.gets()
        return reply


def reply_length(port: int, request: bytes) -> int:
    """Exact byte length of the server's reply to ``request`` (for the raw client)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(request + b"*1\r\n$4\r\nPING\r\n")
        data = b""
        while not data.endswith(b"+PONG\r\n"):
            data += s.recv(1 << 20)
        return len(data) - len(b"+PONG\r\n")


def redispy_client(port: int, parser: type) -> redispy.Redis:
    pool = redispy.ConnectionPool(host="127.0.0.1", port=port, parser_class=parser, protocol=2)
    return redispy.Redis(connection_pool=pool)


def workloads(port: int) -> Dict[str, Tuple[int, Dict[str, Op]]]:
    raw = Raw(port)
    pure = redispy_client(port, _RESP2Parser)
    fast = redispy_client(port, _HiredisParser)
    ours = redigo_py.dial("tcp", f"127.0.0.1:{port}")
    ours3 = redigo_py.dial("tcp", f"127.0.0.1:{port}", protocol=3)

    ours.do("SET", "k100", b"x" * 100)
    ours.do("SET", "k1m", b"x" * (1 << 20))
    ours.do("DEL", "list", "mixed", "stream", "hash", "zset")
    for i in range(0, 1000, 100):
        ours.do("RPUSH", "list", *[b"element-%04d" % j for j in range(i, i + 100)])
        ours.do("RPUSH", "mixed", *[b"element-%d" % j for j in range(i, i + 100)])
        for j in range(i, i + 100):
            ours.send("XADD", "stream", "*", "sensor", b"sensor-%04d" % j, "reading", j * 7)
        ours.do("HSET", "hash", *[x for j in range(i, i + 100) for x in (b"field-%04d" % j, b"value-%d" % j)])
        ours.do("ZADD", "zset", *[x for j in range(i, i + 100) for x in (j * 1.5, b"member-%04d" % j)])

    get100 = redigo_py.resp.encode("GET", "k100")
    get1m = redigo_py.resp.encode("GET", "k1m")
    lrange = redigo_py.resp.encode("LRANGE", "list", 0, -1)
    lrange_mixed = redigo_py.resp.encode("LRANGE", "mixed", 0, -1)
    pipe_req = get100 * 1000
    len100, len1m = reply_length(port, get100), reply_length(port, get1m)
    len_lrange, len_pipe = reply_length(port, lrange), reply_length(port, pipe_req)

    def ours_pipeline() -> object:
        send = ours.send
        for _ in range(1000):
            send("GET", "k100")
        ours.flush()
        receive = ours.receive
        return [receive() for _ in range(1000)]

    def redispy_pipeline(client: redispy.Redis) -> Op:
        def run() -> object:
            pipe = client.pipeline(transaction=False)
            for _ in range(1000):
                pipe.get("k100")
            return pipe.execute()
        return run

    xrange = redigo_py.resp.encode("XRANGE", "stream", "-", "+")
    hgetall = redigo_py.resp.encode("HGETALL", "hash")
    zrange = redigo_py.resp.encode("ZRANGE", "zset", 0, -1, "WITHSCORES")
    return {
        "XRANGE 1000": (10, {
            "raw socket + hiredis.Reader": lambda: raw.parsed(xrange),
            "redis-py pure": lambda: pure.xrange("stream"),
            "redis-py hiredis": lambda: fast.xrange("stream"),
            "redigo_py": lambda: ours.do("XRANGE", "stream", "-", "+"),
        }),
        "HGETALL 1000 to a dict": (20, {
            "raw socket + hiredis.Reader": lambda: raw.parsed(hgetall),
            "redis-py pure": lambda: pure.hgetall("hash"),
            "redis-py hiredis": lambda: fast.hgetall("hash"),
            "redigo_py": lambda: redigo_py.string_map(ours.do("HGETALL", "hash")),
        }),
        "HGETALL 1000 to a dict of bytes (redigo_py protocol=3)": (20, {
            "raw socket + hiredis.Reader": lambda: raw.parsed(hgetall),
            "redis-py pure": lambda: pure.hgetall("hash"),
            "redis-py hiredis": lambda: fast.hgetall("hash"),
            "redigo_py": lambda: ours3.do("HGETALL", "hash"),
        }),
        "ZRANGE WITHSCORES 1000": (20, {
            "raw socket + hiredis.Reader": lambda: raw.parsed(zrange),
            "redis-py pure": lambda: pure.zrange("zset", 0, -1, withscores=True),
            "redis-py hiredis": lambda: fast.zrange("zset", 0, -1, withscores=True),
            "redigo_py": lambda: ours.do("ZRANGE", "zset", 0, -1, "WITHSCORES"),
        }),
        "GET 100 B": (200, {
            "raw socket": lambda: raw.roundtrip(get100, len100),
            "redis-py pure": lambda: pure.get("k100"),
            "redis-py hiredis": lambda: fast.get("k100"),
            "redigo_py": lambda: ours.do("GET", "k100"),
        }),
        "1000 pipelined GETs": (3, {
            "raw socket": lambda: raw.roundtrip(pipe_req, len_pipe),
            "redis-py pure": redispy_pipeline(pure),
            "redis-py hiredis": redispy_pipeline(fast),
            "redigo_py": ours_pipeline,
        }),
        "LRANGE 1000": (30, {
            "raw socket": lambda: raw.roundtrip(lrange, len_lrange),
            "redis-py pure": lambda: pure.lrange("list", 0, -1),
            "redis-py hiredis": lambda: fast.lrange("list", 0, -1),
            "redigo_py": lambda: ours.do("LRANGE", "list", 0, -1),
        }),
        "LRANGE 1000 of mixed widths": (30, {
            "raw socket + hiredis.Reader": lambda: raw.parsed(lrange_mixed),
            "redis-py pure": lambda: pure.lrange("mixed", 0, -1),
            "redis-py hiredis": lambda: fast.lrange("mixed", 0, -1),
            "redigo_py": lambda: ours.do("LRANGE", "mixed", 0, -1),
        }),
        "GET 1 MiB": (10, {
            "raw socket": lambda: raw.roundtrip(get1m, len1m),
            "redis-py pure": lambda: pure.get("k1m"),
            "redis-py hiredis": lambda: fast.get("k1m"),
            "redigo_py": lambda: ours.do("GET", "k1m"),
        }),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts")
    parser.add_argument("--only", default="", help="run the workloads whose name contains this")
    opts = parser.parse_args()
    with RedisServer() as server:
        suites = workloads(server.port)
        print(f"Python {sys.version.split()[0]}, redis-py {redispy.__version__}; "
              f"median of {opts.rounds} interleaved rounds, time per operation")
        for name, (n, clients) in suites.items():
            if opts.only not in name:
                continue
            n = max(1, int(n * opts.scale))
            for op in clients.values():
                op()  # warm up
            times: Dict[str, List[float]] = {c: [] for c in clients}
            for _ in range(opts.rounds):
                for client, op in clients.items():
                    times[client].append(per_op(op, n))
            median = {c: statistics.median(t) for c, t in times.items()}
            ours = median["redigo_py"]
            print(f"\n{name}")
            for client, t in median.items():
                note = "" if client == "redigo_py" else f"   ratio to redigo_py: {t / ours:5.2f}"
                print(f"  {client:27s} {t * 1e6:10.1f} us (best {min(times[client]) * 1e6:8.1f}){note}")
            floor = "raw socket" if "raw socket" in median else "raw socket + hiredis.Reader"
            print(f"  => redigo_py / {floor} = {ours / median[floor]:.2f}; "
                  f"redigo_py is {median['redis-py pure'] / ours:.2f}x as fast as redis-py pure, "
                  f"{median['redis-py hiredis'] / ours:.2f}x as fast as redis-py hiredis")


if __name__ == "__main__":
    main()
