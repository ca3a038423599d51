"""The SQL core's row decoding (``_sql.job_from_row``) against the plain decoder it replaced for
speed: for every kind of row a store can hold, well or badly written, the same job or the same
error, strict (the claim) and lenient, with and without a batch's shared time cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from quantq import envelope, errors, jobs
from quantq.backends import _sql

# ---- the decoder as it was (json.loads, every check, every time made afresh) -------------------

def _ref_json_field(row: Any, name: str, kind: type | None, strict: bool, default: Any) -> Any:
    raw = _sql._text(row[name])
    if raw is None:
        if kind is None:
            return None
        if strict:
            raise errors.EnvelopeError(name, "is NULL")
        return default
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        if strict:
            raise errors.EnvelopeError(name, f"is not valid JSON ({exc}): {str(raw)[:80]!r}") from None
        return {"_unparsed": str(raw)} if kind is dict else default
    if kind is not None and not isinstance(value, kind):
        if strict:
            raise errors.EnvelopeError(name, f"must be a JSON {'object' if kind is dict else 'array'}, got {type(value).__name__}")
        return default
    return value


def reference(row: Any, *, strict: bool = False) -> jobs.Job:
    if strict:
        envelope.check_task_name(row["task"])
        envelope.check_priority(row["priority"])
        if not isinstance(row["max_attempts"], int) or row["max_attempts"] < 1:
            raise errors.EnvelopeError("max_attempts", f"must be an integer >= 1, got {row['max_attempts']!r}")
        if row["timeout"] is not None and not row["timeout"] > 0:
            raise errors.EnvelopeError("timeout", f"must be > 0 seconds or NULL, got {row['timeout']!r}")
    error = _ref_json_field(row, "error", None, False, None)
    return jobs.Job(
        id=row["id"], task=row["task"], queue=row["queue"], args=_ref_json_field(row, "args", dict, strict, {}),
        priority=int(row["priority"]), status=jobs.JobStatus(row["status"]), attempts=int(row["attempts"]),
        max_attempts=int(row["max_attempts"]), timeout=None if row["timeout"] is None else float(row["timeout"]),
        run_at=_sql.to_time(row["run_at"]), created_at=_sql.to_time(row["created_at"]),
        started_at=_sql.to_time(row["started_at"]), finished_at=_sql.to_time(row["finished_at"]),
        updated_at=_sql.to_time(row["updated_at"]), worker_id=row["worker_id"], hostname=row["hostname"],
        progress=float(row["progress"] or 0.0), status_message=row["status_message"],
        result=_ref_json_field(row, "result", None, False, None),
        error=jobs.JobError.from_dict(error) if isinstance(error, dict) else None,
        result_ttl=row["result_ttl"], failure_ttl=row["failure_ttl"], meta=_ref_json_field(row, "meta", dict, strict, {}),
        parent_id=row["parent_id"], depends_on=tuple(_ref_json_field(row, "depends_on", list, strict, [])),
    )


def outcome(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return "ok", fn(*args, **kw)
    except Exception as exc:  # the same class and message are wanted
        return "raised", type(exc), str(exc)


BASE = {
    "id": "j1", "task": "quantq.noop", "queue": "default", "args": "{}", "priority": 5, "status": "running",
    "attempts": 1, "max_attempts": 3, "timeout": None, "run_at": None, "created_at": 1764950000.123456,
    "started_at": 1764950001.5, "finished_at": None, "updated_at": 1764950001.5, "worker_id": "w", "hostname": "h",
    "progress": 0, "status_message": None, "result": None, "error": None, "result_ttl": 86400, "failure_ttl": 604800,
    "meta": "{}", "parent_id": None, "depends_on": "[]",
}
T0 = datetime(2026, 12, 5, 19, 0, 0, 123456)

VARIANTS: list[dict[str, Any]] = [
    {},
    {"args": '{"a": [1, 2.5, null, "\\u00e5"]}', "meta": '{"who": "x"}', "depends_on": '["a", "b"]'},
    {"args": " {} ", "meta": "{ }", "depends_on": " [] "},
    {"args": b'{"a": 1}', "meta": bytearray(b"{}"), "depends_on": b"[]", "result": b'"r"', "error": b'{"type": "E"}'},
    {"args": "{oops"}, {"args": "[]"}, {"args": "null"}, {"args": None}, {"args": "1 2"}, {"args": ""},
    {"args": "NaN"}, {"args": '{"x": NaN}'}, {"args": {"already": "decoded"}},
    {"meta": "{oops"}, {"meta": None}, {"meta": "[1]"},
    {"depends_on": "{}"}, {"depends_on": None}, {"depends_on": "[oops"}, {"depends_on": '"ab"'},
    {"args": "[]", "depends_on": "{}"}, {"args": "{bad", "meta": "{bad", "depends_on": "[bad"},
    {"status": "completed", "result": "null"}, {"result": "0"}, {"result": '"text"'}, {"result": "[1, {}]"},
    {"result": "{oops"}, {"result": " 1 "}, {"result": ""}, {"result": "{}"},
    {"status": "failed", "error": '{"type": "ValueError", "message": "m", "traceback": "tb"}'},
    {"error": "{oops"}, {"error": "[1]"}, {"error": "{}"}, {"error": "null"},
    {"status": "nonsense"}, {"status": None},
    {"task": "bad name!"}, {"task": None}, {"task": ""}, {"task": "a" * 300},
    {"priority": 0}, {"priority": 9}, {"priority": 10}, {"priority": -1}, {"priority": "7"},
    {"priority": True}, {"priority": 5.0},
    {"max_attempts": 0}, {"max_attempts": "3"}, {"max_attempts": True}, {"max_attempts": None},
    {"timeout": 0}, {"timeout": -1.0}, {"timeout": 2}, {"timeout": 0.5}, {"timeout": "x"},
    {"attempts": "2"}, {"progress": None}, {"progress": "12.5"},
    {"run_at": 1764950000}, {"run_at": "1764950000.5"}, {"run_at": "soon"},
    {"created_at": T0, "started_at": T0.replace(tzinfo=UTC), "updated_at": T0.replace(tzinfo=ZoneInfo("UTC")),
     "finished_at": T0.replace(tzinfo=timezone(timedelta(hours=2)))},
    {"created_at": T0, "updated_at": T0 + timedelta(microseconds=1), "started_at": T0},
    {"task": "bad name!", "args": "{oops"}, {"priority": 42, "max_attempts": 0}, {"max_attempts": 0, "timeout": 0},
]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("changes", VARIANTS, ids=[repr(v)[:60] for v in VARIANTS])
def test_a_row_decodes_as_the_plain_decoder_did(changes: dict[str, Any], strict: bool) -> None:
    row = {**BASE, **changes}
    expected = outcome(reference, row, strict=strict)
    assert outcome(_sql.job_from_row, row, strict=strict) == expected
    shared: _sql.Times = {}
    assert outcome(_sql.job_from_row, dict(BASE), strict=strict, times=shared)[0] == "ok"  # warm the cache
    assert outcome(_sql.job_from_row, row, strict=strict, times=shared) == expected
    if expected[0] == "ok":
        job = outcome(_sql.job_from_row, row, strict=strict, times=shared)[1]
        for name in ("run_at", "created_at", "started_at", "finished_at", "updated_at"):
            got, want = getattr(job, name), getattr(expected[1], name)
            assert got == want and (got is None or got.tzinfo is UTC), name


def test_a_batch_shares_each_distinct_time_and_tells_naive_from_aware_apart() -> None:
    shared: _sql.Times = {}
    a = _sql.job_from_row({**BASE, "created_at": T0, "updated_at": T0}, times=shared)
    b = _sql.job_from_row({**BASE, "created_at": T0.replace(tzinfo=timezone(timedelta(hours=1)))}, times=shared)
    assert a.created_at is a.updated_at and a.created_at == T0.replace(tzinfo=UTC)
    assert b.created_at == T0.replace(tzinfo=UTC) - timedelta(hours=1) and b.created_at.tzinfo is UTC


def test_parameters_are_the_same_text_as_json_dumps_wrote() -> None:
    job = envelope.parse_submission({"task": "t", "args": {"x": [1, "å", None]}, "meta": {"k": 1.5}, "depends_on": ["a"]})
    params = _sql.job_params(job)
    dumps = lambda v: json.dumps(v, separators=(",", ":"), allow_nan=False)  # noqa: E731
    assert (params["args"], params["meta"], params["depends_on"]) == (dumps(job.args), dumps(job.meta), dumps(["a"]))
    bare = _sql.job_params(envelope.parse_submission({"task": "t"}))
    assert (bare["args"], bare["meta"], bare["depends_on"]) == ("{}", "{}", "[]")
    for value in (None, 0, 1.5, "å\n\"", [1, {"a": None}], {"z": 1, "a": 2}):
        assert _sql.result_json(value) == dumps(value)
    with pytest.raises(ValueError):
        _sql.result_json(float("nan"))


def test_a_priority_word_in_the_table_reads_but_is_refused_at_claim() -> None:
    """SQLite has no CHECK constraint, so a seed-002 style producer can write 'high': the row
    reads (as the envelope maps the word), the claim fails it with a reason (the plain decoder
    raised a bare ValueError on both paths, and its sort failed the whole claim)."""
    row = {**BASE, "priority": "high"}
    assert _sql.job_from_row(row).priority == 8
    with pytest.raises(errors.EnvelopeError, match="priority.*integer 0-9"):
        _sql.job_from_row(row, strict=True)
    assert _sql.job_from_row({**BASE, "priority": None}).priority == jobs.DEFAULT_PRIORITY  # reads, where it raised
    with pytest.raises(errors.EnvelopeError, match="priority"):
        _sql.job_from_row({**BASE, "priority": None}, strict=True)
    assert sorted([{**row, "seq": 1}, {**BASE, "priority": 3, "seq": 9}], key=_sql._claim_order)[0]["seq"] == 9
