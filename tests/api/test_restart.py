"""Seed 003's reason to exist: restarting the API process never touches queued or running jobs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from quantq import backends
from tests import backend_factories
from tests.api.conftest import BACKENDS, WorkerThread, wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiProcess:
    def __init__(self, url: str, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTQ_API")}
        self.proc = subprocess.Popen([sys.executable, "-m", "quantq.api", "--url", url, "--port", str(port)],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"API did not start: {self.proc.communicate(timeout=5)}")
            time.sleep(0.1)

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, err


@pytest.fixture
def processes() -> Iterator[list[ApiProcess]]:
    started: list[ApiProcess] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate()


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_restart_api_while_jobs_run(tmp_path: Path, processes: list[ApiProcess], worker: Callable[..., WorkerThread],
                                    backend_name: str) -> None:
    factory = backend_factories.FACTORIES[backend_name](tmp_path)
    url = next(factory)
    port = free_port()
    first = ApiProcess(url, port)
    processes.append(first)
    client = httpx.Client(base_url=first.base, timeout=10)
    ids = [client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 1.2}}).json()["id"] for _ in range(3)]
    waiting = client.post("/api/jobs", json={"task": "quantq.echo", "args": {"after": "restart"}}).json()["id"]
    backend = backends.from_url(url)  # the worker is its own party: it shares only the database
    try:
        w = worker(backend, concurrency=3)
        wait_for(client, ids[0], {"running"})
        code, err = first.stop()
        # uvicorn re-raises the SIGTERM it handled once shut down, hence -15
        assert code in (0, -signal.SIGTERM) and "loopback" in err and "Traceback" not in err
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{first.base}/healthz", timeout=1)
        time.sleep(0.5)  # jobs go on while no API runs
        second = ApiProcess(url, port)
        processes.append(second)
        client = httpx.Client(base_url=second.base, timeout=10)
        for job_id in ids:
            done = wait_for(client, job_id, {"completed", "failed", "cancelled"})
            assert done["status"] == "completed" and done["result"] == {"slept": 1.2} and done["attempts"] == 1
        assert wait_for(client, waiting, {"completed"})["result"] == {"after": "restart"}
        assert client.get(f"/api/jobs/{ids[0]}/result").json()["result"] == {"slept": 1.2}
        w.stop()
    finally:
        backend.close()
        for _ in factory:  # the factory's clean-up
            pass


def test_cli_refuses_public_bind_without_keys(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTQ_API")}
    proc = subprocess.run([sys.executable, "-m", "quantq.api", "--url", "memory://", "--host", "0.0.0.0", "--port", "8123"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "refusing to serve the API on 0.0.0.0 without API keys" in proc.stderr
