"""Capture the seed corpus of the fuzz harnesses from a real, throwaway redis-server.

A fuzzer mutates what it is given; seeds that are real server replies put it
straight into the shapes that matter (INFO's long bulk text, CLIENT LIST,
COMMAND's deeply nested arrays, XINFO STREAM FULL's maps of arrays, EXEC
replies with an error reply nested among values) instead of waiting for it
to discover ``*3\\r\\n`` by chance. The replies are read off the socket as raw
bytes (no client library in between), so a seed is exactly what a server
sends. Run it again when the server version changes:

    .venv/bin/python fuzz/make_corpus.py            # rewrites fuzz/corpus/
    .venv/bin/python fuzz/make_corpus.py reader3    # only fuzz/corpus/reader3/

Each reader seed is ``HEADER + reply bytes`` (see fuzz_reader.py for the
4-byte header that picks the limits and the chunking); each round-trip seed
is the reply bytes alone (fuzz_roundtrip.py reads any bytes). The RESP3
reader seeds (corpus/reader3/) are replies to the same kind of commands on
a connection that said ``HELLO 3``, so they hold maps, sets, doubles,
verbatim strings and pushes, plus hand-made attributes, blob errors, big
numbers and aggregates as map keys, which no command sends. Seeds are cut
at ``MAX_SEED`` bytes so the corpus stays small (< 1 MiB) and each execution
stays fast; a cut reply is still a useful seed (an incomplete reply).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from typing import Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from redigo_py import resp  # noqa: E402
from harness.server import RedisServer  # noqa: E402

MAX_SEED = 16 * 1024
CORPUS = os.path.join(HERE, "corpus")

# Reader headers (fuzz_reader.py): byte 0 = limits/drain selector, bytes 1-3 = chunk sizes.
# The first one uses the default limits and a chunking that cuts CRLFs in two;
# the second has tight limits (max_depth 1, max_bulk_len 300), so the same
# reply also exercises the refusals.
READER_HEADERS = (bytes([0x00, 7, 1, 200]), bytes([0b01_00_11_01, 3, 0, 2]))

# (name, commands run first whose replies are discarded, the command whose reply is the seed)
Setup = Sequence[Sequence[object]]
CAPTURES: List[Tuple[str, Setup, Sequence[object]]] = [
    ("info", [], ["INFO"]),
    ("info-server", [], ["INFO", "server"]),
    ("client-list", [["CLIENT", "SETNAME", "fuzz-seed"]], ["CLIENT", "LIST"]),
    ("command-info", [], ["COMMAND", "INFO", "GET", "SET", "XADD", "EVAL", "CLIENT", "MIGRATE"]),
    ("command", [], ["COMMAND"]),  # the whole table: cut at MAX_SEED
    ("command-docs", [], ["COMMAND", "DOCS", "SET", "XADD"]),
    ("xinfo-stream-full", [
        ["XADD", "s", "1-1", "f", "v", "g", "w"],
        ["XADD", "s", "2-1", "f", "\r\n\x00\xff"],
        ["XGROUP", "CREATE", "s", "grp", "0"],
        ["XREADGROUP", "GROUP", "grp", "alice", "COUNT", "1", "STREAMS", "s", ">"],
    ], ["XINFO", "STREAM", "s", "FULL"]),
    ("exec-nested", [
        ["SET", "str", "x"],
        ["RPUSH", "list", "a", "b"],
        ["MULTI"],
        ["INCR", "str"],  # queued, fails at EXEC: an error reply nested in the array
        ["LRANGE", "list", "0", "-1"],
        ["GET", "missing"],
        ["HGETALL", "missing"],
        ["PING"],
        ["ECHO", ""],
        ["INCRBY", "n", "-42"],
    ], ["EXEC"]),
    ("exec-multi-nested", [
        ["MULTI"],
        ["EVAL", "return {1, {2, {3, {'x', {}}}}, redis.error_reply('E nested')}", "0"],
        ["EVAL", "return {false, 'ok', 9007199254740993}", "0"],
    ], ["EXEC"]),
    ("exec-aborted", [["WATCH", "w"], ["SET", "w", "1"], ["MULTI"], ["PING"]], ["EXEC"]),
    ("error-reply", [], ["NOSUCHCOMMAND", "a"]),
    ("wrongtype", [["RPUSH", "l", "a"]], ["GET", "l"]),
    ("slowlog", [["CONFIG", "SET", "slowlog-log-slower-than", "0"], ["PING"]], ["SLOWLOG", "GET", "2"]),
    ("hello2", [], ["HELLO", "2"]),
    ("scan", [["MSET", "k1", "1", "k2", "2", "k3", "3"]], ["SCAN", "0", "COUNT", "100"]),
    ("zrange-withscores", [["ZADD", "z", "1.5", "a", "-inf", "b", "inf", "c"]],
     ["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
    ("mget-nils", [["SET", "a", "1"]], ["MGET", "a", "nope", "a", "nope", "a", "nope", "a", "nope", "a"]),
    ("binary-bulk", [["SET", "bin", bytes(range(256)) * 2]], ["GET", "bin"]),
    ("large-bulk-header", [["SET", "big", b"x" * 200_000]], ["GET", "big"]),  # cut: header + a prefix
    ("integer-negative", [], ["INCRBY", "neg", "-9223372036854775807"]),
    ("pubsub", [], ["SUBSCRIBE", "c1", "c2"]),
    # Values of one width: the fixed-width path; entries of one shape: the uniform path.
    ("lrange-fixed-width", [["RPUSH", "fw"] + [f"id-{i:04d}" for i in range(16)]], ["LRANGE", "fw", "0", "-1"]),
    ("xrange-uniform", [["XADD", "xs", f"{i}-1", "sensor", f"s-{i}", "reading", str(i * 7)] for i in range(1, 11)],
     ["XRANGE", "xs", "-", "+"]),
]

# Hand-made: headers that declare more than any limit allows, with no payload,
# and nesting at the depth limit. A real server never sends these; a hostile
# one (or a corrupted stream) does.
HAND_MADE: Dict[str, bytes] = {
    "huge-bulk-at-limit": b"$536870912\r\n",
    "huge-bulk-over-limit": b"$536870913\r\n",
    "huge-array": b"*2147483648\r\n",
    "huge-array-nested": b"*1\r\n*1\r\n*4294967296\r\n",
    "huge-bulk-digits": b"$" + b"9" * 31 + b"\r\n",
    "huge-line": b"+" + b"x" * 4096,
    "deep-nesting": b"*1\r\n" * 200 + b":1\r\n",
    "empty-array-nested": b"*1\r\n*0\r\n*2\r\n*0\r\n*-1\r\n",
    # Values of one width whose CRLFs are all the same wrong bytes (the fixed-width path).
    "fixed-width-bad-trailers": b"*8\r\n" + b"$3\r\nfooXY" * 8,
}


# RESP3 replies (after HELLO 3): the types RESP2 does not have, from real commands.
CAPTURES3: List[Tuple[str, Setup, Sequence[object]]] = [
    ("hello3", [], ["HELLO", "3"]),
    ("hgetall-map", [["HSET", "h"] + [x for i in range(12) for x in (f"field{i}", f"value{i}")]], ["HGETALL", "h"]),
    ("smembers-set", [["SADD", "s"] + [f"member{i}" for i in range(10)]], ["SMEMBERS", "s"]),
    ("smembers-fixed-width", [["SADD", "fw"] + [f"m{i:03d}" for i in range(12)]], ["SMEMBERS", "fw"]),
    ("zscore-double", [["ZADD", "z", "1.5", "a"]], ["ZSCORE", "z", "a"]),
    ("zrange-withscores3", [["ZADD", "z", "1.5", "a", "-inf", "b", "inf", "c", "1e300", "d"]],
     ["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
    ("config-get-map", [], ["CONFIG", "GET", "maxmemory*"]),
    ("info-verbatim", [], ["INFO", "server"]),
    ("client-list-verbatim", [["CLIENT", "SETNAME", "fuzz-seed"]], ["CLIENT", "LIST"]),
    ("xinfo-stream-full3", [
        ["XADD", "st3", "1-1", "f", "v", "g", "w"],
        ["XGROUP", "CREATE", "st3", "grp", "0"],
        ["XREADGROUP", "GROUP", "grp", "alice", "COUNT", "1", "STREAMS", "st3", ">"],
    ], ["XINFO", "STREAM", "st3", "FULL"]),
    ("xread-map", [["XADD", "xr3", "1-1", "f", "v"], ["XADD", "xr3", "2-1", "f", "w"]],
     ["XREAD", "STREAMS", "xr3", "0"]),
    ("memory-stats", [], ["MEMORY", "STATS"]),
    ("geopos-doubles", [["GEOADD", "g", "13.361389", "38.115556", "P"]], ["GEOPOS", "g", "P", "nowhere"]),
    ("subscribe-push", [], ["SUBSCRIBE", "c1", "c2"]),
    ("lua-resp3-types", [], ["EVAL", "redis.setresp(3); return {1, {double=3.5}, {map={a=true, b={set={x=true}}}}, "
                                     "{big_number='123456789012345678901234567890'}, "
                                     "{verbatim_string={format='txt', string='hi\\r\\n'}}, false}", "0"]),
    ("get-null", [], ["GET", "missing"]),
]

# Hand-made RESP3: what the specification allows and no Redis command sends.
HAND_MADE3: Dict[str, bytes] = {
    "attribute-top": (b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.56\r\n"
                      b"*2\r\n:2039123\r\n:9543892\r\n"),
    "attribute-nested": b"*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n|0\r\n:3\r\n",
    "blob-error": b"!22\r\nSYNTAX invalid\r\nsyntax\r\n",
    "big-number": b"(-3492890328409238509324850943850943825024385\r\n",
    "booleans-null": b"*3\r\n#t\r\n#f\r\n_\r\n",
    "doubles": b"*6\r\n,inf\r\n,-inf\r\n,nan\r\n,-0\r\n,1.5e-300\r\n,+1E+10\r\n",
    "aggregate-keys": b"%2\r\n*2\r\n:1\r\n:2\r\n+array-key\r\n%1\r\n~1\r\n:1\r\n*0\r\n+map-key\r\n",
    "set-of-aggregates": b"~3\r\n*1\r\n:1\r\n~1\r\n:2\r\n%1\r\n:3\r\n*1\r\n:4\r\n",
    "push-between-replies": b"+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n:1\r\n",
    "empty-aggregates": b"*4\r\n%0\r\n~0\r\n*0\r\n|0\r\n%0\r\n>0\r\n",
    "huge-map": b"%268435457\r\n",
    "deep-maps": b"%1\r\n:1\r\n" * 200 + b"_\r\n",
    "fixed-width-set-bad-trailers": b"~8\r\n" + b"$3\r\nfoo\r\r" * 8,
}


def capture(server: RedisServer, setup: Setup, command: Sequence[object], protocol: int = 2) -> bytes:
    """The raw bytes of ``command``'s reply, on a fresh connection after ``setup``
    (after ``HELLO 3`` first for ``protocol=3``)."""
    nothing = object()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = resp.Reader(protocol=protocol, not_enough_data=nothing)
        hello: Setup = [["HELLO", "3"]] if protocol == 3 else []
        for cmd in list(hello) + list(setup) + [command]:
            sock.sendall(resp.encode(*cmd))  # type: ignore[arg-type]
            raw = b""
            while True:
                reply = reader.gets()
                if reply is not nothing:
                    break
                data = sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("server went away")
                raw += data
                reader.feed(data)
        return raw


def write(directory: str, name: str, data: bytes) -> None:
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def write_seeds(sub: str, seeds: Dict[str, bytes], headers: Tuple[bytes, ...]) -> int:
    """Replace the seeds in corpus/<sub>/, each behind every header; the bytes written."""
    directory = os.path.join(CORPUS, sub)
    if os.path.isdir(directory):
        for old in os.listdir(directory):
            os.unlink(os.path.join(directory, old))
    total = 0
    for name, data in sorted(seeds.items()):
        if headers:
            for i, header in enumerate(headers):
                write(directory, f"{name}-{i}", header + data)
                total += len(header) + len(data)
        else:
            write(directory, name, data)
            total += len(data)
        digest = hashlib.sha1(data).hexdigest()[:8]
        print(f"{sub}/{name:24} {len(data):7d} bytes  {digest}")
    return total


def main(argv: Optional[List[str]] = None) -> None:
    wanted = set(argv if argv is not None else sys.argv[1:]) or {"reader", "roundtrip", "reader3"}
    seeds: Dict[str, bytes] = dict(HAND_MADE)
    seeds3: Dict[str, bytes] = dict(HAND_MADE3)
    with RedisServer() as server:
        if wanted & {"reader", "roundtrip"}:
            for name, setup, command in CAPTURES:
                seeds[name] = capture(server, setup, command)[:MAX_SEED]
        if "reader3" in wanted:
            for name, setup, command in CAPTURES3:
                seeds3[name] = capture(server, setup, command, protocol=3)[:MAX_SEED]
    total = 0
    if "reader" in wanted:
        total += write_seeds("reader", seeds, READER_HEADERS)
    if "roundtrip" in wanted:
        total += write_seeds("roundtrip", seeds, ())
    if "reader3" in wanted:
        total += write_seeds("reader3", seeds3, READER_HEADERS)
    print(f"total {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
