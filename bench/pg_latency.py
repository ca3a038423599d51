"""quantq's PostgreSQL latency alone, step by step: single no-op jobs through one idle worker
(thread mode, its own process), 10 ms apart, in a throw-away schema.

    .venv/bin/python bench/pg_latency.py [--samples 150] [--rounds 3] [--mode thread|process]

Per round, medians (the first 20 jobs left out) of: the enqueue call; the enqueue's start to the
job's start and to its completion's start, by the server's clock (created_at, started_at,
finished_at: a job handed to an idle worker starts in the enqueue's own statement); and what the
client sees, polling the job every 0.5 ms as bench_sql.py does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sql  # noqa: E402

from quantq import backends, jobs  # noqa: E402


def one_round(url: str, samples: int, mode: str) -> str:
    with backends.from_url(url) as backend:
        calls, totals = [], []
        with bench_sql.idle_worker(backend, url, mode):
            for _ in range(samples):
                began = time.perf_counter()
                job_id = backend.enqueue(bench_sql.submissions(1))[0].id
                calls.append(time.perf_counter() - began)
                while not backend.get(job_id).finished:
                    time.sleep(0.0005)
                totals.append(time.perf_counter() - began)
                time.sleep(0.01)
        table = backend.names["jobs"]  # type: ignore[attr-defined]
        rows = bench_sql.sql_value(url, f"SELECT array_agg(ARRAY[extract(epoch FROM started_at - created_at), "
                                        f"extract(epoch FROM finished_at - created_at)] ORDER BY seq) FROM {table}")
        backend.purge(statuses=list(jobs.JobStatus))
    skip = min(20, samples // 2)  # the worker's first jobs still warm its caches
    started = [float(a) for a, _ in rows[skip:]]
    finished = [float(b) for _, b in rows[skip:]]

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.2f}"

    return (f"enqueue call {ms(calls[skip:])} | enqueue to start {ms(started)} | enqueue to completion {ms(finished)} | "
            f"seen by the client {ms(totals[skip:])} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=["thread", "process"], default="thread")
    args = parser.parse_args()
    scratch = bench_sql.Scratch()
    try:
        for i in range(args.rounds):
            print(f"round {i + 1}: {one_round(scratch.pg(), args.samples, args.mode)}", flush=True)
    finally:
        scratch.cleanup()


if __name__ == "__main__":
    main()
