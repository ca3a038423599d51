from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from quantq import envelope, errors, jobs


def test_smallest_submission_gets_the_defaults() -> None:
    job = envelope.parse_submission({"task": "quantq.noop"})
    assert (job.queue, job.priority, job.max_attempts, job.status, job.args) == ("default", 5, 3, jobs.JobStatus.QUEUED, {})
    assert (job.result_ttl, job.failure_ttl) == (86400, 604800)
    assert job.id and job.created_at.tzinfo is not None


def test_generated_ids_are_unique_and_time_ordered() -> None:
    ids = [jobs.new_job_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert ids == sorted(ids) or all(a[:13] <= b[:13] for a, b in zip(ids, ids[1:], strict=False))
    assert all(i[14] == "7" for i in ids)  # version nibble
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)  # canonical UUID text


@pytest.mark.parametrize(
    ("submission", "field", "words"),
    [
        ({}, "task", "required"),
        ({"task": ""}, "task", "task name"),
        ({"task": "x", "priority": "urgent"}, "priority", "0-9"),
        ({"task": "x", "priority": 10}, "priority", "0-9"),
        ({"task": "x", "priority": True}, "priority", "0-9"),
        ({"task": "x", "args": [1, 2]}, "args", "JSON object"),
        ({"task": "x", "args": {"v": float("nan")}}, "args", "JSON"),
        ({"task": "x", "queue": "bad queue"}, "queue", "letters"),
        ({"task": "x", "id": ""}, "id", "1-128"),
        ({"task": "x", "id": "a" * 129}, "id", "1-128"),
        ({"task": "x", "timeout": 0}, "timeout", "> 0"),
        ({"task": "x", "timeout": "10"}, "timeout", "seconds"),
        ({"task": "x", "delay": -1}, "delay", ">= 0"),
        ({"task": "x", "delay": 1, "run_at": 0}, "run_at", "not both"),
        ({"task": "x", "run_at": "2026-01-02T09:30:00"}, "run_at", "UTC offset"),
        ({"task": "x", "run_at": "tomorrow"}, "run_at", "ISO 8601"),
        ({"task": "x", "max_attempts": 0}, "max_attempts", "1 to 1000"),
        ({"task": "x", "max_attempts": 2.5}, "max_attempts", "1 to 1000"),
        ({"task": "x", "result_ttl": -5}, "result_ttl", ">= 0"),
        ({"task": "x", "meta": "m"}, "meta", "JSON object"),
        ({"task": "x", "depends_on": "a"}, "depends_on", "list"),
        ({"task": "x", "max_atempts": 3}, "max_atempts", "not a known field"),
        ({"task": "x", "v": 2}, "v", "not supported"),
    ],
)
def test_bad_submissions_name_the_field_and_say_why(submission: dict, field: str, words: str) -> None:
    with pytest.raises(errors.EnvelopeError) as caught:
        envelope.parse_submission(submission)
    assert caught.value.field == field
    assert words in str(caught.value) and repr(field) in str(caught.value)


def test_not_json_and_not_an_object_are_refused() -> None:
    with pytest.raises(errors.EnvelopeError, match="not valid JSON"):
        envelope.parse_submission(b"{task: 1")
    with pytest.raises(errors.EnvelopeError, match="must be a JSON object"):
        envelope.parse_submission("[1, 2]")


def test_priority_words_and_numbers() -> None:
    assert [envelope.parse_submission({"task": "x", "priority": p}).priority for p in ("high", "NORMAL", "low", 0, 9, "7")] == [8, 5, 2, 0, 9, 7]
    assert [jobs.priority_word(p) for p in (9, 8, 7, 6, 5, 4, 3, 0)] == ["high"] * 3 + ["normal"] * 3 + ["low"] * 2


def test_delay_and_run_at_schedule_the_job() -> None:
    now = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
    delayed = envelope.parse_submission({"task": "x", "delay": 90}, now=now)
    assert delayed.status is jobs.JobStatus.SCHEDULED and delayed.run_at == now + timedelta(seconds=90)
    at = envelope.parse_submission({"task": "x", "run_at": "2026-01-02T10:30:00+01:00"}, now=now)
    assert at.run_at == now and at.status is jobs.JobStatus.QUEUED  # due already: queued
    epoch = envelope.parse_submission({"task": "x", "run_at": now.timestamp() + 5}, now=now)
    assert epoch.status is jobs.JobStatus.SCHEDULED


def test_task_defaults_fill_gaps_and_the_envelope_wins() -> None:
    defaults = {"queue": "research", "priority": 8, "max_attempts": 1, "timeout": 60.0}
    job = envelope.parse_submission({"task": "x", "priority": "low"}, defaults=defaults)
    assert (job.queue, job.priority, job.max_attempts, job.timeout) == ("research", 2, 1, 60.0)
    no_timeout = envelope.parse_submission({"task": "x", "timeout": None}, defaults=defaults)
    assert no_timeout.timeout is None


def test_record_roundtrip_is_lossless_json() -> None:
    job = envelope.parse_submission({"task": "x", "args": {"a": [1, "ü"]}, "meta": {"m": 1}, "delay": 5, "depends_on": ["p1"]})
    job = job.replace(error=jobs.JobError(type="E", message="m", traceback="tb"), result={"r": 1.5}, attempts=2)
    text = json.dumps(envelope.to_record(job))
    assert envelope.from_record(json.loads(text)) == job


def test_bad_record_is_an_envelope_error() -> None:
    with pytest.raises(errors.EnvelopeError, match="not a job record"):
        envelope.from_record({"task": "x"})


@pytest.mark.parametrize("text", [
    "{}", '{"a":1}', '{"a": [1, 2.5, null, true], "b": {"c": "é"}}', "[]", "[1,2]", '"text"', "3", "null",
    " {}", '{"a":1} ', '\n{"a": 1}\n', "NaN", '{"a":NaN}',
])
def test_fast_loads_reads_what_json_loads_reads(text: str) -> None:
    fast, full = envelope.loads(text), json.loads(text)
    assert type(fast) is type(full)
    assert json.dumps(fast) == json.dumps(full)  # (compared as text: NaN != NaN)


@pytest.mark.parametrize("text", ["", "{", '{"a":1}x', '{"a":1} {}', "{'a': 1}", "[1,]"])
def test_fast_loads_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        envelope.loads(text)


def test_fast_loads_gives_a_fresh_empty_object_each_time() -> None:
    first = envelope.loads("{}")
    first["x"] = 1  # a caller that fills its args must not change the next job's
    assert envelope.loads("{}") == {}
