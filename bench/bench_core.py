"""Enqueue and drain quantq.noop jobs on SQLite; latency of single jobs through an idle worker.

    .venv/bin/python bench/bench_core.py [--jobs 20000]

Prints one table: enqueue rate (one per call and bulk), drain rate for several worker
configurations, and p50/p99 latency (enqueue to completion, by the record's own times).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quantq import backends, envelope, jobs  # noqa: E402


def submissions(n: int) -> list[jobs.Job]:
    return [envelope.parse_submission({"task": "quantq.noop"}) for _ in range(n)]


def worker_cmd(url: str, concurrency: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "quantq", "--url", url, "worker", "--concurrency", str(concurrency),
            "--status-interval", "0", "--log-level", "warning", *extra]


def completed(backend: backends.Backend) -> int:
    return sum(s.counts["completed"] for s in backend.queue_stats())


def drain(url: str, n: int, processes: int, concurrency: int, mode: str, prefetch: int) -> float:
    backend = backends.from_url(url)
    backend.purge(statuses=list(jobs.JobStatus)[:-3] + list(jobs.FINISHED))
    backend.enqueue(submissions(n))
    started = time.perf_counter()
    workers = [subprocess.Popen(worker_cmd(url, concurrency, "--burst", "--mode", mode, "--prefetch", str(prefetch)), cwd=ROOT) for _ in range(processes)]
    for w in workers:
        w.wait()
    elapsed = time.perf_counter() - started
    done = completed(backend)
    backend.close()
    assert done == n, f"only {done} of {n} completed"
    return n / elapsed


def latency(url: str, samples: int) -> tuple[float, float]:
    backend = backends.from_url(url)
    backend.purge(statuses=list(jobs.JobStatus)[:-3] + list(jobs.FINISHED))
    worker = subprocess.Popen(worker_cmd(url, 1), cwd=ROOT)
    try:
        time.sleep(2.0)  # let the pool child start
        out = []
        for _ in range(samples):
            [job] = backend.enqueue(submissions(1))
            while True:
                got = backend.get(job.id)
                if got.finished:
                    break
                time.sleep(0.0005)
            out.append((got.finished_at - got.created_at).total_seconds() * 1000)
            time.sleep(0.01)
        out.sort()
        return statistics.median(out), out[int(len(out) * 0.99) - 1]
    finally:
        worker.terminate()
        worker.wait()
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--latency-samples", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        backend = backends.from_url(url)
        one = submissions(2000)
        t = time.perf_counter()
        for job in one:
            backend.enqueue([job])
        single_rate = len(one) / (time.perf_counter() - t)
        bulk = submissions(args.jobs)
        t = time.perf_counter()
        for i in range(0, len(bulk), 1000):
            backend.enqueue(bulk[i : i + 1000])
        bulk_rate = len(bulk) / (time.perf_counter() - t)
        backend.purge(statuses=list(jobs.JobStatus))
        backend.close()

        table = Table(title=f"quantq on SQLite, {args.jobs:,} quantq.noop jobs, {os.cpu_count()} cores")
        table.add_column("measure")
        table.add_column("result", justify="right")
        table.add_row("enqueue, one per call", f"{single_rate:,.0f} jobs/s")
        table.add_row("enqueue, bulk (1,000 per call)", f"{bulk_rate:,.0f} jobs/s")
        configs = ((1, 1, "process", 1), (1, 1, "process", 8), (1, 2, "process", 8), (2, 1, "process", 8),
                   (1, 4, "thread", 16))
        for processes, concurrency, mode, prefetch in configs:
            rate = drain(url, args.jobs, processes, concurrency, mode, prefetch)
            table.add_row(f"drain: {processes} worker x {concurrency} {mode} slot(s), prefetch {prefetch}",
                          f"{rate:,.0f} jobs/s")
        p50, p99 = latency(url, args.latency_samples)
        table.add_row("latency p50 (idle worker, enqueue to completed)", f"{p50:.2f} ms")
        table.add_row("latency p99", f"{p99:.2f} ms")
        Console().print(table)


if __name__ == "__main__":
    main()
