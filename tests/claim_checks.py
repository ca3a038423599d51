"""A check shared by the backends that build claimed jobs by their own path, not get()'s
(Redis from its claim script's reply, the SQL backends from the claim's rows)."""

from __future__ import annotations

from typing import Any

from quantq import envelope, jobs
from quantq.backends.base import Outcome

S = jobs.JobStatus


def assert_claimed_jobs_are_their_records(backend: Any) -> list[jobs.Claim]:
    """Each claimed job equals the record get() reads, every field, a retried job's earlier
    error included; returns the claims still held, for the caller's own checks."""
    backend.enqueue([envelope.parse_submission(s) for s in (
        {"task": "quantq.echo", "id": "plain"},
        {"task": "quantq.echo", "id": "full", "args": {"x": [1, 2.5, "s"]}, "priority": 7, "meta": {"m": {"n": 1}},
         "timeout": 2.5, "max_attempts": 4, "result_ttl": None, "failure_ttl": 60, "parent_id": "p1",
         "depends_on": ["d1", "d2"]},
    )])
    first = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=2)
    assert [c.job_id for c in first] == ["full", "plain"]
    for claim in first:
        assert claim.job == backend.get(claim.job_id)
        assert (claim.job.status, claim.job.worker_id, claim.job.attempts) == (S.RUNNING, "w", 1)
    [retried, plain] = first
    backend.report([Outcome(claim=retried, error=jobs.JobError(type="E", message="boom"), retry_in=0.0)])
    backend.promote_due()
    [again] = backend.claim(["default"], worker_id="w2", hostname="h2", lease=30, limit=1)
    assert again.job == backend.get("full")
    assert (again.job.attempts, again.job.error, again.job.worker_id) == (2, jobs.JobError(type="E", message="boom"), "w2")
    assert again.job.args == {"x": [1, 2.5, "s"]} and again.job.depends_on == ("d1", "d2") and again.job.result_ttl is None
    return [plain, again]
