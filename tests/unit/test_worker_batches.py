"""Short jobs are lined up in a slot and handed over in one message; every guarantee of a
single job still holds for each job of a line: exactly once, cancel before it starts,
the running job's timeout or crash touches only that job, the rest run elsewhere."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from quantq import envelope, errors, jobs, settings, tasks
from quantq.backends.memory import MemoryBackend
from quantq.worker import Worker, WorkerOptions
from tests.fixtures.tasks import executions

S = jobs.JobStatus
FIXTURES = ("tests.fixtures.tasks",)
SHORT = ("fixtures.record", "fixtures.stubborn", "fixtures.crash")  #: tasks the lined-up tests treat as seen-short


@pytest.fixture(autouse=True)
def no_warmups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTQ_WARMUP", "0")  # children start in a fraction of a second


def record(log: Path, seconds: float = 0.0, **extra: Any) -> jobs.Job:
    return envelope.parse_submission({"task": "fixtures.record", "args": {"log": str(log), "seconds": seconds}, **extra})


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Running:
    """A worker on its own thread, stopped (drained) on exit."""

    def __init__(self, backend: MemoryBackend, depth: int | None = None, **options: Any) -> None:
        defaults = dict(concurrency=1, mode="process", lease=10, status_interval=0, poll_interval=0.1, imports=FIXTURES)
        self.worker = Worker(backend, WorkerOptions(**{**defaults, **options}), tasks.default_registry(FIXTURES))
        if depth is not None:  # as if short jobs of these tasks had been running: lines of ``depth``
            self.worker._depth, self.worker._mean_run = depth, 0.0001
            self.worker._task_run.update({name: 0.0001 for name in SHORT})
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the worker did not stop"


def finished(backend: MemoryBackend, ids: list[str]) -> bool:
    return all(backend.get(i).status in jobs.FINISHED for i in ids)


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_short_jobs_are_lined_up_and_each_runs_exactly_once(tmp_path: Path, mode: str) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    queued = backend.enqueue([record(log) for _ in range(400)])
    with Running(backend, concurrency=2, mode=mode) as worker:
        wait_for(lambda: finished(backend, [j.id for j in queued]), what="400 jobs")
        depth = worker._depth
    assert depth > 1, "short jobs should have been lined up"
    assert executions(log) == Counter({j.id: 1 for j in queued})
    assert all(backend.get(j.id).status is S.COMPLETED for j in queued)


def test_nothing_is_claimed_for_a_slot_that_is_still_starting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child still importing and warming up (seconds on a busy machine) is not claimed for:
    its jobs would sit with their leases running and started_at stamped, while any other
    worker could have run them."""
    monkeypatch.setenv("QUANTQ_TEST_SLOW_START", "1.5")
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    queued = backend.enqueue([record(log) for _ in range(3)])
    with Running(backend, concurrency=2, imports=(*FIXTURES, "tests.fixtures.slow_start")):
        time.sleep(1.0)
        assert [backend.get(j.id).status for j in queued] == [S.QUEUED] * 3
        wait_for(lambda: finished(backend, [j.id for j in queued]), what="3 jobs")
    assert all(backend.get(j.id).status is S.COMPLETED and backend.get(j.id).attempts == 1 for j in queued)
    assert executions(log) == Counter({j.id: 1 for j in queued})


def test_batch_1_hands_over_one_job_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    queued = backend.enqueue([record(log) for _ in range(100)])
    with Running(backend, batch=1) as worker:
        wait_for(lambda: finished(backend, [j.id for j in queued]), what="100 jobs")
        assert worker._depth == 1
    assert executions(log) == Counter({j.id: 1 for j in queued})


def test_a_lined_up_job_cancelled_before_it_starts_never_runs(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    first, *rest = backend.enqueue([record(log, 1.5)] + [record(log) for _ in range(3)])
    with Running(backend, depth=8) as worker:
        wait_for(lambda: first.id in executions(log), what="the first job to start")
        line = [c.job_id for c in worker.slots[0].claims]
        assert line == [first.id] + [j.id for j in rest], "all four should be lined up in the one slot"
        backend.cancel(rest[1].id)
        wait_for(lambda: finished(backend, [first.id] + [j.id for j in rest]), what="the line to finish")
    done = executions(log)
    assert rest[1].id not in done and backend.get(rest[1].id).status is S.CANCELLED
    for job in [first, rest[0], rest[2]]:
        assert done[job.id] == 1 and backend.get(job.id).status is S.COMPLETED


def test_the_running_job_timing_out_sends_the_rest_of_its_line_elsewhere(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    stuck, *rest = backend.enqueue(
        [envelope.parse_submission({"task": "fixtures.stubborn", "args": {"seconds": 30}, "timeout": 0.5, "max_attempts": 1})]
        + [record(log) for _ in range(3)])
    with Running(backend, depth=8):
        wait_for(lambda: finished(backend, [stuck.id] + [j.id for j in rest]), what="the line to finish")
    failed = backend.get(stuck.id)
    assert failed.status is S.FAILED and failed.error is not None and failed.error.type == "JobTimeout"
    assert executions(log) == Counter({j.id: 1 for j in rest})
    assert all(backend.get(j.id).status is S.COMPLETED for j in rest)


def test_a_child_crashing_fails_only_its_running_job(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    before = backend.enqueue([record(log)])
    crash = backend.enqueue([envelope.parse_submission({"task": "fixtures.crash", "max_attempts": 1})])
    after = backend.enqueue([record(log) for _ in range(3)])
    ids = [j.id for j in before + crash + after]
    with Running(backend, depth=8):
        wait_for(lambda: finished(backend, ids), what="the line to finish")
    died = backend.get(crash[0].id)
    assert died.status is S.FAILED and died.error is not None and died.error.type == "ChildDied"
    assert executions(log) == Counter({j.id: 1 for j in before + after})


def test_long_jobs_bring_the_line_back_to_one(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    queued = backend.enqueue([record(log, 0.3) for _ in range(3)])
    with Running(backend, depth=8) as worker:
        wait_for(lambda: finished(backend, [j.id for j in queued]), what="three jobs")
        assert worker._depth == 1, "a job of 0.3 s is no short job: no more lining up"


def test_batch_setting_is_read_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTQ_BATCH", "8")
    loaded, _ = settings.load()
    assert loaded.batch == 8
    (tmp_path / "quantq.yml").write_text("worker:\n  batch: 0\n")
    monkeypatch.delenv("QUANTQ_BATCH")
    with pytest.raises(errors.ConfigError, match="batch"):
        settings.load()
    with pytest.raises(errors.ConfigError, match="batch must be at least 1"):
        Worker(MemoryBackend(), WorkerOptions(batch=0))


def test_cli_refuses_a_batch_below_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from quantq.cli.main import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTQ_URL", f"sqlite:///{tmp_path}/q.db")
    result = CliRunner().invoke(app, ["worker", "--batch", "0", "--burst"])
    assert result.exit_code == 2 and "--batch" in result.output


def test_a_job_of_a_task_not_seen_yet_is_never_lined_up_with_others(tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    backend = MemoryBackend()
    slow, *quick = backend.enqueue([envelope.parse_submission({"task": "quantq.sleep", "args": {"seconds": 1.0}})]
                                   + [record(log) for _ in range(2)])
    with Running(backend, depth=8, concurrency=2, mode="thread"):
        wait_for(lambda: finished(backend, [slow.id] + [j.id for j in quick]), what="three jobs")
    slept = backend.get(slow.id)
    assert slept.status is S.COMPLETED and slept.finished_at is not None
    for job in quick:  # they ran in the other slot, not behind the sleeper
        done = backend.get(job.id)
        assert done.status is S.COMPLETED and done.finished_at is not None and done.finished_at < slept.finished_at


def test_each_outcome_carries_the_runs_own_length(tmp_path: Path) -> None:
    """A slot times each run itself: the supervisor's clock also counts the wait for the
    message (and a thread slot's wait for the GIL), which says nothing of the task."""
    from quantq.worker import execute

    sent: list[dict[str, Any]] = []
    inbox = [{"kind": "jobs", "jobs": [execute.job_payload(f"j{i}", "fixtures.record",
                                                            {"log": str(tmp_path / "runs.log"), "seconds": s},
                                                            "default", 1, {}, "w") for i, s in enumerate((0.0, 0.2))]},
             {"kind": "stop"}]
    execute.serve(lambda: inbox.pop(0), lambda: bool(inbox), sent.append, tasks.default_registry(FIXTURES))
    took = {m["id"]: m["took"] for m in sent if m.get("kind") == "done"}
    assert set(took) == {"j0", "j1"} and took["j0"] < 0.1 and 0.2 <= took["j1"] < 2.0, took


def test_lines_follow_the_runs_own_length_not_the_wait_for_their_outcomes(tmp_path: Path) -> None:
    """Outcomes heard late (32 thread slots sharing the GIL: a no-op's message took
    milliseconds to be read) kept lines at one job and claims at a few, so a drain committed
    8 jobs at a time; the slot's own timing of the run sets the lines instead."""
    from quantq.worker.pool import Slot

    backend = MemoryBackend()
    worker = Worker(backend, WorkerOptions(concurrency=1, mode="process", status_interval=0, imports=FIXTURES),
                    tasks.default_registry(FIXTURES))
    [job] = backend.enqueue([record(tmp_path / "runs.log")])
    [claim] = backend.claim(["default"], worker_id=worker.id, hostname="h", lease=30)
    slot = Slot(0)
    slot.claims.append(claim)
    slot.begin(None)
    slot.started -= 0.5  # heard half a second after it started
    outcome = worker._on_message(slot, {"kind": "done", "id": job.id, "result": None, "took": 0.0002})
    assert outcome is not None and outcome.claim is claim
    assert worker._mean_run == 0.0002 and worker._depth > 8
    slot.claims.append(claim)
    slot.begin(None)
    slot.started -= 0.5
    worker._mean_run, worker._depth = None, 1
    worker._on_message(slot, {"kind": "done", "id": job.id, "result": None})  # no timing: the supervisor's clock
    assert worker._mean_run is not None and worker._mean_run >= 0.5 and worker._depth == 1
