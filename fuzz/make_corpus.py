"""Capture the seed corpus of the fuzz harnesses from a real, throwaway redis-server.

A fuzzer mutates what it is given; seeds that are real server replies put it
straight into the shapes that matter (INFO's long bulk text, CLIENT LIST,
COMMAND's deeply nested arrays, XINFO STREAM FULL's maps of arrays, EXEC
replies with an error reply nested among values) instead of waiting for it
to discover ``*3\\r\\n`` by chance. The replies are read off the socket as raw
bytes (no client library in between), so a seed is exactly what a server
sends. Run it again when the server version changes:

    .venv/bin/python fuzz/make_corpus.py            # rewrites fuzz/corpus/

Each reader seed is ``HEADER + reply bytes`` (see fuzz_reader.py for the
4-byte header that picks the limits and the chunking); each round-trip seed
is the reply bytes alone (fuzz_roundtrip.py reads any bytes). Seeds are cut
at ``MAX_SEED`` bytes so the corpus stays small (< 1 MiB) and each execution
stays fast; a cut reply is still a useful seed (an incomplete reply).
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from typing import Dict, List, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from redigo_py import resp  # noqa: E402
from redigo_py._server import RedisServer  # noqa: E402

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
}


def capture(server: RedisServer, setup: Setup, command: Sequence[object]) -> bytes:
    """The raw bytes of ``command``'s reply, on a fresh connection after ``setup``."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = resp.Reader()
        for cmd in list(setup) + [command]:
            sock.sendall(resp.encode(*cmd))  # type: ignore[arg-type]
            raw = b""
            while True:
                reply = reader.gets()
                if reply is not False:
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


def main() -> None:
    seeds: Dict[str, bytes] = dict(HAND_MADE)
    with RedisServer() as server:
        for name, setup, command in CAPTURES:
            seeds[name] = capture(server, setup, command)[:MAX_SEED]
    for sub in ("reader", "roundtrip"):
        directory = os.path.join(CORPUS, sub)
        if os.path.isdir(directory):
            for old in os.listdir(directory):
                os.unlink(os.path.join(directory, old))
    total = 0
    for name, data in sorted(seeds.items()):
        for i, header in enumerate(READER_HEADERS):
            write(os.path.join(CORPUS, "reader"), f"{name}-{i}", header + data)
            total += len(header) + len(data)
        write(os.path.join(CORPUS, "roundtrip"), name, data)
        total += len(data)
        digest = hashlib.sha1(data).hexdigest()[:8]
        print(f"{name:24} {len(data):7d} bytes  {digest}")
    print(f"total {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
