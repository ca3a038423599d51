"""Queues, workers, overview, tasks, pause/resume, health, readiness and metrics."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Request, Response

from quantq import backends, envelope, errors, jobs
from quantq.api import schemas
from quantq.api.problems import ApiError
from quantq.api.routes.jobs import errs
from quantq.api.state import ApiState, Caller, get_state, require
from quantq.backends.base import JobFilter, QueueStats, WorkerInfo

router = APIRouter(tags=["system"])
THROUGHPUT_SCAN = 500  #: newest finished jobs per queue looked at for the last minute's throughput


def queue_view(state: ApiState, q: QueueStats, now: datetime) -> dict[str, Any]:
    minute_ago = now - timedelta(seconds=60)
    recent = state.backend.list_jobs(JobFilter(statuses=(jobs.JobStatus.COMPLETED, jobs.JobStatus.FAILED), queue=q.name,
                                               created_after=now - timedelta(hours=1), limit=THROUGHPUT_SCAN))
    done = {"completed": 0, "failed": 0}
    for job in recent:
        if job.finished_at and job.finished_at >= minute_ago:
            done[job.status.value] += 1
    wait = (now - q.oldest_queued_at).total_seconds() if q.oldest_queued_at else None
    return {
        "name": q.name, "counts": q.counts, "paused": q.paused, "depth": q.counts.get("queued", 0),
        "scheduled": q.counts.get("scheduled", 0), "running": q.counts.get("running", 0),
        "oldest_queued_at": envelope.format_time(q.oldest_queued_at),
        "oldest_wait_seconds": None if wait is None else max(0.0, wait), "finished_last_minute": done,
    }


def worker_view(w: WorkerInfo, now: datetime, alive_after: float) -> dict[str, Any]:
    age = (now - w.heartbeat_at).total_seconds() if w.heartbeat_at else None
    return {
        "id": w.id, "hostname": w.hostname, "pid": w.pid, "queues": list(w.queues), "concurrency": w.concurrency,
        "current_jobs": list(w.current_jobs), "started_at": envelope.format_time(w.started_at),
        "heartbeat_at": envelope.format_time(w.heartbeat_at), "heartbeat_age_seconds": age,
        "alive": age is not None and age <= alive_after, "processed": w.processed, "failed": w.failed, "meta": w.meta,
    }


def all_queues(state: ApiState) -> list[dict[str, Any]]:
    now = state.backend.now()
    return [queue_view(state, q, now) for q in state.backend.queue_stats()]


def all_workers(state: ApiState) -> list[dict[str, Any]]:
    now = state.backend.now()
    return [worker_view(w, now, state.config.worker_alive_after) for w in state.backend.list_workers()]


@router.get("/api/queues", response_model=schemas.QueueList, summary="Queue depths and throughput", responses=errs())
def list_queues(request: Request, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    return {"queues": all_queues(get_state(request))}


QueueName = Path(pattern=schemas.QUEUE_PATTERN, max_length=100)


def _set_paused(request: Request, name: str, paused: bool) -> dict[str, Any]:
    state = get_state(request)
    state.backend.set_paused(name, paused)
    for q in state.backend.queue_stats():
        if q.name == name:
            return queue_view(state, q, state.backend.now())
    # a resumed queue that holds no job is no longer listed
    empty = QueueStats(name=name, counts=backends.base.empty_counts(), paused=paused)
    return queue_view(state, empty, state.backend.now())


@router.post("/api/queues/{name}/pause", response_model=schemas.QueueInfo, summary="Pause a queue", responses=errs())
def pause_queue(request: Request, name: str = QueueName, _: Caller = Depends(require("admin"))) -> dict[str, Any]:
    """A paused queue keeps accepting jobs but hands none to workers."""
    return _set_paused(request, name, True)


@router.post("/api/queues/{name}/resume", response_model=schemas.QueueInfo, summary="Resume a queue", responses=errs())
def resume_queue(request: Request, name: str = QueueName, _: Caller = Depends(require("admin"))) -> dict[str, Any]:
    return _set_paused(request, name, False)


@router.get("/api/workers", response_model=schemas.WorkerList, summary="Workers and their heartbeats", responses=errs())
def list_workers(request: Request, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    return {"workers": all_workers(get_state(request))}


def overview_data(state: ApiState) -> dict[str, Any]:
    queues = all_queues(state)
    workers = all_workers(state)
    totals = backends.base.empty_counts()
    for q in queues:
        for status, n in q["counts"].items():
            totals[status] = totals.get(status, 0) + n
    return {
        "time": envelope.format_time(state.backend.now()), "backend": backends.redact(state.backend.url or ""),
        "workers": {"total": len(workers), "alive": sum(1 for w in workers if w["alive"])},
        "jobs": totals, "queues": queues, "tasks": state.registry.names(),
    }


@router.get("/api/overview", response_model=schemas.Overview, summary="Monitor overview", responses=errs())
def overview(request: Request, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    return overview_data(get_state(request))


@router.get("/api/tasks", response_model=schemas.TaskList, summary="Registered tasks and their argument schemas",
            responses=errs())
def list_tasks(request: Request, _: Caller = Depends(require("read"))) -> dict[str, Any]:
    return {"tasks": [t.info() for t in get_state(request).registry]}


@router.get("/api/tasks/{name}", response_model=schemas.TaskInfo, summary="One task", responses=errs(404))
def get_task(request: Request, name: str = Path(pattern=schemas.TASK_PATTERN, max_length=200),
             _: Caller = Depends(require("read"))) -> dict[str, Any]:
    return get_state(request).registry.get(name).info()


@router.get("/healthz", response_model=schemas.Health, summary="Alive", tags=["health"])
def healthz() -> dict[str, Any]:
    """The process answers; says nothing about the backend (see /readyz)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=schemas.Health, summary="Backend reachable", tags=["health"],
            responses={503: {"model": schemas.ErrorResponse, "description": "Backend unreachable"}})
async def readyz(request: Request) -> Any:
    state = get_state(request)
    try:
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(state.backend.ping)
    except (errors.QuantqError, TimeoutError, OSError) as exc:
        raise ApiError(503, "backend_unavailable", "the job backend cannot be reached", {"reason": str(exc)}) from None
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", tags=["health"], response_class=Response,
            responses={200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}},
                       **errs()})
def metrics(request: Request, _: Caller = Depends(require("read"))) -> Response:
    from quantq import metrics as metrics_mod

    return Response(metrics_mod.render(get_state(request).metrics), media_type=metrics_mod.CONTENT_TYPE)
