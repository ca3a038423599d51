"""What one job costs the PostgreSQL store, apart from any worker.

    .venv/bin/python bench/pg_per_job.py [URL] [--jobs 20000] [--singles 300]

* single operations: p50 / p90 ms of enqueue, claim and acknowledge of one job, one after
  the other in a tight loop (each a round trip and, with ``worker_commit=sync``, a durable commit);
* batches: ``--jobs`` queued, then claim 100 / acknowledge 100 until empty, on one pooled
  session: jobs/s, and per job the server's CPU (read from ``/proc/<pid>/stat`` of the session's
  server process, so only when the server runs on this host) and the WAL it wrote.
The schema named in the URL is emptied first.  Default URL: a ``perjob`` schema in the test database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quantq import backends, envelope, jobs  # noqa: E402
from quantq.backends.base import Outcome  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=perjob"


def submission() -> jobs.Job:
    return envelope.parse_submission({"task": "quantq.noop"})


def singles(backend: Any, n: int) -> None:
    times: dict[str, list[float]] = {"enqueue": [], "claim": [], "acknowledge": []}
    for _ in range(n):
        job = submission()
        t0 = time.perf_counter()
        backend.enqueue([job])
        t1 = time.perf_counter()
        [claim] = backend.claim(["default"], worker_id="perjob", hostname="h", lease=30)
        t2 = time.perf_counter()
        backend.acknowledge([Outcome(claim=claim, result=None)])
        t3 = time.perf_counter()
        times["enqueue"].append(t1 - t0)
        times["claim"].append(t2 - t1)
        times["acknowledge"].append(t3 - t2)
    for name, xs in times.items():
        xs.sort()
        print(f"{name:12s} p50 {statistics.median(xs) * 1e3:.3f} ms  p90 {xs[int(len(xs) * 0.9)] * 1e3:.3f} ms")


def server_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # the server is elsewhere
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks of 10 ms


def vacuum(backend: Any) -> None:
    """This server runs with autovacuum off: clear the dead rows earlier runs left, as a
    production server's autovacuum would have (a claim over ~250,000 of them walks ~800 index
    pages)."""
    backend._tx(lambda cur: cur.execute(f"VACUUM ANALYZE {backend.names['jobs']}"), write=False)


def batches(backend: Any, n: int) -> None:
    for i in range(0, n, 1000):
        backend.enqueue([submission() for _ in range(min(1000, n - i))])
    vacuum(backend)

    def probe(cur: Any) -> tuple[int, str]:
        row = cur.execute("SELECT pg_backend_pid() AS pid, pg_current_wal_lsn()::text AS lsn").fetchone()
        return row["pid"], row["lsn"]

    pid, lsn = backend._tx(probe, write=False)
    cpu = server_cpu(pid)
    began = time.perf_counter()
    done = 0
    while claims := backend.claim(["default"], worker_id="perjob", hostname="h", lease=60, limit=100):
        backend.acknowledge([Outcome(claim=c, result=None) for c in claims])
        done += len(claims)
    elapsed = time.perf_counter() - began
    after = server_cpu(pid)
    wal = backend._tx(lambda cur: cur.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn) AS b", (lsn,))
                      .fetchone()["b"], write=False)
    line = f"batches of 100: {done / elapsed:,.0f} jobs/s, WAL {float(wal) / done:,.0f} B/job"
    if cpu is not None and after is not None:
        line += f", server CPU {(after - cpu) / done * 1e6:.1f} us/job"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--singles", type=int, default=300)
    args = parser.parse_args()
    # one pooled session: the batches' server process is the one whose CPU is read
    url = args.url + ("&" if "?" in args.url else "?") + "pool_max=1"
    with backends.from_url(url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        vacuum(backend)
        singles(backend, args.singles)
        backend.purge(statuses=list(jobs.JobStatus))
        batches(backend, args.jobs)
        backend.purge(statuses=list(jobs.JobStatus))


if __name__ == "__main__":
    main()
