"""The SQL store-alone loop: what the Python side of a SQL backend costs per job, no worker.

    PYTHONPATH=. .venv/bin/python bench/sql_store_loop.py URL [--jobs 20000] [--profile 25]

Empties the store, enqueues ``--jobs`` no-op jobs (batches of 1,000), then claims 100 /
acknowledges 100 until none are left.  Prints jobs/s and this process's CPU per job for the
enqueue and the claim/acknowledge loop (the client's share: decoding, parameters, driver);
``--profile N`` prints the top N functions of a cProfile of the loop by own time.
Runs whichever ``quantq`` PYTHONPATH finds first, so two checkouts can be compared side by side.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from quantq import backends, envelope, jobs
from quantq.backends.base import Outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--profile", type=int, default=0)
    args = parser.parse_args()
    with backends.from_url(args.url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        new = [envelope.parse_submission({"task": "quantq.noop"}) for _ in range(args.jobs)]
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(new), 1000):
            backend.enqueue(new[i:i + 1000])
        w1, c1 = time.perf_counter(), time.process_time()
        profile = cProfile.Profile() if args.profile else None
        done = 0
        if profile:
            profile.enable()
        while claims := backend.claim(["default"], worker_id="probe", hostname="h", lease=60, limit=100):
            backend.acknowledge([Outcome(claim=c, result=None) for c in claims])
            done += len(claims)
        if profile:
            profile.disable()
        w2, c2 = time.perf_counter(), time.process_time()
        backend.purge(statuses=list(jobs.JobStatus))
    n = len(new)
    print(f"enqueue: {n / (w1 - w0):,.0f} jobs/s, client CPU {(c1 - c0) / n * 1e6:.1f} us/job")
    print(f"claim+ack: {done / (w2 - w1):,.0f} jobs/s, client CPU {(c2 - c1) / max(done, 1) * 1e6:.1f} us/job"
          + (" (profiled)" if profile else ""))
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
