"""new_logging_conn: every call logged at DEBUG, in redigo's format, secrets redacted."""
import logging
import os
import sys

import redigo_py as redis

logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
logger = logging.getLogger("myapp.redis")

c = redis.new_logging_conn(redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379")),
                           logger, "cache")
c.do("SET", "k", "v")               # not logged: the logger is at WARNING
logger.setLevel(logging.DEBUG)      # Go's *log.Logger has no level; here it is DEBUG
c.do("SET", "k", "v")
c.do("GET", "k")
try:
    c.do("AUTH", "user", "not-the-password")
except redis.Error:
    pass
c.send("PING")
c.flush()
c.receive()
c.close()

# new_logging_conn_filter skips the commands for which skip(name) is true.
c = redis.new_logging_conn_filter(redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379")),
                                  logger, "quiet", lambda name: name.upper() == "PING")
c.do("PING")
c.do("ECHO", "x" * 40)
c.close()
