"""Running one job's task and turning what happened into a JSON message.

Shared by the pool's child processes, thread mode and inline (``--immediate``) runs,
so a task behaves the same everywhere.  Messages are JSON, never pickle.
"""

from __future__ import annotations

import json
import traceback
from typing import Any, Callable

from quantq import context, errors, tasks

#: Errors that another attempt cannot fix: the job fails at once.
PERMANENT = (errors.UnknownTask, errors.InvalidArguments, errors.EnvelopeError)

_REQUIRED = {"id": str, "task": str, "args": dict, "queue": str, "attempt": int}


def job_payload(job_id: str, task: str, args: dict[str, Any], queue: str, attempt: int, meta: dict[str, Any], worker_id: str) -> dict[str, Any]:
    return {"id": job_id, "task": task, "args": args, "queue": queue, "attempt": attempt, "meta": meta, "worker_id": worker_id}


def _check_payload(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise errors.EnvelopeError("(envelope)", f"must be a JSON object, got {type(payload).__name__}")
    for field, kind in _REQUIRED.items():
        if not isinstance(payload.get(field), kind):
            raise errors.EnvelopeError(field, f"must be a {kind.__name__}, got {payload.get(field)!r}")


def error_message(exc: BaseException, *, with_traceback: bool = True) -> dict[str, Any]:
    tb = "".join(traceback.format_exception(exc)) if with_traceback else None
    kind = "cancelled" if isinstance(exc, errors.JobCancelled) else "error"
    return {
        "kind": kind,
        "error": {"type": type(exc).__name__, "message": str(exc), "traceback": tb},
        "retryable": not isinstance(exc, PERMANENT),
    }


def run(registry: tasks.Registry, payload: Any, reporter: context.Reporter) -> dict[str, Any]:
    """Run the task a payload names; return a ``done``, ``error`` or ``cancelled`` message."""
    try:
        _check_payload(payload)
        task = registry.get(payload["task"])
        ctx = context.TaskContext(
            job_id=payload["id"],
            task=payload["task"],
            queue=payload["queue"],
            attempt=payload["attempt"],
            meta=payload.get("meta") or {},
            worker_id=payload.get("worker_id"),
            reporter=reporter,
        )
        result = context.run_with(ctx, lambda: task.run(payload["args"], ctx))
        json.dumps(result, allow_nan=False)  # fail here, in the task's attempt, not in the store
    except PERMANENT as exc:
        return error_message(exc, with_traceback=False)
    except Exception as exc:
        return error_message(exc)
    return {"kind": "done", "result": result}


def serve(recv: Callable[[], Any], send: Callable[[dict[str, Any]], None], registry: tasks.Registry, poll_cancel: Callable[[], bool]) -> None:
    """The loop a pool child (or thread) runs: receive a job, run it, send its outcome; stop on EOF."""

    class _Reporter:
        def __init__(self) -> None:
            self.is_cancelled = False

        def progress(self, percent: float, message: str | None) -> None:
            send({"kind": "progress", "percent": percent, "message": message})

        def cancelled(self) -> bool:
            if not self.is_cancelled:
                self.is_cancelled = poll_cancel()
            return self.is_cancelled

    send({"kind": "ready"})
    while True:
        try:
            message = recv()
        except EOFError:
            return
        if message is None or message.get("kind") == "stop":
            return
        if message.get("kind") != "job":
            continue  # a cancel for a job that already ended
        outcome = run(registry, message.get("job"), _Reporter())
        send(outcome)
