"""quantq: a job platform for quantitative market analysis."""

from __future__ import annotations

from quantq.app import App, JobHandle
from quantq.context import TaskContext, current
from quantq.errors import (
    InvalidArguments,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobTimeout,
    QuantqError,
    StaleClaim,
    UnknownTask,
    WorkerLost,
)
from quantq.jobs import Claim, Job, JobError, JobStatus
from quantq.tasks import Task, task

__version__ = "0.1.0"

__all__ = [
    # the application and its jobs
    "App",
    "JobHandle",
    "Job",
    "JobError",
    "JobStatus",
    "Claim",
    # tasks
    "Task",
    "task",
    "TaskContext",
    "current",
    # errors
    "QuantqError",
    "InvalidArguments",
    "JobCancelled",
    "JobFailed",
    "JobNotFound",
    "JobTimeout",
    "StaleClaim",
    "UnknownTask",
    "WorkerLost",
]
