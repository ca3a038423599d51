"""Where live updates come from.  :class:`PollingEventSource` reads the backend interface, so it
works on every backend; a backend that publishes changes (Redis pub/sub, Postgres NOTIFY) can
supply another :class:`EventSource` to ``create_app(events_source=...)``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Protocol

import anyio
import anyio.to_thread
from anyio.streams.memory import MemoryObjectSendStream

from quantq import envelope, jobs
from quantq.backends.base import Backend, JobFilter

log = logging.getLogger("quantq.api")
_ACTIVE = (jobs.JobStatus.SCHEDULED, jobs.JobStatus.QUEUED, jobs.JobStatus.RUNNING)


@dataclasses.dataclass(frozen=True)
class JobEvent:
    """``kind`` is ``status`` (status or attempt changed), ``progress`` (only progress moved)
    or ``gone`` (the job no longer exists); ``data`` is a small JSON snapshot."""

    kind: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.kind == "gone" or self.data.get("status") in ("completed", "failed", "cancelled")


def snapshot(job: jobs.Job) -> dict[str, Any]:
    return {
        "id": job.id, "task": job.task, "queue": job.queue, "status": job.status.value, "attempts": job.attempts,
        "progress": job.progress, "status_message": job.status_message,
        "updated_at": envelope.format_time(job.updated_at),
        "error": job.error.to_dict() if job.error and job.finished else None,
    }


def _key(job: jobs.Job) -> tuple[Any, ...]:
    return (job.status, job.attempts, job.progress, job.status_message)


def _order(job: jobs.Job) -> tuple[float, str]:
    stamp = job.updated_at or job.created_at
    return (stamp.timestamp() if stamp else 0.0, job.id)


def _kind(before: tuple[Any, ...] | None, after: tuple[Any, ...]) -> str:
    return "status" if before is None or before[:2] != after[:2] else "progress"


class EventSource(Protocol):
    """Streams yield events, or ``None`` now and then when nothing changed (so a stream can
    send keep-alives and notice its time limit)."""

    def job_events(self, job_id: str) -> AsyncIterator[JobEvent | None]:
        """Changes of one job, starting with its current state, ending after its terminal state."""
        ...

    def all_events(self, *, queue: str | None = None, task: str | None = None) -> AsyncIterator[JobEvent | None]:
        """Changes of every job (optionally of one queue or task), starting with the active ones; never ends."""
        ...


class PollingEventSource:
    """Polls the backend every ``interval`` seconds.

    Job streams share one poller per event loop: each tick reads every watched job once, in one
    worker-thread hop, however many streams watch it.  Each all-jobs stream scans on its own.
    """

    #: ticks a slow stream may fall behind; older ones are dropped (each tick carries the full state)
    BACKLOG = 50

    def __init__(self, backend: Backend, interval: float = 0.15, active_limit: int = 1000) -> None:
        self.backend = backend
        self.interval = interval
        self.active_limit = active_limit
        self._watchers: dict[str, list[MemoryObjectSendStream[jobs.Job | None]]] = {}
        self._pollers: set[asyncio.AbstractEventLoop] = set()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

    async def job_events(self, job_id: str) -> AsyncIterator[JobEvent | None]:
        send, receive = anyio.create_memory_object_stream[jobs.Job | None](max_buffer_size=self.BACKLOG)
        self._watchers.setdefault(job_id, []).append(send)
        loop = asyncio.get_running_loop()
        if loop not in self._pollers:
            self._pollers.add(loop)
            loop.create_task(self._poll_jobs(loop))
        last: tuple[Any, ...] | None = None
        try:
            async with receive:
                async for job in receive:
                    if job is None:
                        yield JobEvent("gone", {"id": job_id})
                        return
                    key = _key(job)
                    if key != last:
                        yield JobEvent(_kind(last, key), snapshot(job))
                        last = key
                    else:
                        yield None
                    if job.finished:
                        return
        finally:
            watchers = self._watchers.get(job_id, [])
            if send in watchers:
                watchers.remove(send)
            if not watchers:
                self._watchers.pop(job_id, None)
            send.close()

    def _read_watched(self, ids: list[str]) -> dict[str, jobs.Job | None]:
        return {job_id: self.backend.get(job_id) for job_id in ids}

    async def _poll_jobs(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._watchers:
                found = await self._call(self._read_watched, list(self._watchers))
                for job_id, job in found.items():
                    for send in list(self._watchers.get(job_id, ())):
                        with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                            send.send_nowait(job)
                await anyio.sleep(self.interval)
        except Exception:  # the backend failed: end the streams rather than leave them hanging
            log.exception("api.events poller failed")
            for watchers in self._watchers.values():
                for send in watchers:
                    send.close()
        finally:
            # no await between the emptiness check above and this: a new stream starts a new poller
            self._pollers.discard(loop)

    async def all_events(self, *, queue: str | None = None, task: str | None = None) -> AsyncIterator[JobEvent | None]:
        seen: dict[str, tuple[Any, ...]] = {}
        since = None
        while True:
            now = await self._call(self.backend.now)
            changed = await self._call(self._scan, seen, since, queue, task)
            for event in changed:
                yield event
            if not changed:
                yield None
            # jobs created a little before the last scan may commit late; look back a second
            since = now - timedelta(seconds=1)
            await anyio.sleep(self.interval)

    def _scan(self, seen: dict[str, tuple[Any, ...]], since: Any, queue: str | None, task: str | None) -> list[JobEvent]:
        found: dict[str, jobs.Job] = {}
        for job in self.backend.list_jobs(JobFilter(statuses=_ACTIVE, queue=queue, task=task, limit=self.active_limit)):
            found[job.id] = job
        if since is not None:  # jobs that appeared (and maybe finished) between two scans
            for job in self.backend.list_jobs(JobFilter(created_after=since, queue=queue, task=task, limit=self.active_limit)):
                found.setdefault(job.id, job)
        for job_id in [i for i, k in seen.items() if i not in found and not k[0].finished]:
            fresh = self.backend.get(job_id)  # was active, no longer listed as active: it finished or vanished
            if fresh is not None:
                found[job_id] = fresh
            else:
                found.pop(job_id, None)
                seen.pop(job_id, None)
        events = []
        for job in sorted(found.values(), key=_order):
            key = _key(job)
            before = seen.get(job.id)
            if key != before:
                events.append(JobEvent(_kind(before, key), snapshot(job)))
                seen[job.id] = key
        # forget finished jobs that no scan window covers any more
        for job_id in [i for i, k in seen.items() if k[0].finished and i not in found]:
            del seen[job_id]
        return events
