"""Checks shared by the backends that tell waiters when a job finishes (PostgreSQL, Redis)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from quantq.backends._finish_watch import FinishWatch


def assert_each_ending_wakes_its_waiter(waiter: Any, endings: dict[str, Callable[[], Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the waiters' fallback look an hour away, each ending (run by another client, 0.2 s
    into the wait) wakes its waiter at once, and the waiter reads the job at most twice a wait:
    told, not looking again and again."""
    monkeypatch.setattr(FinishWatch, "RECHECK", 3600.0)
    reads: list[str] = []
    read = waiter.get
    monkeypatch.setattr(waiter, "get", lambda job_id: reads.append(job_id) or read(job_id))
    for job_id, end in endings.items():
        timer = threading.Timer(0.2, end)
        timer.start()
        started = time.monotonic()
        done = waiter.wait_finished(job_id, 60.0)
        timer.join()
        assert time.monotonic() - started < 5.0, job_id
        assert done is not None and done.finished, job_id
    # a read before each wait, one when told (and one when the session opened)
    assert len(reads) <= 2 * len(endings) + 1, reads
