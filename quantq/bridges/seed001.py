"""Seed 001's strategy queue: ``LPUSH strategy_queue {"task_id", "task_type", "args"}``,
results at ``task_result:{task_id}`` as ``{"status", "data", "updated_at"}`` with an expiry.

Status words: ``running`` once a worker starts it, then ``completed`` (``data`` is the
task's result, with the seed's ``worker_id``, ``completed_at`` and execution times added
when the task left them out) or ``error`` (``data`` is ``{"error", "completed_at"}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quantq import jobs
from quantq.bridges.base import BadItem, Bridge, Item, Route, iso

QUEUE_KEY = "strategy_queue"
RESULT_KEY = "task_result:{task_id}"
RESULT_TTL = 24 * 3600  #: the seed keeps results "with expiration"; a day, as quantq keeps results


class Seed001Bridge(Bridge):
    name = "seed001"
    source = QUEUE_KEY

    def __init__(self, routes: Mapping[str, str | Route] | None = None, *, result_ttl: int = RESULT_TTL) -> None:
        super().__init__(routes)
        if result_ttl <= 0:
            raise ValueError(f"result_ttl must be positive seconds, got {result_ttl}")
        self.result_ttl = result_ttl

    @classmethod
    def default_routes(cls) -> dict[str, str | Route]:
        return {"backtest": "backtest", "screening": "screening"}

    def parse(self, data: Any) -> Item:
        if not isinstance(data, dict):
            raise BadItem(f"a task must be a JSON object, got {type(data).__name__}")
        task_id = data.get("task_id")
        if not isinstance(task_id, (str, int)) or isinstance(task_id, bool) or str(task_id) == "":
            raise BadItem("'task_id' is required (a string)")
        task_id = str(task_id)
        task_type = data.get("task_type")
        if not isinstance(task_type, str):
            raise BadItem("'task_type' is required (a string)", task_id)
        args = data.get("args", {})
        if not isinstance(args, dict):
            raise BadItem(f"'args' must be a JSON object, got {type(args).__name__}", task_id)
        return Item(foreign_id=task_id, task_type=task_type, args=args)

    def _write(self, pipe: Any, task_id: str, status: str, data: Any) -> None:
        body = {"status": status, "data": data, "updated_at": iso()}
        pipe.set(RESULT_KEY.format(task_id=task_id), json.dumps(body), ex=self.result_ttl)

    def on_queued(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None:
        pass  # the seed has no word for waiting: its key appears when a worker starts the task

    def on_running(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None:
        data = {"worker_id": job.worker_id, "started_at": iso(job.started_at), "progress": job.progress}
        if job.status_message:
            data["message"] = job.status_message
        self._write(pipe, foreign_id, "running", data)

    def on_finished(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None:
        if job.status is not jobs.JobStatus.COMPLETED:
            message = job.error.message if job.error else f"the task was {job.status.value}"
            if job.error and job.error.type not in ("DiagnosticFailure", "Exception"):
                message = f"{job.error.type}: {message}" if job.error.type not in message else message
            self.on_error(pipe, foreign_id, message, job)
            return
        data = dict(job.result) if isinstance(job.result, dict) else {"success": True, "result": job.result}
        elapsed = (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else None
        data.setdefault("worker_id", job.worker_id)
        data.setdefault("completed_at", iso(job.finished_at))
        if elapsed is not None:
            data.setdefault("execution_time_seconds", round(elapsed, 3))
            data.setdefault("execution_time_ms", round(elapsed * 1000))
        self._write(pipe, foreign_id, "completed", data)

    def on_error(self, pipe: Any, foreign_id: str, message: str, job: jobs.Job | None = None) -> None:
        finished = job.finished_at if job is not None else None
        self._write(pipe, foreign_id, "error", {"error": message, "completed_at": iso(finished)})
