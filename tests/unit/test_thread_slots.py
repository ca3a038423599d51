"""A thread slot on its own: the supervisor's messages reach its thread through a queue, as
they are, and its own come back through a list, as they are, with wake-ups on its socket;
killed, its thread ends."""

from __future__ import annotations

import os
import socket
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


def test_a_thread_slots_messages_come_through_its_list_with_one_wake_up_while_unread() -> None:
    """Outcomes posted while the supervisor reads nothing leave one wake-up on the socket, not
    one write each; read all at once they come in order, as they are."""
    slot = ThreadSlot(0, tasks.default_registry([]))
    slot.start()
    try:
        _read(slot, "ready")
        assert slot.send({"kind": "jobs", "jobs": [_payload(f"j{i}", "quantq.echo", {"i": i}) for i in range(50)]})
        deadline = time.monotonic() + 5
        while len(slot._outbox) < 50 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slot.conn is not None
        peek = socket.socket(fileno=os.dup(slot.conn.fileno()))
        try:
            pending = peek.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        finally:
            peek.close()
        assert len(pending) == 4, "one wake-up (an empty message) for the 50 outcomes left unread"
        messages, gone = slot.receive_all()
        assert not gone
        assert [(m["kind"], m["id"], m["result"]) for m in messages] == [("done", f"j{i}", {"i": i}) for i in range(50)]
        assert slot.receive_all() == ([], False)
    finally:
        slot.kill()


def test_no_message_is_left_unread_while_the_supervisor_reads_as_they_come() -> None:
    """The slot posts while the reader takes: every outcome arrives, in order, each woken by a
    wake-up written after the reader last cleared the flag (a lost one would stall this)."""
    slot = ThreadSlot(0, tasks.default_registry([]))
    slot.start()
    try:
        _read(slot, "ready")
        n = 3000
        for start in range(0, n, 100):
            assert slot.send({"kind": "jobs", "jobs": [_payload(f"j{i}", "quantq.echo", {}) for i in range(start, start + 100)]})
        got = [m["id"] for m in _read(slot, "done", n, timeout=30)]
        assert got == [f"j{i}" for i in range(n)]
    finally:
        slot.kill()
