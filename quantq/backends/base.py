"""The backend interface: one semantic contract that every store implements.

``docs/backends.md`` states what each operation guarantees under concurrency, and
``tests/conformance`` checks it for every backend.  Times that decide anything
(lease expiry, due dates, TTLs) come from the backend's own clock.
"""

from __future__ import annotations

import abc
import dataclasses
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from quantq import jobs


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobFilter:
    """What ``list_jobs`` returns: newest first, ``limit`` at a time, continuing ``before`` a job id."""

    statuses: tuple[jobs.JobStatus, ...] = ()
    queue: str | None = None
    task: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    before: str | None = None  #: cursor: the last id of the previous page
    limit: int = 100


@dataclasses.dataclass(frozen=True, kw_only=True)
class QueueStats:
    name: str
    counts: dict[str, int]  #: jobs per status (every status present, zero included)
    paused: bool = False
    oldest_queued_at: datetime | None = None  #: how long the head of the queue has waited


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    id: str
    hostname: str
    pid: int
    queues: tuple[str, ...]
    concurrency: int
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    current_jobs: tuple[str, ...] = ()
    processed: int = 0
    failed: int = 0
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """A finished attempt, for batch reporting: exactly one of result / error applies."""

    claim: jobs.Claim
    result: Any = None
    error: jobs.JobError | None = None
    retry_in: float | None = None  #: with error: seconds until the next attempt, or None for final


def empty_counts() -> dict[str, int]:
    return {status.value: 0 for status in jobs.JobStatus}


class Backend(abc.ABC):
    """A job store.  Subclasses implement the abstract methods; all are thread-safe."""

    url: str = ""

    # ---- producers -------------------------------------------------------------------------

    @abc.abstractmethod
    def enqueue(self, new_jobs: Sequence[jobs.Job]) -> list[jobs.Job]:
        """Store jobs atomically per job.  A job whose id exists is not stored again:
        the existing record is returned in its place (idempotent submission)."""

    @abc.abstractmethod
    def get(self, job_id: str) -> jobs.Job | None: ...

    @abc.abstractmethod
    def list_jobs(self, flt: JobFilter) -> list[jobs.Job]: ...

    @abc.abstractmethod
    def queue_stats(self) -> list[QueueStats]:
        """Counts per queue and status, for every queue that holds a job or is paused."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> jobs.Job:
        """Scheduled, queued or running -> cancelled at once; a running job's claim goes stale,
        so its worker stops it.  Raises ``JobNotFound`` or ``InvalidTransition`` (finished)."""

    @abc.abstractmethod
    def retry(self, job_id: str) -> jobs.Job:
        """Failed or cancelled -> queued, as a fresh run (attempts 0, error and result cleared)."""

    @abc.abstractmethod
    def purge(self, *, queue: str | None = None, statuses: Iterable[jobs.JobStatus] = jobs.FINISHED) -> int:
        """Delete jobs in these statuses (running jobs are never purged); returns how many."""

    @abc.abstractmethod
    def set_paused(self, queue: str, paused: bool) -> None:
        """A paused queue keeps accepting jobs but hands none to workers."""

    # ---- workers ---------------------------------------------------------------------------

    @abc.abstractmethod
    def claim(
        self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1
    ) -> list[jobs.Claim]:
        """Take up to ``limit`` queued jobs, highest priority first, then oldest first.
        No job is handed to two claimants.  Each claim counts an attempt and gets a new token."""

    @abc.abstractmethod
    def renew(self, claims: Sequence[jobs.Claim], lease: float) -> list[jobs.Claim | None]:
        """Extend leases; ``None`` for each claim that is no longer held."""

    @abc.abstractmethod
    def lost(self, claims: Sequence[jobs.Claim]) -> set[str]:
        """Ids of the claims no longer held (cancelled, reclaimed, expired).  Cheap: polled often."""

    @abc.abstractmethod
    def progress(self, claim: jobs.Claim, percent: float, message: str | None) -> None:
        """Record progress; raises ``StaleClaim`` if the claim is not held."""

    @abc.abstractmethod
    def complete(self, claim: jobs.Claim, result: Any) -> jobs.Job:
        """running -> completed; raises ``StaleClaim`` if the claim is not held."""

    @abc.abstractmethod
    def fail(self, claim: jobs.Claim, error: jobs.JobError, retry_in: float | None = None) -> jobs.Job:
        """running -> scheduled in ``retry_in`` seconds, or -> failed when ``retry_in`` is None.
        Raises ``StaleClaim`` if the claim is not held."""

    @abc.abstractmethod
    def release(self, claim: jobs.Claim) -> None:
        """Hand a running job back unrun (drain): -> queued, the attempt not counted."""

    def report(self, outcomes: Sequence[Outcome]) -> list[jobs.Job | None]:
        """Complete or fail several claims; ``None`` where a claim was stale.  Backends may batch."""
        from quantq import errors

        done: list[jobs.Job | None] = []
        for outcome in outcomes:
            try:
                if outcome.error is None:
                    done.append(self.complete(outcome.claim, outcome.result))
                else:
                    done.append(self.fail(outcome.claim, outcome.error, outcome.retry_in))
            except errors.StaleClaim:
                done.append(None)
        return done

    def acknowledge(self, outcomes: Sequence[Outcome]) -> list[bool]:
        """``report`` for callers that only need to know which outcomes were taken (the
        worker): a backend may skip rebuilding the recorded jobs."""
        return [job is not None for job in self.report(outcomes)]

    # ---- maintenance -----------------------------------------------------------------------

    @abc.abstractmethod
    def promote_due(self) -> int:
        """scheduled -> queued for jobs whose run_at has come."""

    @abc.abstractmethod
    def reap_expired(self) -> int:
        """Running jobs whose lease ran out -> queued (a new attempt) or, with no attempts
        left, -> failed with a ``WorkerLost`` error."""

    @abc.abstractmethod
    def prune(self) -> int:
        """Delete finished jobs whose result or failure TTL has passed."""

    # ---- worker registry -------------------------------------------------------------------

    @abc.abstractmethod
    def register_worker(self, info: WorkerInfo) -> None: ...

    @abc.abstractmethod
    def heartbeat_worker(self, worker_id: str, *, current_jobs: Sequence[str], processed: int, failed: int) -> None: ...

    @abc.abstractmethod
    def unregister_worker(self, worker_id: str) -> None: ...

    @abc.abstractmethod
    def list_workers(self) -> list[WorkerInfo]: ...

    @abc.abstractmethod
    def reap_workers(self, max_silence: float) -> int:
        """Forget workers whose last heartbeat is older than ``max_silence`` seconds."""

    # ---- clock, wake-ups, lifecycle --------------------------------------------------------

    @abc.abstractmethod
    def now(self) -> datetime:
        """The backend's clock."""

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Block until work may be available or ``timeout`` passes.  The default polls."""
        time.sleep(timeout)

    def wait_and_claim(
        self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1, timeout: float,
        idle: bool = True,
    ) -> list[jobs.Claim]:
        """``wait_for_work``, then ``claim`` (also when the wait timed out).  A backend that
        can do both in one round trip overrides it: an idle worker's first claim is on the
        path of every job's latency.  ``idle``: the worker runs nothing now (``limit`` is all
        its room), so a backend may hand it a job directly (PostgreSQL does); a busy worker's
        room is for jobs to line up behind its running ones, which an idle worker should get."""
        self.wait_for_work(queues, timeout)
        return self.claim(queues, worker_id=worker_id, hostname=hostname, lease=lease, limit=limit)

    def interrupt_wait(self) -> None:  # noqa: B027 (a default: a polling wait ends at its timeout anyway)
        """End a ``wait_and_claim`` of a busy worker early (thread-safe; a call with no such wait
        in progress ends the next one): the worker has just become idle, and comes back to wait
        as an idle one."""

    def wait_finished(self, job_id: str, timeout: float, *, poll: float = 0.05) -> jobs.Job | None:
        """The job's record as soon as it is finished (completed, failed or cancelled), or as
        it stands when ``timeout`` runs out; None when there is no such job.  The default
        looks again and again, 1 ms apart at first, then up to ``poll`` apart; a backend that
        can be told when a job finishes overrides it."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            job = self.get(job_id)
            left = deadline - time.monotonic()
            if job is None or job.finished or left <= 0:
                return job
            time.sleep(min(delay, left))
            delay = min(delay * 2, max(poll, 0.001))

    def ping(self) -> None:  # noqa: B027 (a default: in-process backends are always there)
        """Raise ``BackendUnavailable`` unless the backend answers."""

    def close(self) -> None:  # noqa: B027 (a default: nothing to release)
        """Release connections.  Safe to call twice."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
