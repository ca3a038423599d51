"""Redis backend: ``redis://[user:password@]host:6379/0`` or ``rediss://`` (TLS).  The production default.

Every state transition is one Lua script (``lua/*.lua``, loaded once, called through
the methods below) judged by Redis ``TIME``.  Workers claim and report in batches,
one round trip per batch per queue, and idle workers block on their queue's inbox
(``BLMOVE`` onto itself: a wait that consumes nothing) instead of polling.  Foreign
producers ``LPUSH`` JSON envelopes onto that inbox; ``docs/redis.md`` has the layout.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import heapq
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from importlib import resources
from typing import Any

import redis as redis_py
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

try:  # redis-py's own C packer; the pure-Python way is the fallback
    from hiredis import pack_command
except ImportError:  # pragma: no cover - hiredis comes with the redis extra
    pack_command = None

from quantq import envelope, errors, jobs
from quantq.backends import base
from quantq.backends._finish_watch import FinishWatch
from quantq.backends.redis_keys import (
    WAKE,
    Keys,
    claimed_job,
    enqueue_argv,
    error_json,
    expected_job,
    group_by_queue,
    ingest_item,
    job_from_hash,
    pairs_to_dict,
    parse_url,
    recorded_job,
    result_json,
    stored_job,
    ts,
)

log = logging.getLogger("quantq.redis")
S = jobs.JobStatus
SCRIPTS = (
    "enqueue", "claim", "report", "renew", "held", "progress", "release", "cancel", "retry", "promote",
    "reap", "prune", "purge", "stats", "pause", "ingest", "worker_register", "worker_beat", "worker_reap",
)
CHUNK = 1000  # jobs per script call: keeps each script short so Redis stays responsive
INGEST_BATCH = 200
MAX_BLOCK = 5.0  # longest single blocking wait (below the socket timeout)
FINISH_EVENTS = frozenset({"completed", "failed", "cancelled"})  #: the events that end a job


def _load_scripts() -> dict[str, str]:
    folder = resources.files("quantq.backends").joinpath("lua")
    lib = folder.joinpath("_lib.lua").read_text()
    return {name: lib + "\n" + folder.joinpath(f"{name}.lua").read_text() for name in SCRIPTS}


_SOURCES = _load_scripts()


class RedisBackend(base.Backend):
    #: every claim promotes its queue's due jobs in the same script, so a worker needs no
    #: separate promote_due() round trip before claiming (a hint for the worker loop)
    promotes_on_claim = True

    def __init__(self, url: str) -> None:
        options = parse_url(url)
        self.url = url
        self.keys = Keys(options.prefix)
        self._channel = self.keys.events if options.events == "pubsub" else ""
        self._finish_watch = FinishWatch(self._listen_finished, "quantq-finish-watch")
        self._where = redis_py.connection.parse_url(options.client_url).get("host", "?")
        self._cluster = options.cluster
        try:
            self.client: Any  # redis.Redis, or redis.cluster.RedisCluster with ?cluster=true
            if options.cluster:
                from redis.cluster import RedisCluster

                self.client = RedisCluster.from_url(
                    options.client_url, decode_responses=True, socket_timeout=MAX_BLOCK + 10, socket_connect_timeout=5,
                )
            else:
                self.client = redis_py.Redis.from_url(
                    options.client_url, decode_responses=True, socket_timeout=MAX_BLOCK + 10, socket_connect_timeout=5,
                    socket_keepalive=True, health_check_interval=30,
                    retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                    retry_on_error=[redis_py.ConnectionError, redis_py.TimeoutError],
                )
        except ValueError as exc:
            raise errors.ConfigError(f"bad Redis URL: {exc}") from None
        except redis_py.RedisError as exc:  # a cluster client asks for the slot map at once
            raise errors.BackendUnavailable(f"Redis Cluster at {options.client_url.split('@')[-1]} is unreachable: {exc}") from exc
        self._sha = {name: hashlib.sha1(src.encode()).hexdigest() for name, src in _SOURCES.items()}
        self._queues: set[str] = set()
        self._queues_lock = threading.Lock()
        self._due_at: dict[str, float] = {}  # queue -> monotonic time its next scheduled job is due
        self._pending: collections.deque[base.Outcome] = collections.deque()  # outcomes awaiting Redis
        self._pending_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()
        self._waiters: dict[str, _InboxWaiter] = {}
        self._woken = threading.Event()
        self._ingest_waiting: list[str] = []  # queues whose inbox held foreign envelopes at the last claim
        #: connections of the raw round trips (_Pipe._exchange), kept here between them: the pool's
        #: checkout and return (a health-check read of the socket, two locks) cost ~8 us a round
        #: trip, on the path of every job.  A connection out of step is disconnected first.
        self._spare: list[tuple[Any, Any]] = []  #: (pool, connection)
        self._spare_lock = threading.Lock()
        self._spare_pid = os.getpid()

    # ---- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
            raise errors.BackendUnavailable(f"Redis at {self._where} is unreachable: {exc}") from exc
        except redis_py.RedisError as exc:
            raise errors.BackendError(f"Redis error: {exc}") from exc

    def _call(self, name: str, queue: str, args: Sequence[Any] | Callable[[], Sequence[Any]], pipe: _Pipe | None = None,
              then: Callable[[Any], None] | None = None) -> Any:
        """Run one script in ``queue``'s slot, or add it to ``pipe``.  ``args`` may be a function
        that makes them: in a pipeline it is called only once the commands before it are on
        their way, so Redis runs those while the next are being made.  ``then`` is given the
        reply as soon as it is read (while Redis runs the commands after it)."""
        key = self.keys.ready(queue) if queue else self.keys.workers + "info"
        base_key = self.keys.base(queue) if queue else self.keys.workers
        own = pipe is None
        pipe = pipe or _Pipe(self)
        head = ("EVALSHA", self._sha[name], 1, key, base_key, queue, self._channel)
        if callable(args):
            make = args
            pipe.command_later(lambda: (*head, *make()), then)
        else:
            pipe.command(*head, *args, then=then)
        return pipe.execute()[0] if own else None

    def _pipe(self) -> _Pipe:
        return _Pipe(self)

    SPARE_MOST = 8  #: connections kept for round trips; more at once go back to the pool

    def _take_connection(self) -> tuple[Any, Any]:
        """A connection for one round trip, and the pool it came from."""
        pool = self.client.connection_pool
        with self._spare_lock:
            if self._spare_pid != os.getpid():  # a forked process: the parent's sockets are not its own
                self._spare, self._spare_pid = [], os.getpid()
            while self._spare:
                kept_pool, conn = self._spare.pop()
                if kept_pool is pool:
                    return pool, conn
                kept_pool.release(conn)  # (the client was replaced: its connections go home)
        return pool, pool.get_connection()

    def _give_back(self, pool: Any, conn: Any, in_step: bool) -> None:
        if not in_step:  # a reply may be left unread: start afresh (it reconnects when next used)
            conn.disconnect()
        with self._spare_lock:
            if not self._closed.is_set() and self._spare_pid == os.getpid() and len(self._spare) < self.SPARE_MOST:
                self._spare.append((pool, conn))
                return
        pool.release(conn)

    def _load_scripts(self) -> None:
        for name, source in _SOURCES.items():
            self._sha[name] = self.client.script_load(source)

    def _per_queue(self, name: str, queues: Iterable[str], args: Sequence[Any]) -> list[Any]:
        queues = list(queues)
        if not queues:
            return []
        with self._errors():
            pipe = self._pipe()
            for queue in queues:
                self._call(name, queue, args, pipe)
            return pipe.execute()

    def known_queues(self, refresh: bool = True) -> list[str]:
        if refresh or not self._queues:
            with self._errors():
                found = {str(name) for name in self.client.smembers(self.keys.queues)}
            with self._queues_lock:
                self._queues = found
        return sorted(self._queues)

    def _note_queue(self, pipe: Any, queue: str) -> None:
        envelope.check_queue(queue)
        pipe.run("sadd", self.keys.queues, queue)
        with self._queues_lock:
            self._queues.add(queue)

    def _locate(self, job_id: str) -> str | None:
        """The queue holding ``job_id`` (ids are unique per queue; the first queue by name wins)."""
        for refresh in (False, True):
            queues = self.known_queues(refresh=refresh)
            if not queues:
                continue
            with self._errors():
                pipe = self._pipe()
                for queue in queues:
                    pipe.run("exists", self.keys.job(queue, job_id))
                found = pipe.execute()
            for queue, hit in zip(queues, found, strict=True):
                if hit:
                    return queue
        return None

    def now(self) -> datetime:
        with self._errors():
            sec, usec = self.client.time()
        return jobs.from_timestamp(sec + usec / 1e6)  # type: ignore[return-value]

    def ping(self) -> None:
        with self._errors():
            self.client.ping()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._finish_watch.close()
        for waiter in self._waiters.values():
            waiter.stop()
        if self._pending:
            try:
                self._flush_pending()
            except errors.QuantqError:
                log.warning("closing with %d outcomes Redis never acknowledged; their jobs will run again", len(self._pending))
        with self._spare_lock:
            spare, self._spare = self._spare, []
        for pool, conn in spare:
            pool.release(conn)
        self.client.close()

    # ---- producers -------------------------------------------------------------------------

    def enqueue(self, new_jobs: Sequence[jobs.Job]) -> list[jobs.Job]:
        out: list[jobs.Job | None] = [None] * len(new_jobs)
        by_queue: dict[str, list[int]] = collections.defaultdict(list)
        for i, job in enumerate(new_jobs):
            by_queue[job.queue].append(i)
        with self._errors():
            pipe = self._pipe()
            times: dict[str, datetime | None] = {}  # one script call records one time: parse it once
            for queue, indexes in by_queue.items():
                self._note_queue(pipe, queue)
                for start in range(0, len(indexes), CHUNK):
                    chunk = indexes[start : start + CHUNK]
                    groups: list[list[int]] = []  #: the chunk's groups, as indexes into new_jobs

                    def make(chunk: list[int] = chunk, groups: list[list[int]] = groups) -> list[Any]:
                        args, grouped = enqueue_argv([new_jobs[i] for i in chunk])
                        groups[:] = [[chunk[k] for k in members] for members in grouped]
                        return args

                    def take(reply: list[Any], groups: list[list[int]] = groups) -> None:
                        at = 0
                        for members in groups:  # the group's status, then its jobs' records
                            status = reply[at]
                            for i, rec in zip(members, reply[at + 1 : at + 1 + len(members)], strict=True):
                                out[i] = stored_job(new_jobs[i], status, rec, times)
                            at += 1 + len(members)

                    # made in turn, and read as they come: Redis stores one chunk while Python
                    # makes the next and reads the last
                    self._call("enqueue", queue, make if len(indexes) > CHUNK else make(), pipe, then=take)
            pipe.execute()
        return out  # type: ignore[return-value]

    def get(self, job_id: str) -> jobs.Job | None:
        for refresh in (False, True):
            queues = self.known_queues(refresh=refresh)
            if not queues:
                continue
            with self._errors():
                pipe = self._pipe()
                for queue in queues:
                    pipe.run("hgetall", self.keys.job(queue, job_id))
                found = pipe.execute()
            for h in found:
                if h:
                    return job_from_hash(h)
        return None

    def list_jobs(self, flt: base.JobFilter) -> list[jobs.Job]:
        from quantq.backends.redis_list import list_jobs

        return list_jobs(self, flt)

    def queue_stats(self) -> list[base.QueueStats]:
        queues = self.known_queues()
        with self._errors():
            pipe = self._pipe()
            for queue in queues:
                self._call("prune", queue, [CHUNK], pipe)
                self._call("stats", queue, [], pipe)
            replies = pipe.execute()[1::2]
        out = []
        for queue, reply in zip(queues, replies, strict=True):
            counts = dict(zip(("scheduled", "queued", "running", "completed", "failed", "cancelled"), map(int, reply[:6]), strict=True))
            paused = bool(int(reply[6]))
            if not paused and not any(counts.values()):
                continue
            oldest = jobs.from_timestamp(float(reply[7])) if reply[7] else None
            out.append(base.QueueStats(name=queue, counts={**base.empty_counts(), **counts}, paused=paused, oldest_queued_at=oldest))
        return out

    def _by_id(self, script: str, job_id: str, verb: str) -> jobs.Job:
        queue = self._locate(job_id)
        if queue is None:
            raise errors.JobNotFound(f"no job has id {job_id!r}")
        with self._errors():
            reply = self._call(script, queue, [job_id])
        if reply[0] == "ok":
            return job_from_hash(pairs_to_dict(reply[1]))
        if reply[0] == "missing":
            raise errors.JobNotFound(f"no job has id {job_id!r}")
        if verb == "cancel":
            raise errors.InvalidTransition(f"job {job_id} is already {reply[1]}")
        raise errors.InvalidTransition(f"only failed or cancelled jobs can be retried; job {job_id} is {reply[1]}")

    def cancel(self, job_id: str) -> jobs.Job:
        return self._by_id("cancel", job_id, "cancel")

    def retry(self, job_id: str) -> jobs.Job:
        return self._by_id("retry", job_id, "retry")

    def purge(self, *, queue: str | None = None, statuses: Iterable[jobs.JobStatus] = jobs.FINISHED) -> int:
        names = [s.value for s in statuses if s is not S.RUNNING]
        if not names:
            return 0
        total = 0
        for name in [queue] if queue is not None else self.known_queues():
            while True:
                with self._errors():
                    n = int(self._call("purge", name, [CHUNK, *names]))
                total += n
                if n < CHUNK:
                    break
        return total

    def set_paused(self, queue: str, paused: bool) -> None:
        with self._errors():
            pipe = self._pipe()
            self._note_queue(pipe, queue)
            self._call("pause", queue, ["1" if paused else "0"], pipe)
            pipe.execute()

    # ---- workers ---------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1) -> list[jobs.Claim]:
        return self._claim(list(queues), worker_id, hostname, lease, limit, 0.0)

    def wait_and_claim(
        self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1, timeout: float,
        idle: bool = True,
    ) -> list[jobs.Claim]:
        """One round trip for one queue: the blocking wait and the claim go in one pipeline,
        and Redis runs a blocked client's next command as soon as it is woken."""
        if len(queues) != 1:
            return super().wait_and_claim(queues, worker_id=worker_id, hostname=hostname, lease=lease, limit=limit,
                                          timeout=timeout)
        return self._claim(list(queues), worker_id, hostname, lease, limit, self._wait_time(queues, timeout))

    def _claim(self, queues: list[str], worker_id: str, hostname: str, lease: float, limit: int, wait: float) -> list[jobs.Claim]:
        if limit <= 0 or not queues:
            return []
        claims = self._claim_once(queues, worker_id, hostname, lease, limit, wait)
        if self._ingest_waiting:  # foreign envelopes wait in an inbox: take them in, even under load
            ingested, self._ingest_waiting = self._ingest_waiting, []
            if sum(self.ingest(q) for q in ingested) and len(claims) < limit:
                claims += self._claim_once(queues, worker_id, hostname, lease, limit - len(claims))
        return claims

    def _claim_once(self, queues: list[str], worker_id: str, hostname: str, lease: float, limit: int,
                    wait: float = 0.0) -> list[jobs.Claim]:
        """Claim; with ``wait`` (one queue only), first block on its inbox for up to that long."""
        plan = {queues[0]: limit} if len(queues) == 1 else self._plan(queues, limit)
        token = os.urandom(6).hex()
        with self._errors():
            pipe = self._pipe()
            if wait >= 0.001:  # (nothing is consumed: the wake token goes back where it was)
                pipe.command("BLMOVE", self.keys.inbox(queues[0]), self.keys.inbox(queues[0]), "RIGHT", "RIGHT", wait)
            for queue, n in plan.items():
                self._call("claim", queue, [n, lease, worker_id, hostname, token], pipe)
            replies = pipe.execute()[-len(plan):]
        claims: list[jobs.Claim] = []
        waiting = []
        clock = time.monotonic()
        for queue, reply in zip(plan, replies, strict=True):
            if int(reply[0]):
                waiting.append(queue)
            if reply[1] != "":
                self._due_at[queue] = clock + max(0.0, float(reply[1]))
            else:
                self._due_at.pop(queue, None)
            if len(reply) > 4:
                now, expires = reply[2], jobs.from_timestamp(float(reply[3]))
                for row in reply[4:]:
                    claims.append(jobs.Claim(job=claimed_job(row, now, worker_id, hostname), token=f"{token}.{row[0]}",
                                             expires_at=expires))  # type: ignore[arg-type]
        self._ingest_waiting = waiting
        claims.sort(key=lambda c: -c.job.priority)
        return claims

    def _plan(self, queues: list[str], limit: int) -> dict[str, int]:
        """How many to claim from each queue: the best ``limit`` heads across all of them."""
        with self._errors():
            pipe = self._pipe()
            for queue in queues:
                pipe.run("zrange", self.keys.ready(queue), 0, limit - 1, withscores=True)
            heads = pipe.execute()
        ranked = heapq.nsmallest(limit, ((score, i) for i, rows in enumerate(heads) for _, score in rows))
        plan = {queue: 0 for queue in queues}  # every queue is visited: promotion and inbox checks
        for _, i in ranked:
            plan[queues[i]] += 1
        return plan

    def renew(self, claims: Sequence[jobs.Claim], lease: float) -> list[jobs.Claim | None]:
        groups = group_by_queue(claims)
        with self._errors():
            pipe = self._pipe()
            for queue, items in groups.items():
                self._call("renew", queue, [lease, *[x for _, c in items for x in (c.job_id, c.token)]], pipe)
            replies = pipe.execute()
        out: list[jobs.Claim | None] = [None] * len(claims)
        for items, reply in zip(groups.values(), replies, strict=True):
            expires = jobs.from_timestamp(float(reply[0]))
            for (i, claim), ok in zip(items, reply[1:], strict=True):
                out[i] = jobs.Claim(job=claim.job, token=claim.token, expires_at=expires) if int(ok) else None  # type: ignore[arg-type]
        return out

    def lost(self, claims: Sequence[jobs.Claim]) -> set[str]:
        groups = group_by_queue(claims)
        with self._errors():
            pipe = self._pipe()
            for queue, items in groups.items():
                self._call("held", queue, [x for _, c in items for x in (c.job_id, c.token)], pipe)
            replies = pipe.execute()
        return {c.job_id for items, reply in zip(groups.values(), replies, strict=True)
                for (_, c), ok in zip(items, reply, strict=True) if not int(ok)}

    def progress(self, claim: jobs.Claim, percent: float, message: str | None) -> None:
        with self._errors():
            ok = self._call("progress", claim.job.queue, [claim.job_id, claim.token, repr(float(percent)), "\0" if message is None else message])
        if not int(ok):
            raise errors.StaleClaim(f"job {claim.job_id}: progress refused, the claim is no longer held")

    def complete(self, claim: jobs.Claim, result: Any) -> jobs.Job:
        done = self._report([base.Outcome(claim=claim, result=result)])[0]
        if done is None:
            raise errors.StaleClaim(f"job {claim.job_id}: completion refused, the claim is no longer held")
        return done

    def fail(self, claim: jobs.Claim, error: jobs.JobError, retry_in: float | None = None) -> jobs.Job:
        done = self._report([base.Outcome(claim=claim, error=error, retry_in=retry_in)])[0]
        if done is None:
            raise errors.StaleClaim(f"job {claim.job_id}: failure report refused, the claim is no longer held")
        return done

    def report(self, outcomes: Sequence[base.Outcome]) -> list[jobs.Job | None]:
        """All outcomes in one round trip.  While Redis is unreachable they are kept here and
        delivered, with back-off, when it returns; the jobs they describe are returned as
        they will be recorded, so the worker goes on running the rest."""
        return self._deliver(outcomes, records=True)  # type: ignore[return-value]

    def acknowledge(self, outcomes: Sequence[base.Outcome]) -> list[bool]:
        return self._deliver(outcomes, records=False)  # type: ignore[return-value]

    def _deliver(self, outcomes: Sequence[base.Outcome], *, records: bool) -> list[Any]:
        if self._pending:
            with contextlib.suppress(errors.BackendUnavailable):
                self._flush_pending()
        try:
            return self._report(outcomes, records=records)
        except errors.BackendUnavailable as exc:
            with self._pending_lock:
                self._pending.extend(outcomes)
                if self._flusher is None or not self._flusher.is_alive():
                    self._flusher = threading.Thread(target=self._flush_loop, name="quantq-redis-flush", daemon=True)
                    self._flusher.start()
            log.warning("Redis unreachable (%s): %d outcomes kept to deliver when it returns", exc, len(outcomes))
            return [expected_job(o) for o in outcomes] if records else [True] * len(outcomes)

    def _report(self, outcomes: Sequence[base.Outcome], *, records: bool = True) -> list[Any]:
        if not outcomes:
            return []
        groups = group_by_queue([o.claim for o in outcomes])
        with self._errors():
            pipe = self._pipe()
            for queue, items in groups.items():
                args: list[Any] = [len(items)]
                for i, claim in items:
                    o = outcomes[i]
                    if o.error is None:
                        args += [claim.job_id, claim.token, "c", result_json(o.result), ""]
                    else:
                        kind = "f" if o.retry_in is None else "r"
                        args += [claim.job_id, claim.token, kind, error_json(o.error), repr(float(o.retry_in or 0))]
                self._call("report", queue, args, pipe)
            replies = pipe.execute()
        out: list[Any] = [None] * len(outcomes)
        for items, reply in zip(groups.values(), replies, strict=True):
            for (i, _), rec in zip(items, reply, strict=True):
                if records:
                    out[i] = recorded_job(outcomes[i], rec[0], rec[1]) if rec else None
                else:
                    out[i] = bool(rec)
        return out

    def _flush_pending(self) -> None:
        with self._pending_lock:
            batch = list(self._pending)
            if not batch:
                return
            results = self._report(batch)
            for _ in batch:
                self._pending.popleft()
        refused = sum(r is None for r in results)
        log.info("delivered %d outcomes kept during a Redis outage (%d refused: claim no longer held)", len(batch), refused)

    def _flush_loop(self) -> None:
        delay = 0.1
        while self._pending and not self._closed.is_set():
            self._closed.wait(delay)
            try:
                self._flush_pending()
            except errors.BackendUnavailable:
                delay = min(delay * 2, 1.0)  # a connect attempt a second is cheap; outcomes land soon after Redis returns
            except errors.QuantqError as exc:
                log.error("dropping outcomes Redis refused: %s", exc)
                with self._pending_lock:
                    self._pending.clear()

    @property
    def pending_outcomes(self) -> int:
        """Outcomes waiting for Redis to come back."""
        return len(self._pending)

    def release(self, claim: jobs.Claim) -> None:
        with self._errors():
            self._call("release", claim.job.queue, [claim.job_id, claim.token])

    # ---- maintenance -----------------------------------------------------------------------

    def promote_due(self) -> int:
        return sum(int(n) for n in self._per_queue("promote", self.known_queues(refresh=False), [CHUNK]))

    def reap_expired(self) -> int:
        error = error_json(jobs.JobError(type="WorkerLost", message=errors.WorkerLost().args[0]))
        return sum(int(n) for n in self._per_queue("reap", self.known_queues(), [error, CHUNK]))

    def prune(self) -> int:
        total = 0
        queues = self.known_queues()
        while queues:
            counts = [int(n) for n in self._per_queue("prune", queues, [CHUNK])]
            total += sum(counts)
            queues = [q for q, n in zip(queues, counts, strict=True) if n >= CHUNK]
        return total

    # ---- foreign producers -----------------------------------------------------------------

    def ingest(self, queue: str) -> int:
        """Turn envelopes that foreign producers pushed onto ``queue``'s inbox into jobs.
        A bad one goes to the queue's dead-letter list with the reason (and, when it names
        an id, a failed job record the producer can read).  Returns how many were taken."""
        inbox = self.keys.inbox(queue)
        total = 0
        while True:
            with self._errors():
                raw_items = self.client.lrange(inbox, -INGEST_BATCH, -1)
            items = [raw for raw in reversed(raw_items) if raw != WAKE]
            if not items:
                return total
            now = self.now()
            args: list[Any] = [len(items)]
            for raw in items:
                args += ingest_item(str(raw), queue, now)
            with self._errors():
                pipe = self._pipe()
                self._note_queue(pipe, queue)  # a queue only foreign producers used is still listed
                self._call("ingest", queue, args, pipe)
                taken = int(pipe.execute()[1])
            total += taken
            if taken == 0 or len(raw_items) < INGEST_BATCH:
                return total

    def dead_letters(self, queue: str, limit: int = 100) -> list[dict[str, Any]]:
        """The newest refused inbox items of ``queue`` with their reasons."""
        with self._errors():
            return [json.loads(item) for item in self.client.lrange(self.keys.dead(queue), 0, limit - 1)]

    # ---- worker registry -------------------------------------------------------------------

    def register_worker(self, info: base.WorkerInfo) -> None:
        data = {
            "id": info.id, "hostname": info.hostname, "pid": info.pid, "queues": list(info.queues),
            "concurrency": info.concurrency, "started_at": ts(info.started_at) or None, "current_jobs": list(info.current_jobs),
            "processed": info.processed, "failed": info.failed, "meta": info.meta,
        }
        with self._errors():
            self._call("worker_register", "", [info.id, json.dumps(data)])

    def heartbeat_worker(self, worker_id: str, *, current_jobs: Sequence[str], processed: int, failed: int) -> None:
        with self._errors():
            self._call("worker_beat", "", [worker_id, json.dumps(list(current_jobs)), processed, failed])

    def unregister_worker(self, worker_id: str) -> None:
        with self._errors():
            pipe = self._pipe()
            pipe.run("hdel", self.keys.workers + "info", worker_id)
            pipe.run("zrem", self.keys.workers + "hb", worker_id)
            pipe.execute()

    def list_workers(self) -> list[base.WorkerInfo]:
        with self._errors():
            raw = self.client.hgetall(self.keys.workers + "info")
        out = []
        for text in raw.values():
            d = json.loads(text)
            out.append(base.WorkerInfo(
                id=d["id"], hostname=d["hostname"], pid=int(d["pid"]), queues=tuple(d.get("queues") or ()),
                concurrency=int(d["concurrency"]), started_at=jobs.from_timestamp(float(d["started_at"])),
                heartbeat_at=jobs.from_timestamp(float(d["heartbeat_at"])), current_jobs=tuple(d.get("current_jobs") or ()),
                processed=int(d.get("processed") or 0), failed=int(d.get("failed") or 0), meta=d.get("meta") or {},
            ))
        return sorted(out, key=lambda w: w.id)

    def reap_workers(self, max_silence: float) -> int:
        with self._errors():
            return int(self._call("worker_reap", "", [max_silence]))

    # ---- wake-ups and events ---------------------------------------------------------------

    def _wait_time(self, queues: Sequence[str], timeout: float) -> float:
        """How long to block: at most ``timeout`` and MAX_BLOCK, and never past a scheduled job's time."""
        clock = time.monotonic()
        dues = [self._due_at[q] - clock for q in queues if q in self._due_at]
        return max(0.0, min([timeout, MAX_BLOCK, *dues]))

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Block until a queue's inbox holds something (a wake token or a foreign envelope),
        its next scheduled job falls due, or ``timeout`` passes.  Nothing is consumed."""
        timeout = self._wait_time(queues, timeout)
        if timeout < 0.001:
            return
        if len(queues) == 1:
            inbox = self.keys.inbox(queues[0])
            with self._errors():
                self.client.blmove(inbox, inbox, timeout, "RIGHT", "RIGHT")  # type: ignore[arg-type]  # seconds, float since Redis 6
            return
        self._woken.clear()
        for queue in queues:
            waiter = self._waiters.get(queue)
            if waiter is None or not waiter.is_alive():
                waiter = self._waiters[queue] = _InboxWaiter(self, self.keys.inbox(queue))
                waiter.start()
            waiter.arm()
        self._woken.wait(timeout)

    def wait_finished(self, job_id: str, timeout: float, *, poll: float = 0.05) -> jobs.Job | None:
        """Woken by the job's ``completed``, ``failed`` or ``cancelled`` event; with events
        off (``?events=off``), the default's polling."""
        if not self._channel:
            return super().wait_finished(job_id, timeout, poll=poll)
        return self._finish_watch.wait_finished(self.get, job_id, timeout)

    def _listen_finished(self, ready: Callable[[], None], told: Callable[[str], None], closed: Callable[[], bool]) -> None:
        """One subscription for the finish watch: the ids of the events that end a job."""
        pubsub = self.client.pubsub()
        try:
            pubsub.subscribe(self._channel)
            while not closed():
                message = pubsub.get_message(timeout=FinishWatch.TICK)
                if message is None:
                    continue
                if message["type"] == "subscribe":  # confirmed: events published from now on arrive
                    ready()
                    continue
                try:
                    events = json.loads(message["data"]) if message["type"] == "message" else ()
                except ValueError:
                    continue  # not ours: someone else publishes on the channel
                for e in events if isinstance(events, list) else ():
                    if isinstance(e, dict) and e.get("event") in FINISH_EVENTS:
                        ids = e.get("ids") if "ids" in e else (e.get("id"),)  # (a batch's event names them all)
                        for job_id in ids if isinstance(ids, (list, tuple)) else ():
                            if isinstance(job_id, str):
                                told(job_id)
        finally:
            pubsub.close()

    def subscribe_events(self, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Live events as they are published (see ``docs/redis.md``); stops after ``timeout``
        seconds without one when a timeout is given."""
        if not self._channel:
            raise errors.ConfigError("this backend publishes no events (the URL says events=off)")
        with self._errors():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(self._channel)
        try:
            last = time.monotonic()
            while not self._closed.is_set():
                with self._errors():
                    message = pubsub.get_message(timeout=0.5)
                if message is None:  # also after a (skipped) subscribe confirmation
                    if timeout is not None and time.monotonic() - last >= timeout:
                        return
                    continue
                last = time.monotonic()
                for e in json.loads(message["data"]):
                    if "ids" in e:  # one event for jobs enqueued, started or completed together: one per job here
                        ids = e.pop("ids")
                        for job_id in ids:
                            yield {**e, "id": job_id}
                    else:
                        yield e
        finally:
            pubsub.close()


class _Pipe:
    """Commands sent in one round trip.  Scripts go by SHA; when Redis has lost its script
    cache (a restart) they are loaded and the batch is sent again, once.

    A batch of raw commands only (scripts, a blocking wait: the hot path of every job) is
    written to a connection directly, one the backend keeps between round trips.  redis-py's
    Pipeline object costs ~100 us per round trip on these machines, as much as the round trip
    itself; a cluster client, and any batch whose replies need redis-py's shaping (``hgetall``
    to a dict, ...), still goes through it."""

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self._ops: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._raw = not backend._cluster  #: every command so far is raw

    def run(self, method: str, *args: Any, **kwargs: Any) -> None:
        """A redis-py client method; its reply shaped as that method shapes it.  ``evalsha``
        and ``sadd`` replies are Redis's own either way."""
        self._ops.append((method, args, kwargs))
        if method not in ("evalsha", "sadd"):
            self._raw = False

    def command(self, *args: Any, then: Callable[[Any], None] | None = None) -> None:
        """A command as Redis spells it; its reply as Redis sends it.  ``then`` (if any) is given
        the reply as soon as it is read, unless it is an error."""
        self._ops.append(("", args, {"then": then} if then else {}))

    def command_later(self, make: Callable[[], tuple[Any, ...]], then: Callable[[Any], None] | None = None) -> None:
        """A command made by ``make`` only when its turn comes to be sent (see ``_call``)."""
        self._ops.append(("", (), {"make": make, "then": then} if then else {"make": make}))

    def _made(self, i: int) -> tuple[Any, ...]:
        """Command ``i``, made now if it was deferred (and kept: a retry sends the same)."""
        method, args, kwargs = self._ops[i]
        if "make" in kwargs:
            args = kwargs["make"]()
            kwargs = {k: v for k, v in kwargs.items() if k != "make"}
            self._ops[i] = (method, args, kwargs)
        return args if method == "" else (method.upper(), *args)

    def execute(self) -> list[Any]:
        for attempt in (0, 1):
            try:
                return self._exchange() if self._raw else self._through_redis_py()
            except NoScriptError:
                if attempt:
                    raise
                self._backend._load_scripts()
        raise AssertionError("unreachable")

    def _through_redis_py(self) -> list[Any]:
        pipe = self._backend.client.pipeline(transaction=False)
        for i in range(len(self._ops)):
            self._made(i)
        for method, args, kwargs in self._ops:
            if method in ("", "evalsha"):  # as raw commands: cluster pipelines route them by key
                pipe.execute_command(*(args if method == "" else ("EVALSHA", *args)))
            else:
                getattr(pipe, method)(*args, **kwargs)
        replies = pipe.execute()
        for (_, _, kwargs), reply in zip(self._ops, replies, strict=True):
            if kwargs.get("then") is not None:
                kwargs["then"](reply)
        return replies

    def _exchange(self) -> list[Any]:
        pool, conn = self._backend._take_connection()
        in_step = False
        try:
            # the client's retry policy, as redis-py's own pipeline applies it
            replies = conn.retry.call_with_retry(lambda: self._send(conn), lambda _error: conn.disconnect())
            in_step = True  # (every reply read, errors too)
        finally:
            self._backend._give_back(pool, conn, in_step)
        for reply in replies:
            if isinstance(reply, redis_py.ResponseError):
                raise reply
        return replies

    def _send(self, conn: Any) -> list[Any]:
        """Send every command, then read every reply.  Commands go out in one write, except
        that a deferred one (and what follows it) waits for its turn: the writes before it
        are already being run by Redis while it is made."""
        start = 0
        for i, (_, _, kwargs) in enumerate(self._ops):
            if "make" in kwargs and i > start:
                conn.send_packed_command(_pack(conn, [self._made(k) for k in range(start, i)]))
                start = i
        conn.send_packed_command(_pack(conn, [self._made(k) for k in range(start, len(self._ops))]))
        replies: list[Any] = []
        failed: Exception | None = None
        for _, _, kwargs in self._ops:  # every reply is read, errors too, so the connection stays in step
            try:
                reply = conn.read_response()
            except redis_py.ResponseError as exc:
                replies.append(exc)
                continue
            replies.append(reply)
            if kwargs.get("then") is not None and failed is None:
                try:
                    kwargs["then"](reply)
                except Exception as exc:  # raised once every reply is read
                    failed = exc
        if failed is not None:
            raise failed
        return replies


def _pack(conn: Any, commands: list[tuple[Any, ...]]) -> Any:
    """Commands in the Redis protocol, for ``send_packed_command``.  hiredis packs each one
    itself: redis-py's ``pack_commands`` checks and copies every argument in Python first, which
    on an idle worker's cold CPU cost ~50 us more per round trip (116 against 65 us), twice on a
    job's path (the enqueue and the report)."""
    if pack_command is None:
        return conn.pack_commands(commands)
    try:
        return [b"".join([pack_command(command) for command in commands])]  # (one write)
    except TypeError as exc:  # an argument of no type Redis takes: redis-py's own error for it
        raise redis_py.DataError(str(exc)) from exc


class _InboxWaiter(threading.Thread):
    """Blocks on one queue's inbox for a multi-queue worker; fires once per arming."""

    def __init__(self, backend: RedisBackend, inbox: str) -> None:
        super().__init__(name=f"quantq-wait-{inbox}", daemon=True)
        self.backend = backend
        self.inbox = inbox
        self._armed = threading.Event()

    def arm(self) -> None:
        self._armed.set()

    def stop(self) -> None:
        self._armed.set()

    def run(self) -> None:
        while not self.backend._closed.is_set():
            self._armed.wait()
            if self.backend._closed.is_set():
                return
            try:
                got = self.backend.client.blmove(self.inbox, self.inbox, 1, "RIGHT", "RIGHT")
            except redis_py.RedisError:
                self.backend._closed.wait(0.5)
                continue
            if got is not None:
                self._armed.clear()
                self.backend._woken.set()
