"""SQLite backend: ``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``.  The embedded default.

Safe for many worker processes on one host: WAL mode, every write in a
``BEGIN IMMEDIATE`` transaction (so the busy handler applies and a read never has
to upgrade to a write), a retry loop on top of the busy timeout so "database is
locked" never reaches a user, and a claim that is one UPDATE ... RETURNING.
Idle workers are woken by datagrams (``_wakeup``), not by tight polling.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar
from urllib.parse import parse_qs, urlsplit

from quantq import errors, jobs
from quantq.backends import _sql, _wakeup, base

T = TypeVar("T")
Q = _sql.load_queries("sqlite")
SCHEMA_VERSION = 1
_LOCK_RETRY_FOR = 300.0  # seconds of contention before giving up (never seen in practice)


def path_from_url(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise errors.ConfigError(f"a SQLite URL looks like sqlite:///relative.db or sqlite:////abs/path.db, got {url!r}")
    path = urlsplit(url).path
    # sqlite:///x.db -> "/x.db" from urlsplit; the SQLAlchemy convention makes that relative
    return path[1:] if path.startswith("/") else path


class SQLiteBackend(base.Backend):
    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url)
        if not self.path:
            raise errors.ConfigError("the SQLite URL names no file")
        options = parse_qs(urlsplit(url).query)
        self._synchronous = options.get("synchronous", ["NORMAL"])[0].upper()
        if self._synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise errors.ConfigError(f"synchronous must be off, normal, full or extra, got {self._synchronous!r}")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._wake = _wakeup.Wakeup(os.path.abspath(self.path))
        self._create_schema()

    # ---- connections and transactions ------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise errors.BackendUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _retry(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + _LOCK_RETRY_FOR
        delay = 0.001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise errors.BackendError(f"SQLite error: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn()

        def attempt() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return out

        return self._retry(attempt)

    def _read(self, query: str, params: dict[str, Any]) -> list[sqlite3.Row]:
        conn = self._conn()
        return self._retry(lambda: conn.execute(query, params).fetchall())

    def _create_schema(self) -> None:
        statements = [s.strip() for s in _sql.load_schema("sqlite").split(";") if s.strip()]

        def create(conn: sqlite3.Connection) -> None:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise errors.ConfigError(
                    f"{self.path} has schema version {version}, newer than this quantq understands ({SCHEMA_VERSION})"
                )
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

        self._write(create)

    def now(self) -> datetime:
        return jobs.utcnow()

    def ping(self) -> None:
        self._read("SELECT 1", {})

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()
        self._wake.close()

    # ---- producers -------------------------------------------------------------------------

    def enqueue(self, new_jobs: Sequence[jobs.Job]) -> list[jobs.Job]:
        if not new_jobs:
            return []
        now = time.time()
        rows = []
        for job in new_jobs:
            params = _sql.job_params(job)
            due = job.run_at is not None and job.run_at.timestamp() > now
            params["status"] = "scheduled" if due else "queued"
            params["created_at"] = params["created_at"] or now
            params["now"] = now
            rows.append(params)

        def insert(conn: sqlite3.Connection) -> list[jobs.Job]:
            conn.executemany(Q["insert_job"], rows)
            out = []
            for params in rows:
                row = conn.execute(Q["get_job"], {"id": params["id"]}).fetchone()
                out.append(_sql.job_from_row(row))
            return out

        stored = self._write(insert)
        self._wake.notify()
        return stored

    def get(self, job_id: str) -> jobs.Job | None:
        rows = self._read(Q["get_job"], {"id": job_id})
        return _sql.job_from_row(rows[0]) if rows else None

    def list_jobs(self, flt: base.JobFilter) -> list[jobs.Job]:
        rows = self._read(
            Q["list_jobs"],
            {
                "no_status": not flt.statuses,
                "statuses": json.dumps([s.value for s in flt.statuses]),
                "queue": flt.queue,
                "task": flt.task,
                "after": jobs.to_timestamp(flt.created_after),
                "before_time": jobs.to_timestamp(flt.created_before),
                "cursor": flt.before,
                "limit": flt.limit,
            },
        )
        return [_sql.job_from_row(r) for r in rows]

    def queue_stats(self) -> list[base.QueueStats]:
        counts: dict[str, dict[str, int]] = {}
        for row in self._read(Q["queue_counts"], {}):
            counts.setdefault(row["queue"], base.empty_counts())[row["status"]] = row["n"]
        oldest = {row["queue"]: row["oldest"] for row in self._read(Q["oldest_queued"], {})}
        paused = {row["name"] for row in self._read(Q["paused_queues"], {})}
        for name in paused:
            counts.setdefault(name, base.empty_counts())
        return [
            base.QueueStats(name=name, counts=c, paused=name in paused, oldest_queued_at=jobs.from_timestamp(oldest.get(name)))
            for name, c in sorted(counts.items())
        ]

    def cancel(self, job_id: str) -> jobs.Job:
        rows = self._write(lambda c: c.execute(Q["cancel"], {"id": job_id, "now": time.time()}).fetchall())
        if rows:
            return _sql.job_from_row(rows[0])
        existing = self.get(job_id)
        if existing is None:
            raise errors.JobNotFound(f"no job has id {job_id!r}")
        raise errors.InvalidTransition(f"job {job_id} is already {existing.status.value}")

    def retry(self, job_id: str) -> jobs.Job:
        rows = self._write(lambda c: c.execute(Q["retry"], {"id": job_id, "now": time.time()}).fetchall())
        if rows:
            self._wake.notify()
            return _sql.job_from_row(rows[0])
        existing = self.get(job_id)
        if existing is None:
            raise errors.JobNotFound(f"no job has id {job_id!r}")
        raise errors.InvalidTransition(
            f"only failed or cancelled jobs can be retried; job {job_id} is {existing.status.value}"
        )

    def purge(self, *, queue: str | None = None, statuses: Iterable[jobs.JobStatus] = jobs.FINISHED) -> int:
        params = {"queue": queue, "statuses": json.dumps([s.value for s in statuses])}
        return self._write(lambda c: c.execute(Q["purge"], params).rowcount)

    def set_paused(self, queue: str, paused: bool) -> None:
        self._write(lambda c: c.execute(Q["set_paused"], {"queue": queue, "paused": int(paused)}))
        if not paused:
            self._wake.notify()

    # ---- workers ---------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1) -> list[jobs.Claim]:
        if limit <= 0 or not queues:
            return []
        now = time.time()
        params = {
            "queues": json.dumps(list(queues)),
            "worker_id": worker_id,
            "hostname": hostname,
            "now": now,
            "lease": lease,
            "token": secrets.token_hex(8),
            "limit": limit,
        }
        rows = self._write(lambda c: c.execute(Q["claim"], params).fetchall())
        rows.sort(key=lambda r: (-r["priority"], r["seq"]))
        return [
            jobs.Claim(job=_sql.job_from_row(r), token=r["lease_token"], expires_at=jobs.from_timestamp(r["lease_expires_at"]))  # type: ignore[arg-type]
            for r in rows
        ]

    def renew(self, claims: Sequence[jobs.Claim], lease: float) -> list[jobs.Claim | None]:
        now = time.time()
        expires = jobs.from_timestamp(now + lease)

        def renew_all(conn: sqlite3.Connection) -> list[jobs.Claim | None]:
            out: list[jobs.Claim | None] = []
            for claim in claims:
                cur = conn.execute(Q["renew"], {"id": claim.job_id, "token": claim.token, "now": now, "lease": lease})
                out.append(jobs.Claim(job=claim.job, token=claim.token, expires_at=expires) if cur.rowcount else None)  # type: ignore[arg-type]
            return out

        return self._write(renew_all) if claims else []

    def lost(self, claims: Sequence[jobs.Claim]) -> set[str]:
        if not claims:
            return set()
        rows = self._read(Q["held_tokens"], {"ids": json.dumps([c.job_id for c in claims]), "now": time.time()})
        held = {(r["id"], r["lease_token"]) for r in rows}
        return {c.job_id for c in claims if (c.job_id, c.token) not in held}

    def progress(self, claim: jobs.Claim, percent: float, message: str | None) -> None:
        params = {"id": claim.job_id, "token": claim.token, "progress": percent, "message": message, "now": time.time()}
        if not self._write(lambda c: c.execute(Q["progress"], params).rowcount):
            raise errors.StaleClaim(f"job {claim.job_id}: progress refused, the claim is no longer held")

    def complete(self, claim: jobs.Claim, result: Any) -> jobs.Job:
        done = self.report([base.Outcome(claim=claim, result=result)])[0]
        if done is None:
            raise errors.StaleClaim(f"job {claim.job_id}: completion refused, the claim is no longer held")
        return done

    def fail(self, claim: jobs.Claim, error: jobs.JobError, retry_in: float | None = None) -> jobs.Job:
        done = self.report([base.Outcome(claim=claim, error=error, retry_in=retry_in)])[0]
        if done is None:
            raise errors.StaleClaim(f"job {claim.job_id}: failure report refused, the claim is no longer held")
        return done

    def report(self, outcomes: Sequence[base.Outcome]) -> list[jobs.Job | None]:
        """All outcomes in one transaction: under load, one commit for many jobs."""
        now = time.time()
        statements = []
        for o in outcomes:
            params: dict[str, Any] = {"id": o.claim.job_id, "token": o.claim.token, "now": now}
            if o.error is None:
                params["result"] = _sql.result_json(o.result)
                statements.append((Q["complete"], params))
            else:
                params["error"] = _sql.error_json(o.error)
                if o.retry_in is None:
                    statements.append((Q["fail_final"], params))
                else:
                    params["retry_in"] = o.retry_in
                    statements.append((Q["fail_retry"], params))

        def apply(conn: sqlite3.Connection) -> list[jobs.Job | None]:
            out: list[jobs.Job | None] = []
            for query, params in statements:
                rows = conn.execute(query, params).fetchall()
                out.append(_sql.job_from_row(rows[0]) if rows else None)
            return out

        return self._write(apply) if statements else []

    def release(self, claim: jobs.Claim) -> None:
        self._write(lambda c: c.execute(Q["release"], {"id": claim.job_id, "token": claim.token, "now": time.time()}))
        self._wake.notify()

    # ---- maintenance -----------------------------------------------------------------------

    def promote_due(self) -> int:
        n = self._write(lambda c: c.execute(Q["promote_due"], {"now": time.time()}).rowcount)
        if n:
            self._wake.notify()
        return n

    def reap_expired(self) -> int:
        now = time.time()
        error = _sql.error_json(jobs.JobError(type="WorkerLost", message=errors.WorkerLost().args[0]))

        def reap(conn: sqlite3.Connection) -> int:
            lost = conn.execute(Q["reap_lost"], {"now": now, "error": error}).rowcount
            return lost + conn.execute(Q["reap_requeue"], {"now": now}).rowcount

        n = self._write(reap)
        if n:
            self._wake.notify()
        return n

    def prune(self) -> int:
        return self._write(lambda c: c.execute(Q["prune"], {"now": time.time()}).rowcount)

    # ---- worker registry -------------------------------------------------------------------

    def register_worker(self, info: base.WorkerInfo) -> None:
        params = {
            "id": info.id, "hostname": info.hostname, "pid": info.pid, "queues": json.dumps(list(info.queues)),
            "concurrency": info.concurrency, "now": time.time(), "meta": json.dumps(info.meta),
        }
        self._write(lambda c: c.execute(Q["upsert_worker"], params))

    def heartbeat_worker(self, worker_id: str, *, current_jobs: Sequence[str], processed: int, failed: int) -> None:
        params = {
            "id": worker_id, "now": time.time(), "current_jobs": json.dumps(list(current_jobs)),
            "processed": processed, "failed": failed,
        }
        self._write(lambda c: c.execute(Q["heartbeat_worker"], params))

    def unregister_worker(self, worker_id: str) -> None:
        self._write(lambda c: c.execute(Q["delete_worker"], {"id": worker_id}))

    def list_workers(self) -> list[base.WorkerInfo]:
        return [
            base.WorkerInfo(
                id=r["id"], hostname=r["hostname"], pid=r["pid"], queues=tuple(json.loads(r["queues"])),
                concurrency=r["concurrency"], started_at=jobs.from_timestamp(r["started_at"]),
                heartbeat_at=jobs.from_timestamp(r["heartbeat_at"]), current_jobs=tuple(json.loads(r["current_jobs"])),
                processed=r["processed"], failed=r["failed"], meta=json.loads(r["meta"]),
            )
            for r in self._read(Q["list_workers"], {})
        ]

    def reap_workers(self, max_silence: float) -> int:
        return self._write(lambda c: c.execute(Q["reap_workers"], {"now": time.time(), "max_silence": max_silence}).rowcount)

    # ---- wake-ups --------------------------------------------------------------------------

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        self._wake.listen()  # before the check, so a notify between check and wait is not missed
        if self._read(Q["has_work"], {"queues": json.dumps(list(queues))}):
            return
        self._wake.wait(timeout)
