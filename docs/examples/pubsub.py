"""redigo's ExamplePubSubConn, ported: a subscriber with cancellation and health checks."""
import os
import queue
import threading

import redigo_py as redis
from redigo_py import context

# A ping is sent to the server with this period to test the health of the
# connection and the server (a minute in redigo's example; the docs' test
# run shortens it so that the ping path runs too).
HEALTH_CHECK_PERIOD = float(os.environ.get("HEALTH_CHECK_PERIOD", "60"))


def listen_pub_sub_channels(ctx, redis_server_addr, on_start, on_message, *channels):
    """Listen for messages on pub/sub channels.

    ``on_start()`` is called once every channel is subscribed, and
    ``on_message(channel, data)`` for each message. Returns when ``ctx`` ends
    (after unsubscribing); raises what broke the connection.
    """
    c = redis.dial("tcp", redis_server_addr,
                   # The read timeout must be greater than the ping period.
                   read_timeout=HEALTH_CHECK_PERIOD + 10,
                   write_timeout=10)
    with c:
        psc = redis.PubSubConn(c)
        psc.subscribe(*redis.Args().add_flat(list(channels)))

        # Go's select over three channels: the receiver's exit also cancels
        # loop_ctx, so one wait below notices either of them.
        loop_ctx, stop = context.with_cancel(ctx)
        done = queue.Queue(1)

        def receive():
            result = None
            try:
                while True:
                    match psc.receive():
                        case redis.Message(channel=channel, data=data):
                            on_message(channel, data)
                        case redis.Subscription(count=count) if count == len(channels):
                            # Notify the application when all channels are subscribed.
                            on_start()
                        case redis.Subscription(count=0):
                            # Return when all channels are unsubscribed.
                            break
            except Exception as e:  # Go's `case error:`
                result = e
            done.put(result)
            stop()

        threading.Thread(target=receive, daemon=True).start()

        # Until ctx ends or the receiver stops, ping every HEALTH_CHECK_PERIOD.
        # If the pong does not come, the receive times out and the receiver exits.
        while not loop_ctx.done().wait(HEALTH_CHECK_PERIOD):
            try:
                psc.ping("")
            except redis.RedigoError:
                break

        if done.empty() and ctx.err() is not None:
            # Signal the receiver to exit by unsubscribing from all channels.
            psc.unsubscribe()
        # Wait for the receiver to complete; raise its error, if any.
        err = done.get()
        if err is not None:
            raise err


def publish():
    with redis.dial("tcp", os.environ.get("REDIS_ADDR", "localhost:6379")) as c:
        c.do("PUBLISH", "c1", "hello")
        c.do("PUBLISH", "c2", "world")
        c.do("PUBLISH", "c1", "goodbye")


ctx, cancel = context.with_cancel(context.background())


def on_start():
    # The start callback is a good place to backfill missed notifications.
    # For this example, a thread is started to send notifications.
    threading.Thread(target=publish).start()


def on_message(channel, message):
    print(f"channel: {channel}, message: {message.decode()}")
    # For this example, cancel the listener's context after the last message.
    if message == b"goodbye":
        cancel()


listen_pub_sub_channels(ctx, os.environ.get("REDIS_ADDR", "localhost:6379"),
                        on_start, on_message, "c1", "c2")
