"""A worker keeps what it could not report during a backend outage and reports it later."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

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


def _start(backend: MemoryBackend, registry: Any = None, **options: Any) -> tuple[Worker, threading.Thread]:
    """A one-slot thread-mode worker on ``backend``, running in a thread."""
    settings = {"concurrency": 1, "mode": "thread", "lease": 30, "status_interval": 0, "poll_interval": 0.1, **options}
    worker = Worker(backend, WorkerOptions(**settings), registry)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    return worker, runner


def test_outcomes_survive_a_report_outage() -> None:
    backend = FlakyReports(failures=2)
    [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": 1}})])
    worker, runner = _start(backend)
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


class RecordedReports(MemoryBackend):
    """Notes which thread writes each outcome; the first write can be made slow."""

    def __init__(self, first_delay: float = 0.0) -> None:
        super().__init__()
        self.writers: list[str] = []
        self.first_delay = first_delay
        self.written_at: list[float] = []

    def report(self, outcomes: Sequence[Outcome]) -> list[jobs.Job | None]:
        self.writers.append(threading.current_thread().name)
        if self.first_delay and len(self.writers) == 1:
            threading.Event().wait(self.first_delay)
        out = super().report(outcomes)
        self.written_at.append(time.monotonic())
        return out


def _wait_for(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        threading.Event().wait(0.01)


def test_an_idle_thread_slot_writes_its_own_outcome() -> None:
    """One job at a time through an idle thread-mode worker: the slot's own thread reads its
    outcome and writes it, rather than waking the supervisor and then the reporter."""
    backend = RecordedReports()
    worker, runner = _start(backend)
    try:
        for n in range(6):
            [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": n}})])
            _wait_for(lambda job=job: backend.get(job.id).status is jobs.JobStatus.COMPLETED)
            assert backend.get(job.id).result == {"n": n}
            threading.Event().wait(0.05)
    finally:
        worker.stop()
        runner.join(10)
    assert len(backend.writers) == 6
    # (the supervisor reads it instead when it happens to be busy at that moment)
    assert backend.writers.count("quantq-slot-0") >= 4, backend.writers


def test_an_outcome_its_slot_could_not_write_is_written_by_the_reporter() -> None:
    backend = FlakyReports(failures=1)
    writers: list[str] = []
    original = backend.report

    def report(outcomes: Sequence[Outcome]) -> list[jobs.Job | None]:
        writers.append(threading.current_thread().name)
        return original(outcomes)

    backend.report = report  # type: ignore[method-assign]
    [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": 7}})])
    worker, runner = _start(backend)
    try:
        _wait_for(lambda: backend.get(job.id).status is jobs.JobStatus.COMPLETED)
    finally:
        worker.stop()
        runner.join(10)
    assert backend.refused == 1 and backend.get(job.id).result == {"n": 7}
    assert writers == ["quantq-slot-0", "quantq-reporter"]


def test_a_worker_stops_only_once_the_outcome_a_slot_is_writing_is_written() -> None:
    backend = RecordedReports(first_delay=2.5)
    [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": 1}})])
    worker, runner = _start(backend)
    _wait_for(lambda: backend.writers)
    worker.stop()
    runner.join(15)
    returned_at = time.monotonic()
    assert backend.writers == ["quantq-slot-0"]
    assert backend.written_at and backend.written_at[0] <= returned_at
    assert backend.get(job.id).status is jobs.JobStatus.COMPLETED


def test_progress_a_thread_slot_hands_over_is_written_while_its_job_runs() -> None:
    """Messages a thread slot hands over in person do not wake the supervisor by themselves;
    progress still reaches the store while the job runs."""
    backend = MemoryBackend()
    [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.sleep", "args": {"seconds": 2.0}})])
    worker, runner = _start(backend, poll_interval=5.0)
    seen: list[float] = []
    try:
        deadline = time.monotonic() + 1.7
        while time.monotonic() < deadline:
            current = backend.get(job.id)
            if current is not None and current.status is jobs.JobStatus.RUNNING and current.progress:
                seen.append(current.progress)
            threading.Event().wait(0.05)
        _wait_for(lambda: backend.get(job.id).status is jobs.JobStatus.COMPLETED)
    finally:
        worker.stop()
        runner.join(10)
    assert seen and 0 < min(seen) < 100, seen  # written while running, not only at the end
    assert len(set(seen)) >= 2, seen  # and more than once
    assert backend.get(job.id).progress == 100.0


def test_a_thread_slot_handing_over_in_person_never_writes_to_its_own_socket() -> None:
    """A thread slot that hands its outcome over itself must not also hand itself its next job:
    one larger than the socket's buffer would wait for the very thread that is writing it."""
    backend = MemoryBackend()
    big = "x" * 400_000  # more than a socket pair's buffer
    many = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"blob": big}}) for _ in range(6)])
    worker, runner = _start(backend, batch=1, prefetch=4)
    try:
        _wait_for(lambda: all(backend.get(j.id).status is jobs.JobStatus.COMPLETED for j in many), seconds=20)
        assert all(backend.get(j.id).status is jobs.JobStatus.COMPLETED for j in many)
    finally:
        worker.stop()
        runner.join(10)
    assert not runner.is_alive()


def test_a_large_outcome_that_ends_during_a_drain_is_still_reported() -> None:
    """While the worker drains, a thread slot writes its message to the socket for the
    supervisor to read, and must not hold the slots while it does (a message larger than the
    socket's buffer waits for the supervisor, who would wait for the slots)."""
    from quantq import tasks

    backend = MemoryBackend()
    [job] = backend.enqueue([envelope.parse_submission({"task": "fixtures.big_result", "args": {"size": 600_000, "seconds": 0.8}})])
    worker, runner = _start(backend, tasks.default_registry(["tests.fixtures.tasks"]), grace=10)
    _wait_for(lambda: backend.get(job.id).status is jobs.JobStatus.RUNNING)
    worker.stop()  # drain: the job ends after this
    runner.join(15)
    assert not runner.is_alive()
    done: Any = backend.get(job.id)
    assert done.status is jobs.JobStatus.COMPLETED and len(done.result) == 600_000


def test_an_idle_claimer_goes_on_once_the_thread_slot_has_read_its_job(monkeypatch: Any) -> None:
    """When the queue has run empty, the claimer waits, before its next blocking claim, until
    the thread slot has read the job it handed over, so that the slot's thread wakes to a free
    GIL rather than wait for it and be woken twice."""
    import quantq.worker.worker as worker_module

    monkeypatch.setattr(worker_module, "HANDOVER_WAIT", 30.0)  # (so only the slot's read lets it go on)
    backend = MemoryBackend()
    timeline: list[str] = []
    claim, wait_and_claim = backend.claim, backend.wait_and_claim

    def logged_claim(*args: Any, **kwargs: Any) -> list[jobs.Claim]:
        timeline.append("claim")
        claims = claim(*args, **kwargs)
        timeline.append(f"got {len(claims)}")
        return claims

    def logged_wait_and_claim(*args: Any, **kwargs: Any) -> list[jobs.Claim]:
        timeline.append("claim")
        return wait_and_claim(*args, **kwargs)  # (it ends in claim)

    monkeypatch.setattr(backend, "claim", logged_claim)
    monkeypatch.setattr(backend, "wait_and_claim", logged_wait_and_claim)
    worker = Worker(backend, WorkerOptions(concurrency=1, mode="thread", lease=30, status_interval=0, poll_interval=0.1,
                                           prefetch=1))
    handed = worker._handed.set

    def read_or_handed() -> None:
        if threading.current_thread().name == "quantq-slot-0":
            time.sleep(0.05)  # a slot thread slow to wake: the claimer must not go on meanwhile
            timeline.append("slot read")
        handed()

    monkeypatch.setattr(worker._handed, "set", read_or_handed)  # (before the slot is made and given it)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        for n in range(3):
            _wait_for(lambda: worker._free == worker._capacity())  # idle again
            [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": n}})])
            _wait_for(lambda job=job: backend.get(job.id).status is jobs.JobStatus.COMPLETED)
            assert backend.get(job.id).status is jobs.JobStatus.COMPLETED
    finally:
        worker.stop()
        runner.join(10)
    got = [i for i, entry in enumerate(timeline) if entry == "got 1"]
    assert len(got) == 3, timeline
    for i in got:  # the next claim comes only after the slot has read the job
        assert timeline[i + 1] == "slot read", " ".join(timeline)




@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_worker_becoming_idle_gives_its_room_back_once_the_outcome_is_written(mode: str, monkeypatch: Any) -> None:
    """A job through an idle worker waits on the write of its outcome (by the slot's own thread,
    or by the reporter): the worker tells its claimer it is idle again (on PostgreSQL, a
    statement of the claimer's own that would run beside that write) only once it is written."""
    monkeypatch.setenv("QUANTQ_WARMUP", "0")
    timeline: list[str] = []

    class Slow(MemoryBackend):
        def report(self, outcomes: Sequence[Outcome]) -> list[jobs.Job | None]:
            timeline.append("write")
            threading.Event().wait(0.15)
            out = super().report(outcomes)
            timeline.append("written")
            return out

        def interrupt_wait(self) -> None:
            timeline.append("idle again")

    backend = Slow()
    worker, runner = _start(backend, mode=mode)
    try:
        for n in range(4):
            _wait_for(lambda: worker._free == worker._capacity() > 0 and timeline[-1:] in ([], ["idle again"]), seconds=30)
            [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": n}})])
            _wait_for(lambda job=job: backend.get(job.id).status is jobs.JobStatus.COMPLETED)
            assert backend.get(job.id).status is jobs.JobStatus.COMPLETED
        _wait_for(lambda: timeline[-1] == "idle again")
    finally:
        worker.stop()
        runner.join(10)
    writes = [i for i, entry in enumerate(timeline) if entry == "write"]
    assert len(writes) == 4, timeline
    for i in writes:
        assert timeline[i + 1:i + 3] == ["written", "idle again"], " ".join(timeline)


def test_a_worker_still_running_jobs_gives_room_back_before_the_outcome_is_written() -> None:
    """Only a worker becoming idle waits for the write: one with another job running gives the
    ended job's room back at once, so its claimer can go on claiming while the outcome is written."""
    seen: list[tuple[int, int]] = []  # (room free, room in all) as each quick job's outcome is written

    class Slow(MemoryBackend):
        def report(self, outcomes: Sequence[Outcome]) -> list[jobs.Job | None]:
            if any(o.claim.job.task == "quantq.echo" for o in outcomes):
                with worker._free_cond:
                    seen.append((worker._free, worker._capacity()))
                threading.Event().wait(0.15)
            return super().report(outcomes)

    backend = Slow()
    worker, runner = _start(backend, concurrency=2)
    try:
        _wait_for(lambda: worker._capacity() >= 2, seconds=30)
        [long_job] = backend.enqueue([envelope.parse_submission({"task": "quantq.sleep", "args": {"seconds": 3.0}})])
        _wait_for(lambda: backend.get(long_job.id).status is jobs.JobStatus.RUNNING)
        quick = []
        for n in range(3):
            [job] = backend.enqueue([envelope.parse_submission({"task": "quantq.echo", "args": {"n": n}})])
            _wait_for(lambda job=job: backend.get(job.id).status is jobs.JobStatus.COMPLETED)
            quick.append(backend.get(job.id).status)
        assert backend.get(long_job.id).status is jobs.JobStatus.RUNNING  # (still running throughout)
    finally:
        worker.stop()
        runner.join(10)
    assert quick == [jobs.JobStatus.COMPLETED] * 3
    assert len(seen) == 3, seen
    for free, capacity in seen:  # all room but the long job's is free while each is written
        assert free == capacity - 1, seen
