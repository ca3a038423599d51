"""What a running task sees of its job: progress reporting and cancellation checks.

A task gets its context by declaring a parameter annotated :class:`TaskContext`,
or from :func:`current` anywhere below it.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from typing import Any, Protocol

from quantq import errors


class Reporter(Protocol):
    """The runner's side of a context: where progress goes and where cancellation is read."""

    def progress(self, percent: float, message: str | None) -> None: ...

    def cancelled(self) -> bool: ...


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar("quantq_task_context", default=None)


class TaskContext:
    def __init__(
        self,
        *,
        job_id: str,
        task: str,
        queue: str,
        attempt: int,
        meta: dict[str, Any] | None = None,
        worker_id: str | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.job_id = job_id
        self.task = task
        self.queue = queue
        self.attempt = attempt
        self.meta = dict(meta or {})
        self.worker_id = worker_id
        self._reporter = reporter
        self.last_progress: tuple[float, str | None] | None = None

    def progress(self, percent: float, message: str | None = None) -> None:
        """Report how far the job is, 0-100, with an optional message."""
        if not isinstance(percent, (int, float)) or isinstance(percent, bool) or not math.isfinite(percent):
            raise ValueError(f"progress percent must be a finite number, got {percent!r}")
        percent = min(100.0, max(0.0, float(percent)))
        if message is not None:
            message = str(message)[:1000]
        self.last_progress = (percent, message)
        if self._reporter is not None:
            self._reporter.progress(percent, message)

    def cancelled(self) -> bool:
        """True once the job has been cancelled; long loops may check and stop early."""
        return self._reporter.cancelled() if self._reporter is not None else False

    def check_cancelled(self) -> None:
        """Raise :class:`~quantq.errors.JobCancelled` if the job has been cancelled."""
        if self.cancelled():
            raise errors.JobCancelled()


def current() -> TaskContext:
    """The context of the task running in this thread."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("no quantq task is running here")
    return ctx


def run_with(ctx: TaskContext, fn: Callable[[], Any]) -> Any:
    token = _current.set(ctx)
    try:
        return fn()
    finally:
        _current.reset(token)
