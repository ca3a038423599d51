"""Request and response models: what the OpenAPI document publishes and what the routes return."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
QUEUE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$"
TASK_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,199}$"

Status = Literal["scheduled", "queued", "running", "completed", "failed", "cancelled"]
StatusWord = Literal["scheduled", "queued", "running", "completed", "failed", "cancelled", "pending", "processing", "error"]
PriorityWord = Literal["high", "normal", "low"]


class ErrorResponse(BaseModel):
    """Every error: a stable machine code, a sentence for people, and details (fields, known tasks...)."""

    code: str = Field(examples=["unknown_task"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class JobSubmission(BaseModel):
    """One job to enqueue.  Options left out take the task's defaults."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=TASK_PATTERN, examples=["quantq.echo"])
    args: dict[str, Any] = Field(default_factory=dict, description="The task's keyword arguments (see GET /api/tasks).")
    id: str | None = Field(None, pattern=ID_PATTERN, description="Caller-chosen id: submitting it again returns the existing job (idempotency).")
    queue: str | None = Field(None, pattern=QUEUE_PATTERN)
    priority: int | PriorityWord | None = Field(None, description="0-9 (9 runs first) or high / normal / low.")
    delay: float | None = Field(None, ge=0, le=10 * 365 * 86400, description="Seconds to wait before the job may run.")
    run_at: str | float | None = Field(None, description="ISO 8601 time with offset, or epoch seconds; not with delay.")
    timeout: float | None = Field(None, gt=0, le=30 * 86400, description="Hard limit in seconds; null means none.")
    max_attempts: int | None = Field(None, ge=1, le=1000)
    result_ttl: int | None = Field(None, ge=0, le=10 * 365 * 86400)
    failure_ttl: int | None = Field(None, ge=0, le=10 * 365 * 86400)
    meta: dict[str, Any] | None = None
    parent_id: str | None = Field(None, pattern=ID_PATTERN)
    depends_on: list[str] | None = Field(None, max_length=1000)


class BatchSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[JobSubmission] = Field(min_length=1, description="Validated all first; stored only if every one is valid.")


class JobErrorModel(BaseModel):
    type: str
    message: str
    traceback: str | None = None


class JobSummary(BaseModel):
    """A job as listings return it: everything but the result."""

    v: int
    id: str
    task: str
    queue: str
    args: dict[str, Any]
    priority: int = Field(ge=0, le=9)
    status: Status
    attempts: int
    max_attempts: int
    timeout: float | None
    run_at: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    updated_at: str | None
    worker_id: str | None
    hostname: str | None
    progress: float
    status_message: str | None
    error: JobErrorModel | None
    result_ttl: int | None
    failure_ttl: int | None
    meta: dict[str, Any]
    parent_id: str | None
    depends_on: list[str]


class JobRecord(JobSummary):
    """The full job record (the wire format of docs/protocol.md)."""

    result: Any = None


class JobList(BaseModel):
    jobs: list[JobSummary]
    next_cursor: str | None = Field(description="Pass as `before` for the next page; null on the last page.")


class BatchResult(BaseModel):
    jobs: list[JobRecord]
    created: list[bool] = Field(description="Per job: false when the id existed and the stored job is returned.")


class JobResult(BaseModel):
    id: str
    status: Literal["completed"]
    result: Any


class JobProgress(BaseModel):
    id: str
    status: Status
    progress: float
    status_message: str | None
    attempts: int
    updated_at: str | None


class FinishedLastMinute(BaseModel):
    completed: int
    failed: int


class QueueInfo(BaseModel):
    name: str
    counts: dict[str, int] = Field(description="Jobs per status.")
    paused: bool
    depth: int = Field(description="Jobs waiting to run (queued).")
    scheduled: int
    running: int
    oldest_queued_at: str | None
    oldest_wait_seconds: float | None
    finished_last_minute: FinishedLastMinute = Field(description="Throughput, counted among the newest finished jobs.")


class QueueList(BaseModel):
    queues: list[QueueInfo]


class WorkerView(BaseModel):
    id: str
    hostname: str
    pid: int
    queues: list[str]
    concurrency: int
    current_jobs: list[str]
    started_at: str | None
    heartbeat_at: str | None
    heartbeat_age_seconds: float | None
    alive: bool
    processed: int
    failed: int
    meta: dict[str, Any]


class WorkerList(BaseModel):
    workers: list[WorkerView]


class WorkerCounts(BaseModel):
    total: int
    alive: int


class Overview(BaseModel):
    """Seed 002's monitor overview: workers, jobs per status, queues."""

    time: str
    backend: str
    workers: WorkerCounts
    jobs: dict[str, int] = Field(description="Jobs per status over every queue.")
    queues: list[QueueInfo]
    tasks: list[str]


class TaskInfo(BaseModel):
    name: str
    description: str
    defaults: dict[str, Any]
    args_schema: dict[str, Any] = Field(description="JSON Schema of the task's arguments.")


class TaskList(BaseModel):
    tasks: list[TaskInfo]


class Health(BaseModel):
    status: Literal["ok", "ready"]


# ---- compatibility surfaces --------------------------------------------------------------------


class DeeperSubmitted(BaseModel):
    """Seed 000: the compute call answers at once with the job id."""

    success: bool
    job_id: str
    status: Literal["queued", "processing", "completed", "failed"]
    message: str


class DeeperStatus(BaseModel):
    job_id: str
    status: Literal["queued", "processing", "completed", "failed"]
    progress: float
    message: str | None
    created_at: str | None
    started_at: str | None
    completed_at: str | None
    error: str | None


class MonitorJobRequest(BaseModel):
    """Seed 002's add_job body."""

    model_config = ConfigDict(extra="forbid")

    job_type: str = Field(pattern=TASK_PATTERN, examples=["quantq.echo"])
    priority: int | PriorityWord = "normal"
    parameters: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = Field(None, pattern=QUEUE_PATTERN)


class MonitorResponse(BaseModel):
    success: bool
    action: str
    data: Any
