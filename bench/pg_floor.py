"""The floor of a PostgreSQL job queue's latency on this machine, without quantq.

    .venv/bin/python bench/pg_floor.py [URL] [--samples 300]

The least a LISTEN/NOTIFY queue can do per job, every commit durable, on a two-column table with
one partial index (no record, lease, fencing or retry), in two designs:

* claim: the client INSERTs a row and NOTIFYs; a worker process LISTENing claims it with one
  ``UPDATE ... FOR UPDATE SKIP LOCKED`` and completes it with another, which NOTIFYs the id:
  three durable commits on the job's path.
* hand-over (quantq's path to an idle worker): the client's one statement inserts the row
  already running and NOTIFYs the waiting worker of it; the worker completes it with one
  ``UPDATE`` that NOTIFYs the id: two durable commits, the least a queue that loses neither an
  accepted job nor a result can pay.

The client learns of the completion by LISTEN or, as bench_sql.py's latency probes do, by
reading the row every 0.5 ms.  Compare the p50s with quantq's and pgqueuer's in bench_sql.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

DEFAULT_URL = os.environ.get("QUANTQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE = "quantq_bench_floor"

WORKER = """
import sys, psycopg
url, table, design = sys.argv[1], sys.argv[2], sys.argv[3]
wake = psycopg.connect(url, autocommit=True)
work = psycopg.connect(url, autocommit=True)
wake.execute(f"LISTEN {table}_new")
print("ready", flush=True)
done = f"UPDATE {table} SET status = 'done', result = 'null' WHERE seq = %s RETURNING pg_notify('{table}_done', id)"
while True:
    for told in wake.notifies(timeout=1.0, stop_after=1):
        if design == "hand-over":
            work.execute(done, (int(told.payload),))
    if design == "claim":
        while row := work.execute(
                f"UPDATE {table} SET status = 'running' WHERE seq = (SELECT seq FROM {table} WHERE status = 'queued' "
                "ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING seq").fetchone():
            work.execute(done, (row[0],))
"""


def measure(url: str, samples: int, design: str, poll: bool) -> tuple[float, float, float]:
    import psycopg

    client = psycopg.connect(url, autocommit=True)
    told = psycopg.connect(url, autocommit=True)
    told.execute(f"LISTEN {TABLE}_done")
    enqueue, total = [], []
    for _ in range(samples):
        job_id = str(uuid.uuid4())
        began = time.perf_counter()
        if design == "claim":
            client.execute(f"INSERT INTO {TABLE} (id, status) VALUES (%s, 'queued')", (job_id,))
            client.execute("SELECT pg_notify(%s, '')", (f"{TABLE}_new",))
        else:
            client.execute(f"WITH ins AS (INSERT INTO {TABLE} (id, status) VALUES (%s, 'running') RETURNING seq) "
                           f"SELECT pg_notify('{TABLE}_new', seq::text) FROM ins", (job_id,))
        enqueued = time.perf_counter()
        if poll:
            while client.execute(f"SELECT status FROM {TABLE} WHERE id = %s", (job_id,)).fetchone()[0] != "done":
                time.sleep(0.0005)
        else:
            while not any(n.payload == job_id for n in told.notifies(timeout=5, stop_after=1)):
                pass
        total.append((time.perf_counter() - began) * 1000)
        enqueue.append((enqueued - began) * 1000)
        time.sleep(0.01)
    client.close()
    told.close()
    total.sort()
    return statistics.median(enqueue), statistics.median(total), total[int(len(total) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default=DEFAULT_URL)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    import psycopg

    rows = []
    for design in ("claim", "hand-over"):
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.execute(f"CREATE TABLE {TABLE} (seq bigserial PRIMARY KEY, id text UNIQUE, status text, result jsonb)")
            conn.execute(f"CREATE INDEX ON {TABLE} (seq) WHERE status = 'queued'")
        worker = subprocess.Popen([sys.executable, "-c", WORKER, args.url, TABLE, design], stdout=subprocess.PIPE, text=True)
        try:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
            rows += [(design, "told by LISTEN", *measure(args.url, args.samples, design, poll=False)),
                     (design, "polling every 0.5 ms", *measure(args.url, args.samples, design, poll=True))]
        finally:
            worker.kill()
            worker.wait()
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
    print(f"PostgreSQL queue floor, {args.samples} single jobs through an idle worker (ms)")
    print(f"{'design':10s} {'client learns of it':22s} {'enqueue p50':>12s} {'total p50':>10s} {'total p99':>10s}")
    for design, name, enq, p50, p99 in rows:
        print(f"{design:10s} {name:22s} {enq:12.2f} {p50:10.2f} {p99:10.2f}")


if __name__ == "__main__":
    main()
