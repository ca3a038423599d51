"""The SQL core shared by the SQLite, PostgreSQL and MySQL/MariaDB backends.

Every backend operation is written once here, in terms of named queries kept in
``sql/<dialect>/queries.sql`` and a handful of primitives each dialect supplies
(one transaction, one statement, how a list or a time is passed).  What differs
between dialects stays in the ``.sql`` files and a few small overrides:

* SQLite passes the host clock as ``:now`` (its clock *is* the database's);
  PostgreSQL and MySQL call ``now()`` / ``UTC_TIMESTAMP(6)`` inside the SQL, so every
  time that decides something is the database server's.
* PostgreSQL and SQLite return rows from ``UPDATE ... RETURNING``; MySQL has no such
  clause, so its overrides update and then select inside the same transaction.
"""

from __future__ import annotations

import abc
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from quantq import envelope, errors, jobs
from quantq.backends import base

T = TypeVar("T")
Row = Mapping[str, Any]

_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
_TEMPLATE_RE = re.compile(r"\{(\w+)\}")
_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
MALFORMED = "EnvelopeError"  #: error type of a job whose stored row cannot be decoded


def sql_text(dialect: str, *parts: str) -> str:
    return resources.files("quantq.backends").joinpath("sql", dialect, *parts).read_text()


def render(text: str, names: Mapping[str, str]) -> str:
    """Fill ``{jobs}``-style table placeholders; other braces are left alone."""
    return _TEMPLATE_RE.sub(lambda m: names.get(m.group(1), m.group(0)), text)


def parse_named(text: str) -> dict[str, str]:
    parts = _NAME_RE.split(text)
    queries = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        statement = "\n".join(line for line in body.strip().splitlines() if not line.lstrip().startswith("--"))
        queries[name] = statement.strip().rstrip(";")
    return queries


@cache
def load_queries(dialect: str, names: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """Parse ``sql/<dialect>/queries.sql`` into {name: statement}, table names filled in."""
    return parse_named(render(sql_text(dialect, "queries.sql"), dict(names)))


def load_schema(dialect: str) -> str:
    return sql_text(dialect, "schema.sql")


def split_statements(text: str) -> list[str]:
    """Split a DDL script on ``;`` at line ends (our scripts keep no ``;`` inside literals)."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.MULTILINE) if s.strip()]


def check_identifier(value: str, what: str) -> str:
    if not _IDENT_RE.match(value):
        raise errors.ConfigError(f"{what} must be 1-40 lowercase letters, digits or _ (not starting with a digit), got {value!r}")
    return value


# ---- rows <-> jobs ---------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """Compact JSON, NaN refused (the same text as json.dumps with those options, from an
    encoder made once)."""
    return envelope.dumps(value)


def _dumps_object(value: dict[str, Any]) -> str:
    return "{}" if not value else envelope.dumps(value)  # most jobs' meta, many jobs' args


def job_params(job: jobs.Job) -> dict[str, Any]:
    """Insert parameters for a new job (times as aware datetimes, JSON as text)."""
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "args": _dumps_object(job.args),
        "priority": job.priority,
        "status": "scheduled" if job.run_at is not None else "queued",
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
        "run_at": job.run_at,
        "created_at": job.created_at,
        "result_ttl": job.result_ttl,
        "failure_ttl": job.failure_ttl,
        "meta": _dumps_object(job.meta),
        "parent_id": job.parent_id,
        "depends_on": envelope.dumps(list(job.depends_on)) if job.depends_on else "[]",
    }


def to_time(value: Any) -> datetime | None:
    """Epoch seconds (SQLite), aware (PostgreSQL) or naive-UTC (MySQL) datetimes -> aware UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return jobs.from_timestamp(float(value))


Times = dict[Any, "datetime | None"]


def _time(value: Any, times: Times) -> datetime | None:
    """``to_time`` through a cache kept for one batch of rows: a claim's or a completion's rows
    share their started/updated/lease times (one ``now()``), so each distinct one is made once.
    Equal keys give equal results (an aware datetime equals another only at the same instant,
    never a naive one; a float equals an int only of the same value)."""
    if value is None:
        return None
    try:
        return times[value]
    except KeyError:
        made = times[value] = to_time(value)
        return made


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, (bytes, bytearray)) else value


def _json_field(row: Row, name: str, kind: type | None, strict: bool, default: Any) -> Any:
    raw = _text(row[name])
    if raw is None:
        if kind is None:
            return None
        if strict:
            raise errors.EnvelopeError(name, "is NULL")
        return default
    try:
        value = envelope.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        if strict:
            raise errors.EnvelopeError(name, f"is not valid JSON ({exc}): {str(raw)[:80]!r}") from None
        return {"_unparsed": str(raw)} if kind is dict else default
    if kind is not None and not isinstance(value, kind):
        if strict:
            raise errors.EnvelopeError(name, f"must be a JSON {'object' if kind is dict else 'array'}, got {type(value).__name__}")
        return default
    return value


def _object(raw: Any, row: Row, name: str, strict: bool) -> Any:
    """A JSON object column: the common case (text quantq or a producer wrote well) inline, the
    rest (NULL, bytes, bad JSON, another kind) as ``_json_field`` says."""
    if raw == "{}":
        return {}
    if type(raw) is str:
        try:
            value = envelope.loads(raw)
        except ValueError:
            value = None
        if type(value) is dict:
            return value
    return _json_field(row, name, dict, strict, {})


_STATUS = {s.value: s for s in jobs.JobStatus}
_TASKS_SEEN: set[str] = set()  #: task names that passed check_task_name (it depends on the name alone)


def _check_strict(row: Row) -> None:
    """The claim's checks of what a foreign producer may have written badly.  PostgreSQL's and
    MySQL's CHECK constraints cover priority and max_attempts, SQLite has none, and a table
    migrated by hand may lack them: all are checked here, the usual values cheaply first."""
    task = row["task"]
    if task not in _TASKS_SEEN:
        envelope.check_task_name(task)
        if len(_TASKS_SEEN) < 10_000:
            _TASKS_SEEN.add(task)
    priority = row["priority"]
    if type(priority) is not int or not jobs.MIN_PRIORITY <= priority <= jobs.MAX_PRIORITY:
        if isinstance(priority, str) and not priority.isdigit():  # the column orders the queue: a word would sort as text
            raise errors.EnvelopeError("priority", f"must be an integer 0-9 in the jobs table (9 runs first), got {priority!r}")
        envelope.check_priority(priority)
    max_attempts = row["max_attempts"]
    if not isinstance(max_attempts, int) or max_attempts < 1:
        raise errors.EnvelopeError("max_attempts", f"must be an integer >= 1, got {max_attempts!r}")
    timeout = row["timeout"]
    if timeout is not None and not timeout > 0:
        raise errors.EnvelopeError("timeout", f"must be > 0 seconds or NULL, got {timeout!r}")


def _priority(value: Any) -> int:
    """A stored priority for reading: what a foreign producer wrote badly still reads (a word
    as the envelope maps it, anything else as the default); the claim fails such a row."""
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        pass
    try:
        return envelope.check_priority(value)  # a word
    except errors.EnvelopeError:
        return jobs.DEFAULT_PRIORITY


def _claim_order(row: Row) -> tuple[int, int]:
    """Highest priority first, then oldest.  A foreign row's priority may be anything (SQLite
    has no CHECK constraint: seed 002 wrote 'high'); such a row sorts last here and is failed
    by ``job_from_row``, without failing the rest of the claim."""
    try:
        return -int(row["priority"]), int(row["seq"])
    except (TypeError, ValueError):
        return 1, int(row["seq"])


def job_from_row(row: Row, *, strict: bool = False, times: Times | None = None) -> jobs.Job:
    """Decode a stored row.  ``strict`` (the claim path) raises ``EnvelopeError`` for a row a
    foreign producer wrote badly; otherwise bad JSON is shown as ``{"_unparsed": text}``.
    ``times``: a cache shared by the rows of one batch (see ``_time``)."""
    if strict:
        _check_strict(row)
    if times is None:
        times = {}
    error = row["error"]
    if error is not None:
        error = _json_field(row, "error", None, False, None)
        error = jobs.JobError.from_dict(error) if isinstance(error, dict) else None
    result = row["result"]
    if type(result) is str:
        try:
            result = envelope.loads(result)
        except ValueError:
            result = None  # as _json_field shows bad JSON in a field of no particular kind
    elif result is not None:
        result = _json_field(row, "result", None, False, None)
    status = row["status"]
    timeout = row["timeout"]
    return jobs.job_from_fields({
        "id": row["id"],
        "task": row["task"],
        "queue": row["queue"],
        "args": _object(row["args"], row, "args", strict),
        "priority": _priority(row["priority"]),
        "status": _STATUS[status] if status in _STATUS else jobs.JobStatus(status),
        "attempts": int(row["attempts"]),
        "max_attempts": int(row["max_attempts"]),
        "timeout": None if timeout is None else float(timeout),
        "run_at": _time(row["run_at"], times),
        "created_at": _time(row["created_at"], times),
        "started_at": _time(row["started_at"], times),
        "finished_at": _time(row["finished_at"], times),
        "updated_at": _time(row["updated_at"], times),
        "worker_id": row["worker_id"],
        "hostname": row["hostname"],
        "progress": float(row["progress"] or 0.0),
        "status_message": row["status_message"],
        "result": result,
        "error": error,
        "result_ttl": row["result_ttl"],
        "failure_ttl": row["failure_ttl"],
        "meta": _object(row["meta"], row, "meta", strict),
        "parent_id": row["parent_id"],
        "depends_on": () if row["depends_on"] == "[]" else tuple(_json_field(row, "depends_on", list, strict, [])),
    })


def completed_job(claim: jobs.Claim, result: str, row: Row, times: Times | None = None) -> jobs.Job:
    """The record a batched completion left.  A full row is decoded; a slim one (PostgreSQL's
    ``complete_many`` returns only what a completion or the run's progress reports change) is
    laid over the claimed job, whose other fields a held claim keeps as they were."""
    if times is None:
        times = {}
    if "task" in row:
        return job_from_row(row, times=times)
    return claim.job.replace(
        status=jobs.JobStatus.COMPLETED, result=envelope.loads(result), progress=float(row["progress"]),
        status_message=row["status_message"], finished_at=_time(row["finished_at"], times), updated_at=_time(row["updated_at"], times),
    )


def error_json(error: jobs.JobError) -> str:
    return dumps(error.to_dict())


def result_json(result: Any) -> str:
    return dumps(result)


def worker_from_row(r: Row) -> base.WorkerInfo:
    return base.WorkerInfo(
        id=r["id"], hostname=r["hostname"], pid=r["pid"], queues=tuple(json.loads(_text(r["queues"]))),
        concurrency=r["concurrency"], started_at=to_time(r["started_at"]), heartbeat_at=to_time(r["heartbeat_at"]),
        current_jobs=tuple(json.loads(_text(r["current_jobs"]))), processed=r["processed"], failed=r["failed"],
        meta=json.loads(_text(r["meta"])),
    )


# ---- the shared backend ----------------------------------------------------------------------


class SQLBackend(base.Backend):
    """All of the backend contract over named queries.  A dialect supplies ``_tx``, ``_run``,
    ``_params`` and ``_array``, and overrides the few operations its SQL cannot express."""

    Q: dict[str, str]

    # ---- primitives a dialect supplies -----------------------------------------------------

    @abc.abstractmethod
    def _tx(self, fn: Callable[[Any], T], *, write: bool = True, worker: bool = False, single: bool = False) -> T:
        """Run ``fn(cursor)`` in one transaction (retried on a lost connection).  ``worker``
        marks a worker's own state change (claim, outcome, lease): one that a lease makes
        recoverable, which PostgreSQL may commit asynchronously when asked to.  ``single``:
        ``fn`` writes with one statement, atomic by itself, so a dialect may run it without
        BEGIN/COMMIT (PostgreSQL: one round trip instead of three)."""

    @abc.abstractmethod
    def _run(self, cur: Any, name: str, params: Mapping[str, Any]) -> tuple[list[Row], int]:
        """Execute one named query: (rows it returned, rows it changed)."""

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Final touches to parameters (SQLite adds ``now``)."""
        return params

    def _array(self, values: Iterable[str]) -> Any:
        """A list of strings as one parameter."""
        return list(values)

    def _time(self, value: datetime | None) -> Any:
        return value

    def _notify(self, cur: Any) -> None:
        """Inside a write that made work available (PostgreSQL: NOTIFY)."""

    def _woke(self) -> None:
        """After such a write committed (SQLite, MySQL: wake local waiters)."""

    def _rows(self, cur: Any, name: str, params: Mapping[str, Any]) -> list[Row]:
        return self._run(cur, name, self._params(dict(params)))[0]

    def _count(self, cur: Any, name: str, params: Mapping[str, Any]) -> int:
        return self._run(cur, name, self._params(dict(params)))[1]

    def _read(self, name: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self._tx(lambda cur: self._rows(cur, name, params or {}), write=False)

    def _update_returning(self, cur: Any, name: str, params: Mapping[str, Any]) -> list[Row]:
        """An UPDATE ... RETURNING * on one job (MySQL overrides: update, then select)."""
        return self._rows(cur, name, params)

    def _claim_rows(self, cur: Any, params: dict[str, Any]) -> list[Row]:
        return self._rows(cur, "claim", params)

    def _taken(self, cur: Any, name: str, params: Mapping[str, Any]) -> bool:
        """``_update_returning`` for a caller that only asks whether the update applied
        (acknowledge): a dialect may skip reading or converting the row."""
        return bool(self._update_returning(cur, name, params))

    def _complete_batch(self, cur: Any, items: list[dict[str, Any]], decode: bool = True) -> dict[tuple[str, str], Row] | None:
        """Complete several claims in one statement: {(id, token): row} for those still held,
        or None where the dialect has no such statement (then each is completed alone).
        ``decode=False``: only which were taken is wanted, so the rows may be empty."""
        if "complete_many" not in self.Q:
            return None
        done = self._rows(cur, "complete_many", {"ids": self._array([i["id"] for i in items]),
                                                  "tokens": self._array([i["token"] for i in items]),
                                                  "results": self._array([i["result"] for i in items])})
        return {(r["id"], r["claim_token"]): r for r in done}

    def _renew_batch(self, cur: Any, claims: Sequence[jobs.Claim], lease: float) -> dict[tuple[str, str], Any]:
        """Renew several claims with the dialect's ``renew_many``: {(id, token): new expiry} for
        those still held."""
        rows = self._rows(cur, "renew_many", {"ids": self._array([c.job_id for c in claims]),
                                              "tokens": self._array([c.token for c in claims]), "lease": float(lease)})
        return {(r["id"], r["claim_token"]): r["lease_expires_at"] for r in rows}

    def _insert_jobs(self, cur: Any, rows: list[dict[str, Any]]) -> None:
        for params in rows:
            self._count(cur, "insert_job", params)

    # ---- producers -------------------------------------------------------------------------

    def enqueue(self, new_jobs: Sequence[jobs.Job]) -> list[jobs.Job]:
        if not new_jobs:
            return []
        rows = []
        for job in new_jobs:
            params = job_params(job)
            params["run_at"] = self._time(job.run_at)
            params["created_at"] = self._time(job.created_at)
            rows.append(self._params(params))
        ids = list(dict.fromkeys(p["id"] for p in rows))
        delayed = any(p["run_at"] is not None for p in rows)

        def insert(cur: Any) -> list[jobs.Job]:
            self._insert_jobs(cur, rows)
            if delayed:  # a run_at already past (by the database's clock) is due now
                self._count(cur, "queue_due_ids", {"ids": self._array(ids)})
            self._notify(cur)
            times: Times = {}
            found = {r["id"]: job_from_row(r, times=times) for r in self._rows(cur, "get_jobs", {"ids": self._array(ids)})}
            return [found[p["id"]] for p in rows]

        stored = self._tx(insert)
        self._woke()
        return stored

    def get(self, job_id: str) -> jobs.Job | None:
        rows = self._read("get_job", {"id": job_id})
        return job_from_row(rows[0]) if rows else None

    #: the cursor's (created_at, id) passed as values, for optimizers that cannot range-scan a row subquery
    _cursor_values = False

    def list_jobs(self, flt: base.JobFilter) -> list[jobs.Job]:
        cursor_created = cursor_id = None
        if flt.before is not None and self._cursor_values:
            found = self._read("get_job", {"id": flt.before})
            if not found:
                return []
            cursor_created, cursor_id = found[0]["created_at"], found[0]["id"]
        rows = self._read("list_jobs", self._list_params(flt, cursor_created, cursor_id))
        return [job_from_row(r) for r in rows]

    def _list_params(self, flt: base.JobFilter, cursor_created: Any = None, cursor_id: Any = None) -> dict[str, Any]:
        """list_jobs's parameters; the cursor job's created_at and id where the dialect reads them apart."""
        return {
            "c_created": cursor_created,
            "c_id": cursor_id,
            "no_status": not flt.statuses,
            "statuses": self._array(s.value for s in flt.statuses),
            "queue": flt.queue,
            "task": flt.task,
            "after": self._time(flt.created_after),
            "before_time": self._time(flt.created_before),
            "cursor": flt.before,
            "limit": flt.limit,
        }

    def queue_stats(self) -> list[base.QueueStats]:
        def read(cur: Any) -> tuple[list[Row], list[Row], list[Row]]:
            return self._rows(cur, "queue_counts", {}), self._rows(cur, "oldest_queued", {}), self._rows(cur, "paused_queues", {})

        count_rows, oldest_rows, paused_rows = self._tx(read, write=False)
        counts: dict[str, dict[str, int]] = {}
        for row in count_rows:
            counts.setdefault(row["queue"], base.empty_counts())[row["status"]] = int(row["n"])
        oldest = {row["queue"]: row["oldest"] for row in oldest_rows}
        paused = {row["name"] for row in paused_rows}
        for name in paused:
            counts.setdefault(name, base.empty_counts())
        return [
            base.QueueStats(name=name, counts=c, paused=name in paused, oldest_queued_at=to_time(oldest.get(name)))
            for name, c in sorted(counts.items())
        ]

    def _missing_or_state(self, job_id: str, refused: str) -> errors.QuantqError:
        existing = self.get(job_id)
        if existing is None:
            return errors.JobNotFound(f"no job has id {job_id!r}")
        return errors.InvalidTransition(refused.format(id=job_id, status=existing.status.value))

    def cancel(self, job_id: str) -> jobs.Job:
        rows = self._tx(lambda cur: self._update_returning(cur, "cancel", {"id": job_id}))
        if rows:
            return job_from_row(rows[0])
        raise self._missing_or_state(job_id, "job {id} is already {status}")

    def retry(self, job_id: str) -> jobs.Job:
        def requeue(cur: Any) -> list[Row]:
            rows = self._update_returning(cur, "retry", {"id": job_id})
            if rows:
                self._notify(cur)
            return rows

        rows = self._tx(requeue)
        if rows:
            self._woke()
            return job_from_row(rows[0])
        raise self._missing_or_state(job_id, "only failed or cancelled jobs can be retried; job {id} is {status}")

    def purge(self, *, queue: str | None = None, statuses: Iterable[jobs.JobStatus] = jobs.FINISHED) -> int:
        wanted = [s.value for s in statuses if s is not jobs.JobStatus.RUNNING]
        if not wanted:
            return 0
        params = {"queue": queue, "statuses": self._array(wanted)}
        return self._tx(lambda cur: self._count(cur, "purge", params))

    def set_paused(self, queue: str, paused: bool) -> None:
        def write(cur: Any) -> None:
            self._count(cur, "set_paused", {"queue": queue, "paused": bool(paused)})
            if not paused:
                self._notify(cur)

        self._tx(write)
        if not paused:
            self._woke()

    # ---- workers ---------------------------------------------------------------------------

    def claim(self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1) -> list[jobs.Claim]:
        if limit <= 0 or not queues:
            return []
        params = {
            "queues": self._array(queues),
            "queue_list": list(queues),
            "worker_id": worker_id,
            "hostname": hostname,
            "lease": float(lease),
            "lease_us": int(lease * 1_000_000),
            "token": secrets.token_hex(8),
            "limit": int(limit),
        }

        def take(cur: Any) -> list[jobs.Claim]:
            return self._claims_from_rows(cur, sorted(self._claim_rows(cur, params), key=_claim_order))

        # One statement: the claim.  A malformed row's failure, if any, is a statement of its
        # own after it; should that one be lost, the row's lease runs out and it is failed again.
        return self._tx(take, worker=True, single=True)

    def _claims_from_rows(self, cur: Any, rows: list[Row]) -> list[jobs.Claim]:
        """Claimed rows as claims; a row that does not decode is failed (``cur`` writes that)."""
        claims = []
        times: Times = {}  # the rows share their started, updated and lease times
        for row in rows:
            try:
                job = job_from_row(row, strict=True, times=times)
            except (errors.EnvelopeError, ValueError, TypeError, KeyError) as exc:
                # A foreign producer wrote this row badly: fail it, keep claiming the rest.
                message = str(exc) if isinstance(exc, errors.EnvelopeError) else f"invalid job row: {exc!r}"
                error = jobs.JobError(type=MALFORMED, message=f"job {row['id']}: {message}")
                self._count(cur, "fail_malformed", {"seq": row["seq"], "error": error_json(error)})
                continue
            claims.append(jobs.Claim(job=job, token=row["lease_token"], expires_at=_time(row["lease_expires_at"], times)))  # type: ignore[arg-type]
        return claims

    def renew(self, claims: Sequence[jobs.Claim], lease: float) -> list[jobs.Claim | None]:
        if not claims:
            return []

        # one statement for them all where the dialect has one: a worker with jobs lined up holds
        # hundreds of claims, and one statement each outlasted a short lease on a busy server
        batched = len(claims) > 1 and "renew_many" in self.Q

        def renew_all(cur: Any) -> list[jobs.Claim | None]:
            if batched:
                held = self._renew_batch(cur, claims, lease)
                return [jobs.Claim(job=c.job, token=c.token, expires_at=to_time(held[(c.job_id, c.token)]))  # type: ignore[arg-type]
                        if (c.job_id, c.token) in held else None for c in claims]
            out: list[jobs.Claim | None] = []
            for claim in claims:
                rows = self._update_returning(
                    cur, "renew", {"id": claim.job_id, "token": claim.token, "lease": float(lease), "lease_us": int(lease * 1_000_000)}
                )
                if rows:
                    out.append(jobs.Claim(job=claim.job, token=claim.token, expires_at=to_time(rows[0]["lease_expires_at"])))  # type: ignore[arg-type]
                else:
                    out.append(None)
            return out

        return self._tx(renew_all, worker=True, single=batched)

    def lost(self, claims: Sequence[jobs.Claim]) -> set[str]:
        if not claims:
            return set()
        rows = self._read("held_tokens", {"ids": self._array(c.job_id for c in claims)})
        held = {(r["id"], r["lease_token"]) for r in rows}
        return {c.job_id for c in claims if (c.job_id, c.token) not in held}

    def progress(self, claim: jobs.Claim, percent: float, message: str | None) -> None:
        params = {"id": claim.job_id, "token": claim.token, "progress": float(percent), "message": message}
        if not self._tx(lambda cur: self._count(cur, "progress", params), worker=True):
            raise errors.StaleClaim(f"job {claim.job_id}: progress refused, the claim is no longer held")

    def complete(self, claim: jobs.Claim, result: Any) -> jobs.Job:
        done = self.report([base.Outcome(claim=claim, result=result)])[0]
        if done is None:
            raise errors.StaleClaim(f"job {claim.job_id}: completion refused, the claim is no longer held")
        return done

    def fail(self, claim: jobs.Claim, error: jobs.JobError, retry_in: float | None = None) -> jobs.Job:
        done = self.report([base.Outcome(claim=claim, error=error, retry_in=retry_in)])[0]
        if done is None:
            raise errors.StaleClaim(f"job {claim.job_id}: failure report refused, the claim is no longer held")
        return done

    def report(self, outcomes: Sequence[base.Outcome]) -> list[jobs.Job | None]:
        """All outcomes in one transaction: under load, one commit for many jobs."""
        return self._report(outcomes, decode=True)  # type: ignore[return-value]

    def acknowledge(self, outcomes: Sequence[base.Outcome]) -> list[bool]:
        """``report`` without building the recorded jobs (the worker only needs which were taken)."""
        return [bool(taken) for taken in self._report(outcomes, decode=False)]

    def _report(self, outcomes: Sequence[base.Outcome], *, decode: bool) -> list[jobs.Job | bool | None]:
        if not outcomes:
            return []
        statements: list[tuple[str, dict[str, Any]]] = []
        completions: list[int] = []  # indexes of the "complete" statements
        for i, o in enumerate(outcomes):
            claim = o.claim
            if o.error is None:
                result = o.result
                completions.append(i)
                statements.append(("complete", {"id": claim.job.id, "token": claim.token,
                                                "result": "null" if result is None else result_json(result)}))
                continue
            params: dict[str, Any] = {"id": claim.job.id, "token": claim.token, "error": error_json(o.error)}
            if o.retry_in is None:
                statements.append(("fail_final", params))
            else:
                params["retry_in"] = float(o.retry_in)
                params["retry_us"] = int(o.retry_in * 1_000_000)
                statements.append(("fail_retry", params))

        def apply(cur: Any) -> list[jobs.Job | bool | None]:
            out: list[jobs.Job | bool | None] = [None] * len(statements)
            times: Times = {}  # one batch's rows share their finished and updated times
            by_claim = None
            if len(completions) > 1:
                by_claim = self._complete_batch(cur, [statements[i][1] for i in completions], decode)
            batched = completions if by_claim is not None else ()
            for i in batched:
                params = statements[i][1]
                row = by_claim.get((params["id"], params["token"])) if by_claim else None
                if row is not None:
                    out[i] = completed_job(outcomes[i].claim, params["result"], row, times) if decode else True
            for i, (name, params) in enumerate(statements):
                if batched and name == "complete":
                    continue  # every completion went in the batch
                if not decode:
                    out[i] = self._taken(cur, name, params) or None
                    continue
                rows = self._update_returning(cur, name, params)
                if rows:
                    out[i] = completed_job(outcomes[i].claim, params["result"], rows[0], times) if name == "complete" \
                        else job_from_row(rows[0], times=times)
            return out

        # one statement in all (one outcome, or only completions and a batched UPDATE for them)
        single = len(statements) == 1 or ("complete_many" in self.Q and len(completions) == len(statements))
        return self._tx(apply, worker=True, single=single)

    def release(self, claim: jobs.Claim) -> None:
        def write(cur: Any) -> None:
            if self._count(cur, "release", {"id": claim.job_id, "token": claim.token}):
                self._notify(cur)

        self._tx(write, worker=True)
        self._woke()

    # ---- maintenance -----------------------------------------------------------------------

    def promote_due(self) -> int:
        def write(cur: Any) -> int:
            n = self._count(cur, "promote_due", {})
            if n:
                self._notify(cur)
            return n

        n = self._tx(write, worker=True)
        if n:
            self._woke()
        return n

    def reap_expired(self) -> int:
        error = error_json(jobs.JobError(type="WorkerLost", message=errors.WorkerLost().args[0]))

        def reap(cur: Any) -> int:
            n = self._count(cur, "reap_lost", {"error": error}) + self._count(cur, "reap_requeue", {})
            if n:
                self._notify(cur)
            return n

        n = self._tx(reap, worker=True)
        if n:
            self._woke()
        return n

    prune_batch = 1000  #: rows per DELETE: each batch is its own short transaction

    def prune(self) -> int:
        """Batched, so a large backlog of expired results never holds locks for long."""
        total = 0
        while True:
            n = self._tx(lambda cur: self._count(cur, "prune", {"batch": self.prune_batch}), worker=True)
            total += n
            if n < self.prune_batch:
                return total

    # ---- worker registry -------------------------------------------------------------------

    def register_worker(self, info: base.WorkerInfo) -> None:
        params = {
            "id": info.id, "hostname": info.hostname, "pid": info.pid, "queues": dumps(list(info.queues)),
            "concurrency": info.concurrency, "meta": dumps(info.meta),
        }
        self._tx(lambda cur: self._count(cur, "upsert_worker", params), worker=True)

    def heartbeat_worker(self, worker_id: str, *, current_jobs: Sequence[str], processed: int, failed: int) -> None:
        params = {"id": worker_id, "current_jobs": dumps(list(current_jobs)), "processed": processed, "failed": failed}
        self._tx(lambda cur: self._count(cur, "heartbeat_worker", params), worker=True)

    def unregister_worker(self, worker_id: str) -> None:
        self._tx(lambda cur: self._count(cur, "delete_worker", {"id": worker_id}), worker=True)

    def list_workers(self) -> list[base.WorkerInfo]:
        return [worker_from_row(r) for r in self._read("list_workers")]

    def reap_workers(self, max_silence: float) -> int:
        params = {"max_silence": float(max_silence), "max_silence_us": int(max_silence * 1_000_000)}
        return self._tx(lambda cur: self._count(cur, "reap_workers", params), worker=True)

    # ---- clock -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return to_time(self._read("now")[0]["now"])  # type: ignore[return-value]

    def ping(self) -> None:
        self._read("now")


# ---- URL options -----------------------------------------------------------------------------


def split_options(url: str, known: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """Take quantq's own options (``known``: name -> default) out of a URL's query; the rest
    of the URL goes to the driver unchanged."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    ours = dict(known)
    theirs = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in known:
            ours[key] = value
        else:
            theirs.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(theirs))), ours


def number_option(options: Mapping[str, str], name: str, *, low: float, high: float) -> float:
    try:
        value = float(options[name])
    except ValueError:
        raise errors.ConfigError(f"URL option {name} must be a number, got {options[name]!r}") from None
    if not low <= value <= high:
        raise errors.ConfigError(f"URL option {name} must be between {low:g} and {high:g}, got {value:g}")
    return value


def migrate_option(options: Mapping[str, str]) -> bool:
    value = options["migrate"].lower()
    if value not in ("auto", "never"):
        raise errors.ConfigError(f"URL option migrate must be 'auto' or 'never', got {value!r}")
    return value == "auto"
