"""``/api/jobs``: submit, batch, list, read, result, progress, cancel, retry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime

from quantq import envelope, jobs
from quantq.api import schemas
from quantq.api.problems import ApiError
from quantq.api.state import Caller, get_state, require
from quantq.backends.base import JobFilter

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def errs(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer (plus the auth ones)."""
    described = {400: "Malformed JSON", 401: "No or unknown API key", 403: "The key lacks the scope",
                 404: "Not found", 409: "Conflict with the job's state", 413: "Body too large",
                 415: "Body is not JSON", 422: "Invalid input (names the field)", 429: "Rate limited",
                 503: "Backend unavailable"}
    return {c: {"model": schemas.ErrorResponse, "description": described[c]} for c in sorted({401, 403, 422, 503, *codes})}


JobId = Path(pattern=schemas.ID_PATTERN, max_length=128, description="The job's id.")
_ACTIVE = (jobs.JobStatus.SCHEDULED, jobs.JobStatus.QUEUED, jobs.JobStatus.RUNNING)


def record(job: jobs.Job, *, with_result: bool = True) -> dict[str, Any]:
    data = envelope.to_record(job)
    if not with_result:
        data.pop("result", None)
    return data


@router.post("", status_code=201, response_model=schemas.JobRecord, summary="Submit a job",
             responses={200: {"model": schemas.JobRecord, "description": "The id existed: the stored job (idempotent replay)"},
                        **errs(400, 404, 409, 413, 415, 429)})
def submit_job(body: schemas.JobSubmission, request: Request, response: Response,
               caller: Caller = Depends(require("submit"))) -> dict[str, Any]:
    """Enqueue one job and answer at once with its record (status ``queued`` or ``scheduled``).

    Unknown task: 404 with the known tasks.  Bad arguments: 422 naming the field.
    """
    state = get_state(request)
    state.rate_limit(caller, 1)
    [(job, created)] = state.submit([body.model_dump(exclude_unset=True)])
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replay"] = "true"
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return record(job)


@router.post("/batch", status_code=201, response_model=schemas.BatchResult, summary="Submit many jobs",
             responses=errs(400, 404, 409, 413, 415, 429))
def submit_batch(body: schemas.BatchSubmission, request: Request, caller: Caller = Depends(require("submit"))) -> dict[str, Any]:
    """Validate every job first; store them all only when all are valid (errors name ``jobs[i].field``)."""
    state = get_state(request)
    if len(body.jobs) > state.config.max_batch:
        raise ApiError(413, "batch_too_large", f"a batch holds at most {state.config.max_batch} jobs, got {len(body.jobs)}",
                       {"max_batch": state.config.max_batch})
    state.rate_limit(caller, len(body.jobs))
    stored = state.submit([j.model_dump(exclude_unset=True) for j in body.jobs], prefix=lambda i: f"jobs[{i}]")
    return {"jobs": [record(job) for job, _ in stored], "created": [created for _, created in stored]}


def parse_statuses(values: Sequence[str] | None) -> tuple[jobs.JobStatus, ...]:
    out = [jobs.SEED_STATUS_WORDS[w] if w in jobs.SEED_STATUS_WORDS else jobs.JobStatus(w) for w in values or []]
    return tuple(dict.fromkeys(out))


@router.get("", response_model=schemas.JobList, summary="List jobs", responses=errs())
def list_jobs(
    request: Request,
    status: list[schemas.StatusWord] | None = Query(None, description="Statuses (repeatable); seed words pending/processing/error too."),
    queue: str | None = Query(None, pattern=schemas.QUEUE_PATTERN),
    task: str | None = Query(None, pattern=schemas.TASK_PATTERN),
    created_after: AwareDatetime | None = Query(None, description="ISO 8601 time with offset."),
    created_before: AwareDatetime | None = Query(None, description="ISO 8601 time with offset."),
    before: str | None = Query(None, pattern=schemas.ID_PATTERN, description="Cursor: `next_cursor` of the previous page."),
    limit: int = Query(50, ge=1, le=500),
    _: Caller = Depends(require("read")),
) -> dict[str, Any]:
    """Newest first, ``limit`` at a time; follow ``next_cursor`` for older jobs."""
    state = get_state(request)
    flt = JobFilter(statuses=parse_statuses(status), queue=queue, task=task,
                    created_after=created_after, created_before=created_before, before=before, limit=limit)
    found = state.backend.list_jobs(flt)
    return {"jobs": [record(j, with_result=False) for j in found],
            "next_cursor": found[-1].id if len(found) == limit else None}


@router.get("/{job_id}", response_model=schemas.JobRecord, summary="Read a job", responses=errs(404))
def get_job(request: Request, job_id: str = JobId, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    return record(get_state(request).get_job(job_id))


@router.get("/{job_id}/result", response_model=schemas.JobResult, summary="Read a job's result", responses=errs(404, 409))
def get_result(request: Request, job_id: str = JobId, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    """200 with the result once completed; 409 while it is not (details say its status and error)."""
    job = get_state(request).get_job(job_id)
    if job.status is not jobs.JobStatus.COMPLETED:
        code = "job_not_finished" if not job.finished else f"job_{job.status.value}"
        raise ApiError(409, code, f"job {job.id} is {job.status.value}, so it has no result",
                       {"status": job.status.value, "error": job.error.to_dict() if job.error else None})
    return {"id": job.id, "status": job.status.value, "result": job.result}


@router.get("/{job_id}/progress", response_model=schemas.JobProgress, summary="Read a job's progress", responses=errs(404))
def get_progress(request: Request, job_id: str = JobId, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    job = get_state(request).get_job(job_id)
    return {"id": job.id, "status": job.status.value, "progress": job.progress, "status_message": job.status_message,
            "attempts": job.attempts, "updated_at": envelope.format_time(job.updated_at)}


@router.delete("/{job_id}", response_model=schemas.JobRecord, summary="Cancel a job", responses=errs(404, 409))
def cancel_job(request: Request, job_id: str = JobId, _: Caller = Depends(require("submit"))) -> dict[str, Any]:
    """Scheduled, queued or running jobs become cancelled at once (a running one is stopped by its worker)."""
    state = get_state(request)
    state.get_job(job_id)
    return record(state.backend.cancel(job_id))


@router.post("/{job_id}/retry", response_model=schemas.JobRecord, summary="Retry a failed or cancelled job",
             responses=errs(404, 409))
def retry_job(request: Request, job_id: str = JobId, _: Caller = Depends(require("submit"))) -> dict[str, Any]:
    state = get_state(request)
    state.get_job(job_id)
    return record(state.backend.retry(job_id))
