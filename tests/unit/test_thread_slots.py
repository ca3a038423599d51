"""A thread slot on its own: the supervisor's messages reach its thread through a queue, as
they are, and its own come back over its socket; killed, its thread ends."""

from __future__ import annotations

import time
from typing import Any

from quantq import tasks
from quantq.worker import execute
from quantq.worker.pool import ThreadSlot


def _read(slot: ThreadSlot, kind: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next ``count`` messages of ``kind`` the slot's thread sends (others are passed over)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        assert slot.conn is not None
        if slot.conn.poll(0.05):
            messages, gone = slot.receive_all()
            assert not gone
            got += [m for m in messages if m.get("kind") == kind]
    assert len(got) >= count, f"{len(got)} of {count} {kind!r} messages from the slot within {timeout} s"
    return got


def _payload(job_id: str, task: str, args: dict[str, Any]) -> dict[str, Any]:
    return execute.job_payload(job_id, task, args, "default", 1, {}, "w")


def test_a_thread_slot_runs_what_it_is_handed_and_its_thread_ends_when_killed() -> None:
    slot = ThreadSlot(0, tasks.default_registry([]))
    slot.start()
    try:
        _read(slot, "ready")
        assert slot.send({"kind": "jobs", "jobs": [_payload("a", "quantq.echo", {"n": 1}),
                                                   _payload("b", "quantq.echo", {"n": 2})]})
        first, second = _read(slot, "done", 2)
        assert (first["id"], first["result"], second["id"], second["result"]) == ("a", {"n": 1}, "b", {"n": 2})
    finally:
        slot.kill()
    assert slot.thread is not None
    slot.thread.join(2.0)
    assert not slot.alive(), "an idle thread slot, killed, must end its thread"
    assert not slot.send({"kind": "job", "job": _payload("c", "quantq.echo", {})})  # nothing is taken any more


def test_a_cancel_reaches_the_running_job_of_a_thread_slot() -> None:
    slot = ThreadSlot(0, tasks.default_registry([]))
    slot.start()
    try:
        _read(slot, "ready")
        assert slot.send({"kind": "job", "job": _payload("long", "quantq.sleep", {"seconds": 10})})
        time.sleep(0.3)
        began = time.monotonic()
        assert slot.send({"kind": "cancel", "id": "long"})
        [ended] = _read(slot, "cancelled")
        assert ended["id"] == "long" and time.monotonic() - began < 3.0
    finally:
        slot.kill()
