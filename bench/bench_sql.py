"""quantq on PostgreSQL, MariaDB/MySQL and SQLite, side by side with the SQL-backed peers.

    .venv/bin/python bench/bench_sql.py [--jobs 20000] [--latency-samples 200] [--only quantq|peers] [--rounds 2]

Measures, for each system: enqueue rate (one job per call, and bulk), the time to drain
``--jobs`` queued no-op jobs with one worker process and with the best configuration
found on this machine's cores, and p50/p99 latency of single jobs through an idle worker.

Method (the same for every system):
* drain: workers are started in burst/drain mode on a full queue; the drain time is the
  window from the first job's start to the last job's recorded completion, as each system
  records it (quantq: started_at/finished_at; pgqueuer: its log; procrastinate: its events;
  huey and the plain loop: the worker's own clock), so process start-up does not count.
* latency: one idle worker; the client enqueues one job, then polls its status every
  0.5 ms until the job is finished: enqueue call to completion seen, 10 ms apart.  Every
  system is polled the same way, on its own store (so each pays ~0.25 ms on average for
  the polling).  quantq's worker runs the task in a thread (in its own process, as every
  peer does); its default process mode (an isolated child per slot) is in the note.
* dead rows: the server here runs with autovacuum off, so each PostgreSQL contender's tables
  are vacuumed before each measured phase (as a production server's autovacuum would have
  done); otherwise a phase pays for the dead rows of every phase before it, and the latency
  probes, run last, for some 100,000 (a claim then walks ~800 index pages: 4.7 ms).
* quantq backend loop: the store alone, claiming 100 and reporting 100 per call in one
  thread, no worker: the counterpart of the plain SKIP LOCKED loop.
Peers (the ``bench`` extra): pgqueuer, procrastinate, huey, plus a plain psycopg loop
claiming 100 rows per ``FOR UPDATE SKIP LOCKED`` statement (the approach's ceiling).
Services: PostgreSQL and MariaDB as in tests/services.py (QUANTQ_TEST_*_URL).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quantq import backends, envelope, jobs  # noqa: E402

PG_URL = os.environ.get("QUANTQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("QUANTQ_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
CORES = os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Result:
    system: str
    database: str
    enqueue_one: float | None = None  #: jobs/s
    enqueue_bulk: float | None = None
    drain_one: float | None = None  #: jobs/s with one worker process
    drain_best: float | None = None
    best_config: str = ""
    p50: float | None = None  #: ms
    p99: float | None = None
    note: str = ""


# ---- helpers -----------------------------------------------------------------------------------


def vacuum_schema(schema: str) -> None:
    """VACUUM ANALYZE every table of a PostgreSQL schema (see "dead rows" above)."""
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))]
        for table in tables:
            conn.execute(f'VACUUM ANALYZE "{schema}"."{table}"')


def settle(url: str) -> None:
    """Before a measured phase on quantq's store: vacuum it, on PostgreSQL."""
    if url.startswith("postgres"):
        from urllib.parse import parse_qs, urlsplit

        vacuum_schema(parse_qs(urlsplit(url).query).get("schema", ["public"])[0])


def spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    out = tempfile.TemporaryFile()  # read back by worker_output(); a pipe could fill up and block
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.PIPE, start_new_session=True)
    proc.out_file = out  # type: ignore[attr-defined]
    return proc


def worker_output(proc: subprocess.Popen[bytes]) -> str:
    proc.out_file.seek(0)  # type: ignore[attr-defined]
    return proc.out_file.read().decode()  # type: ignore[attr-defined]


def clock_window(procs: list[subprocess.Popen[bytes]]) -> float:
    """Workers that print "WINDOW first_start last_finish" (epoch seconds)."""
    firsts, lasts = [], []
    for proc in procs:
        for line in worker_output(proc).splitlines():
            if line.startswith("WINDOW "):
                _, first, last = line.split()
                firsts.append(float(first))
                lasts.append(float(last))
    if not firsts:
        raise RuntimeError("no worker reported its window")
    return max(lasts) - min(firsts)


def finish(procs: list[subprocess.Popen[bytes]], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stop(procs)
            raise RuntimeError("a worker did not finish in time") from None
        if p.returncode not in (0, -signal.SIGTERM):
            err = p.stderr.read().decode()[-2000:] if p.stderr else ""
            raise RuntimeError(f"worker exited with {p.returncode}: {err}")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def run_all(procs: list[subprocess.Popen[bytes]]) -> list[subprocess.Popen[bytes]]:
    finish(procs)
    return procs


def sql_value(url: str, statement: str) -> Any:
    """One value from a raw connection to a quantq URL's database."""
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            return conn.execute(statement).fetchone()[0]
    if url.startswith("mysql"):
        from urllib.parse import urlsplit

        import pymysql

        parts = urlsplit(url)
        conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                               password=parts.password or "", database=parts.path.lstrip("/"))
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchone()[0]
        finally:
            conn.close()
    import psycopg

    from quantq.backends import _sql

    with psycopg.connect(_sql.split_options(url, {"schema": "", "worker_commit": ""})[0], autocommit=True) as conn:
        return conn.execute(statement).fetchone()[0]


def percentiles(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


def poll_latency(submit: Callable[[], Any], done: Callable[[Any], bool], samples: int) -> tuple[float, float]:
    out = []
    for _ in range(samples):
        began = time.perf_counter()
        handle = submit()
        deadline = began + 10
        while not done(handle):
            if time.perf_counter() > deadline:
                raise RuntimeError("a latency probe job did not finish within 10 s")
            time.sleep(0.0005)
        out.append((time.perf_counter() - began) * 1000)
        time.sleep(0.01)
    return percentiles(out)


# ---- quantq ------------------------------------------------------------------------------------


def submissions(n: int) -> list[jobs.Job]:
    return [envelope.parse_submission({"task": "quantq.noop"}) for _ in range(n)]


def quantq_worker(url: str, concurrency: int, mode: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "quantq", "--url", url, "worker", "--concurrency", str(concurrency), "--mode", mode,
            "--status-interval", "0", "--log-level", "warning", *extra]


def quantq_drain(url: str, n: int, processes: int, concurrency: int, mode: str) -> float:
    with backends.from_url(url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        for i in range(0, n, 1000):
            backend.enqueue(submissions(min(1000, n - i)))
        settle(url)
        run_all([spawn(quantq_worker(url, concurrency, mode, "--burst")) for _ in range(processes)])
        done = sum(s.counts["completed"] for s in backend.queue_stats())
        if done != n:
            raise RuntimeError(f"only {done} of {n} jobs completed")
        table = getattr(backend, "names", {"jobs": "quantq_jobs"})["jobs"]
        if url.startswith("postgres"):
            window = sql_value(url, f"SELECT extract(epoch FROM max(finished_at) - min(started_at)) FROM {table}")
        elif url.startswith("mysql"):
            window = sql_value(url, f"SELECT TIMESTAMPDIFF(MICROSECOND, MIN(started_at), MAX(finished_at)) / 1e6 FROM {table}")
        else:
            window = sql_value(url, f"SELECT max(finished_at) - min(started_at) FROM {table}")
        backend.purge(statuses=list(jobs.JobStatus))
    return n / float(window)


@contextlib.contextmanager
def idle_worker(backend: Any, url: str, mode: str) -> Iterator[None]:
    """One ``quantq worker`` with one slot, registered and idle for the body, stopped after."""
    worker = spawn(quantq_worker(url, 1, mode))
    try:
        deadline = time.monotonic() + 30
        while not backend.list_workers():
            if time.monotonic() > deadline:
                raise RuntimeError("the latency worker did not start")
            time.sleep(0.05)
        time.sleep(1.0)  # its child process is up and it is idle
        yield
    finally:
        stop([worker])


def quantq_latency(url: str, samples: int, mode: str = "thread") -> tuple[float, float]:
    """Thread mode runs the task inside the worker process, as every peer here does; process
    mode (quantq's default: each slot an isolated child) adds a pipe hop each way."""
    with backends.from_url(url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        settle(url)
        with idle_worker(backend, url, mode):
            return poll_latency(lambda: backend.enqueue(submissions(1))[0].id,
                                lambda job_id: backend.get(job_id).finished, samples)


#: (processes, slots, mode) tried for each store.  With short jobs, one or two process slots
#: keep a process's claims and completions flowing with the least contention for its GIL
#: (on PostgreSQL, one process: 18,100-18,600 jobs/s against 13,300-13,900 with 32 threads)
DRAIN_CONFIGS = [(1, 32, "thread"), (1, 1, "process"), (1, 2, "process"), (1, 4, "process"),
                 (2, 32, "thread"), (2, 8, "thread"), (2, 1, "process"), (2, 4, "process")]


def quantq_row(database: str, url: str, n: int, samples: int) -> Result:
    with backends.from_url(url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        one = submissions(2000)
        t = time.perf_counter()
        for job in one:
            backend.enqueue([job])
        single = len(one) / (time.perf_counter() - t)
        bulk = submissions(n)
        t = time.perf_counter()
        for i in range(0, n, 1000):
            backend.enqueue(bulk[i: i + 1000])
        bulk_rate = n / (time.perf_counter() - t)
        backend.purge(statuses=list(jobs.JobStatus))
    rates = {cfg: quantq_drain(url, n, *cfg) for cfg in DRAIN_CONFIGS}
    for cfg, rate in rates.items():
        print(f"  quantq/{database}: {cfg[0]} process(es) x {cfg[1]} {cfg[2]} slot(s): {rate:,.0f} jobs/s", flush=True)
    one_cfg, one_proc = max(((cfg, rate) for cfg, rate in rates.items() if cfg[0] == 1), key=lambda kv: kv[1])
    best_cfg, best = max(rates.items(), key=lambda kv: kv[1])
    p50, p99 = quantq_latency(url, samples, "thread")
    p50_process, p99_process = quantq_latency(url, samples, "process")
    return Result("quantq", database, single, bulk_rate, one_proc, best, f"{best_cfg[0]}p x {best_cfg[1]} {best_cfg[2]} (1p: x {one_cfg[1]} {one_cfg[2]})", p50, p99,
                  f"latency: thread mode; process mode {p50_process:.2f} / {p99_process:.2f}")


def backend_loop_row(database: str, url: str, n: int) -> Result:
    """quantq's store alone, no worker: claim 100, complete 100, in one thread (compare the
    plain SKIP LOCKED loop): what the backend leaves for the worker to spend."""
    from quantq.backends.base import Outcome

    with backends.from_url(url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        for i in range(0, n, 1000):
            backend.enqueue(submissions(min(1000, n - i)))
        settle(url)
        began = time.perf_counter()
        done = 0
        while claims := backend.claim(["default"], worker_id="loop", hostname="bench", lease=60, limit=100):
            backend.report([Outcome(claim=c, result=None) for c in claims])
            done += len(claims)
        elapsed = time.perf_counter() - began
        backend.purge(statuses=list(jobs.JobStatus))
    if done != n:
        raise RuntimeError(f"the backend loop finished {done} of {n}")
    return Result("quantq backend loop", database, drain_one=n / elapsed, drain_best=n / elapsed,
                  best_config="1 thread, 100/claim", note="no worker: claim + report() only")


@dataclasses.dataclass
class Scratch:
    """A throw-away schema / table prefix / file for one run, removed afterwards."""

    tag: str = dataclasses.field(default_factory=lambda: f"bench_{os.urandom(3).hex()}")

    def pg(self) -> str:
        return f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={self.tag}"

    def mysql(self) -> str:
        return f"{MYSQL_URL}{'&' if '?' in MYSQL_URL else '?'}prefix={self.tag}_"

    PEER_SUFFIXES = ("_pgq", "_proc", "_loop")

    def fresh_schema(self, suffix: str) -> str:
        """A peer's PostgreSQL schema, empty (dropped first: each round starts afresh)."""
        import psycopg

        schema = f"{self.tag}{suffix}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        return schema

    def cleanup(self) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for suffix in ("", *self.PEER_SUFFIXES):
                conn.execute(f"DROP SCHEMA IF EXISTS {self.tag}{suffix} CASCADE")
        sys.path.insert(0, str(ROOT))
        from tests.backend_factories import drop_mysql_prefix

        drop_mysql_prefix(MYSQL_URL, f"{self.tag}_")


# ---- peers -------------------------------------------------------------------------------------

PEER_MAIN = [sys.executable, str(Path(__file__).resolve())]


def pg_dsn(schema: str) -> str:
    return f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"


def run_peer_worker(kind: str, schema: str, arg: str) -> None:
    """Entry point of a peer's worker process (``--peer-worker KIND``)."""
    if kind == "pgqueuer":
        import asyncio

        from pgqueuer import Queries, QueueManager
        from pgqueuer.types import QueueExecutionMode

        async def main() -> None:
            import asyncpg
            from pgqueuer import AsyncpgDriver

            conn = await asyncpg.connect(PG_URL, server_settings={"search_path": schema})
            qm = QueueManager(Queries(AsyncpgDriver(conn)))

            @qm.entrypoint("noop")
            async def noop(job: Any) -> None:
                return None

            drain = arg == "drain"
            await qm.run(batch_size=100 if drain else 1,
                         mode=QueueExecutionMode.drain if drain else QueueExecutionMode.continuous,
                         dequeue_timeout=__import__("datetime").timedelta(seconds=1))

        asyncio.run(main())
    elif kind == "procrastinate":
        app = procrastinate_app(schema)
        with app.open():
            app.run_worker(queues=["default"], wait=arg != "drain", concurrency=10, install_signal_handlers=True)
    elif kind == "huey":
        import bench_sql  # huey names tasks module.function: both sides must see "bench_sql.noop"

        bench_sql.huey_main(arg)
    elif kind == "loop":
        skip_locked_loop(schema)
    else:
        raise SystemExit(f"unknown peer worker {kind!r}")


def procrastinate_app(schema: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=pg_dsn(schema)))

    @app.task(name="noop")
    def noop() -> None:
        return None

    return app


def pgqueuer_row(n: int, samples: int, scratch: Scratch) -> Result:
    import asyncio

    import psycopg
    from pgqueuer import PsycopgDriver, Queries

    schema = scratch.fresh_schema("_pgq")

    async def with_queries(fn: Callable[[Any], Any]) -> Any:
        conn = await psycopg.AsyncConnection.connect(pg_dsn(schema), autocommit=True)
        try:
            return await fn(Queries(PsycopgDriver(conn)))
        finally:
            await conn.close()

    asyncio.run(with_queries(lambda q: q.install(create_schema=False)))

    async def enqueue(q: Any) -> tuple[float, float]:
        t = time.perf_counter()
        for _ in range(2000):
            await q.enqueue("noop", None)
        single = 2000 / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, n, 1000):
            k = min(1000, n - i)
            await q.enqueue(["noop"] * k, [None] * k, [0] * k)
        return single, n / (time.perf_counter() - t)

    async def clear(q: Any) -> None:
        await q.clear_queue(None)

    def drain(processes: int) -> float:
        asyncio.run(with_queries(clear))
        asyncio.run(with_queries(lambda q: q.enqueue(["noop"] * n, [None] * n, [0] * n)))
        with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
            conn.execute("TRUNCATE pgqueuer_log")
        vacuum_schema(schema)
        run_all([spawn([*PEER_MAIN, "--peer-worker", "pgqueuer", schema, "drain"]) for _ in range(processes)])
        with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
            left = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()[0]
            ok, window = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'successful'), extract(epoch FROM max(created) FILTER "
                "(WHERE status = 'successful') - min(created) FILTER (WHERE status = 'picked')) FROM pgqueuer_log").fetchone()
        if left or ok != n:
            raise RuntimeError(f"pgqueuer left {left} jobs, logged {ok} of {n} successful")
        return n / float(window)

    single, bulk = asyncio.run(with_queries(enqueue))
    asyncio.run(with_queries(clear))
    one, two = drain(1), drain(2)
    asyncio.run(with_queries(clear))
    vacuum_schema(schema)
    # latency: a continuous worker; a job is done when pgqueuer has logged it successful
    worker = spawn([*PEER_MAIN, "--peer-worker", "pgqueuer", schema, "serve"])
    try:
        time.sleep(2.0)
        conn = psycopg.connect(pg_dsn(schema), autocommit=True)
        loop = asyncio.new_event_loop()  # one producer connection for every probe
        aconn = loop.run_until_complete(psycopg.AsyncConnection.connect(pg_dsn(schema), autocommit=True))
        producer = Queries(PsycopgDriver(aconn))
        p50, p99 = poll_latency(lambda: loop.run_until_complete(producer.enqueue("noop", None))[0],
                                lambda job_id: conn.execute("SELECT 1 FROM pgqueuer_log WHERE job_id = %s AND status = "
                                                            "'successful'", (job_id,)).fetchone() is not None, samples)
        loop.run_until_complete(aconn.close())
        loop.close()
        conn.close()
    finally:
        stop([worker])
    best = max((one, "1p"), (two, "2p"))
    return Result("pgqueuer", "PostgreSQL", single, bulk, one, best[0], f"{best[1]}, batch 100", p50, p99,
                  "asyncpg driver; serve: batch 1")


def procrastinate_row(n: int, samples: int, scratch: Scratch) -> Result:
    import psycopg

    schema = scratch.fresh_schema("_proc")
    app = procrastinate_app(schema)
    with app.open():
        app.schema_manager.apply_schema()
        noop = app.tasks["noop"]
        t = time.perf_counter()
        for _ in range(2000):
            noop.defer()
        single = 2000 / (time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, n, 1000):
            noop.batch_defer(*[{}] * min(1000, n - i))
        bulk = n / (time.perf_counter() - t)
        with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
            conn.execute("DELETE FROM procrastinate_jobs")

        def drain(processes: int) -> float:
            with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
                conn.execute("DELETE FROM procrastinate_jobs")
            for i in range(0, n, 1000):
                noop.batch_defer(*[{}] * min(1000, n - i))
            vacuum_schema(schema)
            run_all([spawn([*PEER_MAIN, "--peer-worker", "procrastinate", schema, "drain"]) for _ in range(processes)])
            with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
                ok = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'").fetchone()[0]
                window = conn.execute(
                    "SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded') - min(at) FILTER "
                    "(WHERE type = 'started')) FROM procrastinate_events").fetchone()[0]
            if ok != n:
                raise RuntimeError(f"procrastinate finished {ok} of {n}")
            return n / float(window)

        one, two = drain(1), drain(2)
        with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
            conn.execute("DELETE FROM procrastinate_jobs")
        vacuum_schema(schema)
        worker = spawn([*PEER_MAIN, "--peer-worker", "procrastinate", schema, "serve"])
        try:
            time.sleep(2.0)
            conn = psycopg.connect(pg_dsn(schema), autocommit=True)
            p50, p99 = poll_latency(lambda: noop.defer(), lambda job_id: conn.execute(
                "SELECT 1 FROM procrastinate_jobs WHERE id = %s AND status = 'succeeded'", (job_id,)).fetchone() is not None,
                samples)
            conn.close()
        finally:
            stop([worker])
    best = max((one, "1p"), (two, "2p"))
    return Result("procrastinate", "PostgreSQL", single, bulk, one, best[0], f"{best[1]} x 10", p50, p99)


LOOP_SCHEMA = """
CREATE TABLE jobs (id bigserial PRIMARY KEY, task text NOT NULL, args jsonb NOT NULL DEFAULT '{}',
                   status text NOT NULL DEFAULT 'queued', result jsonb);
CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued';
"""


def skip_locked_loop(schema: str) -> None:
    """The ceiling: claim 100 rows per statement, 'run' them, mark them done in one statement."""
    import psycopg

    first = last = 0.0
    with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
        while True:
            with conn.transaction():
                ids = [r[0] for r in conn.execute(
                    "UPDATE jobs SET status = 'running' WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' "
                    "ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id")]
            if not ids:
                break
            first = first or time.time()
            conn.execute("UPDATE jobs SET status = 'done', result = 'null' WHERE id = ANY(%s)", (ids,))
            last = time.time()
    if first:
        print(f"WINDOW {first} {last}", flush=True)


def loop_row(n: int, scratch: Scratch) -> Result:
    import psycopg

    schema = scratch.fresh_schema("_loop")
    with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
        conn.execute(LOOP_SCHEMA)

    def drain(processes: int) -> float:
        with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
            conn.execute("TRUNCATE jobs")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO jobs (task) VALUES (%s)", [("noop",)] * n)
        vacuum_schema(schema)
        with psycopg.connect(pg_dsn(schema), autocommit=True) as conn:
            procs = run_all([spawn([*PEER_MAIN, "--peer-worker", "loop", schema, ""]) for _ in range(processes)])
            done = conn.execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0]
        if done != n:
            raise RuntimeError(f"the loop finished {done} of {n}")
        return n / clock_window(procs)

    one, two = drain(1), drain(2)
    best = max((one, "1p"), (two, "2p"))
    return Result("SKIP LOCKED loop", "PostgreSQL", None, None, one, best[0], f"{best[1]}, 100/statement",
                  note="no task layer: the ceiling")


def huey_app(path: str) -> Any:
    from huey import SqliteHuey

    huey = SqliteHuey(filename=path)

    @huey.task(name="noop")
    def noop() -> int:
        return 1  # huey stores no None results, and the probes wait for a result

    return huey, noop


def huey_main(arg: str) -> None:
    """A huey consumer; ``drain:PATH:N`` exits once N results are stored."""
    mode, path, n = arg.split(":", 2)
    huey, _ = huey_app(path)
    from huey import signals

    seen: list[float] = []

    @huey.signal(signals.SIGNAL_EXECUTING)
    def started(signal: str, task: Any) -> None:
        if not seen:
            seen.append(time.time())

    @huey.signal(signals.SIGNAL_COMPLETE)
    def finished(signal: str, task: Any) -> None:
        seen[1:] = [time.time()]

    consumer = huey.create_consumer(workers=int(os.environ.get("HUEY_WORKERS", "1")), worker_type="thread",
                                    periodic=False, initial_delay=0.001, max_delay=0.01, backoff=1.15)
    import threading

    def watch() -> None:  # the consumer wants the main thread (it installs signal handlers)
        while huey.result_count() < int(n):
            time.sleep(0.002)
        print(f"WINDOW {seen[0]} {seen[-1]}", flush=True)
        os._exit(0)

    if mode == "drain":
        threading.Thread(target=watch, daemon=True).start()
    consumer.run()


def huey_row(n: int, samples: int, tmp: str) -> Result:
    import bench_sql

    path = f"{tmp}/huey.db"
    huey, noop = bench_sql.huey_app(path)
    t = time.perf_counter()
    for _ in range(2000):
        noop()
    single = 2000 / (time.perf_counter() - t)
    huey.flush()

    def drain(processes: int) -> float:
        huey.flush()
        for _ in range(n):
            noop()
        procs = run_all([spawn([*PEER_MAIN, "--peer-worker", "huey", "", f"drain:{path}:{n}"]) for _ in range(processes)])
        return n / clock_window(procs)

    one = drain(1)
    huey.flush()
    worker = spawn([*PEER_MAIN, "--peer-worker", "huey", "", f"serve:{path}:0"])
    try:
        time.sleep(1.5)
        p50, p99 = poll_latency(lambda: noop(), lambda r: r.get(preserve=True) is not None, samples)
    finally:
        stop([worker])
    return Result("huey", "SQLite", single, None, one, one, "1p x 1 thread", p50, p99, "no bulk enqueue API")


# ---- a big table: 1,000,000 finished jobs ------------------------------------------------------

FILL = {
    # n finished jobs in one statement, with spread-out times, four queues and a few failures
    "postgres": ("INSERT INTO {jobs} (id, task, queue, status, attempts, created_at, started_at, finished_at, updated_at, "
                 "result, expires_at) SELECT 'old-' || g, 'quantq.noop', 'q' || (g % 4), "
                 "CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'completed' END, 1, now() - g * interval '1 ms', "
                 "now() - g * interval '1 ms', now() - g * interval '1 ms', now(), 'null', now() + interval '1 day' "
                 "FROM generate_series(1, {n}) AS g"),
    "mysql": ("INSERT INTO {jobs} (id, task, queue, status, attempts, created_at, started_at, finished_at, updated_at, "
              "result, expires_at) SELECT CONCAT('old-', seq), 'quantq.noop', CONCAT('q', seq % 4), "
              "IF(seq % 50 = 0, 'failed', 'completed'), 1, UTC_TIMESTAMP(6) - INTERVAL seq MICROSECOND, "
              "UTC_TIMESTAMP(6) - INTERVAL seq MICROSECOND, UTC_TIMESTAMP(6) - INTERVAL seq MICROSECOND, UTC_TIMESTAMP(6), "
              "'null', UTC_TIMESTAMP(6) + INTERVAL 1 DAY FROM seq_1_to_{n}"),
    "sqlite": ("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) "
               "INSERT INTO quantq_jobs (id, task, queue, args, priority, status, attempts, max_attempts, created_at, "
               "started_at, finished_at, updated_at, result, expires_at) SELECT 'old-' || n, 'quantq.noop', 'q' || (n % 4), "
               "'{{}}', 5, CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'completed' END, 1, 3, "
               "((julianday('now') - 2440587.5) * 86400.0) - n / 1000.0, ((julianday('now') - 2440587.5) * 86400.0) - n / 1000.0, ((julianday('now') - 2440587.5) * 86400.0) - n / 1000.0, "
               "((julianday('now') - 2440587.5) * 86400.0), 'null', ((julianday('now') - 2440587.5) * 86400.0) + 86400 FROM g"),
}


def big_table(database: str, url: str, n: int, repeat: int = 50) -> list[tuple[str, str, float]]:
    """Median milliseconds of the hot operations with ``n`` finished jobs in the table."""
    from quantq.backends.base import JobFilter, Outcome

    kind = "postgres" if url.startswith("postgres") else "mysql" if url.startswith("mysql") else "sqlite"
    with backends.from_url(url) as backend:
        backend.purge(statuses=list(jobs.JobStatus))
        table = getattr(backend, "names", {"jobs": "quantq_jobs"})["jobs"]
        began = time.perf_counter()
        if kind == "sqlite":
            import sqlite3

            with sqlite3.connect(backend.path) as conn:  # type: ignore[attr-defined]
                conn.execute(FILL[kind].format(n=n))
        else:
            sql_value(url, "SELECT 1")
            _exec(url, FILL[kind].format(jobs=table, n=n))
            _exec(url, f"ANALYZE TABLE {table}" if kind == "mysql" else f"ANALYZE {table}")
        print(f"  {database}: {n:,} finished jobs written in {time.perf_counter() - began:.1f} s", flush=True)
        out = []

        def measure(name: str, fn: Callable[[], Any]) -> None:
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t) * 1000)
            out.append((database, name, statistics.median(times)))

        backend.enqueue(submissions(repeat * 2))

        def claim_and_complete() -> None:
            [claim] = backend.claim(["default"], worker_id="big", hostname="h", lease=30)
            backend.report([Outcome(claim=claim, result=None)])

        measure("claim + complete one job", claim_and_complete)
        measure("get by id (status lookup)", lambda: backend.get(f"old-{n // 2}"))
        measure("list newest 100", lambda: backend.list_jobs(JobFilter(limit=100)))
        measure("list failed, newest 100", lambda: backend.list_jobs(JobFilter(statuses=(jobs.JobStatus.FAILED,), limit=100)))
        measure("list queue q1, page 2", lambda: backend.list_jobs(JobFilter(queue="q1", before=f"old-{n // 3}", limit=100)))
        measure("prune (nothing expired)", backend.prune)
        measure("queue stats", backend.queue_stats)
        backend.purge(statuses=list(jobs.JobStatus))
    return out


def _exec(url: str, statement: str) -> None:
    if url.startswith("mysql"):
        from urllib.parse import urlsplit

        import pymysql

        parts = urlsplit(url)
        conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                               password=parts.password or "", database=parts.path.lstrip("/"), autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()
        return
    import psycopg

    from quantq.backends import _sql

    with psycopg.connect(_sql.split_options(url, {"schema": "", "worker_commit": ""})[0], autocommit=True) as conn:
        conn.execute(statement)


def print_big(rows: list[tuple[str, str, float]], n: int) -> None:
    from rich.console import Console
    from rich.table import Table

    databases = list(dict.fromkeys(r[0] for r in rows))
    table = Table(title=f"With {n:,} finished jobs in the table: median ms per call")
    table.add_column("operation")
    for d in databases:
        table.add_column(d, justify="right")
    for op in dict.fromkeys(r[1] for r in rows):
        table.add_row(op, *[next((f"{ms:.2f}" for d2, o, ms in rows if d2 == d and o == op), "—") for d in databases])
    Console(width=200).print(table)


# ---- the table ---------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if unit == "rate" else f"{value:.2f}"


def print_table(results: list[Result], n: int, heading: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"SQL queues: {n:,} no-op jobs, {CORES} cores (jobs/s; latency in ms){heading}")
    for name in ("system", "database", "enqueue 1/call", "enqueue bulk", "drain 1 proc", "drain best", "best config",
                 "p50 ms", "p99 ms", "note"):
        table.add_column(name, justify="left" if name in ("system", "database", "best config", "note") else "right")
    for r in results:
        table.add_row(r.system, r.database, fmt(r.enqueue_one, "rate"), fmt(r.enqueue_bulk, "rate"), fmt(r.drain_one, "rate"),
                      fmt(r.drain_best, "rate"), r.best_config, fmt(r.p50, "ms"), fmt(r.p99, "ms"), r.note)
    Console(width=200).print(table)


def targets(results: list[Result]) -> list[str]:
    """Issue 6's targets as one round measured them (a line each; a side not run is left out)."""
    by = {(r.system, r.database): r for r in results}
    pg, pgq = by.get(("quantq", "PostgreSQL")), by.get(("pgqueuer", "PostgreSQL"))
    maria, sqlite, huey = by.get(("quantq", "MariaDB")), by.get(("quantq", "SQLite")), by.get(("huey", "SQLite"))
    lines = []

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a and b else "—"

    if pg and pgq:
        lines.append(f"PostgreSQL drain vs pgqueuer: {ratio(pg.drain_one, pgq.drain_one)} with one process, "
                     f"{ratio(pg.drain_best, pgq.drain_best)} best on 2 cores (asked: >= 1)")
    if pg:
        lines.append(f"PostgreSQL p50: {fmt(pg.p50, 'ms')} ms (asked: <= 2)")
    if pg and maria:
        lines.append(f"MariaDB best drain vs PostgreSQL's: {ratio(maria.drain_best, pg.drain_best)} (asked: >= 0.5)")
    if sqlite and huey:
        lines.append(f"SQLite drain vs Huey: {ratio(sqlite.drain_best, huey.drain_best)} (asked: >= 2), "
                     f"p50 {fmt(sqlite.p50, 'ms')} ms (asked: <= 2)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--only", choices=["quantq", "peers", "big"], default=None)
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="finished jobs for the big-table run")
    parser.add_argument("--databases", default="PostgreSQL,MariaDB,SQLite", help="quantq rows to run (prefix match)")
    parser.add_argument("--peers", default="pgqueuer,procrastinate,loop,huey",
                        help="peers to run (procrastinate's drains take ~15 minutes here)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every system this many times, later rounds in the reverse order (a table each)")
    parser.add_argument("--peer-worker", nargs=3, metavar=("KIND", "SCHEMA", "ARG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        run_peer_worker(*args.peer_worker)
        return
    scratch = Scratch()
    rounds: list[list[Result]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.only == "big":  # a separate run: filling a million rows takes a while
                rows = []
                for database, url in (("PostgreSQL", scratch.pg()), ("MariaDB", scratch.mysql()), ("SQLite", f"sqlite:///{tmp}/big.db")):
                    if any(database.startswith(d) for d in args.databases.split(",")):
                        rows += big_table(database, url, args.big_rows)
                print_big(rows, args.big_rows)
                return
            # each contender: (what it is, a function measuring it, whether it is a peer: a peer's
            # failure goes into the table, quantq's ends the run); a round runs them all, and on a
            # shared machine the load drifts within a run, so later rounds go in the reverse order
            contenders: list[tuple[str, Callable[[], list[Result]], bool]] = []
            if args.only in (None, "quantq"):
                for database, url in (("PostgreSQL", scratch.pg()), ("PostgreSQL, worker_commit=async", scratch.pg() + "&worker_commit=async"),
                                      ("MariaDB", scratch.mysql()), ("SQLite", f"sqlite:///{tmp}/q.db")):
                    if any(database.startswith(d) for d in args.databases.split(",")):
                        contenders.append((f"quantq on {database}", lambda database=database, url=url: [
                            quantq_row(database, url, args.jobs, args.latency_samples), backend_loop_row(database, url, args.jobs)], False))
            if args.only in (None, "peers"):
                for name, run in (("pgqueuer", lambda: pgqueuer_row(args.jobs, args.latency_samples, scratch)),
                                  ("procrastinate", lambda: procrastinate_row(args.jobs, args.latency_samples, scratch)),
                                  ("SKIP LOCKED loop", lambda: loop_row(args.jobs, scratch)),
                                  ("huey", lambda: huey_row(args.jobs, args.latency_samples, tmp))):
                    if ("loop" if name == "SKIP LOCKED loop" else name) in args.peers.split(","):
                        contenders.append((name, lambda name=name, run=run: [run()], True))
            for r in range(max(1, args.rounds)):
                results: dict[str, list[Result]] = {}
                for name, measure, peer in (contenders if r % 2 == 0 else contenders[::-1]):
                    print(f"{name} ..." + (f" (round {r + 1})" if args.rounds > 1 else ""), flush=True)
                    try:
                        results[name] = measure()
                    except Exception as exc:
                        if not peer:
                            raise
                        # a peer's failure is reported in the table, not fatal
                        import traceback

                        traceback.print_exc()
                        results[name] = [Result(name, "", note=f"failed: {str(exc)[:60]}")]
                rounds.append([row for name, _, _ in contenders for row in results[name]])  # (the table's order is fixed)
    finally:
        scratch.cleanup()
    for r, results in enumerate(rounds):
        print_table(results, args.jobs, f", round {r + 1} of {len(rounds)}" if len(rounds) > 1 else "")
        for line in targets(results):
            print("  " + line)


if __name__ == "__main__":
    main()
