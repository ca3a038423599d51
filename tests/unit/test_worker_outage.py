"""A worker keeps what it could not report during a backend outage and reports it later."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

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


def test_a_prefetched_job_cancelled_before_it_starts_never_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from quantq import tasks

    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    first, second = backend.enqueue([
        envelope.parse_submission({"task": "fixtures.record", "args": {"log": str(log), "seconds": 1.5}}),
        envelope.parse_submission({"task": "fixtures.record", "args": {"log": str(log)}}),
    ])
    registry = tasks.default_registry(["tests.fixtures.tasks"])
    worker = Worker(backend, WorkerOptions(concurrency=1, prefetch=1, mode="thread", status_interval=0, poll_interval=0.1),
                    registry)
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        for _ in range(200):  # the first job runs in the slot; the second is claimed ahead, waiting for it
            started = log.exists() and first.id in log.read_text()
            if started and backend.get(second.id).status is jobs.JobStatus.RUNNING:
                break
            threading.Event().wait(0.05)
        assert backend.get(second.id).status is jobs.JobStatus.RUNNING and len(worker._inbox) == 1
        backend.cancel(second.id)
        for _ in range(100):
            if backend.get(first.id).status is jobs.JobStatus.COMPLETED:
                break
            threading.Event().wait(0.05)
        threading.Event().wait(0.6)
    finally:
        worker.stop()
        runner.join(10)
    runs = log.read_text().split()
    assert first.id in runs and second.id not in runs
    assert backend.get(second.id).status is jobs.JobStatus.CANCELLED


def test_worker_waits_for_an_unreachable_backend_at_start() -> None:
    class LateBackend(MemoryBackend):
        refusals = 0

        def register_worker(self, info: Any) -> None:
            if self.refusals < 2:
                self.refusals += 1
                raise errors.BackendUnavailable("not up yet")
            super().register_worker(info)

    backend = LateBackend()
    [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.noop"})])
    worker = Worker(backend, WorkerOptions(concurrency=1, mode="thread", burst=True, status_interval=0))
    runner = threading.Thread(target=worker.run)
    runner.start()
    runner.join(20)
    assert not runner.is_alive() and backend.refusals == 2
    assert backend.get(job.id).status is jobs.JobStatus.COMPLETED
