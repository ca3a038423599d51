"""``quantq worker --strict-sandbox / --no-strict-sandbox`` through the real CLI.

A host without Landlock is simulated for real: the worker is started under a seccomp filter
that makes ``landlock_create_ruleset`` fail with ENOSYS (what an old kernel or a container that
blocks Landlock answers). Every process of the worker inherits the filter, so the sandbox's own
detection finds no Landlock — nothing in quantq is switched off or patched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quantq import jobs
from quantq.app import App
from quantq.finance.data.store import MarketStore
from quantq.finance.data.synthetic import generate_bars

ROOT = Path(__file__).resolve().parents[3]
# Runs the rest of argv (a Python command line) with Landlock hidden from the whole process tree.
NO_LANDLOCK = (
    "import errno, os, sys\n"
    "import pyseccomp as sc\n"
    "f = sc.SyscallFilter(defaction=sc.ALLOW)\n"
    "f.add_rule(sc.ERRNO(errno.ENOSYS), 'landlock_create_ruleset')\n"
    "f.load()\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)
SIGNALS = "def f(df):\n    return [{'ticker': t, 'date': str(d), 'signal': True} for t, d in zip(df['ticker'][:3], df['date'][:3])]\n"
SCREEN = "def s(df):\n    return [{'ticker': t, 'score': 1.0} for t in df['ticker'].unique()]\n"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("strict-store")
    store = MarketStore.open(str(path))
    days = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-04-01")).astype("datetime64[ns]")
    for i in range(2):
        store.write_bars(f"SYN{i}", generate_bars(i, days, 3)[0], "1d")
    return path


def _env(store_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QUANTQ_CONFIG", "QUANTQ_URL", "QUANTQ_STRICT_SANDBOX")}
    return env | {"PYTHONPATH": str(ROOT), "QUANTQ_DATA": str(store_dir)} | extra


def _run_worker(url: str, store_dir: Path, *flags: str, hide_landlock: bool, env: dict[str, str] | None = None) -> str:
    """Enqueue one backtest and one screening, run a burst worker over them, return its output."""
    with App(url) as app:
        app.enqueue("backtest", strategy_code=SIGNALS, symbols=["SYN0", "SYN1"], start_date="2024-01-01", end_date="2024-03-31")
        app.enqueue("screening", strategy_code=SCREEN, universe=["SYN0", "SYN1"], limit=5)
    argv = ["-m", "quantq", "--url", url, "worker", "--burst", "--concurrency", "1", "--status-interval", "0",
            "--poll-interval", "0.2", *flags]
    cmd = [sys.executable, "-c", NO_LANDLOCK, *argv] if hide_landlock else [sys.executable, *argv]
    done = subprocess.run(cmd, cwd=ROOT, env=env or _env(store_dir), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _jobs(url: str) -> dict[str, jobs.Job]:
    from quantq.backends.base import JobFilter

    with App(url) as app:
        return {j.task: j for j in app.backend.list_jobs(JobFilter())}


def test_the_simulated_host_really_lacks_landlock() -> None:
    probe = "from quantq.finance.strategy.confine import landlock_abi; print(landlock_abi())"
    hidden = subprocess.run([sys.executable, "-c", NO_LANDLOCK, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                            env=_env(Path("/nonexistent")), timeout=60)
    plain = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                           env=_env(Path("/nonexistent")), timeout=60)
    assert hidden.stdout.strip() == "0", hidden.stderr
    if plain.stdout.strip() == "0":
        pytest.skip("this host has no Landlock at all: the strict-mode tests below cover it anyway")


def test_strict_worker_refuses_strategies_and_names_the_missing_layer(tmp_path: Path, store_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    # the flag wins over the environment's QUANTQ_STRICT_SANDBOX=0
    out = _run_worker(url, store_dir, "--strict-sandbox", hide_landlock=True,
                      env=_env(store_dir, QUANTQ_STRICT_SANDBOX="0"))
    assert "MISSING required layer(s): landlock" in out, out
    assert "backtest and screening jobs will be refused" in out
    done = _jobs(url)
    for task in ("backtest", "screening"):
        job = done[task]
        assert job.status is jobs.JobStatus.FAILED, (task, job.status)
        assert job.error is not None
        assert job.error.message == "Strategy unavailable: strict sandbox: layers not active: landlock", job.error.message
        assert job.attempts == 1  # refused, not retried


def test_no_strict_worker_runs_them_without_the_layer_and_says_so(tmp_path: Path, store_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    out = _run_worker(url, store_dir, "--no-strict-sandbox", hide_landlock=True)
    assert "MISSING layer(s): landlock; not strict" in out, out
    done = _jobs(url)
    assert done["backtest"].status is jobs.JobStatus.COMPLETED, done["backtest"].error
    assert done["backtest"].result["summary"]["total_instances"] == 3
    assert done["screening"].status is jobs.JobStatus.COMPLETED, done["screening"].error
    assert done["screening"].result["results_returned"] == 2


def test_strict_is_the_default_and_passes_where_every_layer_is_active(tmp_path: Path, store_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    out = _run_worker(url, store_dir, hide_landlock=False)  # no flag: strict
    if "MISSING" in out:
        pytest.skip(f"this host lacks a required layer: {out.strip().splitlines()[-1]}")
    assert "(strict)" in out and "Landlock (ABI" in out and "seccomp" in out, out
    done = _jobs(url)
    assert {t: j.status for t, j in done.items()} == {"backtest": jobs.JobStatus.COMPLETED, "screening": jobs.JobStatus.COMPLETED}


def test_the_flag_takes_no_value(tmp_path: Path, store_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "quantq", "worker", "--strict-sandbox=no"], cwd=ROOT,
                          env=_env(store_dir), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "does not take a value" in done.stdout + done.stderr
