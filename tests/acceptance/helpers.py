"""Driving the real ``quantq`` CLI in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from quantq import backends, jobs
from quantq.backends.base import Backend, JobFilter

ROOT = Path(__file__).resolve().parents[2]

#: Short leases and back-off so fault tests finish in seconds.
FAST = ["--lease", "1.5", "--retry-backoff", "0.1", "--status-interval", "0", "--poll-interval", "0.5",
        "--import", "tests.fixtures.tasks"]


def env_for(url: str, *, warmups: bool = False) -> dict[str, str]:
    """The queue's tests run the fixture tasks, not the finance layer: without its warm-ups
    (compiling the fill kernel, starting the sandbox runner) a worker is up 1-2 s sooner, and
    the tests start over a hundred.  The finance tests run workers with them."""
    env = dict(os.environ)
    env["QUANTQ_URL"] = url
    env["PYTHONPATH"] = str(ROOT)
    env.pop("QUANTQ_CONFIG", None)
    if not warmups:
        env["QUANTQ_WARMUP"] = "0"
    return env


def cli(url: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "quantq", *args], cwd=ROOT, env=env_for(url), capture_output=True,
                          text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"quantq {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def cli_json(url: str, *args: str) -> Any:
    return json.loads(cli(url, *args, "--json").stdout)


def start_worker(url: str, *args: str, log: Path | None = None, warmups: bool = False) -> subprocess.Popen[str]:
    out = open(log, "w") if log is not None else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "quantq", "worker", *FAST, *args], cwd=ROOT, env=env_for(url, warmups=warmups),
                            stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kill_tree(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Signal a worker and every process under it (its pool children)."""
    try:
        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass


def stop(proc: subprocess.Popen[str], timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
    return proc.wait(5)


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def open_backend(url: str) -> Backend:
    return backends.from_url(url)


def all_jobs(backend: Backend) -> list[jobs.Job]:
    found: list[jobs.Job] = []
    before = None
    while True:
        page = backend.list_jobs(JobFilter(limit=1000, before=before))
        found.extend(page)
        if len(page) < 1000:
            return found
        before = page[-1].id


def status_counts(backend: Backend) -> dict[str, int]:
    totals: dict[str, int] = {}
    for s in backend.queue_stats():
        for k, v in s.counts.items():
            totals[k] = totals.get(k, 0) + v
    return totals
