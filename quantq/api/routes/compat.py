"""The seeds' HTTP surfaces, on top of the same jobs.

Seed 000: ``POST /api/deeper-analysis/compute``, ``GET /api/deeper-analysis/status/{job_id}``,
``GET /api/deeper-analysis/result/{job_id}`` with the words queued / processing / completed / failed.
Seed 002: the monitor API, ``GET|POST /api/monitor?action=overview|workers|jobs|add_job``
(also served at ``/monitor_api.php``).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel

from quantq import envelope, jobs, tasks
from quantq.api import schemas
from quantq.api.problems import ApiError
from quantq.api.routes.jobs import JobId, errs
from quantq.api.routes.system import all_workers, overview_data
from quantq.api.state import Caller, get_state, require
from quantq.backends.base import JobFilter

DEEPER_TASK = "deeper_analysis"
_SEED000 = {
    jobs.JobStatus.SCHEDULED: "queued", jobs.JobStatus.QUEUED: "queued", jobs.JobStatus.RUNNING: "processing",
    jobs.JobStatus.COMPLETED: "completed", jobs.JobStatus.FAILED: "failed", jobs.JobStatus.CANCELLED: "failed",
}
_SEED002 = {
    jobs.JobStatus.SCHEDULED: "pending", jobs.JobStatus.QUEUED: "pending", jobs.JobStatus.RUNNING: "running",
    jobs.JobStatus.COMPLETED: "completed", jobs.JobStatus.FAILED: "failed", jobs.JobStatus.CANCELLED: "cancelled",
}


def _error_text(job: jobs.Job) -> str | None:
    if job.status is jobs.JobStatus.CANCELLED:
        return "cancelled"
    return f"{job.error.type}: {job.error.message}" if job.error else None


def make_router(registry: tasks.Registry) -> APIRouter:
    """The compatibility routes; seed 000's body schema is the ``deeper_analysis`` task's own."""
    router = APIRouter(tags=["compat"])
    body_model: Any = registry.get(DEEPER_TASK).args_model if DEEPER_TASK in registry else dict[str, Any]

    def compute(request: Request, body: Any = Body(None), caller: Caller = Depends(require("submit"))) -> dict[str, Any]:
        """Seed 000: enqueue task ``deeper_analysis`` and answer at once with the job id."""
        state = get_state(request)
        state.rate_limit(caller, 1)
        if body is None:
            args: dict[str, Any] = {}
        elif isinstance(body, BaseModel):
            args = body.model_dump(exclude_unset=True, mode="json")
        else:
            args = dict(body)
        [(job, _)] = state.submit([{"task": DEEPER_TASK, "args": args}])
        return {"success": True, "job_id": job.id, "status": _SEED000[job.status], "message": "deeper analysis job queued"}

    compute.__annotations__["body"] = body_model | None
    router.add_api_route("/api/deeper-analysis/compute", compute, methods=["POST"], status_code=202,
                         response_model=schemas.DeeperSubmitted, responses=errs(400, 404, 413, 415, 429),
                         summary="Seed 000: start a deeper analysis")

    @router.get("/api/deeper-analysis/status/{job_id}", response_model=schemas.DeeperStatus, responses=errs(404),
                summary="Seed 000: job status")
    def deeper_status(request: Request, job_id: str = JobId, _: Caller = Depends(require("read"))) -> dict[str, Any]:
        job = get_state(request).get_job(job_id)
        return {"job_id": job.id, "status": _SEED000[job.status], "progress": job.progress, "message": job.status_message,
                "created_at": envelope.format_time(job.created_at), "started_at": envelope.format_time(job.started_at),
                "completed_at": envelope.format_time(job.finished_at), "error": _error_text(job)}

    @router.get("/api/deeper-analysis/result/{job_id}", responses=errs(404, 409), summary="Seed 000: job result",
                response_model=dict[str, Any])
    def deeper_result(request: Request, job_id: str = JobId, _: Caller = Depends(require("read"))) -> Any:
        """The task's result (``{success, job_id, processed_count, total_symbols, data, timestamp}``) once completed;
        the same shape with ``success: false`` and ``error`` once failed; 409 while queued or processing."""
        job = get_state(request).get_job(job_id)
        if job.status is jobs.JobStatus.COMPLETED and isinstance(job.result, dict):
            return job.result
        if job.status is jobs.JobStatus.COMPLETED:
            return {"success": True, "job_id": job.id, "data": job.result}
        if job.finished:
            return {"success": False, "job_id": job.id, "error": _error_text(job), "processed_count": 0,
                    "total_symbols": 0, "data": {}, "timestamp": envelope.format_time(job.finished_at)}
        raise ApiError(409, "job_not_finished", f"job {job.id} is {_SEED000[job.status]}; poll its status",
                       {"status": _SEED000[job.status]})

    _monitor(router, "/api/monitor")
    _monitor(router, "/monitor_api.php", include_in_schema=False)
    return router


def seed002_job(job: jobs.Job) -> dict[str, Any]:
    """A job in seed 002's ``ta_analysis_jobs`` shape."""
    return {
        "id": job.id, "job_type": job.task, "queue": job.queue, "priority": jobs.priority_word(job.priority),
        "status": _SEED002[job.status], "worker_id": job.worker_id, "hostname": job.hostname, "parameters": job.args,
        "result": job.result, "progress": job.progress, "status_message": job.status_message, "attempts": job.attempts,
        "max_attempts": job.max_attempts, "created_at": envelope.format_time(job.created_at),
        "started_at": envelope.format_time(job.started_at),
        "completed_at": envelope.format_time(job.finished_at) if job.status is jobs.JobStatus.COMPLETED else None,
        "failed_at": envelope.format_time(job.finished_at) if job.status is jobs.JobStatus.FAILED else None,
        "updated_at": envelope.format_time(job.updated_at),
        "error": job.error.to_dict() if job.error else None,
    }


def _monitor(router: APIRouter, path: str, include_in_schema: bool = True) -> None:
    @router.get(path, response_model=schemas.MonitorResponse, responses=errs(), include_in_schema=include_in_schema,
                summary="Seed 002: monitor API (overview, workers, jobs)")
    def monitor_get(request: Request, action: Literal["overview", "workers", "jobs"] = Query(...),
                    status: Literal["pending", "running", "completed", "failed", "cancelled"] | None = Query(None),
                    limit: int = Query(50, ge=1, le=500), _: Caller = Depends(require("read"))) -> dict[str, Any]:
        state = get_state(request)
        if action == "overview":
            data: Any = overview_data(state)
            data["jobs_seed"] = {word: sum(n for s, n in data["jobs"].items() if _SEED002[jobs.JobStatus(s)] == word)
                                 for word in ("pending", "running", "completed", "failed", "cancelled")}
        elif action == "workers":
            data = [dict(w, worker_id=w["id"], status="active" if w["alive"] else "dead", last_heartbeat=w["heartbeat_at"],
                         jobs_processed=w["processed"], jobs_failed=w["failed"]) for w in all_workers(state)]
        else:
            statuses = tuple(s for s, word in _SEED002.items() if word == status) if status else ()
            data = [seed002_job(j) for j in state.backend.list_jobs(JobFilter(statuses=statuses, limit=limit))]
        return {"success": True, "action": action, "data": data}

    @router.post(path, response_model=schemas.MonitorResponse, status_code=201, responses=errs(400, 404, 413, 415, 429),
                 include_in_schema=include_in_schema, summary="Seed 002: monitor API (add_job)")
    def monitor_post(request: Request, body: schemas.MonitorJobRequest, action: Literal["add_job"] = Query(...),
                     caller: Caller = Depends(require("submit"))) -> dict[str, Any]:
        state = get_state(request)
        state.rate_limit(caller, 1)
        submission: dict[str, Any] = {"task": body.job_type, "args": body.parameters, "priority": body.priority}
        if body.queue:
            submission["queue"] = body.queue
        [(job, _)] = state.submit([submission])
        return {"success": True, "action": action, "data": {"job_id": job.id, "job": seed002_job(job)}}
