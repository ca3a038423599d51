"""The JSON wire format (see ``docs/protocol.md``).

Two shapes: the *submission* a producer in any language writes (``parse_submission``),
and the *record* quantq reports back (``to_record`` / ``from_record``).  Submissions
are validated field by field; the first problem raises :class:`EnvelopeError`
naming the field and saying why.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from quantq import errors, jobs

PROTOCOL_VERSION = 1

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_QUEUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$")
_TASK_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,199}$")

SUBMISSION_FIELDS = frozenset(
    {
        "v",
        "id",
        "task",
        "queue",
        "args",
        "priority",
        "delay",
        "run_at",
        "timeout",
        "max_attempts",
        "result_ttl",
        "failure_ttl",
        "meta",
        "parent_id",
        "depends_on",
    }
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def check_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise errors.EnvelopeError(
            field, f"must be 1-128 characters of letters, digits and . _ : - (starting with a letter or digit), got {value!r}"
        )
    return value


def check_queue(value: Any, field: str = "queue") -> str:
    if not isinstance(value, str) or not _QUEUE_RE.match(value):
        raise errors.EnvelopeError(field, f"must be 1-100 characters of letters, digits and . _ -, got {value!r}")
    return value


def check_task_name(value: Any, field: str = "task") -> str:
    if not isinstance(value, str) or not _TASK_RE.match(value):
        raise errors.EnvelopeError(field, f"must be a task name such as 'quantq.echo', got {value!r}")
    return value


def check_priority(value: Any, field: str = "priority") -> int:
    if isinstance(value, str) and value.lower() in jobs.PRIORITY_WORDS:
        return jobs.PRIORITY_WORDS[value.lower()]
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if _is_int(value) and jobs.MIN_PRIORITY <= value <= jobs.MAX_PRIORITY:
        return value
    raise errors.EnvelopeError(field, f"must be 'high', 'normal', 'low' or an integer 0-9 (9 runs first), got {value!r}")


def _check_seconds(value: Any, field: str, *, allow_zero: bool, allow_null: bool) -> float | None:
    if value is None and allow_null:
        return None
    if not _is_number(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "a number of seconds >= 0" if allow_zero else "a number of seconds > 0"
        raise errors.EnvelopeError(field, f"must be {bound}{' or null' if allow_null else ''}, got {value!r}")
    return float(value)


def _check_ttl(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        raise errors.EnvelopeError(field, f"must be a whole number of seconds >= 0, or null to keep forever, got {value!r}")
    return value


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 with a UTC offset, or seconds since the epoch."""
    if _is_number(value):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        if parsed is not None:
            raise errors.EnvelopeError(field, f"needs a UTC offset (e.g. '2026-01-02T09:30:00Z'), got {value!r}")
    raise errors.EnvelopeError(field, f"must be an ISO 8601 time with offset or epoch seconds, got {value!r}")


def format_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_json_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.EnvelopeError(field, f"must be a JSON object, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise errors.EnvelopeError(field, f"keys must be strings, got {key!r}")
    if not value:
        return value
    try:
        _STRICT.encode(value)  # (the encoder made once: json.dumps with options builds one per call)
    except (TypeError, ValueError) as exc:
        raise errors.EnvelopeError(field, f"must hold only JSON values ({exc})") from None
    return value


def parse_submission(data: Any, *, now: datetime | None = None, defaults: dict[str, Any] | None = None) -> jobs.Job:
    """Validate a producer's envelope and build the job it asks for.

    ``defaults`` fills fields the envelope leaves out (a task's own defaults);
    ``now`` anchors ``delay``.
    """
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise errors.EnvelopeError("(envelope)", f"is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise errors.EnvelopeError("(envelope)", f"must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - SUBMISSION_FIELDS)
    if unknown:
        raise errors.EnvelopeError(unknown[0], f"is not a known field (known: {', '.join(sorted(SUBMISSION_FIELDS))})")
    version = data.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION:
        raise errors.EnvelopeError("v", f"protocol version {version!r} is not supported (this quantq speaks {PROTOCOL_VERSION})")
    if "task" not in data:
        raise errors.EnvelopeError("task", "is required")
    merged = {**(defaults or {}), **{k: v for k, v in data.items() if v is not None or k in ("timeout", "result_ttl", "failure_ttl")}}
    now = now or jobs.utcnow()

    if "delay" in data and "run_at" in data:
        raise errors.EnvelopeError("run_at", "give either 'delay' or 'run_at', not both")
    run_at: datetime | None = None
    if data.get("run_at") is not None:
        run_at = parse_time(data["run_at"], "run_at")
    elif data.get("delay") is not None:
        delay = _check_seconds(data["delay"], "delay", allow_zero=True, allow_null=False) or 0.0
        run_at = now + timedelta(seconds=delay) if delay > 0 else None

    depends_on = merged.get("depends_on") or []
    if not isinstance(depends_on, list):
        raise errors.EnvelopeError("depends_on", f"must be a list of job ids, got {type(depends_on).__name__}")
    max_attempts = merged.get("max_attempts", jobs.DEFAULT_MAX_ATTEMPTS)
    if not _is_int(max_attempts) or not 1 <= max_attempts <= 1000:
        raise errors.EnvelopeError("max_attempts", f"must be an integer from 1 to 1000, got {max_attempts!r}")

    job_id = check_id(data["id"]) if data.get("id") is not None else jobs.new_job_id()
    return jobs.Job(
        id=job_id,
        task=check_task_name(data["task"]),
        queue=check_queue(merged.get("queue", jobs.DEFAULT_QUEUE)),
        args=_check_json_object(merged.get("args", {}), "args"),
        priority=check_priority(merged.get("priority", jobs.DEFAULT_PRIORITY)),
        status=jobs.JobStatus.SCHEDULED if run_at is not None and run_at > now else jobs.JobStatus.QUEUED,
        max_attempts=max_attempts,
        timeout=_check_seconds(merged.get("timeout"), "timeout", allow_zero=False, allow_null=True),
        run_at=run_at,
        created_at=now,
        updated_at=now,
        result_ttl=_check_ttl(merged.get("result_ttl", jobs.DEFAULT_RESULT_TTL), "result_ttl"),
        failure_ttl=_check_ttl(merged.get("failure_ttl", jobs.DEFAULT_FAILURE_TTL), "failure_ttl"),
        meta=_check_json_object(merged.get("meta", {}), "meta"),
        parent_id=check_id(merged["parent_id"], "parent_id") if merged.get("parent_id") is not None else None,
        depends_on=tuple(check_id(d, "depends_on") for d in depends_on),
    )


def to_record(job: jobs.Job) -> dict[str, Any]:
    """The full job as JSON-ready data (what status and listing calls return)."""
    return {
        "v": PROTOCOL_VERSION,
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "args": job.args,
        "priority": job.priority,
        "status": job.status.value,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
        "run_at": format_time(job.run_at),
        "created_at": format_time(job.created_at),
        "started_at": format_time(job.started_at),
        "finished_at": format_time(job.finished_at),
        "updated_at": format_time(job.updated_at),
        "worker_id": job.worker_id,
        "hostname": job.hostname,
        "progress": job.progress,
        "status_message": job.status_message,
        "result": job.result,
        "error": job.error.to_dict() if job.error else None,
        "result_ttl": job.result_ttl,
        "failure_ttl": job.failure_ttl,
        "meta": job.meta,
        "parent_id": job.parent_id,
        "depends_on": list(job.depends_on),
    }


def _time_or_none(value: Any) -> datetime | None:
    return None if value is None else parse_time(value, "time")


def from_record(data: dict[str, Any]) -> jobs.Job:
    """Rebuild a job from :func:`to_record` output (as stores that keep JSON do)."""
    try:
        return jobs.Job(
            id=data["id"],
            task=data["task"],
            queue=data.get("queue", jobs.DEFAULT_QUEUE),
            args=data.get("args") or {},
            priority=int(data.get("priority", jobs.DEFAULT_PRIORITY)),
            status=jobs.JobStatus(data.get("status", "queued")),
            attempts=int(data.get("attempts", 0)),
            max_attempts=int(data.get("max_attempts", jobs.DEFAULT_MAX_ATTEMPTS)),
            timeout=data.get("timeout"),
            run_at=_time_or_none(data.get("run_at")),
            created_at=_time_or_none(data.get("created_at")),
            started_at=_time_or_none(data.get("started_at")),
            finished_at=_time_or_none(data.get("finished_at")),
            updated_at=_time_or_none(data.get("updated_at")),
            worker_id=data.get("worker_id"),
            hostname=data.get("hostname"),
            progress=float(data.get("progress") or 0.0),
            status_message=data.get("status_message"),
            result=data.get("result"),
            error=jobs.JobError.from_dict(data.get("error")),
            result_ttl=data.get("result_ttl"),
            failure_ttl=data.get("failure_ttl"),
            meta=data.get("meta") or {},
            parent_id=data.get("parent_id"),
            depends_on=tuple(data.get("depends_on") or ()),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise errors.EnvelopeError("(record)", f"is not a job record: {exc!r}") from None


_STRICT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # made once: json.dumps with options builds one per call
#: compact JSON for quantq's own messages (NaN allowed, as json.dumps allows it)
compact = json.JSONEncoder(separators=(",", ":")).encode


_scan = json.JSONDecoder().scan_once


def loads(text: str) -> Any:
    """json.loads for JSON quantq wrote itself, hot (every claim, every message from a slot): an
    empty object (most jobs' meta, many jobs' args) costs nothing, and the rest skips
    json.loads's whitespace handling."""
    if text == "{}":
        return {}
    try:
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    return json.loads(text)  # leading or trailing whitespace, or not JSON: the full parser says


def dumps(value: Any) -> str:
    """Compact JSON; NaN and infinity are refused so every reader can parse it."""
    return _STRICT.encode(value)
