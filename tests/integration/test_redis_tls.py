"""``rediss://`` end to end: a redis-server of the test's own that speaks only TLS (a
certificate made for it here) and knows only an ACL user with a password, both from the URL."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantq import envelope, errors, jobs
from quantq.backends.base import Outcome
from quantq.backends.redis import RedisBackend
from tests.services import in_ci

USER, PASSWORD = "alice", "s:cret/1"  #: the URL quotes the password: ':' and '/' are in it on purpose


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        if in_ci():
            pytest.fail(f"{tool} is not installed")
        pytest.skip(f"{tool} is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """(TLS port, CA file): the certificate is its own CA, issued for 127.0.0.1."""
    _need("redis-server")
    _need("openssl")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
         "--user", "default", "off", "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all", "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("redis-server with TLS did not start (built without TLS?)") from None
                time.sleep(0.05)
        yield port, cert
    finally:
        proc.kill()
        proc.wait(5)


def _url(port: int, ca: Path, *, scheme: str = "rediss", password: str = "s%3Acret%2F1") -> str:
    return f"{scheme}://{USER}:{password}@127.0.0.1:{port}/0?ssl_ca_certs={ca}"


def test_a_job_goes_its_whole_way_over_tls_as_an_acl_user(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    backend = RedisBackend(_url(port, ca))
    try:
        [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"x": 1}})])
        [claim] = backend.wait_and_claim(["default"], worker_id="w", hostname="h", lease=30, limit=1, timeout=2.0)
        assert claim.job_id == job.id
        [done] = backend.report([Outcome(claim=claim, result={"x": 1})])
        assert done is not None and done.status is jobs.JobStatus.COMPLETED
        stored = backend.get(job.id)
        assert stored is not None and stored.result == {"x": 1}
    finally:
        backend.close()


@pytest.mark.parametrize(("why", "said"), [
    ("plain text to the TLS port", "Connection reset"),
    ("a CA that did not sign it", "CERTIFICATE_VERIFY_FAILED"),
    ("a wrong password", "invalid username-password pair"),
])
def test_what_tls_or_the_acl_refuses_is_a_backend_unavailable_error_that_says_why(
    tls_redis: tuple[int, Path], tmp_path: Path, why: str, said: str,
) -> None:
    port, ca = tls_redis
    if why == "plain text to the TLS port":
        url = _url(port, ca, scheme="redis").split("?")[0]
    elif why == "a CA that did not sign it":
        other = tmp_path / "other.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(tmp_path / "other.key"), "-out", str(other)],
                       check=True, capture_output=True, timeout=30)
        url = _url(port, other)
    else:
        url = _url(port, ca, password="wrong")
    backend = RedisBackend(url)
    try:
        with pytest.raises(errors.BackendUnavailable, match=said):
            backend.ping()
    finally:
        backend.close()
