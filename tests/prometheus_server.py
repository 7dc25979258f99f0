"""A real Prometheus server for tests: scrape an exporter, then ask PromQL.

Why a real server: an exporter's ``/metrics`` page can look right to a regex
and still be something Prometheus rejects or reads differently (types,
``_total`` suffixes, label escaping, duplicate series). Only the real parser
and query engine prove that a scraped number comes out as the number we meant.

The binary is Debian's ``prometheus`` package (2.42 on bookworm). If
``/usr/bin/prometheus`` is missing and we are root with ``apt-get``, it is
installed once per machine (an inter-process file lock keeps pytest-xdist
workers from racing) with ``--no-install-recommends`` (12 packages instead of
~40: no node exporter, no smartmontools) and with service start-up forbidden
(``policy-rc.d`` exit 101, ``RUNLEVEL=1``); any Prometheus process the install
nevertheless started is stopped, so nothing is left on the system port 9090,
which these tests never use. Otherwise the tests that need it are skipped
with the reason printed.

Each :class:`PrometheusServer` runs its own process on a free loopback port
with a throwaway config and TSDB directory, waits for ``/-/ready`` with a
deadline, and is stopped by pid on exit, also when start-up or the test fails.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

import pytest

DEBIAN_BINARY = "/usr/bin/prometheus"
#: Set to a prometheus binary to use that one (no install is attempted).
BINARY_ENV = "PROMETHEUS_BINARY"
#: Set to 1 to never run apt-get (tests needing Prometheus then skip if it is absent).
NO_INSTALL_ENV = "REDIGO_PY_NO_APT"
INSTALL_LOCK = os.path.join(tempfile.gettempdir(), "redigo-py-prometheus-install.lock")
POLICY_RC_D = "/usr/sbin/policy-rc.d"

Sample = Dict[str, Any]  # one element of the API's "result": {"metric": {...}, "value": [t, "v"]}


class PrometheusUnavailable(Exception):
    """No prometheus binary here and none could be installed; the message says why."""


# -- finding or installing the binary ----------------------------------------------------

_install_lock = threading.Lock()
_install_outcome: Optional[str] = None  # the binary's path, or "!" + why not (cached per process)
#: Seconds the last apt install took in this process (None if none ran); the tests print it.
install_seconds: Optional[float] = None


def find_prometheus() -> Optional[str]:
    """The prometheus binary to use, without installing anything, or None."""
    override = os.environ.get(BINARY_ENV)
    if override:
        return override if os.access(override, os.X_OK) else None
    if os.access(DEBIAN_BINARY, os.X_OK):
        return DEBIAN_BINARY
    return shutil.which("prometheus")


def _prometheus_pids() -> Set[int]:
    """Pids of running processes whose executable is a prometheus binary (any owner, as root)."""
    pids: Set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
        except OSError:
            continue
        if os.path.basename(exe.replace(" (deleted)", "")) == "prometheus":
            pids.add(int(entry))
    return pids


def _stop_started_services(before: Set[int]) -> None:
    """Stop every prometheus process that appeared during our install (the Debian service).

    The install is told not to start services, but a machine without the
    usual policy layer might; whatever it started is ours to stop, and
    nothing that ran before the install is touched.
    """
    new = _prometheus_pids() - before
    if not new:
        return
    if os.path.isdir("/run/systemd/system") and shutil.which("systemctl"):
        subprocess.run(["systemctl", "stop", "prometheus.service"], capture_output=True, timeout=60)
    for pid in new:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_prometheus_pids() & new):
        time.sleep(0.05)
    for pid in _prometheus_pids() & new:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _apt(args: List[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    return subprocess.run(
        ["apt-get", "-qq", "-o", "Dpkg::Use-Pty=0", "-o", "DPkg::Lock::Timeout=120",
         "-o", "Acquire::Retries=2", "-o", "Acquire::http::Timeout=30"] + args,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _apt_install() -> None:
    """``apt-get install prometheus`` without starting its service.

    ``apt-get update`` runs only when the package lists are missing or stale
    (the first install attempt failed): it is most of the cost on a machine
    whose lists are fresh.
    """
    install = ["install", "-y", "--no-install-recommends", "prometheus"]
    created_policy = False
    if not os.path.exists(POLICY_RC_D):  # invoke-rc.d / deb-systemd-invoke: 101 = "action forbidden"
        Path(POLICY_RC_D).write_text("#!/bin/sh\n# written by redigo_py's tests for one apt-get install\nexit 101\n")
        os.chmod(POLICY_RC_D, 0o755)
        created_policy = True
    before = _prometheus_pids()
    try:
        result = _apt(install, timeout=600)
        if result.returncode != 0:
            update = _apt(["update"], timeout=300)
            if update.returncode != 0:
                raise PrometheusUnavailable(f"apt-get update failed: {_tail(update.stdout)}")
            result = _apt(install, timeout=600)
        if result.returncode != 0:
            raise PrometheusUnavailable(f"apt-get install prometheus failed: {_tail(result.stdout)}")
    except subprocess.TimeoutExpired as exc:
        raise PrometheusUnavailable(f"apt-get timed out after {exc.timeout:.0f} s") from exc
    finally:
        if created_policy:
            os.unlink(POLICY_RC_D)
        _stop_started_services(before)


def ensure_prometheus() -> str:
    """The prometheus binary, installing Debian's package once if needed and allowed.

    Raises :class:`PrometheusUnavailable` saying why there is none. The
    outcome is cached, so a session tries apt at most once.
    """
    global _install_outcome
    with _install_lock:
        if _install_outcome is None:
            _install_outcome = _find_or_install()
        if _install_outcome.startswith("!"):
            raise PrometheusUnavailable(_install_outcome[1:])
        return _install_outcome


def _find_or_install() -> str:
    global install_seconds
    found = find_prometheus()
    if found:
        return found
    if os.environ.get(BINARY_ENV):
        return f"!{BINARY_ENV}={os.environ[BINARY_ENV]} is not an executable file"
    if os.environ.get(NO_INSTALL_ENV) == "1":
        return f"!prometheus is not installed and {NO_INSTALL_ENV}=1 forbids apt-get"
    if not shutil.which("apt-get"):
        return "!prometheus is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return "!prometheus is not installed and only root may apt-get install it"
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest process may be installing right now
        found = find_prometheus()
        if found:
            return found
        started = time.monotonic()
        print("\ninstalling Debian's prometheus package for the tests...", file=sys.stderr, flush=True)
        try:
            _apt_install()
        except PrometheusUnavailable as exc:
            return f"!{exc}"
        install_seconds = time.monotonic() - started
        print(f"installed prometheus in {install_seconds:.1f} s", file=sys.stderr, flush=True)
    return find_prometheus() or f"!apt-get installed prometheus but there is no {DEBIAN_BINARY}"


def prometheus_or_skip() -> str:
    """The binary, or ``pytest.skip`` with the reason (also printed, for runs without ``-rs``)."""
    try:
        return ensure_prometheus()
    except PrometheusUnavailable as exc:
        print(f"skipping: no Prometheus server: {exc}", file=sys.stderr)
        pytest.skip(f"no Prometheus server: {exc}")


# -- one server ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrometheusServer:
    """A prometheus process on 127.0.0.1 scraping ``targets`` ("host:port") every second.

    Use as a context manager; ``start()``/``stop()`` also work. ``metrics_path``
    and ``scrape_interval`` go into the one scrape job, named ``job``.

    Ready takes well under a second, but the first sample arrives 5-6 s after
    start whatever ``scrape_interval`` says: 2.42's scrape manager applies
    discovered targets (static ones too) on a fixed 5 s tick, with no flag to
    shorten it. Hence :meth:`wait_for`'s 30 s default.
    """

    def __init__(self, targets: List[str], *, job: str = "test", metrics_path: str = "/metrics",
                 scrape_interval: str = "1s", binary: Optional[str] = None,
                 ready_timeout: float = 30.0) -> None:
        self.targets = list(targets)
        self.job = job
        self.metrics_path = metrics_path
        self.scrape_interval = scrape_interval
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.port = 0
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.dir: Optional[str] = None

    @property
    def url(self) -> str:
        """Base URL of the server's HTTP API and UI."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> str:
        assert self.dir is not None
        return os.path.join(self.dir, "prometheus.log")

    def config(self) -> Dict[str, Any]:
        """The configuration file's content (JSON is YAML, so no YAML library is needed)."""
        return {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval},
            "scrape_configs": [{"job_name": self.job, "metrics_path": self.metrics_path,
                                "static_configs": [{"targets": self.targets}]}],
        }

    def start(self) -> "PrometheusServer":
        if self.binary is None:
            self.binary = prometheus_or_skip()
        self.dir = tempfile.mkdtemp(prefix="redigo-py-prometheus-")
        config = os.path.join(self.dir, "prometheus.yml")
        Path(config).write_text(json.dumps(self.config(), indent=2))
        try:
            for attempt in range(3):  # the free port may be taken before prometheus binds it
                self.port = _free_port()
                with open(self.log_path, "wb") as log:
                    self.proc = subprocess.Popen(
                        [self.binary, f"--config.file={config}",
                         f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
                         f"--web.listen-address=127.0.0.1:{self.port}"],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
                if self._wait_ready():
                    return self
                self._kill()
                if "address already in use" not in self.log():
                    break
            raise RuntimeError(f"prometheus did not become ready on {self.url}: {_tail(self.log(), 8)}")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> bool:
        """Poll ``/-/ready`` (503 while the TSDB opens) until 200, the process exits or time is up."""
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        return False

    def log(self) -> str:
        """What prometheus logged so far (for failure messages)."""
        try:
            return Path(self.log_path).read_text(errors="replace")
        except (OSError, AssertionError):
            return ""

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM to our pid only
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        """Stop the process by pid and delete its config and TSDB."""
        self._kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> "PrometheusServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the HTTP API ----------------------------------------------------------------------

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; raises on an error status."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400/422/503 carry a JSON error body
            body = json.load(exc)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str) -> List[Sample]:
        """An instant query at now: ``[{"metric": {labels}, "value": [t, "v"]}, ...]``."""
        data = self.api("query", query=promql)
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def targets_health(self) -> List[Dict[str, Any]]:
        """Each active target's scrapeUrl, health and lastError (why a query finds nothing)."""
        return [{k: t.get(k) for k in ("scrapeUrl", "health", "lastError")}
                for t in self.api("targets")["activeTargets"]]

    def wait_for(self, promql: str, predicate: Callable[[List[Sample]], bool] = bool,
                 timeout: float = 30.0) -> List[Sample]:
        """Query until the result satisfies ``predicate`` (default: non-empty) and return it.

        Scrapes happen on Prometheus' schedule, so a test polls with a
        deadline instead of sleeping a guessed time. On timeout it fails
        with the last result and the targets' health.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"after {timeout} s, {promql!r} gives {result}; "
                                     f"targets: {self.targets_health()}")
            time.sleep(0.1)


# -- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The prometheus binary, installed at most once per session, or the test is skipped."""
    return prometheus_or_skip()


@pytest.fixture
def prometheus(prometheus_binary: str) -> Iterator[Callable[..., PrometheusServer]]:
    """Factory: ``prometheus(["127.0.0.1:PORT"])`` starts a server that the test's end stops."""
    started: List[PrometheusServer] = []

    def start(targets: List[str], **kwargs: Any) -> PrometheusServer:
        srv = PrometheusServer(targets, binary=prometheus_binary, **kwargs)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()
