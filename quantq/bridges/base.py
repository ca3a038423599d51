"""Bridges: another system's Redis list of JSON tasks, served as quantq jobs.

A bridge takes each item off the system's list (``BLMOVE`` into a processing list, so a
crash loses nothing), maps its task type onto a quantq task, enqueues it under a
deterministic id (so taking an item twice runs it once), and writes the job's progress
and outcome back where that system reads them.  An item that is not valid JSON, or names
an unknown task, gets an error result at the system's result key and a dead letter with
the reason; the bridge goes on.  ``docs/redis.md`` describes the two seeds' bridges.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import redis as redis_py

from quantq import envelope, errors, jobs
from quantq.backends.base import Backend

log = logging.getLogger("quantq.bridge")
S = jobs.JobStatus
SWEEP_EVERY = 2.0  # seconds between full checks of the outstanding jobs (events cut this short)
DEAD_KEEP = 10_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class Route:
    """Where a foreign task type goes: a quantq task and, optionally, its queue."""

    task: str
    queue: str | None = None

    def __post_init__(self) -> None:
        envelope.check_task_name(self.task, "route task")
        if self.queue is not None:
            envelope.check_queue(self.queue, "route queue")


class BadItem(Exception):
    """An item the bridge cannot run; ``foreign_id`` is set when the item named one."""

    def __init__(self, reason: str, foreign_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.foreign_id = foreign_id


@dataclasses.dataclass(frozen=True, kw_only=True)
class Item:
    foreign_id: str
    task_type: str
    args: dict[str, Any]


def iso(value: datetime | None = None) -> str:
    return (value or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Bridge(abc.ABC):
    """What one foreign system looks like: its keys, item format and result format."""

    name: str
    source: str  #: the list its producers LPUSH onto
    routes: dict[str, Route]

    def __init__(self, routes: Mapping[str, str | Route] | None = None) -> None:
        given = routes if routes is not None else self.default_routes()
        self.routes = {k: v if isinstance(v, Route) else Route(task=v) for k, v in given.items()}

    @classmethod
    @abc.abstractmethod
    def default_routes(cls) -> dict[str, str | Route]: ...

    @abc.abstractmethod
    def parse(self, data: Any) -> Item:
        """The item's id, task type and args; raises :class:`BadItem`."""

    @abc.abstractmethod
    def on_queued(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None: ...

    @abc.abstractmethod
    def on_running(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None: ...

    @abc.abstractmethod
    def on_finished(self, pipe: Any, foreign_id: str, job: jobs.Job) -> None: ...

    @abc.abstractmethod
    def on_error(self, pipe: Any, foreign_id: str, message: str) -> None:
        """The item could not run (bad item, or its job vanished)."""

    def job_id(self, foreign_id: str) -> str:
        return f"{self.name}.{foreign_id}"


class BridgeRunner:
    """Serves one bridge inside a worker process: ``start()`` two daemon threads (intake and
    write-back), ``stop()`` them.  Jobs go through ``backend``; the foreign keys live on
    ``client`` (by default the Redis backend's own connection)."""

    def __init__(self, bridge: Bridge, backend: Backend, *, client: redis_py.Redis | None = None,
                 known_tasks: set[str] | None = None, registry: Any = None) -> None:
        if client is None:
            client = getattr(backend, "client", None)
            if client is None:
                raise errors.ConfigError(f"bridge {bridge.name!r} needs a Redis connection: pass client= or use a redis:// backend")
        self.bridge = bridge
        self.backend = backend
        self.client = client
        self.registry = registry  #: the worker's tasks: their defaults apply, and a missing one is an error
        self.known_tasks = known_tasks if known_tasks is not None or registry is None else set(registry.names())
        keys = getattr(backend, "keys", None)
        base = f"{getattr(keys, 'prefix', 'quantq')}:bridge:{bridge.name}:"
        #: items taken but not yet enqueued (a crash leaves them here); the source list's name
        #: as hash tag puts both lists in one slot, so BLMOVE works on Redis Cluster
        self.processing = f"{base}{{{bridge.source}}}:processing"
        self.pending = base + "pending"  #: job id -> foreign id, queue, last status written back
        self.dead = base + "dead"  #: refused items with their reasons, newest first
        self._stop = threading.Event()
        self._dirty = threading.Event()
        self._threads: list[threading.Thread] = []
        self.taken = 0
        self.refused = 0

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> BridgeRunner:
        self._stop.clear()
        for name, target in (("intake", self._intake_loop), ("writeback", self._writeback_loop)):
            thread = threading.Thread(target=target, name=f"quantq-bridge-{self.bridge.name}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("bridge %s serving %s", self.bridge.name, self.bridge.source)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._dirty.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    # ---- intake ----------------------------------------------------------------------------

    def _intake_loop(self) -> None:
        delay = 0.2
        try:
            for raw in self.client.lrange(self.processing, 0, -1):  # left by a process that died
                self.handle(raw)
        except redis_py.RedisError as exc:
            log.warning("bridge %s: recovery postponed: %s", self.bridge.name, exc)
        while not self._stop.is_set():
            try:
                raw = self.client.blmove(self.bridge.source, self.processing, 1, "RIGHT", "LEFT")
                delay = 0.2
            except redis_py.RedisError as exc:
                log.warning("bridge %s: Redis unreachable (%s); retrying in %.1fs", self.bridge.name, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            if raw is not None:
                try:
                    self.handle(raw)
                except (redis_py.RedisError, errors.BackendError) as exc:
                    log.warning("bridge %s: item kept for a retry: %s", self.bridge.name, exc)
                    self._stop.wait(delay)

    def handle(self, raw: Any) -> str | None:
        """Turn one item into a job (or an error result and a dead letter); returns the job id."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        bridge = self.bridge
        try:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise BadItem(f"not valid JSON: {exc}") from None
            item = bridge.parse(data)
            route = bridge.routes.get(item.task_type)
            if route is None:
                known = ", ".join(sorted(bridge.routes))
                raise BadItem(f"unknown task type {item.task_type!r} (known: {known})", item.foreign_id)
            if self.known_tasks is not None and route.task not in self.known_tasks:
                raise BadItem(f"task {route.task!r} for type {item.task_type!r} is not registered in this worker", item.foreign_id)
            submission: dict[str, Any] = {"id": bridge.job_id(item.foreign_id), "task": route.task, "args": item.args,
                                          "meta": {"bridge": bridge.name, "foreign_id": item.foreign_id}}
            if route.queue:
                submission["queue"] = route.queue
            try:
                defaults = None
                if self.registry is not None and route.task in self.registry:
                    defaults = self.registry.get(route.task).options.as_envelope_defaults()
                    if route.queue is None:
                        submission.pop("queue", None)
                job = envelope.parse_submission(submission, now=self.backend.now(), defaults=defaults)
            except errors.EnvelopeError as exc:
                raise BadItem(str(exc), item.foreign_id) from None
        except BadItem as bad:
            self._refuse(text, bad)
            return None
        [stored] = self.backend.enqueue([job])
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self.pending, stored.id, json.dumps({"foreign_id": item.foreign_id, "queue": stored.queue, "said": stored.status.value}))
        if stored.status in (S.QUEUED, S.SCHEDULED):
            bridge.on_queued(pipe, item.foreign_id, stored)
        pipe.lrem(self.processing, 1, text)
        pipe.execute()
        self.taken += 1
        self._dirty.set()
        return stored.id

    def _refuse(self, text: str, bad: BadItem) -> None:
        self.refused += 1
        log.warning("bridge %s: refused an item: %s", self.bridge.name, bad.reason)
        pipe = self.client.pipeline(transaction=False)
        letter = {"raw": text, "reason": bad.reason, "foreign_id": bad.foreign_id, "at": iso()}
        pipe.lpush(self.dead, json.dumps(letter))
        pipe.ltrim(self.dead, 0, DEAD_KEEP - 1)
        if bad.foreign_id:
            self.bridge.on_error(pipe, bad.foreign_id, bad.reason)
        pipe.lrem(self.processing, 1, text)
        pipe.execute()

    # ---- write-back ------------------------------------------------------------------------

    def _writeback_loop(self) -> None:
        events = self._subscribe()
        last_sweep = 0.0
        while not self._stop.is_set():
            woke = False
            if events is not None:
                try:
                    message = events.get_message(timeout=0.2)
                    woke = message is not None and self.bridge.name + "." in str(message.get("data", ""))
                except redis_py.RedisError:
                    events = None
            else:
                self._dirty.wait(0.2)
            if self._dirty.is_set() or woke or time.monotonic() - last_sweep >= SWEEP_EVERY:
                self._dirty.clear()
                last_sweep = time.monotonic()
                try:
                    self.sync()
                except (redis_py.RedisError, errors.QuantqError) as exc:
                    log.warning("bridge %s: write-back postponed: %s", self.bridge.name, exc)
                    self._stop.wait(1.0)
                if events is None:
                    events = self._subscribe()

    def _subscribe(self) -> Any:
        channel = getattr(self.backend, "_channel", "")
        if not channel:
            return None
        try:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
            return pubsub
        except redis_py.RedisError:
            return None

    def sync(self) -> int:
        """Write back every outstanding job whose state changed; returns how many finished."""
        bridge = self.bridge
        pending = {k.decode() if isinstance(k, bytes) else k: json.loads(v) for k, v in self.client.hgetall(self.pending).items()}
        if not pending:
            return 0
        found = self._fetch(pending)
        finished = 0
        pipe = self.client.pipeline(transaction=False)
        for job_id, note in pending.items():
            job = found[job_id]
            foreign_id = note["foreign_id"]
            if job is None:
                bridge.on_error(pipe, foreign_id, "the job disappeared before it finished (purged or expired)")
                pipe.hdel(self.pending, job_id)
                finished += 1
            elif job.finished:
                bridge.on_finished(pipe, foreign_id, job)
                pipe.hdel(self.pending, job_id)
                finished += 1
            elif job.status is S.RUNNING and (note.get("said") != "running" or note.get("progress") != job.progress):
                bridge.on_running(pipe, foreign_id, job)
                pipe.hset(self.pending, job_id, json.dumps({**note, "said": "running", "progress": job.progress}))
            elif job.status in (S.QUEUED, S.SCHEDULED) and note.get("said") == "running":
                bridge.on_queued(pipe, foreign_id, job)  # a retry after a failed attempt
                pipe.hset(self.pending, job_id, json.dumps({**note, "said": job.status.value}))
        pipe.execute()
        return finished


    def _fetch(self, pending: dict[str, Any]) -> dict[str, jobs.Job | None]:
        keys = getattr(self.backend, "keys", None)
        client = getattr(self.backend, "client", None)
        if keys is None or client is None:
            return {job_id: self.backend.get(job_id) for job_id in pending}
        from quantq.backends.redis_keys import job_from_hash

        pipe = client.pipeline(transaction=False)  # the Redis backend: one round trip for all
        for job_id, note in pending.items():
            pipe.hgetall(keys.job(note["queue"], job_id))
        return {job_id: job_from_hash(h) if h else None for job_id, h in zip(pending, pipe.execute(), strict=True)}


def worker_tag() -> str:
    return os.environ.get("WORKER_NAME") or f"worker_{os.getpid()}"
