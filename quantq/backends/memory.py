"""In-process backend: ``memory://``.  For unit tests and ``--immediate`` runs.

A real backend, not a mock: it passes the whole conformance suite.  State lives in
one process, guarded by one lock; a condition variable wakes waiting workers.
"""

from __future__ import annotations

import dataclasses
import itertools
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from quantq import errors, jobs
from quantq.backends import base

S = jobs.JobStatus


@dataclasses.dataclass
class _Record:
    job: jobs.Job
    seq: int
    token: str | None = None
    lease_expires: float = 0.0
    expires_at: float | None = None


class MemoryBackend(base.Backend):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._records: dict[str, _Record] = {}
        self._seq = itertools.count()
        self._paused: set[str] = set()
        self._workers: dict[str, base.WorkerInfo] = {}

    def now(self) -> datetime:
        return jobs.utcnow()

    def _held(self, claim: jobs.Claim, now: float) -> _Record:
        rec = self._records.get(claim.job_id)
        if rec is None or rec.token != claim.token or rec.job.status is not S.RUNNING or rec.lease_expires <= now:
            raise errors.StaleClaim()
        return rec

    # ---- producers -------------------------------------------------------------------------

    def enqueue(self, new_jobs: Sequence[jobs.Job]) -> list[jobs.Job]:
        out = []
        with self._lock:
            now = self.now()
            for job in new_jobs:
                existing = self._records.get(job.id)
                if existing is not None:
                    out.append(existing.job)
                    continue
                status = S.SCHEDULED if job.run_at is not None and job.run_at > now else S.QUEUED
                job = job.replace(status=status, attempts=0, created_at=job.created_at or now, updated_at=now)
                self._records[job.id] = _Record(job=job, seq=next(self._seq))
                out.append(job)
            self._work.notify_all()
        return out

    def get(self, job_id: str) -> jobs.Job | None:
        with self._lock:
            rec = self._records.get(job_id)
            return rec.job if rec else None

    def list_jobs(self, flt: base.JobFilter) -> list[jobs.Job]:
        with self._lock:
            cursor = self._records.get(flt.before) if flt.before is not None else None
            found = [r.job for r in self._records.values() if _matches(r.job, flt)]
        found.sort(key=_newest_first, reverse=True)
        if flt.before is not None:
            if cursor is None:
                return []
            found = [j for j in found if _newest_first(j) < _newest_first(cursor.job)]
        return found[: flt.limit]

    def queue_stats(self) -> list[base.QueueStats]:
        with self._lock:
            by_queue: dict[str, dict[str, int]] = {}
            oldest: dict[str, datetime] = {}
            for rec in self._records.values():
                job = rec.job
                by_queue.setdefault(job.queue, base.empty_counts())[job.status.value] += 1
                if job.status is S.QUEUED and job.created_at is not None:
                    waiting_since = max(job.created_at, job.run_at or job.created_at)
                    if job.queue not in oldest or waiting_since < oldest[job.queue]:
                        oldest[job.queue] = waiting_since
            for name in self._paused:
                by_queue.setdefault(name, base.empty_counts())
            return [
                base.QueueStats(name=name, counts=counts, paused=name in self._paused, oldest_queued_at=oldest.get(name))
                for name, counts in sorted(by_queue.items())
            ]

    def cancel(self, job_id: str) -> jobs.Job:
        with self._lock:
            rec = self._records.get(job_id)
            if rec is None:
                raise errors.JobNotFound(f"no job has id {job_id!r}")
            if rec.job.finished:
                raise errors.InvalidTransition(f"job {job_id} is already {rec.job.status.value}")
            now = self.now()
            rec.token = None
            rec.job = rec.job.replace(status=S.CANCELLED, finished_at=now, updated_at=now)
            rec.expires_at = _expiry(rec.job.failure_ttl, now)
            return rec.job

    def retry(self, job_id: str) -> jobs.Job:
        with self._lock:
            rec = self._records.get(job_id)
            if rec is None:
                raise errors.JobNotFound(f"no job has id {job_id!r}")
            if rec.job.status not in (S.FAILED, S.CANCELLED):
                raise errors.InvalidTransition(f"only failed or cancelled jobs can be retried; job {job_id} is {rec.job.status.value}")
            now = self.now()
            rec.job = rec.job.replace(
                status=S.QUEUED, attempts=0, error=None, result=None, progress=0.0, status_message=None,
                run_at=None, started_at=None, finished_at=None, updated_at=now, worker_id=None, hostname=None,
            )
            rec.seq, rec.expires_at, rec.token = next(self._seq), None, None
            self._work.notify_all()
            return rec.job

    def purge(self, *, queue: str | None = None, statuses: Iterable[jobs.JobStatus] = jobs.FINISHED) -> int:
        wanted = set(statuses) - {S.RUNNING}
        with self._lock:
            doomed = [k for k, r in self._records.items() if r.job.status in wanted and (queue is None or r.job.queue == queue)]
            for key in doomed:
                del self._records[key]
            return len(doomed)

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._lock:
            (self._paused.add if paused else self._paused.discard)(queue)
            self._work.notify_all()

    # ---- workers ---------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1) -> list[jobs.Claim]:
        wanted = set(queues) - self._paused
        with self._lock:
            candidates = [r for r in self._records.values() if r.job.status is S.QUEUED and r.job.queue in wanted]
            candidates.sort(key=lambda r: (-r.job.priority, r.seq))
            now = self.now()
            expires = now + timedelta(seconds=lease)
            claims = []
            for rec in candidates[:limit]:
                rec.token = secrets.token_hex(12)
                rec.lease_expires = expires.timestamp()
                rec.job = rec.job.replace(
                    status=S.RUNNING, attempts=rec.job.attempts + 1, worker_id=worker_id, hostname=hostname,
                    started_at=now, updated_at=now, progress=0.0, status_message=None,
                )
                claims.append(jobs.Claim(job=rec.job, token=rec.token, expires_at=expires))
            return claims

    def renew(self, claims: Sequence[jobs.Claim], lease: float) -> list[jobs.Claim | None]:
        out: list[jobs.Claim | None] = []
        with self._lock:
            now = self.now()
            expires = now + timedelta(seconds=lease)
            for claim in claims:
                try:
                    rec = self._held(claim, now.timestamp())
                except errors.StaleClaim:
                    out.append(None)
                    continue
                rec.lease_expires = expires.timestamp()
                out.append(jobs.Claim(job=rec.job, token=claim.token, expires_at=expires))
        return out

    def lost(self, claims: Sequence[jobs.Claim]) -> set[str]:
        with self._lock:
            now = time.time()
            gone = set()
            for claim in claims:
                try:
                    self._held(claim, now)
                except errors.StaleClaim:
                    gone.add(claim.job_id)
            return gone

    def progress(self, claim: jobs.Claim, percent: float, message: str | None) -> None:
        with self._lock:
            now = self.now()
            rec = self._held(claim, now.timestamp())
            rec.job = rec.job.replace(progress=percent, status_message=message, updated_at=now)

    def complete(self, claim: jobs.Claim, result: Any) -> jobs.Job:
        with self._lock:
            now = self.now()
            rec = self._held(claim, now.timestamp())
            rec.token = None
            rec.job = rec.job.replace(status=S.COMPLETED, result=result, progress=100.0, finished_at=now, updated_at=now)
            rec.expires_at = _expiry(rec.job.result_ttl, now)
            return rec.job

    def fail(self, claim: jobs.Claim, error: jobs.JobError, retry_in: float | None = None) -> jobs.Job:
        with self._lock:
            now = self.now()
            rec = self._held(claim, now.timestamp())
            rec.token = None
            if retry_in is None:
                rec.job = rec.job.replace(status=S.FAILED, error=error, finished_at=now, updated_at=now)
                rec.expires_at = _expiry(rec.job.failure_ttl, now)
            else:
                rec.job = rec.job.replace(status=S.SCHEDULED, error=error, run_at=now + timedelta(seconds=retry_in), updated_at=now)
            return rec.job

    def release(self, claim: jobs.Claim) -> None:
        with self._lock:
            now = self.now()
            try:
                rec = self._held(claim, now.timestamp())
            except errors.StaleClaim:
                return
            rec.token = None
            rec.job = rec.job.replace(status=S.QUEUED, attempts=max(0, rec.job.attempts - 1), updated_at=now, worker_id=None, hostname=None)
            self._work.notify_all()

    # ---- maintenance -----------------------------------------------------------------------

    def promote_due(self) -> int:
        with self._lock:
            now = self.now()
            due = [r for r in self._records.values() if r.job.status is S.SCHEDULED and r.job.run_at is not None and r.job.run_at <= now]
            for rec in due:
                rec.job = rec.job.replace(status=S.QUEUED, updated_at=now)
            if due:
                self._work.notify_all()
            return len(due)

    def reap_expired(self) -> int:
        with self._lock:
            now = self.now()
            ts = now.timestamp()
            expired = [r for r in self._records.values() if r.job.status is S.RUNNING and r.lease_expires <= ts]
            for rec in expired:
                rec.token = None
                if rec.job.attempts >= rec.job.max_attempts:
                    error = jobs.JobError(type="WorkerLost", message=errors.WorkerLost().args[0])
                    rec.job = rec.job.replace(status=S.FAILED, error=error, finished_at=now, updated_at=now)
                    rec.expires_at = _expiry(rec.job.failure_ttl, now)
                else:
                    rec.job = rec.job.replace(status=S.QUEUED, updated_at=now)
            if expired:
                self._work.notify_all()
            return len(expired)

    def prune(self) -> int:
        with self._lock:
            ts = time.time()
            doomed = [k for k, r in self._records.items() if r.expires_at is not None and r.expires_at <= ts]
            for key in doomed:
                del self._records[key]
            return len(doomed)

    # ---- worker registry -------------------------------------------------------------------

    def register_worker(self, info: base.WorkerInfo) -> None:
        with self._lock:
            now = self.now()
            self._workers[info.id] = dataclasses.replace(info, started_at=info.started_at or now, heartbeat_at=now)

    def heartbeat_worker(self, worker_id: str, *, current_jobs: Sequence[str], processed: int, failed: int) -> None:
        with self._lock:
            info = self._workers.get(worker_id)
            if info is not None:
                self._workers[worker_id] = dataclasses.replace(
                    info, heartbeat_at=self.now(), current_jobs=tuple(current_jobs), processed=processed, failed=failed
                )

    def unregister_worker(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    def list_workers(self) -> list[base.WorkerInfo]:
        with self._lock:
            return sorted(self._workers.values(), key=lambda w: w.id)

    def reap_workers(self, max_silence: float) -> int:
        with self._lock:
            limit = self.now() - timedelta(seconds=max_silence)
            dead = [k for k, w in self._workers.items() if w.heartbeat_at is None or w.heartbeat_at < limit]
            for key in dead:
                del self._workers[key]
            return len(dead)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        wanted = set(queues)
        with self._work:
            if any(r.job.status is S.QUEUED and r.job.queue in wanted for r in self._records.values()):
                return
            self._work.wait(timeout)


def _expiry(ttl: int | None, now: datetime) -> float | None:
    return None if ttl is None else now.timestamp() + ttl


def _newest_first(job: jobs.Job) -> tuple[float, str]:
    return (job.created_at.timestamp() if job.created_at else 0.0, job.id)


def _matches(job: jobs.Job, flt: base.JobFilter) -> bool:
    if flt.statuses and job.status not in flt.statuses:
        return False
    if flt.queue is not None and job.queue != flt.queue:
        return False
    if flt.task is not None and job.task != flt.task:
        return False
    created = job.created_at
    if flt.created_after is not None and (created is None or created < flt.created_after):
        return False
    if flt.created_before is not None and (created is None or created >= flt.created_before):
        return False
    return True
