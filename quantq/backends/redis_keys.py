"""The Redis backend's URL, key layout and record encoding (see ``docs/redis.md``).

Every key of one queue carries the queue's hash tag, ``<prefix>:{<queue>}:...``, so one
queue lives in one hash slot and each Lua script touches one slot (Redis Cluster).
A job is a hash whose fields are the job's fields; JSON fields hold JSON text, times
are epoch seconds with six decimals, an absent field is null.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from quantq import envelope, errors, jobs
from quantq.backends import base

DEFAULT_PREFIX = "quantq"
WAKE = "~"  #: reserved inbox item: a wake-up for blocked workers, never a job
KEEP_FOREVER = "-1"  #: result_ttl / failure_ttl stored for None
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_JSON_FIELDS = ("args", "meta", "depends_on")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RedisOptions:
    """What the URL says beyond the connection: quantq's own query parameters."""

    client_url: str  #: the URL redis-py opens (quantq's parameters removed)
    prefix: str = DEFAULT_PREFIX
    events: str = "pubsub"  #: "pubsub" or "off"
    tls: bool = False
    cluster: bool = False  #: a Redis Cluster: commands are routed by key slot


def parse_url(url: str) -> RedisOptions:
    """Split ``redis[s]://[user[:password]@]host[:port][/db][?prefix=..&events=..&cluster=true]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise errors.ConfigError(f"a Redis URL starts with redis:// or rediss://, got {parts.scheme}://")
    if not parts.hostname:
        raise errors.ConfigError("the Redis URL names no host (redis://HOST:6379/0)")
    try:
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise errors.ConfigError("the Redis URL's port is not a number") from None
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise errors.ConfigError(f"the Redis database in the URL path must be a number, got {db!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = ("prefix", "events", "cluster")
    mine = {k: v for k, v in query if k in ours}
    rest = [(k, v) for k, v in query if k not in ours]
    prefix = mine.get("prefix", DEFAULT_PREFIX)
    if not _PREFIX_RE.match(prefix):
        raise errors.ConfigError(f"prefix must be 1-64 letters, digits and . _ -, got {prefix!r}")
    events = mine.get("events", "pubsub").lower()
    if events not in ("pubsub", "off"):
        raise errors.ConfigError(f"events must be 'pubsub' or 'off', got {events!r}")
    cluster_word = mine.get("cluster", "false").lower()
    if cluster_word not in ("true", "false", "1", "0", "yes", "no"):
        raise errors.ConfigError(f"cluster must be true or false, got {cluster_word!r}")
    cluster = cluster_word in ("true", "1", "yes")
    if cluster and db not in ("", "0"):
        raise errors.ConfigError("Redis Cluster has only database 0")
    client_url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    return RedisOptions(client_url=client_url, prefix=prefix, events=events, tls=parts.scheme == "rediss", cluster=cluster)


def url_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The Redis URL the seeds' variables describe, or None when none is set.

    ``REDIS_URL`` wins; otherwise ``REDIS_HOST`` / ``REDIS_PORT`` / ``REDIS_PASSWORD``
    (with ``REDIS_USERNAME`` for an ACL user, ``REDIS_DB`` for the database and
    ``REDIS_SSL=true`` for TLS).  ``QUANTQ_URL``, handled by the settings, wins over both.
    """
    env = os.environ if environ is None else environ
    if env.get("REDIS_URL"):
        parse_url(env["REDIS_URL"])  # fail early on a bad one
        return env["REDIS_URL"]
    if not any(env.get(name) for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")):
        return None
    host = env.get("REDIS_HOST") or "localhost"
    port = env.get("REDIS_PORT") or "6379"
    if not port.isdigit():
        raise errors.ConfigError(f"REDIS_PORT must be a number, got {port!r}")
    db = env.get("REDIS_DB") or "0"
    if not db.isdigit():
        raise errors.ConfigError(f"REDIS_DB must be a number, got {db!r}")
    auth = ""
    if env.get("REDIS_PASSWORD"):
        auth = f"{quote(env.get('REDIS_USERNAME', ''), safe='')}:{quote(env['REDIS_PASSWORD'], safe='')}@"
    scheme = "rediss" if env.get("REDIS_SSL", "").lower() in ("1", "true", "yes") else "redis"
    return f"{scheme}://{auth}{host}:{port}/{db}"


class Keys:
    """Key names for one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.queues = f"{prefix}:queues"  #: set of every queue name ever used
        self.workers = f"{prefix}:{{workers}}:"  #: base of the worker registry's keys
        self.events = f"{prefix}:events"  #: pub/sub channel of live events

    def base(self, queue: str) -> str:
        return f"{self.prefix}:{{{queue}}}:"

    def job(self, queue: str, job_id: str) -> str:
        return f"{self.base(queue)}job:{job_id}"

    def inbox(self, queue: str) -> str:
        return f"{self.base(queue)}inbox"

    def dead(self, queue: str) -> str:
        return f"{self.base(queue)}dead"

    def status(self, queue: str, status: str) -> str:
        return f"{self.base(queue)}st:{status}"

    def task(self, queue: str, task: str) -> str:
        return f"{self.base(queue)}task:{task}"

    def ready(self, queue: str) -> str:
        return f"{self.base(queue)}ready"


def ts(value: Any) -> str:
    return f"{value.timestamp():.6f}" if value is not None else ""


def _ttl(value: int | None) -> str:
    return KEEP_FOREVER if value is None else str(int(value))


def template_key(job: jobs.Job) -> tuple[Any, ...]:
    """What a job shares with others of its enqueue group: everything but id, created_at, args."""
    return (job.run_at, job.priority, job.task, job.max_attempts, job.result_ttl, job.failure_ttl, job.timeout,
            job.parent_id, job.depends_on, envelope.compact(job.meta) if job.meta else "")


def job_template(job: jobs.Job) -> list[str]:
    """A job's template in ``read_template``'s layout: run_at, priority, task, n, n field pairs."""
    pairs: list[str] = [
        "max_attempts", str(job.max_attempts),
        "result_ttl", _ttl(job.result_ttl),
        "failure_ttl", _ttl(job.failure_ttl),
    ]
    if job.meta:
        pairs += ["meta", envelope.compact(job.meta)]
    if job.depends_on:
        pairs += ["depends_on", json.dumps(list(job.depends_on))]
    if job.timeout is not None:
        pairs += ["timeout", repr(float(job.timeout))]
    if job.parent_id is not None:
        pairs += ["parent_id", job.parent_id]
    return [ts(job.run_at), str(job.priority), job.task, str(len(pairs) // 2), *pairs]


def args_json(job: jobs.Job) -> str:
    return envelope.compact(job.args) if job.args else "{}"


def job_argv(job: jobs.Job) -> list[str]:
    """A job in ``insert_job``'s layout: id, created_at, args JSON, then its template."""
    return [job.id, ts(job.created_at), args_json(job), *job_template(job)]


def enqueue_argv(batch: Sequence[jobs.Job]) -> tuple[list[Any], list[list[int]]]:
    """One ``enqueue.lua`` call for ``batch`` (one queue's jobs): its arguments, and its groups
    (indexes into ``batch``) in the order the script replies."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, job in enumerate(batch):
        groups.setdefault(template_key(job), []).append(i)
    argv: list[Any] = [len(batch), len(groups)]
    for members in groups.values():
        argv += job_template(batch[members[0]])
        argv.append(len(members))
        for i in members:
            job = batch[i]
            argv += (job.id, ts(job.created_at), args_json(job), i + 1)
    return argv, list(groups.values())


def pairs_to_dict(flat: list[Any]) -> dict[str, str]:
    it = iter(flat)
    return dict(zip(it, it, strict=False))  # pairs: the same iterator twice


@functools.lru_cache(maxsize=256)
def _time(value: str | None) -> Any:
    """A stored time (Redis TIME, text): a batch of claims shares its times, so parse each once."""
    return jobs.from_timestamp(float(value)) if value else None


def _opt_ttl(value: str | None, default: int | None) -> int | None:
    if value is None:
        return default
    return None if value == KEEP_FOREVER else int(value)


def job_from_hash(h: Mapping[str, str]) -> jobs.Job:
    """Rebuild a job from its hash (fields absent from the hash are null)."""
    get = h.get
    try:
        job_id, task, queue, status = h["id"], h["task"], h["queue"], h["status"]
    except KeyError as exc:
        raise errors.BackendError(f"job hash {get('id')!r} is not a quantq record: {exc!r}") from None
    return _stored_job(job_id, task, queue, get("args"), get("priority"), status, get("attempts"), get("max_attempts"),
                       get("timeout"), get("run_at"), get("created_at"), get("started_at"), get("finished_at"),
                       get("updated_at"), get("worker_id"), get("hostname"), get("progress"), get("status_message"),
                       get("result"), get("error"), get("result_ttl"), get("failure_ttl"), get("meta"), get("parent_id"),
                       get("depends_on"))


def _stored_job(job_id: str, task: str, queue: str, args: str | None, priority: str | None, status: str,
                attempts: str | int | None, max_attempts: str | None, timeout: str | None, run_at: str | None,
                created_at: str | None, started_at: str | None, finished_at: str | None, updated_at: str | None,
                worker_id: str | None, hostname: str | None, progress: str | None, status_message: str | None,
                result: str | None, error: str | None, result_ttl: str | None, failure_ttl: str | None,
                meta: str | None, parent_id: str | None, depends_on: str | None) -> jobs.Job:
    """A job from its stored fields as Redis holds them (text; None where the hash has none), for
    job_from_hash and claimed_job alike.  Hot (every claimed job): the fields come as arguments,
    not through a dict, and times are parsed once per batch."""
    try:
        return jobs.job_from_fields({
            "id": job_id,
            "task": task,
            "queue": queue,
            "args": envelope.loads(args) if args is not None else {},
            "priority": int(priority) if priority is not None else jobs.DEFAULT_PRIORITY,
            "status": _STATUS[status],
            "attempts": int(attempts) if attempts is not None else 0,
            "max_attempts": int(max_attempts) if max_attempts is not None else jobs.DEFAULT_MAX_ATTEMPTS,
            "timeout": float(timeout) if timeout is not None else None,
            "run_at": _time(run_at),
            "created_at": _time(created_at),
            "started_at": _time(started_at),
            "finished_at": _time(finished_at),
            "updated_at": _time(updated_at),
            "worker_id": worker_id,
            "hostname": hostname,
            "progress": float(progress or 0.0),
            "status_message": status_message,
            "result": json.loads(result) if result is not None else None,
            "error": jobs.JobError.from_dict(json.loads(error)) if error else None,
            "result_ttl": _opt_ttl(result_ttl, jobs.DEFAULT_RESULT_TTL),
            "failure_ttl": _opt_ttl(failure_ttl, jobs.DEFAULT_FAILURE_TTL),
            "meta": envelope.loads(meta) if meta is not None else {},
            "parent_id": parent_id,
            "depends_on": tuple(json.loads(depends_on)) if depends_on is not None else (),
        })
    except (KeyError, ValueError, TypeError) as exc:
        raise errors.BackendError(f"job hash {job_id!r} is not a quantq record: {exc!r}") from None


_STATUS = {s.value: s for s in jobs.JobStatus}


#: the fields claim.lua's CLAIMED list reads, in its order (the first slot of a reply row carries
#: k, its token's suffix, where the status was)
CLAIMED_FIELDS = ("status", "created_at", "task", "attempts", "status_message", "id", "queue", "args", "priority",
                  "max_attempts", "timeout", "run_at", "finished_at", "result", "error", "result_ttl", "failure_ttl",
                  "meta", "parent_id", "depends_on")


def claimed_job(row: Sequence[Any], now: str, worker_id: str, hostname: str) -> jobs.Job:
    """A job as ``claim.lua`` left it: what it read (a reply row, before the claim) plus what it
    wrote, decoded as any stored record is, without reading the record back.  Hot (every claimed
    job): read by position, not through a dict of the hash."""
    if len(row) != len(CLAIMED_FIELDS):
        raise errors.BackendError(f"a claimed job came back with {len(row)} fields, not {len(CLAIMED_FIELDS)}")
    (_, created, task, attempts, _, job_id, queue, args, priority, max_attempts, timeout, run_at, finished, result,
     error, result_ttl, failure_ttl, meta, parent_id, depends_on) = row
    # (the claim made it running, with this worker, its times now, progress 0 and no status message)
    return _stored_job(job_id, task, queue, args, priority, "running", attempts, max_attempts, timeout, run_at, created,
                       now, finished, now, worker_id, hostname, "0", None, result, error, result_ttl, failure_ttl, meta,
                       parent_id, depends_on)


def result_json(value: Any) -> str:
    try:
        return envelope.dumps(value)
    except (TypeError, ValueError) as exc:
        raise errors.BackendError(f"the job's result is not JSON data: {exc}") from None


def error_json(error: jobs.JobError) -> str:
    return envelope.compact(error.to_dict())


# ---- records the backend builds without asking Redis again ------------------------------

def group_by_queue(claims: Sequence[jobs.Claim]) -> dict[str, list[tuple[int, jobs.Claim]]]:
    groups: dict[str, list[tuple[int, jobs.Claim]]] = defaultdict(list)
    for i, claim in enumerate(claims):
        groups[claim.job.queue].append((i, claim))
    return groups


def stored_job(job: jobs.Job, status: str, rec: str | list[str], times: dict[str, datetime | None]) -> jobs.Job:
    """The job as ``enqueue.lua`` stored it: ``rec`` is its created_at (new, with its group's
    ``status``) or the stored hash (the id existed)."""
    if not isinstance(rec, str):
        return job_from_hash(pairs_to_dict(rec))  # the id existed: the stored job
    if status == job.status.value and job.created_at is not None and job.updated_at == job.created_at and not job.attempts:
        return job  # recorded exactly as given (its times round-trip to the microsecond)
    if rec not in times:
        times[rec] = jobs.from_timestamp(float(rec))
    run_at = jobs.from_timestamp(float(ts(job.run_at))) if job.run_at else None
    return job.replace(status=jobs.JobStatus.QUEUED if status == "queued" else jobs.JobStatus(status), attempts=0,
                       created_at=times[rec], updated_at=times[rec], run_at=run_at)


def recorded_job(o: base.Outcome, at: str, run_at: str) -> jobs.Job:
    """The job as ``report.lua`` recorded the outcome (the claim's job plus what changed)."""
    when = jobs.from_timestamp(float(at))
    job = o.claim.job
    if o.error is None:
        return job.replace(status=jobs.JobStatus.COMPLETED, result=o.result, progress=100.0, finished_at=when, updated_at=when)
    if o.retry_in is None:
        return job.replace(status=jobs.JobStatus.FAILED, error=o.error, finished_at=when, updated_at=when)
    return job.replace(status=jobs.JobStatus.SCHEDULED, error=o.error, run_at=jobs.from_timestamp(float(run_at)), updated_at=when)


def expected_job(o: base.Outcome) -> jobs.Job:
    job = o.claim.job
    if o.error is None:
        return job.replace(status=jobs.JobStatus.COMPLETED, result=o.result, progress=100.0)
    return job.replace(status=jobs.JobStatus.FAILED if o.retry_in is None else jobs.JobStatus.SCHEDULED, error=o.error)


def ingest_item(raw: str, queue: str, now: datetime) -> list[Any]:
    """One inbox item as ``ingest.lua`` takes it: a job, or a dead letter with its reason."""
    job_id, task = "", "(invalid)"
    try:
        data = json.loads(raw)
        if isinstance(data, dict):
            if isinstance(data.get("id"), str):
                job_id = envelope.check_id(data["id"])
            if isinstance(data.get("task"), str):
                task = envelope.check_task_name(data["task"])
            if "queue" in data and data["queue"] != queue:
                raise errors.EnvelopeError("queue", f"this inbox feeds queue {queue!r}; push to the inbox of {data['queue']!r}")
            data = {**data, "queue": queue}
        job = envelope.parse_submission(data, now=now)
        return [raw, "job", *job_argv(job)]
    except ValueError as exc:  # json.JSONDecodeError
        reason = f"invalid job envelope: not valid JSON: {exc}"
    except errors.EnvelopeError as exc:
        reason = str(exc)
    error = error_json(jobs.JobError(type="EnvelopeError", message=reason))
    return [raw, "dead", reason, job_id, task, error, str(jobs.DEFAULT_FAILURE_TTL)]
