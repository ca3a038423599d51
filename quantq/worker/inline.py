"""Inline runs (``App(immediate=True)``, ``quantq enqueue --immediate``): jobs run in the
calling thread through the same runner as a worker's slots, retries back to back."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from quantq import errors, jobs, tasks
from quantq.backends.base import Backend
from quantq.worker import execute

WORKER_ID = "inline"


class _DirectReporter:
    def __init__(self, backend: Backend, claim: jobs.Claim) -> None:
        self.backend = backend
        self.claim = claim

    def progress(self, percent: float, message: str | None) -> None:
        self.backend.progress(self.claim, percent, message)

    def cancelled(self) -> bool:
        return bool(self.backend.lost([self.claim]))


def run_pending(backend: Backend, registry: tasks.Registry, queues: Iterable[str], lease: float = 3600.0) -> int:
    """Run every job waiting in ``queues`` until none is left; returns how many attempts ran."""
    ran = 0
    queue_list = sorted(set(queues))
    hostname = socket.gethostname()
    while True:
        backend.promote_due()
        claims = backend.claim(queue_list, worker_id=WORKER_ID, hostname=hostname, lease=lease)
        if not claims:
            return ran
        claim = claims[0]
        job = claim.job
        payload = execute.job_payload(job.id, job.task, job.args, job.queue, job.attempts, job.meta, WORKER_ID)
        message = execute.run(registry, payload, _DirectReporter(backend, claim))
        ran += 1
        try:
            if message["kind"] == "done":
                backend.complete(claim, message["result"])
            elif message["kind"] == "error":
                error = jobs.JobError.from_dict(message["error"])
                assert error is not None
                again = message["retryable"] and job.attempts < job.max_attempts
                backend.fail(claim, error, retry_in=0.0 if again else None)
        except errors.StaleClaim:
            continue  # cancelled while it ran
