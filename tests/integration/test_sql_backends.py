"""PostgreSQL and MySQL/MariaDB beyond the shared contract: the plain-INSERT producer
path, malformed rows, SKIP LOCKED, the server's clock, wake-ups, dropped connections,
batched pruning and the schema/prefix options.  Services: tests/services.py."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from quantq import backends, envelope, errors, jobs
from quantq.backends import _sql
from quantq.backends._finish_watch import FinishWatch
from quantq.backends.base import Outcome
from quantq.worker import Worker, WorkerOptions
from tests import backend_factories
from tests.claim_checks import assert_claimed_jobs_are_their_records
from tests.finish_watch_checks import assert_each_ending_wakes_its_waiter

S = jobs.JobStatus
SERVERS = ["postgres", "mysql"]


def raw_connect(url: str) -> Any:
    """An autocommit driver connection to the database a quantq URL names."""
    if url.startswith("mysql"):
        import pymysql

        parts = urlsplit(url)
        return pymysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""), database=parts.path.lstrip("/").split("?")[0], autocommit=True,
        )
    import psycopg

    plain, _ = _sql.split_options(url, {"schema": "", "prefix": ""})
    return psycopg.connect(plain, autocommit=True)


def execute(conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement on a raw connection (%s placeholders on both drivers)."""
    cur = conn.cursor()
    try:
        cur.execute(statement, params)
        return list(cur.fetchall()) if cur.description is not None else []
    finally:
        cur.close()


def open_server(name: str, tmp_path: Path) -> Iterator[str]:
    yield from backend_factories.FACTORIES[name](tmp_path)


@pytest.fixture(params=SERVERS)
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from open_server(request.param, tmp_path)


@pytest.fixture
def sql_backend(server_url: str) -> Iterator[Any]:
    opened = backends.from_url(server_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def raw(server_url: str) -> Iterator[Any]:
    conn = raw_connect(server_url)
    try:
        yield conn
    finally:
        conn.close()


def make(**fields: Any) -> jobs.Job:
    return envelope.parse_submission({"task": "quantq.echo", **fields})


def jobs_table(backend: Any) -> str:
    return backend.names["jobs"]


def run_burst(backend: Any, *, concurrency: int = 2, lease: float = 30.0) -> Worker:
    worker = Worker(backend, WorkerOptions(concurrency=concurrency, mode="thread", burst=True, lease=lease, status_interval=0))
    thread = threading.Thread(target=worker.run)
    thread.start()
    thread.join(60)
    if thread.is_alive():
        worker.stop(immediately=True)
        thread.join(10)
        pytest.fail("the burst worker did not finish within 60 s")
    return worker


# ---- the plain-INSERT producer path (docs/sql-backends.md) ---------------------------------


def test_plain_insert_producer_is_run_by_a_worker_and_reads_the_result_with_select(sql_backend: Any, raw: Any) -> None:
    table = jobs_table(sql_backend)
    # exactly the statements docs/sql-backends.md gives a PHP or SQL producer
    execute(raw, f"INSERT INTO {table} (id, task, args, priority) VALUES (%s, %s, %s, %s)",
            ("order-42", "quantq.echo", json.dumps({"symbol": "MSFT", "window": 20}), 8))
    execute(raw, f"INSERT INTO {table} (id, task) VALUES (%s, %s)", ("order-43", "quantq.noop"))
    queued = sql_backend.get("order-42")
    assert queued.status is S.QUEUED and queued.priority == 8 and queued.args == {"symbol": "MSFT", "window": 20}
    assert queued.max_attempts == jobs.DEFAULT_MAX_ATTEMPTS and queued.result_ttl == jobs.DEFAULT_RESULT_TTL
    assert abs((queued.created_at - sql_backend.now()).total_seconds()) < 5

    worker = run_burst(sql_backend)
    assert worker.processed == 2

    rows = execute(raw, f"SELECT status, result, error, progress, attempts FROM {table} WHERE id = %s", ("order-42",))
    status, result, error, progress, attempts = rows[0]
    assert (status, error, float(progress), attempts) == ("completed", None, 100.0, 1)
    # quantq.echo returns its arguments; psycopg decodes jsonb itself, PyMySQL (like PHP) hands back text
    assert (result if isinstance(result, dict) else json.loads(result)) == {"symbol": "MSFT", "window": 20}


def test_postgres_producer_may_leave_the_id_to_the_database(tmp_path: Path) -> None:
    for url in open_server("postgres", tmp_path):
        with backends.from_url(url) as backend, raw_connect(url) as conn:
            [(job_id,)] = execute(conn, f"INSERT INTO {jobs_table(backend)} (task) VALUES ('quantq.noop') RETURNING id")
            assert backend.get(job_id).status is S.QUEUED


def test_constraints_refuse_a_bad_plain_insert_at_the_door(sql_backend: Any, raw: Any) -> None:
    table = jobs_table(sql_backend)
    for column, value in (("status", "pending"), ("priority", 42), ("max_attempts", 0)):
        with pytest.raises(Exception, match="(?i)check|constraint"):
            execute(raw, f"INSERT INTO {table} (id, task, {column}) VALUES (%s, %s, %s)", (f"bad-{column}", "quantq.noop", value))
    assert sql_backend.list_jobs(backends.JobFilter()) == []


def test_postgres_ids_too_long_for_a_notify_payload_still_finish(pg_url: str) -> None:
    """A plain INSERT may bring an id of any length; a NOTIFY payload holds at most 8,000 bytes.
    Every statement that finishes such a job (malformed, completed, reaped) still goes through."""
    long_ids = ["a" * 9000, "b" * 9000, "c" * 9000]
    with backends.from_url(pg_url) as backend, raw_connect(pg_url) as conn:
        table = jobs_table(backend)
        execute(conn, f"INSERT INTO {table} (id, task) VALUES (%s, 'quantq.noop')", (long_ids[0],))
        execute(conn, f"INSERT INTO {table} (id, task, max_attempts) VALUES (%s, 'quantq.noop', 1)", (long_ids[1],))
        execute(conn, f"INSERT INTO {table} (id, task, args) VALUES (%s, 'quantq.noop', '[1]')", (long_ids[2],))
        claims = {c.job_id: c for c in backend.claim(["default"], worker_id="w", hostname="h", lease=0.5, limit=5)}
        assert backend.get(long_ids[2]).status is S.FAILED  # malformed args: failed by the claim
        backend.complete(claims[long_ids[0]], "done")
        time.sleep(0.7)
        assert backend.reap_expired() == 1  # its lease ran out with no attempt left: failed
        assert [backend.get(i).status for i in long_ids] == [S.COMPLETED, S.FAILED, S.FAILED]


# ---- malformed rows never crash the claimer ------------------------------------------------


@pytest.mark.parametrize("server", SERVERS + ["sqlite"])
def test_malformed_row_is_failed_with_an_envelope_error_and_claiming_goes_on(server: str, tmp_path: Path) -> None:
    for url in open_server(server, tmp_path):
        with backends.from_url(url) as backend:
            backend.enqueue([make(id="good-1", priority="high")])
            table = "quantq_jobs" if server == "sqlite" else jobs_table(backend)
            # PostgreSQL's jsonb refuses text that is not JSON; a JSON array is still not an args object
            bad_args = "[1, 2]" if server == "postgres" else "{not json"
            if server == "sqlite":
                import sqlite3

                conn = sqlite3.connect(backend.path, isolation_level=None)
                conn.execute(f"INSERT INTO {table} (id, task, queue, args, priority, status, max_attempts, created_at, "
                             "updated_at) VALUES ('bad-1', 'quantq.echo', 'default', ?, 9, 'queued', 3, 0, 0)", (bad_args,))
                conn.execute(f"INSERT INTO {table} (id, task, queue, args, priority, status, max_attempts, created_at, "
                             "updated_at) VALUES ('bad-2', 'not a task!', 'default', '{{}}', 9, 'queued', 3, 0, 0)")
                # SQLite has no CHECK: a seed-002 style producer can write its priority word
                conn.execute(f"INSERT INTO {table} (id, task, queue, args, priority, status, max_attempts, created_at, "
                             "updated_at) VALUES ('bad-3', 'quantq.echo', 'default', '{{}}', 'high', 'queued', 3, 0, 0)")
                conn.close()
            else:
                with raw_connect(url) as conn:
                    execute(conn, f"INSERT INTO {table} (id, task, args, priority) VALUES ('bad-1', 'quantq.echo', %s, 9)", (bad_args,))
                    execute(conn, f"INSERT INTO {table} (id, task, priority) VALUES ('bad-2', 'not a task!', 9)")
            claims = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=5)
            assert [c.job_id for c in claims] == ["good-1"]
            for job_id, field in (("bad-1", "args"), ("bad-2", "task"), *([("bad-3", "priority")] if server == "sqlite" else [])):
                failed = backend.get(job_id)  # reads still work on the bad row
                assert failed.status is S.FAILED and failed.error.type == "EnvelopeError"
                assert f"field {field!r}" in failed.error.message and job_id in failed.error.message
            assert backend.get("bad-1").args != {} or server == "postgres"  # the raw text stays visible
            assert backend.claim(["default"], worker_id="w", hostname="h", lease=30) == []


# ---- SKIP LOCKED, the server's clock -------------------------------------------------------


def test_claim_skips_a_row_locked_by_another_transaction_without_waiting(sql_backend: Any, server_url: str) -> None:
    sql_backend.enqueue([make(id="first"), make(id="second")])
    locker = raw_connect(server_url)
    try:
        if server_url.startswith("mysql"):
            locker.begin()
        else:
            locker.autocommit = False
        execute(locker, f"SELECT id FROM {jobs_table(sql_backend)} WHERE id = 'first' FOR UPDATE")
        started = time.monotonic()
        claims = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30)
        assert [c.job_id for c in claims] == ["second"]
        assert time.monotonic() - started < 1.0
    finally:
        locker.rollback()
        locker.close()
    assert [c.job_id for c in sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30)] == ["first"]


def test_a_claimed_job_is_its_record_as_stored(sql_backend: Any, raw: Any) -> None:
    """The claim decodes its rows by its own path, not get()'s; its lease is the stored one."""
    for claim in assert_claimed_jobs_are_their_records(sql_backend):
        [(token, expires)] = execute(raw, f"SELECT lease_token, lease_expires_at FROM {jobs_table(sql_backend)} WHERE id = %s",
                                     (claim.job_id,))
        stored = expires if expires.tzinfo else expires.replace(tzinfo=UTC)  # (MySQL's DATETIME holds UTC)
        assert (claim.token, claim.expires_at) == (token, stored)
        assert abs((claim.expires_at - claim.job.started_at).total_seconds() - 30) < 0.001
        assert sql_backend.lost([claim]) == set()


def test_leases_and_due_dates_follow_the_database_clock_not_the_host(sql_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    host_ahead = time.time() + 7200  # the host's clock is two hours fast
    monkeypatch.setattr(time, "time", lambda: host_ahead)
    monkeypatch.setattr(jobs, "utcnow", lambda: jobs.from_timestamp(host_ahead))
    sql_backend.enqueue([make(id="a")])
    claim = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30)[0]
    db_now = sql_backend.now()
    assert abs((claim.expires_at - db_now).total_seconds() - 30) < 5
    assert abs(db_now.timestamp() - host_ahead) > 3000
    assert sql_backend.reap_expired() == 0 and sql_backend.lost([claim]) == set()
    done = sql_backend.complete(claim, {"ok": 1})
    assert abs((done.finished_at - db_now).total_seconds()) < 5


# ---- wake-ups ------------------------------------------------------------------------------


def test_a_waiting_worker_wakes_on_another_connections_write(server_url: str) -> None:
    with backends.from_url(server_url) as waiter, backends.from_url(server_url) as producer, raw_connect(server_url) as raw:
        waiter.wait_for_work(["default"], 0.05)  # listening / polling is set up
        for write in (lambda: producer.enqueue([make(id="by-quantq")]),
                      lambda: execute(raw, f"INSERT INTO {jobs_table(waiter)} (id, task) VALUES ('by-sql', 'quantq.noop')")):
            timer = threading.Timer(0.2, write)
            timer.start()
            started = time.monotonic()
            waiter.wait_for_work(["default"], 5.0)
            timer.join()
            # PostgreSQL: NOTIFY (a trigger covers plain INSERTs); MySQL: datagram, or polling <= poll_max
            assert time.monotonic() - started < 1.0
            assert waiter.claim(["default"], worker_id="w", hostname="h", lease=30)


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    yield from open_server("postgres", tmp_path)


def test_postgres_waiters_are_told_when_jobs_finish(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The NOTIFY of the statement that finishes a job wakes its waiters: with their fallback
    look an hour away, every way a job ends, by another session, still wakes them at once."""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as worker:
        worker.enqueue([make(id=f"j{i}") for i in range(5)] + [make(id="bad", max_attempts=1), make(id="gone")])
        claims = {c.job_id: c for c in worker.claim(["default"], worker_id="w", hostname="h", lease=30, limit=7)}
        endings = {
            "j0": lambda: worker.complete(claims["j0"], 0),  # one completion
            "j1": lambda: worker.report([Outcome(claim=claims[f"j{i}"], result=i) for i in (1, 2, 3)]),  # a batch
            "j4": lambda: worker.acknowledge([Outcome(claim=claims["j4"], result=4)]),
            "bad": lambda: worker.fail(claims["bad"], jobs.JobError(type="E", message="no")),
            "gone": lambda: worker.cancel("gone"),
        }
        assert_each_ending_wakes_its_waiter(waiter, endings, monkeypatch)
        assert [waiter.wait_finished(f"j{i}", 0).result for i in (2, 3)] == [2, 3]


def test_postgres_waiters_outlive_their_listening_session(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The listening session cut (a server restart): the watcher opens another and wakes every
    waiter to look again, so a job that finished meanwhile is not waited on for RECHECK."""
    monkeypatch.setattr(FinishWatch, "RECHECK", 3600.0)
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as worker, raw_connect(pg_url) as admin:
        worker.enqueue([make(id="a"), make(id="b")])
        claims = {c.job_id: c for c in worker.claim(["default"], worker_id="w", hostname="h", lease=30, limit=2)}
        threading.Timer(0.2, lambda: worker.complete(claims["a"], "a")).start()
        assert waiter.wait_finished("a", 60.0).result == "a"  # the watcher is listening

        def cut_and_finish() -> None:
            execute(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (waiter.application_name,))
            worker.complete(claims["b"], "b")  # perhaps while no session listens

        timer = threading.Timer(0.2, cut_and_finish)
        timer.start()
        started = time.monotonic()
        assert waiter.wait_finished("b", 60.0).result == "b"
        timer.join()
        assert time.monotonic() - started < 10.0


# ---- PostgreSQL: a single enqueue handed to an idle worker ----------------------------------


def wait_in_thread(backend: Any, *, queues: tuple[str, ...] = ("default",), timeout: float = 5.0,
                   limit: int = 2) -> tuple[threading.Thread, dict[str, Any]]:
    """``wait_and_claim`` in a thread, as a worker's claimer calls it once its queues are empty."""
    out: dict[str, Any] = {}

    def run() -> None:
        began = time.monotonic()
        out["claims"] = backend.wait_and_claim(list(queues), worker_id="idle-w", hostname="idle-h", lease=30,
                                               limit=limit, timeout=timeout)
        out["took"] = time.monotonic() - began

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def idle_slots(backend: Any) -> int:
    with raw_connect(backend.url) as raw:
        return execute(raw, f"SELECT count(*) FROM {backend.names['idle']}")[0][0]


def wait_for_slot(backend: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while idle_slots(backend) == 0:
        assert time.monotonic() < deadline, "the waiting worker entered no slot"
        time.sleep(0.01)


def test_postgres_hands_a_single_enqueue_to_an_idle_worker(pg_url: str) -> None:
    """The enqueue inserts the job already claimed by the waiting worker and tells it the id:
    no claim statement runs (started_at is the enqueue's own time), and the claim holds."""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as producer:
        thread, out = wait_in_thread(waiter, timeout=10.0)
        wait_for_slot(waiter)
        stored = producer.enqueue([make(id="handed", args={"x": 1})])[0]
        thread.join()
        assert (stored.status, stored.worker_id, stored.hostname, stored.attempts) == (S.RUNNING, "idle-w", "idle-h", 1)
        assert out["took"] < 5.0  # told, not timed out
        [claim] = out["claims"]
        assert (claim.job_id, claim.job.args, claim.job.status, claim.job.attempts) == ("handed", {"x": 1}, S.RUNNING, 1)
        row = producer.get("handed")
        assert row.started_at == row.created_at and row.worker_id == "idle-w"
        assert 25 < (claim.expires_at - row.started_at).total_seconds() <= 30  # the slot's lease
        assert idle_slots(waiter) == 0  # the enqueue took the slot
        [renewed] = waiter.renew([claim], 60)
        assert renewed is not None and renewed.expires_at > claim.expires_at
        assert waiter.complete(claim, {"ok": 1}).status is S.COMPLETED
        # the next enqueue, with nobody waiting, is queued as ever
        assert producer.enqueue([make(id="after")])[0].status is S.QUEUED


def test_postgres_hands_jobs_to_an_idle_worker_not_to_a_busy_ones_room(pg_url: str) -> None:
    """A worker running a job (its prefetch room free) enters no slot: the next job goes to the
    idle worker, not to wait behind the busy one's running job."""
    with (backends.from_url(pg_url) as busy_store, backends.from_url(pg_url) as idle_store,
          backends.from_url(pg_url) as producer, raw_connect(pg_url) as raw):
        options = {"concurrency": 1, "mode": "thread", "prefetch": 1, "status_interval": 0, "poll_interval": 5.0}
        busy = Worker(busy_store, WorkerOptions(name="busy", **options))
        threads = [threading.Thread(target=busy.run)]
        threads[0].start()
        idle = None
        try:
            producer.enqueue([envelope.parse_submission({"task": "quantq.sleep", "id": "long", "args": {"seconds": 3}})])
            deadline = time.monotonic() + 10
            while producer.get("long").status is not S.RUNNING:
                assert time.monotonic() < deadline, "the busy worker did not start its job"
                time.sleep(0.01)
            idle = Worker(idle_store, WorkerOptions(name="idle", **options))
            threads.append(threading.Thread(target=idle.run))
            threads[1].start()
            wait_for_slot(idle_store)
            time.sleep(0.3)  # (time for the busy worker to enter one too, were it to)
            assert execute(raw, f"SELECT worker_id FROM {idle_store.names['idle']}") == [("idle",)]
            handed = producer.enqueue([make(id="next")])[0]
            assert (handed.status, handed.worker_id) == (S.RUNNING, "idle")
        finally:
            for worker in (busy, idle):
                if worker is not None:
                    worker.stop(immediately=True)
            for thread in threads:
                thread.join(10)


def test_postgres_a_worker_that_becomes_idle_is_handed_the_next_job(pg_url: str) -> None:
    """While its job runs, a worker waits as a busy one (no slot), a second at a time; when the
    job ends it comes back at once to wait as an idle one, not when that second is out (a job
    of 1.5 s ends half-way through its second such wait), so the next job is handed to it."""
    with backends.from_url(pg_url) as store, backends.from_url(pg_url) as producer:
        worker = Worker(store, WorkerOptions(name="w", concurrency=1, mode="thread", prefetch=1, status_interval=0,
                                             poll_interval=30.0))
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            wait_for_slot(store)
            for job_id in ("first", "second"):
                sent = producer.enqueue([envelope.parse_submission({"task": "quantq.sleep", "id": job_id,
                                                                     "args": {"seconds": 1.5}})])[0]
                assert (sent.status, sent.worker_id) == (S.RUNNING, "w"), job_id
                assert producer.wait_finished(job_id, 10).status is S.COMPLETED
                wait_for_slot(store, within=0.3)
        finally:
            worker.stop(immediately=True)
            thread.join(10)


def test_postgres_a_handed_job_wakes_no_other_worker(pg_url: str) -> None:
    """The worker handed a job is told on its own channel; the queue's NOTIFY, which would wake
    every other idle worker to claim nothing, is left out (and sent for a job not handed)."""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as producer, raw_connect(pg_url) as other:
        execute(other, f'LISTEN "{producer.channel}"')
        thread, out = wait_in_thread(waiter, timeout=10.0)
        wait_for_slot(waiter)
        assert producer.enqueue([make(id="handed")])[0].status is S.RUNNING
        thread.join()
        assert [c.job_id for c in out["claims"]] == ["handed"]
        assert list(other.notifies(timeout=0.3)) == []
        assert producer.enqueue([make(id="queued")])[0].status is S.QUEUED
        assert [n.channel for n in other.notifies(timeout=2, stop_after=1)] == [producer.channel]


def test_postgres_a_stray_notify_on_a_workers_channel_is_a_wake_up(pg_url: str) -> None:
    """Anything on the worker's own channel that is not a hand-over (someone else's NOTIFY) only
    wakes it: it withdraws its slot and claims as usual, and the next hand-over works."""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as producer, raw_connect(pg_url) as other:
        for stray in ("garbage", '{"row": {"created_at": "not a time"}}', '{"id": 7}', '[]'):
            thread, out = wait_in_thread(waiter, timeout=10.0)
            wait_for_slot(waiter)
            execute(other, "SELECT pg_notify(%s, %s)", (waiter._own_channel, stray))
            thread.join()
            assert out["claims"] == [] and out["took"] < 5.0 and idle_slots(waiter) == 0, stray
        thread, out = wait_in_thread(waiter, timeout=10.0)
        wait_for_slot(waiter)
        assert producer.enqueue([make(id="after")])[0].status is S.RUNNING
        thread.join()
        assert [c.job_id for c in out["claims"]] == ["after"]


def test_postgres_hands_over_only_what_a_claim_would_take(pg_url: str) -> None:
    """Not handed: a paused queue's job, another queue's, a delayed one, a bulk enqueue's, and a
    submission whose id exists (which must not use up the slot).  The worker then withdraws its
    slot and claims as usual when the queue's channel wakes it."""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as producer:
        producer.enqueue([make(id="dup")])
        waiter.claim(["default"], worker_id="other", hostname="h", lease=30)  # "dup" is running elsewhere
        producer.set_paused("paused", True)
        thread, out = wait_in_thread(waiter, queues=("default", "paused"), timeout=1.0)
        wait_for_slot(waiter)
        assert producer.enqueue([make(id="p", queue="paused")])[0].status is S.QUEUED
        assert producer.enqueue([make(id="o", queue="elsewhere")])[0].status is S.QUEUED
        assert producer.enqueue([make(id="d", delay=60)])[0].status is S.SCHEDULED
        assert producer.enqueue([make(id="dup")])[0].worker_id == "other"  # the existing record
        thread.join()
        assert out["claims"] == [] and idle_slots(waiter) == 0  # woken, withdrew, found nothing to claim
        thread, out = wait_in_thread(waiter, timeout=5.0)
        wait_for_slot(waiter)
        assert {j.status for j in producer.enqueue([make(id="b1"), make(id="b2")])} == {S.QUEUED}
        thread.join()
        assert sorted(c.job_id for c in out["claims"]) == ["b1", "b2"] and idle_slots(waiter) == 0


def test_postgres_passes_over_a_slot_whose_worker_is_gone(pg_url: str) -> None:
    """A slot counts while its worker's session holds its advisory lock: one whose session is
    gone is passed over (the job is queued) and swept by the next worker that enters one; one
    whose session is there gets the job, and the id on its channel."""
    with backends.from_url(pg_url) as producer, raw_connect(pg_url) as live:
        idle = producer.names["idle"]

        def enter(key: int, channel: str) -> None:
            execute(live, f"INSERT INTO {idle} (worker_id, hostname, queues, token, lease, channel, lock_key) "
                          "VALUES ('w', 'h', '{default}', %s, 30, %s, %s)", (f"t{key}", channel, key))

        enter(101, "nobody")  # no session holds lock 101
        assert producer.enqueue([make(id="q")])[0].status is S.QUEUED
        execute(live, "LISTEN live_worker")
        execute(live, "SELECT pg_advisory_lock(%s, 102)", (producer._lock_class,))
        enter(102, "live_worker")
        handed = producer.enqueue([make(id="h")])[0]
        assert handed.status is S.RUNNING
        assert execute(live, f"SELECT lease_token FROM {jobs_table(producer)} WHERE id = 'h'") == [("t102",)]
        told = [(n.channel, json.loads(n.payload)["row"]["id"]) for n in live.notifies(timeout=2, stop_after=1)]
        assert told == [("live_worker", "h")]
        assert sorted(r[0] for r in execute(live, f"SELECT lock_key FROM {idle}")) == [101]
        with backends.from_url(pg_url) as waiter:  # a worker entering its slot sweeps the dead one
            thread, out = wait_in_thread(waiter, queues=("none",), timeout=0.3)
            thread.join()
        assert execute(live, f"SELECT count(*) FROM {idle}")[0][0] == 0


def test_postgres_a_handed_job_is_its_record_told_whole_or_read_back(pg_url: str) -> None:
    """The NOTIFY carries the row (no read-back), or only the id when the row is too long for
    a payload (8,000 bytes): either way the claimed job equals get()'s record, every field."""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as producer:
        queries = waiter.Q
        for job_id, args in (("told", {"x": [1, 2.5, "s"], "when": "2026-01-01T00:00:00"}), ("read", {"big": "x" * 9000})):
            # told whole, the row is not read back: a read-back would fail here
            waiter.Q = {**queries, "handed_job": "SELECT 1 / 0"} if job_id == "told" else queries
            thread, out = wait_in_thread(waiter, timeout=10.0)
            wait_for_slot(waiter)
            producer.enqueue([envelope.parse_submission({
                "task": "quantq.echo", "id": job_id, "args": args, "priority": 7, "meta": {"m": {"n": 1}},
                "timeout": 2.5, "max_attempts": 4, "result_ttl": None, "failure_ttl": 60, "parent_id": "p1",
                "depends_on": ["d1", "d2"]})])
            thread.join()
            [claim] = out["claims"]
            assert claim.job == producer.get(job_id) and claim.job.args == args
            assert (claim.job.status, claim.job.worker_id, claim.job.depends_on) == (S.RUNNING, "idle-w", ("d1", "d2"))
            assert waiter.complete(claim, job_id).result == job_id


def test_postgres_a_handed_job_cancelled_before_it_is_read_is_not_run(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """(A job too long to be told whole: one told whole is as a claimed job, whose cancel the
    worker learns while it runs.)"""
    with backends.from_url(pg_url) as waiter, backends.from_url(pg_url) as producer:
        read_back = waiter._take_handed

        def cancelled_first(told: list[str]) -> list[jobs.Claim]:
            assert producer.cancel("c").status is S.CANCELLED  # between the hand-over and the read
            return read_back(told)

        monkeypatch.setattr(waiter, "_take_handed", cancelled_first)
        thread, out = wait_in_thread(waiter, timeout=10.0)
        wait_for_slot(waiter)
        assert producer.enqueue([make(id="c", args={"big": "x" * 9000})])[0].status is S.RUNNING
        thread.join()
        assert out["claims"] == [] and producer.get("c").status is S.CANCELLED


# ---- dropped connections and an unreachable server -----------------------------------------


def kill_sessions(backend: Any, url: str) -> int:
    """What a database restart does to clients: every session of this backend is cut."""
    with raw_connect(url) as admin:
        if url.startswith("mysql"):
            ids = backend.connection_ids()
            for thread_id in ids:
                try:
                    execute(admin, f"KILL CONNECTION {int(thread_id)}")
                except Exception:  # already gone
                    pass
            return len(ids)
        rows = execute(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                       (backend.application_name,))
        return len(rows)


def test_operations_survive_killed_sessions(sql_backend: Any, server_url: str) -> None:
    sql_backend.enqueue([make(id="before")])
    sql_backend.wait_for_work(["other"], 0.01)
    assert kill_sessions(sql_backend, server_url) >= 1
    sql_backend.enqueue([make(id="after")])
    claims = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=2)
    assert sorted(c.job_id for c in claims) == ["after", "before"]
    kill_sessions(sql_backend, server_url)
    for claim in claims:
        sql_backend.complete(claim, "done")
    kill_sessions(sql_backend, server_url)
    sql_backend.wait_for_work(["default"], 0.05)  # the listener reconnects (or reports unavailable once)
    assert {j.status for j in sql_backend.list_jobs(backends.JobFilter())} == {S.COMPLETED}


def test_worker_loses_no_job_while_its_sessions_are_killed(sql_backend: Any, server_url: str) -> None:
    sql_backend.enqueue([make(id=f"j{i:03d}", task="quantq.noop") for i in range(300)])
    stop = threading.Event()

    def cutter() -> None:  # ten outages, 0.2 s apart, while the worker drains
        for _ in range(10):
            if stop.wait(0.2):
                return
            kill_sessions(sql_backend, server_url)

    thread = threading.Thread(target=cutter)
    thread.start()
    try:
        run_burst(sql_backend, concurrency=4, lease=1.0)
    finally:
        stop.set()
        thread.join()
    # A claim whose commit was cut off runs again once its short lease has run out.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        time.sleep(1.1)
        sql_backend.reap_expired()
        run_burst(sql_backend, concurrency=4, lease=1.0)
        stats = {s.name: s.counts for s in sql_backend.queue_stats()}["default"]
        if stats["completed"] == 300:
            break
    assert stats == {"scheduled": 0, "queued": 0, "running": 0, "completed": 300, "failed": 0, "cancelled": 0}


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/test?retry_for=0.3", "mysql://root@127.0.0.1:1/test?retry_for=0.3"])
def test_unreachable_server_raises_backend_unavailable_quickly(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(errors.BackendUnavailable, match="unavailable"):
        backends.from_url(url)
    assert time.monotonic() - started < 5


# ---- pruning, options ----------------------------------------------------------------------


def test_prune_deletes_in_batches_and_keeps_live_jobs(sql_backend: Any, raw: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    table = jobs_table(sql_backend)
    past = "now() - interval '1 hour'" if not hasattr(sql_backend, "connection_ids") else "UTC_TIMESTAMP(6) - INTERVAL 1 HOUR"
    execute(raw, f"INSERT INTO {table} (id, task, status, finished_at, expires_at) "
                 f"SELECT CONCAT('old-', n), 'quantq.noop', 'completed', {past}, {past} FROM "
                 + ("generate_series(1, 250) AS n" if "now()" in past else
                    "(SELECT seq AS n FROM seq_1_to_250) AS s"))
    sql_backend.enqueue([make(id="live")])
    monkeypatch.setattr(sql_backend, "prune_batch", 100)
    batches = []
    original = sql_backend._count

    def counting(cur: Any, name: str, params: Any) -> int:
        n = original(cur, name, params)
        if name == "prune":
            batches.append(n)
        return n

    monkeypatch.setattr(sql_backend, "_count", counting)
    assert sql_backend.prune() == 250
    assert batches == [100, 100, 50]
    assert [j.id for j in sql_backend.list_jobs(backends.JobFilter())] == ["live"]


def test_schemas_and_prefixes_keep_installations_apart(tmp_path: Path) -> None:
    for server in SERVERS:
        first = open_server(server, tmp_path)
        second = open_server(server, tmp_path)
        url_a, url_b = next(first), next(second)
        try:
            with backends.from_url(url_a) as a, backends.from_url(url_b) as b:
                a.enqueue([make(id="only-in-a")])
                assert b.get("only-in-a") is None and b.claim(["default"], worker_id="w", hostname="h", lease=5) == []
                assert a.get("only-in-a") is not None
        finally:
            for gen in (first, second):
                for _ in gen:
                    pass


@pytest.mark.parametrize(
    "url, problem",
    [
        ("postgresql://postgres@127.0.0.1:5432/test?schema=Bad-Name", "schema"),
        ("postgresql://postgres@127.0.0.1:5432/test?pool_max=0", "pool_max"),
        ("mysql://root@127.0.0.1:3306/test?prefix=x;drop", "prefix"),
        ("mysql://root@127.0.0.1:3306/test?poll_max=abc", "poll_max"),
        ("mysql://root@127.0.0.1:3306/test?colour=blue", "colour"),
        ("mysql://root@127.0.0.1:3306/", "database"),
        ("postgresql://postgres@127.0.0.1:5432/test?migrate=sometimes", "migrate"),
        # NOTIFY channels are named after both: PostgreSQL refused every enqueue ("channel name too long")
        (f"postgresql://postgres@127.0.0.1:5432/test?schema={'s' * 40}&prefix={'p' * 14}_", "schema and prefix"),
    ],
)
def test_bad_url_options_are_refused_with_the_option_named(url: str, problem: str) -> None:
    with pytest.raises(errors.ConfigError, match=problem):
        backends.from_url(url)


def test_the_longest_schema_and_prefix_allowed_together_still_enqueue_and_notify() -> None:
    from tests.services import service_url

    url = service_url("postgres")
    schema, prefix = "s" * 30 + os.urandom(5).hex(), "p" * 12 + "_"  # 53 characters: the channel names just fit
    try:
        with backends.from_url(f"{url}{'&' if '?' in url else '?'}schema={schema}&prefix={prefix}") as backend:
            backend.enqueue([make(id="long")])
            [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
            threading.Timer(0.2, backend.complete, (claim, "ok")).start()
            assert backend.wait_finished("long", 30.0).result == "ok"
    finally:
        with raw_connect(url) as admin:
            execute(admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_lenient_reads_show_unparsed_json_instead_of_failing() -> None:
    row = {"id": "x", "task": "t", "queue": "q", "args": "{oops", "priority": 5, "status": "failed", "attempts": 1,
           "max_attempts": 3, "timeout": None, "run_at": None, "created_at": 0.0, "started_at": None,
           "finished_at": None, "updated_at": 0.0, "worker_id": None, "hostname": None, "progress": 0,
           "status_message": None, "result": None, "error": None, "result_ttl": None, "failure_ttl": None,
           "meta": "{}", "parent_id": None, "depends_on": "[]"}
    assert _sql.job_from_row(row).args == {"_unparsed": "{oops"}
    with pytest.raises(errors.EnvelopeError, match="'args'"):
        _sql.job_from_row(row, strict=True)


def test_a_batch_of_completions_keeps_each_result_and_refuses_stale_claims(sql_backend: Any) -> None:
    sql_backend.enqueue([make(id=f"b{i}") for i in range(6)])
    claims = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=6)
    sql_backend.cancel("b2")
    stale = jobs.Claim(job=claims[4].job, token="not-the-token", expires_at=claims[4].expires_at)
    outcomes = [Outcome(claim=c, result={"n": i, "text": "ÅÄÖ ' \" \\\\"}) for i, c in enumerate(claims) if i != 4]
    done = sql_backend.report([*outcomes, Outcome(claim=stale, result="stale")])
    assert [d.id if d else None for d in done] == ["b0", "b1", None, "b3", "b5", None]
    for i in (0, 1, 3, 5):
        job = sql_backend.get(f"b{i}")
        assert job.status is S.COMPLETED and job.result == {"n": i, "text": "ÅÄÖ ' \" \\\\"}
    assert sql_backend.get("b2").status is S.CANCELLED and sql_backend.get("b4").status is S.RUNNING


def test_batched_completions_return_the_records_as_stored_and_acknowledge_says_which_were_taken(sql_backend: Any) -> None:
    """PostgreSQL's batched completion returns only the changed columns and lays them over
    the claimed job: what report() returns must still be exactly what get() reads back,
    including a status message the run's progress left."""
    sql_backend.enqueue([make(id=f"r{i}", args={"i": i}, meta={"who": "test"}) for i in range(4)])
    claims = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=4)
    sql_backend.progress(claims[1], 40.0, "half way")
    done = sql_backend.report([Outcome(claim=c, result={"v": [1.5, None, "x"]}) for c in claims])
    assert all(d is not None for d in done)
    for d in done:
        assert d == sql_backend.get(d.id)
    assert done[1].status_message == "half way" and done[1].progress == 100
    # acknowledge: the same writes, only which outcomes were taken
    sql_backend.enqueue([make(id=f"a{i}") for i in range(3)])
    taken = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=3)
    sql_backend.cancel(taken[0].job_id)
    assert sql_backend.acknowledge([Outcome(claim=c, result=i) for i, c in enumerate(taken)]) == [False, True, True]
    assert [sql_backend.get(c.job_id).status for c in taken] == [S.CANCELLED, S.COMPLETED, S.COMPLETED]
    assert sql_backend.get(taken[2].job_id).result == 2


def test_async_worker_commits_leave_producers_durable(tmp_path: Path) -> None:
    """worker_commit=async: the workers' writes run on sessions with synchronous_commit off,
    everything else (enqueues first) on durable ones; a claim is one autocommit statement."""
    server = open_server("postgres", tmp_path)
    url = next(server)
    backend = backends.from_url(url + "&worker_commit=async")
    try:
        setting = "SELECT current_setting('synchronous_commit') AS s"
        assert backend._tx(lambda cur: cur.execute(setting).fetchone(), worker=True, single=True)["s"] == "off"
        assert backend._tx(lambda cur: cur.execute(setting).fetchone())["s"] == "on"
        assert backend._tx(lambda cur: cur.execute(setting).fetchone(), write=False)["s"] == "on"
        # a claim runs outside any explicit transaction block: its statement is its own transaction
        backend.enqueue([make(id="solo")])
        in_block = backend._tx(lambda cur: cur.execute("SELECT now() = statement_timestamp() AS own").fetchone(), worker=True, single=True)
        assert in_block["own"] is True
        [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
        assert backend.complete(claim, "ok").status is S.COMPLETED
    finally:
        backend.close()
    try:
        with pytest.raises(errors.ConfigError, match="worker_commit"):
            backends.from_url(url + "&worker_commit=sometimes")
    finally:
        next(server, None)  # drops the schema


@pytest.mark.parametrize("name", ["sqlite", *SERVERS])
def test_acknowledge_of_single_outcomes_and_failures_says_which_were_taken(name: str, tmp_path: Path) -> None:
    """acknowledge() without reading the rows back: one completion alone, failures final and
    retried, and stale claims among them; the store holds what report() would have written."""
    server = open_server(name, tmp_path)
    backend = backends.from_url(next(server))
    try:
        backend.enqueue([make(id=f"s{i}", max_attempts=3) for i in range(5)])
        c = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=5)
        stale = jobs.Claim(job=c[1].job, token="not-the-token", expires_at=c[1].expires_at)
        assert backend.acknowledge([Outcome(claim=c[0], result={"one": "åß"})]) == [True]
        assert backend.acknowledge([Outcome(claim=stale, result=1)]) == [False]
        boom = jobs.JobError(type="ValueError", message="boom")
        assert backend.acknowledge([Outcome(claim=c[2], error=boom), Outcome(claim=c[3], error=boom, retry_in=60.0),
                                    Outcome(claim=stale, error=boom), Outcome(claim=c[4], result=[1.5])]) == [True, True, False, True]
        assert backend.acknowledge([Outcome(claim=c[2], error=boom)]) == [False]  # already failed
        got = {j.id: j for j in (backend.get(f"s{i}") for i in range(5))}
        assert got["s0"].status is S.COMPLETED and got["s0"].result == {"one": "åß"}
        assert got["s1"].status is S.RUNNING
        assert got["s2"].status is S.FAILED and got["s2"].error == boom
        assert got["s3"].status is S.SCHEDULED and got["s3"].error == boom
        assert got["s4"].status is S.COMPLETED and got["s4"].result == [1.5]
    finally:
        backend.close()
        for _ in server:
            pass


def test_sqlite_batched_completions_store_the_same_text_and_tell_a_repeated_id_apart(tmp_path: Path) -> None:
    """SQLite completes a batch in one UPDATE ... FROM json_each: each result is stored as the very
    text a completion alone stores, report() returns what get() reads, and a batch naming one job
    twice (a stale claim beside the live one) is completed statement by statement."""
    backend = backends.from_url(f"sqlite:///{tmp_path}/batch.db")
    try:
        backend.enqueue([make(id=f"q{i}") for i in range(5)])
        c = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=5)
        backend.progress(c[1], 40.0, "half way")
        values = [{"a": "å\"\\\n\u2028 '"}, [1.5, None, 1e300], "text", 0, None]
        done = backend.report([Outcome(claim=ci, result=v) for ci, v in zip(c, values, strict=True)])
        assert [d.id for d in done] == [f"q{i}" for i in range(5)]
        for d, v in zip(done, values, strict=True):
            assert d == backend.get(d.id) and d.result == v
            assert backend._read("get_job", {"id": d.id})[0]["result"] == json.dumps(v, separators=(",", ":"))
        assert done[1].status_message == "half way" and done[1].progress == 100
        backend.enqueue([make(id="r0"), make(id="r1")])
        live = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=2)
        stale = jobs.Claim(job=live[0].job, token="not-the-token", expires_at=live[0].expires_at)
        assert backend.acknowledge([Outcome(claim=stale, result=1), *(Outcome(claim=x, result=2) for x in live)]) == [False, True, True]
        assert backend.get("r0").result == 2 and backend.get("r1").status is S.COMPLETED
    finally:
        backend.close()


def test_a_workers_held_claims_are_renewed_in_one_statement(sql_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 claims renewed without a statement per claim (a worker with jobs lined up holds
    hundreds, and one statement each outlasted a 1.5 s lease on a busy server)."""
    sql_backend.enqueue([make(id=f"h{i}") for i in range(300)])
    held = sql_backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=300)
    monkeypatch.setattr(sql_backend, "_update_returning", lambda *a, **k: pytest.fail("renewed one by one"))
    renewed = sql_backend.renew(held, 60)
    assert len(held) == 300 and all(r is not None and r.expires_at > c.expires_at for r, c in zip(renewed, held, strict=True))
