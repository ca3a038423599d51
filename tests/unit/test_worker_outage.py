"""A worker keeps what it could not report during a backend outage and reports it later."""

from __future__ import annotations

import threading
from typing import Any, Sequence

from quantq import envelope, errors, jobs
from quantq.backends.base import Outcome
from quantq.backends.memory import MemoryBackend
from quantq.worker import Worker, WorkerOptions


class FlakyReports(MemoryBackend):
    """Refuses the first ``failures`` report calls, as an unreachable store would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.refused = 0

    def report(self, outcomes: Sequence[Outcome]) -> list[jobs.Job | None]:
        if self.refused < self.failures:
            self.refused += 1
            raise errors.BackendUnavailable("connection refused (simulated outage)")
        return super().report(outcomes)


def test_outcomes_survive_a_report_outage() -> None:
    backend = FlakyReports(failures=2)
    [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": 1}})])
    worker = Worker(backend, WorkerOptions(concurrency=1, mode="thread", lease=30, status_interval=0, poll_interval=0.1))
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        deadline = 50
        while backend.get(job.id).status is not jobs.JobStatus.COMPLETED and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
    finally:
        worker.stop()
        runner.join(10)
    done: Any = backend.get(job.id)
    assert backend.refused == 2
    assert done.status is jobs.JobStatus.COMPLETED and done.result == {"n": 1} and done.attempts == 1
