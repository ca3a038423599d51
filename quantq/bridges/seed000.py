"""Seed 000's deeper-analysis queue: items on ``deeper_analysis:jobs``, status at
``deeper_analysis:status:{job_id}`` (kept 1 h) and results at ``deeper_analysis:result:{job_id}``
(kept 2 h), both JSON strings read with ``GET``.

An item is ``{"job_id": ..., "symbols": [...], ...}``: the task's arguments are its ``args``
(or ``params``) object, or else its other top-level fields.  ``type`` / ``task`` pick the
task (default ``deeper_analysis``).  Status words: queued, processing, completed, failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quantq import jobs
from quantq.bridges.base import BadItem, Bridge, Item, Route, iso

QUEUE_KEY = "deeper_analysis:jobs"
STATUS_KEY = "deeper_analysis:status:{job_id}"
RESULT_KEY = "deeper_analysis:result:{job_id}"
STATUS_TTL = 3600
RESULT_TTL = 7200
_META_FIELDS = {"job_id", "id", "type", "task", "task_type", "created_at", "submitted_at", "status"}


class Seed000Bridge(Bridge):
    name = "seed000"
    source = QUEUE_KEY

    def __init__(self, routes: Mapping[str, str | Route] | None = None, *, status_ttl: int = STATUS_TTL,
                 result_ttl: int = RESULT_TTL) -> None:
        super().__init__(routes)
        if status_ttl <= 0 or result_ttl <= 0:
            raise ValueError("status_ttl and result_ttl must be positive seconds")
        self.status_ttl = status_ttl
        self.result_ttl = result_ttl

    @classmethod
    def default_routes(cls) -> dict[str, str | Route]:
        return {"deeper_analysis": "deeper_analysis"}

    def parse(self, data: Any) -> Item:
        if not isinstance(data, dict):
            raise BadItem(f"a job must be a JSON object, got {type(data).__name__}")
        job_id = data.get("job_id", data.get("id"))
        if not isinstance(job_id, (str, int)) or isinstance(job_id, bool) or str(job_id) == "":
            raise BadItem("'job_id' is required (a string)")
        job_id = str(job_id)
        task_type = data.get("type") or data.get("task") or data.get("task_type") or "deeper_analysis"
        if not isinstance(task_type, str):
            raise BadItem("'type' must be a string", job_id)
        args = data.get("args", data.get("params"))
        if args is None:
            args = {k: v for k, v in data.items() if k not in _META_FIELDS}
        if not isinstance(args, dict):
            raise BadItem(f"'args' must be a JSON object, got {type(args).__name__}", job_id)
        return Item(foreign_id=job_id, task_type=task_type, args=args)

    def _status(self, pipe: Any, job_id: str, status: str, **extra: Any) -> None:
        body = {"job_id": job_id, "status": status, "updated_at": iso(), **extra}
        pipe.set(STATUS_KEY.format(job_id=job_id), json.dumps(body), ex=self.status_ttl)

    def on_queued(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None:
        self._status(pipe, foreign_id, "queued", progress=0)

    def on_running(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None:
        self._status(pipe, foreign_id, "processing", progress=job.progress, message=job.status_message, worker=job.worker_id,
                     started_at=iso(job.started_at))

    def on_finished(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None:
        if job.status is not jobs.JobStatus.COMPLETED:
            message = job.error.message if job.error else f"the job was {job.status.value}"
            self.on_error(pipe, foreign_id, message)
            return
        self._status(pipe, foreign_id, "completed", progress=100, completed_at=iso(job.finished_at))
        pipe.set(RESULT_KEY.format(job_id=foreign_id), json.dumps(job.result), ex=self.result_ttl)

    def on_error(self, pipe: Any, foreign_id: str, message: str) -> None:
        self._status(pipe, foreign_id, "failed", error=message, completed_at=iso())
        body = {"job_id": foreign_id, "status": "failed", "error": message}
        pipe.set(RESULT_KEY.format(job_id=foreign_id), json.dumps(body), ex=self.result_ttl)
