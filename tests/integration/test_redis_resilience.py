"""Redis outages and restarts, on a redis-server of the test's own (AOF, fsync every second)
that it kills with SIGKILL and starts again on the same files."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantq import envelope, jobs
from quantq.backends.redis import RedisBackend
from tests.services import in_ci

ROOT = Path(__file__).resolve().parents[2]
S = jobs.JobStatus


class OwnRedis:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "everysec", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if in_ci():
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.kill()


def wait_for(check: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # noqa: BLE001 - Redis may still be loading
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def test_a_restart_with_aof_everysec_loses_no_acknowledged_job(own_redis: OwnRedis) -> None:
    backend = RedisBackend(own_redis.url)
    stored = backend.enqueue([envelope.parse_submission({"task": "quantq.noop", "args": {"i": i}}) for i in range(500)])
    [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=60)
    time.sleep(1.3)  # past one fsync
    own_redis.kill()
    own_redis.start()
    wait_for(lambda: backend.get(stored[-1].id), what="Redis to reload its AOF")
    stats = {s.name: s.counts for s in backend.queue_stats()}
    assert stats["default"]["queued"] == 499 and stats["default"]["running"] == 1
    assert backend.complete(claim, "after the restart").status is S.COMPLETED  # the lease and token survived
    assert len(backend.claim(["default"], worker_id="w", hostname="h", lease=60, limit=1000)) == 499
    backend.close()


def test_a_worker_rides_out_an_outage_and_reports_when_redis_returns(own_redis: OwnRedis, tmp_path: Path) -> None:
    backend = RedisBackend(own_redis.url)
    [a, b] = backend.enqueue([envelope.parse_submission({"task": "quantq.sleep", "args": {"seconds": 1.5}}) for _ in range(2)])
    env = {**os.environ, "QUANTQ_URL": own_redis.url, "PYTHONPATH": str(ROOT)}
    env.pop("QUANTQ_CONFIG", None)
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "quantq", "worker", "--concurrency", "2", "--lease", "15", "--status-interval", "0", "--poll-interval", "0.5"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for(lambda: backend.get(a.id).status is S.RUNNING and backend.get(b.id).status is S.RUNNING, what="both jobs to run")
        time.sleep(1.1)  # the claims are fsynced
        own_redis.kill()
        time.sleep(2.0)  # the jobs finish while Redis is down
        assert worker.poll() is None, "the worker died during the outage"
        own_redis.start()
        done = wait_for(lambda: all(backend.get(j.id).status is S.COMPLETED for j in (a, b)), what="outcomes delivered after the outage")
        assert done
        for job_id in (a.id, b.id):
            job = backend.get(job_id)
            assert job.attempts == 1 and job.result == {"slept": 1.5}  # reported, not run again
        more = backend.enqueue([envelope.parse_submission({"task": "quantq.noop"}) for _ in range(10)])
        wait_for(lambda: all(backend.get(j.id).status is S.COMPLETED for j in more), what="new jobs after the outage")
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        log.close()
        backend.close()
