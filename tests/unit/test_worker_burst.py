"""A burst worker runs what is there, including jobs whose workers died while it ran, then exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from quantq import envelope, jobs
from quantq.backends.memory import MemoryBackend
from quantq.worker import Worker, WorkerOptions

S = jobs.JobStatus


def run_burst(backend: MemoryBackend, before_run: Callable[[], None] = lambda: None, **options: object) -> float:
    worker = Worker(backend, WorkerOptions(concurrency=1, mode="thread", burst=True, status_interval=0, **options))  # type: ignore[arg-type]
    before_run()  # (after the worker's warm-ups, which can take a while)
    runner = threading.Thread(target=worker.run)
    started = time.monotonic()
    runner.start()
    runner.join(20)
    assert not runner.is_alive(), "the burst worker did not exit"
    return time.monotonic() - started


def test_a_burst_worker_runs_jobs_whose_leases_ran_out_while_it_worked() -> None:
    backend = MemoryBackend()

    def orphan_then_work() -> None:
        backend.enqueue([envelope.parse_submission({"task": "quantq.noop", "id": "orphan"})])
        backend.claim(["default"], worker_id="died", hostname="h", lease=1.0)  # its worker is gone
        backend.enqueue([envelope.parse_submission({"task": "quantq.sleep", "args": {"seconds": 2.0}, "id": "slow"})])

    # the worker's own reaps are 5 s apart (lease 30), and the first comes before the orphan's
    # lease runs out: only the reap before it exits can find the orphan
    run_burst(backend, orphan_then_work, lease=30.0)
    assert backend.get("slow").status is S.COMPLETED
    orphan = backend.get("orphan")
    assert orphan.status is S.COMPLETED and orphan.attempts == 2


def test_a_burst_worker_leaves_claims_that_are_still_held_and_exits() -> None:
    backend = MemoryBackend()
    backend.enqueue([envelope.parse_submission({"task": "quantq.noop", "id": "held"})])
    backend.claim(["default"], worker_id="alive", hostname="h", lease=60)
    backend.enqueue([envelope.parse_submission({"task": "quantq.noop", "id": "free"})])
    assert run_burst(backend, lease=30.0) < 10
    assert backend.get("free").status is S.COMPLETED
    assert backend.get("held").status is S.RUNNING  # another worker's: not taken, not waited for
