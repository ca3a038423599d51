"""What the SQL backends share: named queries kept in ``.sql`` files, and row decoding."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any, Mapping

from quantq import jobs

_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def load_queries(dialect: str) -> dict[str, str]:
    """Parse ``sql/<dialect>/queries.sql`` into {name: statement}."""
    text = resources.files("quantq.backends").joinpath("sql", dialect, "queries.sql").read_text()
    parts = _NAME_RE.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        statement = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--"))
        queries[name] = statement.strip().rstrip(";")
    return queries


def load_schema(dialect: str) -> str:
    return resources.files("quantq.backends").joinpath("sql", dialect, "schema.sql").read_text()


def job_params(job: jobs.Job) -> dict[str, Any]:
    """Insert parameters for a new job (times as epoch seconds, JSON as text)."""
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "args": json.dumps(job.args, separators=(",", ":")),
        "priority": job.priority,
        "status": job.status.value,
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
        "run_at": jobs.to_timestamp(job.run_at),
        "created_at": jobs.to_timestamp(job.created_at),
        "result_ttl": job.result_ttl,
        "failure_ttl": job.failure_ttl,
        "meta": json.dumps(job.meta, separators=(",", ":")),
        "parent_id": job.parent_id,
        "depends_on": json.dumps(list(job.depends_on)),
    }


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode()
    return json.loads(value) if isinstance(value, str) else value


def job_from_row(row: Mapping[str, Any]) -> jobs.Job:
    return jobs.Job(
        id=row["id"],
        task=row["task"],
        queue=row["queue"],
        args=_json(row["args"]) or {},
        priority=row["priority"],
        status=jobs.JobStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        timeout=row["timeout"],
        run_at=jobs.from_timestamp(row["run_at"]),
        created_at=jobs.from_timestamp(row["created_at"]),
        started_at=jobs.from_timestamp(row["started_at"]),
        finished_at=jobs.from_timestamp(row["finished_at"]),
        updated_at=jobs.from_timestamp(row["updated_at"]),
        worker_id=row["worker_id"],
        hostname=row["hostname"],
        progress=row["progress"] or 0.0,
        status_message=row["status_message"],
        result=_json(row["result"]),
        error=jobs.JobError.from_dict(_json(row["error"])),
        result_ttl=row["result_ttl"],
        failure_ttl=row["failure_ttl"],
        meta=_json(row["meta"]) or {},
        parent_id=row["parent_id"],
        depends_on=tuple(_json(row["depends_on"]) or ()),
    )


def error_json(error: jobs.JobError) -> str:
    return json.dumps(error.to_dict(), separators=(",", ":"))


def result_json(result: Any) -> str:
    return json.dumps(result, separators=(",", ":"), allow_nan=False)
