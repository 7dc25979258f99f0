"""``python -m redigo_py demo``: the seed's leaderboard program.

ZADD two members, ZSCAN, DEL, against ``$REDIS_URL``; when that is not set,
against a throwaway redis-server that the demo starts on a free port and
stops afterwards, so ``make demo`` works on a machine with no Redis running.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional

import redigo_py as redis
from redigo_py import context

LEADER_BOARD_KEY = "leader-board-scores"


def leaderboard(url: str, log: logging.Logger) -> None:
    """The seed's main(), line for line."""
    ctx = context.background()
    conn = redis.dial_url_context(ctx, url)
    try:
        conn.do_context(ctx, "ZADD", LEADER_BOARD_KEY, 10, "76d38ff6-fd76-4fb1-ba26-e8779a766faf",
                        25, "98fb173b-ae91-4b46-9401-20e98e5856d9")
        dt = conn.do_context(ctx, "ZSCAN", LEADER_BOARD_KEY, 0)
        log.info("ZSCAN response: %s", dt)
        conn.do_context(ctx, "DEL", LEADER_BOARD_KEY)
    finally:
        conn.close()


def main(argv: Optional[list] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["demo"]:
        print("usage: python -m redigo_py demo", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("redigo_py.demo")
    url = os.environ.get("REDIS_URL")
    if url:
        leaderboard(url, log)
        return 0
    from redigo_py._server import RedisServer

    with RedisServer() as server:
        log.info("started a throwaway redis-server at %s (%s)", server.address, server.binary)
        leaderboard(server.url, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
