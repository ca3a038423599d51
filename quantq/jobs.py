"""The job: a frozen value with no backend inside and no persistence methods.

Backends turn rows or hashes into :class:`Job` values; the envelope module turns
them into JSON.  State changes happen only through the backend interface, which
enforces the transitions in :data:`TRANSITIONS`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import time
from datetime import UTC, datetime
from typing import Any


class JobStatus(str, enum.Enum):  # noqa: UP042 (StrEnum changes str() and format() of members)
    SCHEDULED = "scheduled"  #: run_at lies in the future (delayed, or a retry's back-off)
    QUEUED = "queued"  #: waiting for a worker
    RUNNING = "running"  #: claimed by a worker that holds its lease
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

#: Which status may follow which.  ``running -> queued`` is a lost lease or a
#: drain handing the job back; ``failed/cancelled -> queued`` is an explicit retry.
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.SCHEDULED: frozenset({JobStatus.QUEUED, JobStatus.CANCELLED}),
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.SCHEDULED, JobStatus.CANCELLED}),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.COMPLETED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.SCHEDULED,
            JobStatus.QUEUED,
        }
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
}

#: Seeds' status words, as their compatibility surfaces speak them.
SEED_STATUS_WORDS = {"pending": JobStatus.QUEUED, "processing": JobStatus.RUNNING, "error": JobStatus.FAILED}

#: Priorities are 0-9, higher runs first; the seeds' words map onto three of them.
PRIORITY_WORDS = {"low": 2, "normal": 5, "high": 8}
DEFAULT_PRIORITY = PRIORITY_WORDS["normal"]
MIN_PRIORITY, MAX_PRIORITY = 0, 9

DEFAULT_QUEUE = "default"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_RESULT_TTL = 24 * 3600  # seed 003: results kept a day
DEFAULT_FAILURE_TTL = 7 * 24 * 3600  # seed 003: failures kept a week


def priority_word(priority: int) -> str:
    """The seed word nearest to a numeric priority (for compatibility surfaces)."""
    if priority >= 7:
        return "high"
    if priority <= 3:
        return "low"
    return "normal"


def new_job_id() -> str:
    """A UUIDv7-style id: time-ordered, so ids sort by creation and index well."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    # formatted here, not through uuid.UUID (a third of the call, more on a cold CPU: an idle
    # producer's single enqueue pays it on the job's latency)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_timestamp(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def to_timestamp(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class JobError:
    """Why an attempt or a job failed."""

    type: str  #: exception class name, e.g. ``ValueError`` or ``JobTimeout``
    message: str
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> JobError | None:
        if not data:
            return None
        return cls(type=str(data.get("type", "Error")), message=str(data.get("message", "")), traceback=data.get("traceback"))

    @classmethod
    def from_exception(cls, exc: BaseException, traceback: str | None = None) -> JobError:
        return cls(type=type(exc).__name__, message=str(exc), traceback=traceback)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """A job as the backend last recorded it."""

    id: str  #: producers may choose their own; enqueueing an existing id is a no-op
    task: str  #: registered task name, e.g. ``quantq.sleep``
    queue: str = DEFAULT_QUEUE
    args: dict[str, Any] = dataclasses.field(default_factory=dict)  #: JSON object
    priority: int = DEFAULT_PRIORITY  #: 0-9, higher first
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0  #: claims so far, including the running one
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout: float | None = None  #: seconds per attempt; the process is killed past it
    run_at: datetime | None = None  #: not before this time (delays and back-off)
    created_at: datetime | None = None
    started_at: datetime | None = None  #: start of the latest attempt
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    worker_id: str | None = None
    hostname: str | None = None
    progress: float = 0.0  #: 0-100
    status_message: str | None = None
    result: Any = None  #: JSON value returned by the task
    error: JobError | None = None
    result_ttl: int | None = DEFAULT_RESULT_TTL  #: seconds a completed job is kept; None keeps it
    failure_ttl: int | None = DEFAULT_FAILURE_TTL  #: seconds a failed or cancelled job is kept
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  #: caller's own data
    parent_id: str | None = None  #: the job whose output started this one (pipelines)
    depends_on: tuple[str, ...] = ()  #: jobs this one was declared to follow (pipelines)

    def replace(self, **changes: Any) -> Job:
        """A copy with ``changes``, as ``dataclasses.replace`` makes it, but through the slots'
        own setters (see job_from_fields): stores make one per job they write."""
        unknown = changes.keys() - _JOB_FIELDS
        if unknown:
            raise TypeError(f"Job has no field {min(unknown)!r}")
        job = object.__new__(Job)
        for name, set_ in _JOB_SETTERS:
            set_(job, changes[name] if name in changes else getattr(self, name))
        return job

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


#: each field's name and its slot's own setter (see job_from_fields)
_JOB_SETTERS = tuple((name, getattr(Job, name).__set__) for name in Job.__slots__)
_JOB_FIELDS = frozenset(Job.__slots__)


def job_from_fields(fields: dict[str, Any]) -> Job:
    """``Job(**fields)`` for a dict that names every field, at a third less: what stores do
    for each job they read back (a claim of many short jobs builds thousands a second, and a
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``)."""
    job = object.__new__(Job)
    for name, set_ in _JOB_SETTERS:
        set_(job, fields[name])
    return job


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """A worker's hold on a running job.  Every claim gets a fresh token (fencing):
    renew, progress, complete, fail and release apply only while it still matches."""

    job: Job
    token: str
    expires_at: datetime  #: judged by the backend's clock

    @property
    def job_id(self) -> str:
        return self.job.id
