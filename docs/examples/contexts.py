"""Go's context, ported: deadlines, cancellation from another thread, values."""
import os
import threading

import redigo_py as redis
from redigo_py import context

URL = os.environ.get("REDIS_URL", "redis://localhost:6379")

# ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
ctx, cancel = context.with_timeout(context.background(), 0.1)
c = redis.dial_url_context(ctx, URL)   # the dial is bounded by ctx too
try:
    c.do_context(ctx, "BLPOP", "empty-list", 0)   # blocks at the server
except context.DeadlineExceeded as e:
    print("BLPOP:", e)
    print("also a TimeoutError:", isinstance(e, TimeoutError))
finally:
    cancel()   # Go's `defer cancel()`: release the context's resources
# The reply may still come, so the connection is closed, as in redigo.
print("connection usable:", c.err() is None)

# Cancellation from another thread interrupts a blocked call at once.
c = redis.dial_url(URL)
ctx, cancel = context.with_cancel(context.background())
threading.Timer(0.05, cancel).start()
try:
    c.do_context(ctx, "BLPOP", "empty-list", 0)
except context.Canceled as e:
    print("BLPOP:", e)
print(ctx.err())

# An ended context fails the call and, as in redigo, closes the connection;
# send_context and flush_context only refuse, and the connection stays usable.
c = redis.dial_url(URL)
try:
    c.send_context(ctx, "PING")
except context.Canceled:
    print("send refused; connection usable:", c.err() is None)
try:
    c.do_context(ctx, "PING")
except context.Canceled:
    print("do failed; connection usable:", c.err() is None)

c = redis.dial_url(URL)

# A deadline longer than the call changes nothing; background() never ends.
ctx, cancel = context.with_timeout(context.background(), 5)
print(c.do_context(ctx, "ECHO", "in time"))
cancel()
print(c.do_context(context.background(), "PING"))

# Values travel with the context, as in Go.
ctx = context.with_value(context.background(), "request-id", "r-42")
print(ctx.value("request-id"), ctx.value("other"))
c.close()
