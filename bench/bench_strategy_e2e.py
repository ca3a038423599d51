"""Seed 001's strategy jobs end to end on a warm worker: submit -> result visible.

    .venv/bin/python bench/bench_strategy_e2e.py [--backend sqlite|redis|both] [--quick]
                                                 [--symbols 500] [--bars 2520] [--concurrency 1]

Builds a synthetic market store (500 symbols x 2,520 daily bars) in a temp dir, starts a real
``quantq worker`` (``--concurrency 1``: one pool process) on SQLite in a temp dir (and/or Redis
at ``redis://127.0.0.1:6379/13``, used only if that database is empty, flushed afterwards),
warms it (pool child, sandbox runner, bars cache) with one job of each shape, then submits
seed 001 shaped jobs one at a time through the Python API (``quantq.App``) and waits on the
``JobHandle`` (polling every 2 ms) until the result is visible. The backends and a reference
(the same task called in this process: no queue, no worker) take turns job by job, so every
row sees the same machine load. Prints, per shape, p50/p99 of submit -> result visible, the
time the task itself reported (``execution_time_ms``), the issue's target and seed 001's
figure; then small backtests per minute per worker process with a queue of jobs submitted at
once, and the CPU time the worker's whole process tree spent per job (a figure the machine's
other load does not inflate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_backtest import GAP_UP, MOMENTUM, SMA_CROSS, build_store  # noqa: E402

from quantq import jobs  # noqa: E402
from quantq.app import App, JobHandle  # noqa: E402

REDIS_URL = os.environ.get("BENCH_STRATEGY_REDIS_URL", "redis://127.0.0.1:6379/13")
TERMINAL = (jobs.JobStatus.COMPLETED, jobs.JobStatus.FAILED, jobs.JobStatus.CANCELLED)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p99 of 30 samples is the largest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(q / 100 * len(ordered))) - 1))]


POLL_SECONDS = 0.002


def wait(handle: JobHandle, timeout: float = 120.0) -> jobs.Job:
    deadline = time.monotonic() + timeout
    while True:
        job = handle.fetch()
        if job.status in TERMINAL:
            if job.status is not jobs.JobStatus.COMPLETED:
                raise RuntimeError(f"job {job.id} {job.status.value}: {job.error}")
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job.id} still {job.status.value}")
        time.sleep(POLL_SECONDS)


class Worker:
    """A real ``quantq worker`` process for the benchmark's duration."""

    def __init__(self, url: str, data: str, concurrency: int, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("QUANTQ_CONFIG", "QUANTQ_URL")}
        env |= {"QUANTQ_DATA": data, "PYTHONPATH": str(ROOT)}
        self.log = log
        self._out = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quantq", "--url", url, "worker", "--concurrency", str(concurrency),
             "--status-interval", "0", "--name", "bench-strategy"],
            cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker and every process under it (reaped children included)."""
        import psutil

        total = 0.0
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return total
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()


def redis_ready(url: str) -> str | None:
    """None if ``url`` is an empty Redis database we may use, else why not."""
    try:
        import redis
    except ImportError:
        return "redis-py is not installed"
    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        size = client.dbsize()
    except Exception as exc:  # noqa: BLE001 - any connection problem skips the backend
        return f"cannot reach {url}: {exc}"
    return None if size == 0 else f"{url} holds {size} keys (not ours): pick another with BENCH_STRATEGY_REDIS_URL"


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


class Target:
    """Where jobs run: a real worker on a backend, or (the reference) a task call in this process."""

    def __init__(self, name: str, url: str | None, data: str, concurrency: int, tmp: Path) -> None:
        self.name = name
        self.worker = Worker(url, data, concurrency, tmp / f"worker-{name}.log") if url else None
        self.app = App(url) if url else None
        self.samples: dict[str, dict[str, list[float]]] = {}
        if url is None:
            from quantq.tasks import default_registry

            self.registry = default_registry()

    def run(self, shape: dict[str, Any], label: str | None, timeout: float = 120.0) -> None:
        """Run one job of ``shape``; record its timings under ``label`` (None: warm-up, not recorded)."""
        t0 = time.perf_counter()
        if self.app is None:
            from quantq.context import TaskContext

            ctx = TaskContext(job_id="bench", task=shape["task"], queue="default", attempt=1, worker_id="bench")
            result = self.registry.get(shape["task"]).run(shape["args"], ctx)
            sample = {"e2e": time.perf_counter() - t0, "task": float(result["execution_time_ms"])}
        else:
            job = wait(self.app.submit(shape["task"], shape["args"]), timeout)
            e2e = time.perf_counter() - t0
            assert job.created_at and job.started_at and job.finished_at and job.result
            sample = {"e2e": e2e, "task": float(job.result["execution_time_ms"]),
                      "queued": (job.started_at - job.created_at).total_seconds() * 1000,
                      "run": (job.finished_at - job.started_at).total_seconds() * 1000}
        if label is not None:
            for key, value in sample.items():
                self.samples.setdefault(label, {}).setdefault(key, []).append(value)

    def rows(self, shapes: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = []
        for label, shape in shapes.items():
            got = self.samples[label]
            e2e = got["e2e"]
            p50 = statistics.median(e2e) * 1000

            def med(key: str, got: dict[str, list[float]] = got) -> str:
                return f"{statistics.median(got[key]):.1f}" if key in got else ""

            verdict = f"; {'MET' if p50 < shape['target_ms'] else 'MISSED'}" if self.app else "; no queue, no worker"
            out.append((f"{self.name}: {label}", f"{p50:.1f}", f"{pct(e2e, 99) * 1000:.1f}", med("queued"), med("run"),
                        med("task"), shape["target"] if self.app else "", f"{shape['seed']}; n={len(e2e)}{verdict}"))
        return out

    def burst(self, shape: dict[str, Any], count: int, concurrency: int) -> list[tuple[str, ...]]:
        """``count`` jobs submitted at once: jobs per minute per worker process, and CPU per job."""
        assert self.app is not None and self.worker is not None
        cpu0 = self.worker.cpu_seconds()
        t0 = time.perf_counter()
        handles = self.app.submit_many([{"task": shape["task"], "args": shape["args"]} for _ in range(count)])
        for h in handles:
            wait(h)
        elapsed = time.perf_counter() - t0
        cpu_ms = (self.worker.cpu_seconds() - cpu0) / count * 1000
        rate = count / elapsed * 60 / concurrency
        return [
            (f"{self.name}: small backtests per minute per worker process", f"{rate:.0f}", "", "", "", "", ">= 600",
             f"seed 001: 10-50; {count} queued at once, -c {concurrency}; {'MET' if rate >= 600 else 'MISSED'}"),
            (f"{self.name}: CPU ms per small backtest, whole worker tree", f"{cpu_ms:.1f}", "", "", "", "", "",
             f"worker + pool process + sandbox runner and its runs: {60_000 / cpu_ms:.0f}/min if one core did only this"),
        ]

    def close(self) -> None:
        if self.app is not None:
            self.app.close()
        if self.worker is not None:
            self.worker.stop()


def measure(targets: list[Target], shapes: dict[str, dict[str, Any]], burst: int, concurrency: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for target in targets:  # warm: pool child, sandbox runner, bars cache, numba kernel
        t = time.perf_counter()
        for shape in shapes.values():
            target.run(shape, None, timeout=180)
        what = "worker start + first job of each shape" if target.app else "first call of each shape"
        rows.append((f"{target.name}: {what}", f"{(time.perf_counter() - t) * 1000:.0f}", "", "", "", "", "", "cold, once"))
    # one job at a time, the targets interleaved job by job: every row sees the same machine load
    for label, shape in shapes.items():
        for _ in range(shape["reps"]):
            for target in targets:
                target.run(shape, label)
                time.sleep(0.05)  # as a user would submit them: not back to back
    for target in targets:
        rows += target.rows(shapes)
    small = shapes["small backtest, signal, 10 sym x 1 y"]
    for target in targets:
        if target.app is not None:
            rows += target.burst(small, burst, concurrency)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("sqlite", "redis", "both"), default="both")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--concurrency", type=int, default=1, help="worker pool processes (the rate is per process)")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--poll-ms", type=float, default=2.0, help="how often the JobHandle is read while waiting")
    a = ap.parse_args()
    global POLL_SECONDS
    POLL_SECONDS = a.poll_ms / 1000
    if a.symbols < 100:
        ap.error("--symbols must be at least 100 (the large backtest uses 100)")
    reps = 10 if a.quick else 40

    tmp = Path(tempfile.mkdtemp(prefix="quantq-strategy-e2e-"))
    try:
        data = str(tmp / "store")
        t = time.perf_counter()
        names = build_store(data, a.symbols, a.bars)
        build_s = time.perf_counter() - t
        from quantq.finance.data.store import MarketStore

        last = MarketStore.open(data).read_bars(names[0]).ts[-1].astype("datetime64[D]")
        one_year, two_years = str(last - 365), str(last - 730)
        shapes: dict[str, dict[str, Any]] = {
            "small backtest, signal, 10 sym x 1 y": {
                "task": "backtest", "reps": reps, "target": "< 100 ms p50", "target_ms": 100, "seed": "seed 001: 1-5 s",
                "args": {"strategy_code": GAP_UP, "symbols": names[:10], "start_date": one_year, "end_date": str(last)}},
            "small backtest, position SMA, 10 sym x 1 y": {
                "task": "backtest", "reps": reps, "target": "< 100 ms p50", "target_ms": 100, "seed": "seed 001: 1-5 s",
                "args": {"strategy_code": SMA_CROSS, "symbols": names[:10], "start_date": one_year, "end_date": str(last)}},
            "large backtest, position SMA, 100 sym x 2 y": {
                "task": "backtest", "reps": max(5, reps // 3), "target": "< 1000 ms", "target_ms": 1000,
                "seed": "seed 001: 10-30 s",
                "args": {"strategy_code": SMA_CROSS, "symbols": names[:100], "start_date": two_years, "end_date": str(last)}},
            f"screening, {min(500, a.symbols)} symbols, 260-bar window": {
                "task": "screening", "reps": reps, "target": "< 200 ms", "target_ms": 200, "seed": "seed 001: 100-500 ms",
                "args": {"strategy_code": MOMENTUM, "universe": names[:500], "limit": 10}},
        }
        rows: list[tuple[str, ...]] = [(f"build synthetic store {a.symbols} x {a.bars}", f"{build_s * 1000:.0f}", "", "", "", "", "", "once")]
        backends = ["sqlite", "redis"] if a.backend == "both" else [a.backend]
        targets: list[Target] = []
        redis_used = False
        try:
            for name in backends:
                if name == "sqlite":
                    targets.append(Target("sqlite", f"sqlite:///{tmp / 'jobs.db'}", data, a.concurrency, tmp))
                    continue
                why = redis_ready(REDIS_URL)
                if why:
                    rows.append(("redis", "-", "", "", "", "", "", f"skipped: {why}"))
                    continue
                redis_used = True
                targets.append(Target("redis", REDIS_URL, data, a.concurrency, tmp))
            os.environ["QUANTQ_DATA"] = data
            targets.append(Target("in-process task call", None, data, a.concurrency, tmp))
            rows += measure(targets, shapes, 60 if a.quick else 200, a.concurrency)
        finally:
            for target in targets:
                target.close()
            if redis_used:
                flush_redis(REDIS_URL)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    head = ("submit -> result visible (warm worker)", "p50 ms", "p99 ms", "queued", "run", "task ms", "target", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print(f"{r[0]:<{widths[0]}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(r[1:7], widths[1:7], strict=True)) + f"  {r[7]}")
    print("queued: created -> started, run: started -> finished (medians, the backend's clock); task ms: the\n"
          "execution_time_ms the task reported. p50 - run is submit, claim and polling; run - task ms is the\n"
          "worker's own path (hand-off to the pool process, JSON of the result, the result write).")

if __name__ == "__main__":
    main()
