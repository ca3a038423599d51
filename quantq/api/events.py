"""Where live updates come from.  :class:`PollingEventSource` reads the backend interface, so it
works on every backend; a backend that publishes changes (Redis pub/sub, Postgres NOTIFY) can
supply another :class:`EventSource` to ``create_app(events_source=...)``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
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


@dataclasses.dataclass(eq=False)
class _Feed:
    """One all-jobs stream, with its own memory of what it has been told."""

    send: MemoryObjectSendStream[list[JobEvent]]
    seen: dict[str, tuple[Any, ...]] = dataclasses.field(default_factory=dict)


_Filter = tuple[str | None, str | None]  # (queue, task)


class PollingEventSource:
    """Polls the backend every ``interval`` seconds, with one poller per event loop for all streams.

    Each tick makes one worker-thread hop that reads every watched job once (however many streams
    watch it) and scans once per distinct ``(queue, task)`` filter of the all-jobs streams
    (however many streams share it).
    """

    #: ticks a slow stream may fall behind.  A job stream drops older ticks (each carries the full
    #: state); an all-jobs stream that falls this far behind is ended, and its client reconnects.
    BACKLOG = 50

    def __init__(self, backend: Backend, interval: float = 0.15, active_limit: int = 1000) -> None:
        self.backend = backend
        self.interval = interval
        self.active_limit = active_limit
        self._watchers: dict[str, list[MemoryObjectSendStream[jobs.Job | None]]] = {}
        self._feeds: dict[_Filter, list[_Feed]] = {}
        self._since: dict[_Filter, datetime] = {}
        self._pollers: set[asyncio.AbstractEventLoop] = set()

    def _ensure_poller(self) -> None:
        loop = asyncio.get_running_loop()
        if loop not in self._pollers:
            self._pollers.add(loop)
            loop.create_task(self._poll(loop))

    async def job_events(self, job_id: str) -> AsyncIterator[JobEvent | None]:
        send, receive = anyio.create_memory_object_stream[jobs.Job | None](max_buffer_size=self.BACKLOG)
        self._watchers.setdefault(job_id, []).append(send)
        self._ensure_poller()
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

    async def all_events(self, *, queue: str | None = None, task: str | None = None) -> AsyncIterator[JobEvent | None]:
        send, receive = anyio.create_memory_object_stream[list[JobEvent]](max_buffer_size=self.BACKLOG)
        feed = _Feed(send)
        flt = (queue, task)
        self._feeds.setdefault(flt, []).append(feed)
        self._ensure_poller()
        try:
            async with receive:
                async for batch in receive:
                    if not batch:
                        yield None
                    for event in batch:
                        yield event
        finally:
            feeds = self._feeds.get(flt, [])
            if feed in feeds:
                feeds.remove(feed)
            if not feeds:
                self._feeds.pop(flt, None)
                self._since.pop(flt, None)
            send.close()

    async def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._watchers or self._feeds:
                feeds = {flt: list(subs) for flt, subs in self._feeds.items()}
                found, batches = await anyio.to_thread.run_sync(self._tick, list(self._watchers), feeds)
                for job_id, job in found.items():
                    for send in list(self._watchers.get(job_id, ())):
                        with contextlib.suppress(anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                            send.send_nowait(job)
                for feed, batch in batches:
                    try:
                        feed.send.send_nowait(batch)
                    except anyio.WouldBlock:
                        feed.send.close()  # too far behind to catch up without losing events
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        pass
                await anyio.sleep(self.interval)
        except Exception:  # the backend failed: end the streams rather than leave them hanging
            log.exception("api.events poller failed")
            for watchers in self._watchers.values():
                for send in watchers:
                    send.close()
            for subs in self._feeds.values():
                for feed in subs:
                    feed.send.close()
        finally:
            # no await between the emptiness check above and this: a new stream starts a new poller
            self._pollers.discard(loop)

    def _tick(self, job_ids: list[str], feeds: dict[_Filter, list[_Feed]]) -> tuple[dict[str, jobs.Job | None],
                                                                                    list[tuple[_Feed, list[JobEvent]]]]:
        """One round of backend reads (in a worker thread)."""
        found = {job_id: self.backend.get(job_id) for job_id in job_ids}
        batches: list[tuple[_Feed, list[JobEvent]]] = []
        if feeds:
            now = self.backend.now()
            for flt, subs in feeds.items():
                batches.extend(self._scan(flt, subs))
                # jobs created a little before this scan may commit late; look back a second
                self._since[flt] = now - timedelta(seconds=1)
        return found, batches

    def _scan(self, flt: _Filter, subs: list[_Feed]) -> list[tuple[_Feed, list[JobEvent]]]:
        queue, task = flt
        found: dict[str, jobs.Job] = {}
        for job in self.backend.list_jobs(JobFilter(statuses=_ACTIVE, queue=queue, task=task, limit=self.active_limit)):
            found[job.id] = job
        since = self._since.get(flt)
        if since is not None:  # jobs that appeared (and maybe finished) between two scans
            for job in self.backend.list_jobs(JobFilter(created_after=since, queue=queue, task=task, limit=self.active_limit)):
                found.setdefault(job.id, job)
        # jobs some stream saw active that are no longer listed as active: they finished or vanished
        missing = {i for feed in subs for i, k in feed.seen.items() if i not in found and not k[0].finished}
        vanished = set()
        for job_id in missing:
            fresh = self.backend.get(job_id)
            if fresh is not None:
                found[job_id] = fresh
            else:
                vanished.add(job_id)
        ordered = sorted(found.values(), key=_order)
        out = []
        for feed in subs:
            events = []
            for job in ordered:
                key = _key(job)
                before = feed.seen.get(job.id)
                if key != before:
                    events.append(JobEvent(_kind(before, key), snapshot(job)))
                    feed.seen[job.id] = key
            # forget vanished jobs, and finished ones no scan window covers any more
            for job_id in [i for i, k in feed.seen.items() if i in vanished or (k[0].finished and i not in found)]:
                del feed.seen[job_id]
            out.append((feed, events))
        return out
