"""The application object: a task registry bound to a backend URL.

    app = quantq.App("sqlite:///jobs.db")

    @app.task(queue="research", timeout=600)
    def backtest(symbol: str, fast: int = 10) -> dict: ...

    handle = backtest.enqueue(symbol="MSFT")
    handle.wait()
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from quantq import backends, envelope, errors, jobs, tasks
from quantq.backends.base import Backend


class App:
    def __init__(self, url: str | None = None, *, backend: Backend | None = None, immediate: bool = False) -> None:
        """``url`` picks the backend (default: ``QUANTQ_URL`` or the embedded SQLite file).
        ``immediate=True`` runs each job inline at enqueue time, on an in-memory backend
        unless one is given (for tests and debugging)."""
        from quantq import builtin_tasks

        if immediate and backend is None and url is None:
            url = "memory://"
        self.url = url
        self.immediate = immediate
        self.registry = tasks.Registry(builtin_tasks.TASKS, plugins=True)
        self._backend = backend

    def __repr__(self) -> str:
        return f"<App {backends.redact(self.url or 'default')}>"

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = backends.from_url(self.url)
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def task(self, name: str | None = None, **options: Any) -> Callable[[Callable[..., Any]], tasks.Task]:
        """Declare a task on this app; options are :class:`~quantq.tasks.TaskOptions` fields."""
        return tasks.task(name, app=self, **options)

    def enqueue(self, task_name: str, /, **kwargs: Any) -> JobHandle:
        """Enqueue ``task_name`` with keyword arguments as its args, using the task's defaults."""
        return self.submit(task_name, kwargs)

    def submit(
        self,
        task_name: str,
        args: dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
        queue: str | None = None,
        priority: int | str | None = None,
        delay: float | None = None,
        run_at: datetime | str | float | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        result_ttl: int | None = None,
        failure_ttl: int | None = None,
        meta: dict[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> JobHandle:
        """Enqueue with every job option.  Options left as None take the task's defaults."""
        submission: dict[str, Any] = {"task": task_name, "args": args or {}}
        for key, value in (
            ("id", job_id), ("queue", queue), ("priority", priority), ("delay", delay),
            ("run_at", run_at.isoformat() if isinstance(run_at, datetime) else run_at), ("timeout", timeout),
            ("max_attempts", max_attempts), ("result_ttl", result_ttl), ("failure_ttl", failure_ttl),
            ("meta", meta), ("parent_id", parent_id),
        ):
            if value is not None:
                submission[key] = value
        return self.submit_envelope(submission)

    def submit_envelope(self, submission: dict[str, Any]) -> JobHandle:
        """Enqueue a wire-format submission (see ``docs/protocol.md``)."""
        return self.submit_many([submission])[0]

    def submit_many(self, submissions: list[dict[str, Any]]) -> list[JobHandle]:
        """Validate every submission first, then store them all in one call."""
        built = []
        now = self.backend.now()
        for submission in submissions:
            name = submission.get("task") if isinstance(submission, dict) else None
            known = self.registry.get(name) if isinstance(name, str) and name in self.registry else None
            defaults = known.options.as_envelope_defaults() if known else None
            job = envelope.parse_submission(submission, now=now, defaults=defaults)
            if known is not None:
                known.validate_args(job.args)  # refuse now what the worker would refuse later
            built.append(job)
        stored = self.backend.enqueue(built)
        if self.immediate:
            from quantq.worker.inline import run_pending

            run_pending(self.backend, self.registry, {job.queue for job in stored})
        return [JobHandle(self, job.id) for job in stored]

    def job(self, job_id: str) -> JobHandle:
        return JobHandle(self, job_id)


class JobHandle:
    """A reference to a job by id; every property reads the backend afresh."""

    def __init__(self, app: App, job_id: str) -> None:
        self.app = app
        self.id = job_id

    def __repr__(self) -> str:
        return f"<JobHandle {self.id}>"

    def fetch(self) -> jobs.Job:
        job = self.app.backend.get(self.id)
        if job is None:
            raise errors.JobNotFound(f"no job has id {self.id!r} (it may have expired)")
        return job

    @property
    def status(self) -> jobs.JobStatus:
        return self.fetch().status

    @property
    def result(self) -> Any:
        """The result of a completed job, or None while it is not completed."""
        job = self.fetch()
        return job.result if job.status is jobs.JobStatus.COMPLETED else None

    def cancel(self) -> jobs.Job:
        return self.app.backend.cancel(self.id)

    def retry(self) -> jobs.Job:
        return self.app.backend.retry(self.id)

    def wait(self, timeout: float | None = None, poll: float = 0.05) -> Any:
        """Block until the job finishes; return its result or raise why it did not complete.
        PostgreSQL and Redis tell the waiter when the job finishes; other backends are looked
        at up to ``poll`` seconds apart (1 ms apart at first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 3600.0 if deadline is None else max(0.0, deadline - time.monotonic())
            job = self.app.backend.wait_finished(self.id, left, poll=poll)
            if job is None:
                raise errors.JobNotFound(f"no job has id {self.id!r} (it may have expired)")
            if job.status is jobs.JobStatus.COMPLETED:
                return job.result
            if job.status is jobs.JobStatus.FAILED:
                detail = f"{job.error.type}: {job.error.message}" if job.error else "failed"
                raise errors.JobFailed(f"job {self.id} failed: {detail}")
            if job.status is jobs.JobStatus.CANCELLED:
                raise errors.JobCancelled(f"job {self.id} was cancelled")
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.WaitTimeout(f"job {self.id} still {job.status.value} after {timeout}s")
