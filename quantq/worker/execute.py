"""Running one job's task and turning what happened into a JSON message.

Shared by the pool's child processes, thread mode and inline (``--immediate``) runs,
so a task behaves the same everywhere.  Messages are JSON, never pickle.
"""

from __future__ import annotations

import collections
import time
import traceback
from collections.abc import Callable
from typing import Any

from quantq import context, envelope, errors, tasks

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
        # fail here, in the task's attempt, not in the store; the text is kept so the result
        # is encoded once on its way to the supervisor (a large backtest's result is megabytes)
        encoded = envelope.dumps(result)
    except PERMANENT as exc:
        return error_message(exc, with_traceback=False)
    except Exception as exc:
        return error_message(exc)
    return {"kind": "done", "result": result, "result_json": encoded}


def serve(recv: Callable[[], Any], waiting: Callable[[], bool], send: Callable[[dict[str, Any]], None],
          registry: tasks.Registry, notes: list[dict[str, str]] | None = None) -> None:
    """The loop a pool child (or thread) runs until ``stop`` or EOF.

    ``recv`` blocks for the next message (``EOFError`` at the end) and ``waiting`` says
    whether one is there.  A ``jobs`` message hands over a batch: they run in order, each
    outcome sent as soon as it is known (tagged with the job id), so the supervisor
    always knows which job is running.  ``cancel`` with an id stops that job if it runs,
    or skips it if it has not started; messages are read between jobs and whenever the
    running task asks whether it is cancelled.  ``notes`` (the warm-ups' lines) go out with
    ``ready``, for the supervisor to log.
    """
    pending: collections.deque[Any] = collections.deque()
    skip: set[str] = set()
    state = {"current": None, "cancelled": False, "stop": False}

    def take(message: Any) -> None:
        kind = message.get("kind") if isinstance(message, dict) else None
        if kind == "job":
            pending.append(message.get("job"))
        elif kind == "jobs":
            pending.extend(message.get("jobs") or ())
        elif kind == "cancel":
            target = message.get("id")
            if target is None or target == state["current"]:
                state["cancelled"] = state["current"] is not None
            elif any(isinstance(p, dict) and p.get("id") == target for p in pending):
                skip.add(target)  # (a cancel for a job that already ended is dropped)
        elif kind == "stop" or message is None:
            state["stop"] = True

    class _Reporter:
        def progress(self, percent: float, message: str | None) -> None:
            send({"kind": "progress", "percent": percent, "message": message})

        def cancelled(self) -> bool:
            while not state["cancelled"] and waiting():
                take(recv())
            return bool(state["cancelled"])

    send({"kind": "ready", "notes": notes or []})
    while True:
        try:
            while waiting():  # cancels for jobs not started yet, more jobs, stop
                take(recv())
            if not pending:
                if state["stop"]:
                    return
                take(recv())
                continue
        except EOFError:
            return
        payload = pending.popleft()
        job_id = payload.get("id") if isinstance(payload, dict) else None
        if job_id in skip:
            skip.discard(job_id)
            send({"kind": "cancelled", "id": job_id,
                  "error": {"type": "JobCancelled", "message": "cancelled before it started", "traceback": None}})
            continue
        state["current"], state["cancelled"] = job_id, False
        began = time.perf_counter()
        outcome = run(registry, payload, _Reporter())
        # the run's own length: the supervisor's clock also counts the wait for this message
        # (and, for a thread slot, for the GIL), which says nothing of how long the task is
        outcome["took"] = round(time.perf_counter() - began, 6)
        state["current"] = None
        outcome["id"] = job_id
        send(outcome)
