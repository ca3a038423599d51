"""PostgreSQL query plans that keep the per-job cost flat: a claimed job is written by id
lookup even when the statistics say nothing is running, and a worker's claim is planned
once per session, not on every call."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantq import backends, envelope, jobs
from quantq.backends.base import JobFilter, Outcome
from tests import backend_factories

S = jobs.JobStatus


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Any]:
    for url in backend_factories.postgres(tmp_path):
        with backends.from_url(url + "&pool_max=1") as backend:
            yield backend


def plan(backend: Any, name: str, params: dict[str, Any], *, generic: bool = False) -> str:
    def explain(cur: Any) -> str:
        if generic:
            cur.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cur.execute("EXPLAIN " + backend.Q[name], params)
            return "\n".join(r["QUERY PLAN"] for r in cur.fetchall())
        finally:
            cur.execute("RESET plan_cache_mode")

    return backend._tx(explain, write=False)


def test_writes_to_given_jobs_look_them_up_by_id_when_statistics_show_none_in_that_status(pg: Any) -> None:
    pg.enqueue([envelope.parse_submission({"task": "quantq.noop"}) for _ in range(3000)])
    pg._tx(lambda cur: cur.execute(f"ANALYZE {pg.names['jobs']}"), write=False)  # nothing running or scheduled
    claims = pg.claim(["default"], worker_id="w", hostname="h", lease=30, limit=200)
    one = {"id": claims[0].job_id, "token": claims[0].token, "result": "null", "error": "{}", "retry_in": 1.0,
           "lease": 30.0, "progress": 50.0, "message": None}
    cases = {name: one for name in ("complete", "fail_final", "fail_retry", "renew", "progress", "release")}
    delayed = pg.enqueue([envelope.parse_submission({"task": "quantq.noop", "delay": 3600}) for _ in range(300)])
    # a few, and a worker's batch: told the batch's size, the planner would rather scan the
    # whole table than look 200 ids up (and a scan it believes yields one row drives a nested
    # loop over the batch: 25 ms for 300 completions in a 20,000-row table, O(table) per batch)
    for size in (5, 200):
        batch = claims[:size]
        cases[f"held_tokens/{size}"] = {"ids": [c.job_id for c in batch]}
        cases[f"complete_many/{size}"] = {"ids": [c.job_id for c in batch], "tokens": [c.token for c in batch],
                                          "results": ["null"] * len(batch)}
        cases[f"queue_due_ids/{size}"] = {"ids": [j.id for j in delayed[:size]]}
    for case, params in cases.items():
        name = case.split("/")[0]
        for generic in (False, True):
            text = plan(pg, name, params, generic=generic)
            assert "jobs_id_key" in text and not any(i in text for i in ("jobs_lease", "jobs_due", "status_created")), (case, text)
    assert pg.acknowledge([Outcome(claim=c, result=None) for c in claims]) == [True] * len(claims)


def test_the_claim_is_planned_once_per_session_and_that_plan_walks_the_claim_index(pg: Any) -> None:
    pg.enqueue([envelope.parse_submission({"task": "quantq.noop"}) for _ in range(3000)])
    pg._tx(lambda cur: cur.execute(f"ANALYZE {pg.names['jobs']}"), write=False)
    for _ in range(20):
        [claim] = pg.claim(["default"], worker_id="w", hostname="h", lease=30)
        pg.acknowledge([Outcome(claim=claim, result=None)])
    rows = pg._tx(lambda cur: cur.execute(  # the pool's one session ran every claim
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%%SKIP LOCKED%%'").fetchall(), write=False)
    # psycopg prepares it on the fifth run; the server plans the first five runs with the values, then keeps one plan
    assert rows and rows[0]["custom_plans"] <= 5 and rows[0]["generic_plans"] >= 5, rows
    params = {"queues": ["default"], "worker_id": "w", "hostname": "h", "lease": 30.0, "token": secrets.token_hex(8),
              "limit": 100}
    text = plan(pg, "claim", params, generic=True)
    assert "jobs_claim" in text and "jobs_pkey" in text and "Seq Scan on quantq_jobs" not in text, text


FILL = ("INSERT INTO {jobs} (id, task, queue, status, attempts, created_at, finished_at, updated_at, expires_at) "
        "SELECT 'old-' || g, CASE WHEN g % 1000 = 0 THEN 't.rare' ELSE 'quantq.noop' END, 'q' || (g % 4), "
        "CASE WHEN g % 50 = 0 THEN 'failed' ELSE 'completed' END, 1, now() - g * interval '1 ms', now(), now(), "
        "now() + interval '1 day' FROM generate_series(1, {n}) AS g")


def test_listings_walk_the_listing_indexes_and_read_running_jobs_through_the_lease_index(pg: Any) -> None:
    """The listing indexes leave running rows out (a claim writes no entry to them): every
    listing still walks an index in time order, never sorting the table, and finds running
    jobs through jobs_lease."""
    pg._tx(lambda cur: cur.execute(FILL.format(jobs=pg.names["jobs"], n=50_000)))
    pg.enqueue([envelope.parse_submission({"task": "quantq.noop", "queue": "q1"}) for _ in range(40)])
    pg.claim(["q1"], worker_id="w", hostname="h", lease=30, limit=10)
    pg._tx(lambda cur: cur.execute(f"ANALYZE {pg.names['jobs']}"), write=False)
    cases = {
        "newest": JobFilter(limit=100),
        "failed": JobFilter(statuses=(S.FAILED,), limit=100),
        "running": JobFilter(statuses=(S.RUNNING,), limit=100),
        "queued+running": JobFilter(statuses=(S.QUEUED, S.RUNNING), limit=100),
        "a queue": JobFilter(queue="q1", limit=100),
        "a rare task": JobFilter(task="t.rare", limit=100),
        "a page": JobFilter(queue="q2", before="old-3002", limit=100),
    }
    for case, flt in cases.items():
        text = plan(pg, "list_jobs", pg._list_params(flt))
        assert "Seq Scan" not in text and "Merge Append" in text, (case, text)
        # what is sorted at all is one part's few rows (the running ones, or a rare filter's)
        sorted_rows = [int(m) for m in re.findall(r"Sort {2}\(cost=[\d.]+ rows=(\d+)", text)]
        assert all(n <= 1000 for n in sorted_rows), (case, text)


def test_listings_and_counts_merge_running_and_other_jobs_in_order(pg: Any) -> None:
    """Running jobs come from one part of the listing and the rest from another: the merge
    keeps newest first across both, with filters, limits and cursors as one query would."""
    made = pg.enqueue([envelope.parse_submission({"task": "t.a" if i % 3 else "t.b", "queue": "qa" if i % 2 else "qb"})
                       for i in range(30)])
    for queue in ("qa", "qb"):
        claims = pg.claim([queue], worker_id="w", hostname="h", lease=30, limit=6)
        pg.report([Outcome(claim=c, result=None) for c in claims[:2]])  # two completed, four running per queue
    stored = sorted((pg.get(j.id) for j in made), key=lambda j: (j.created_at, j.id), reverse=True)
    assert {j.status for j in stored} == {S.QUEUED, S.RUNNING, S.COMPLETED}
    cursor = stored[7].id
    for flt in (JobFilter(limit=100), JobFilter(limit=9), JobFilter(statuses=(S.RUNNING,), limit=5),
                JobFilter(statuses=(S.RUNNING, S.COMPLETED), limit=100), JobFilter(queue="qa", limit=7),
                JobFilter(task="t.b", statuses=(S.RUNNING, S.QUEUED), limit=100), JobFilter(before=cursor, limit=6),
                JobFilter(queue="qb", before=cursor, limit=100)):
        # older than the cursor job (which need not match the filter), then filtered
        after = stored[[j.id for j in stored].index(flt.before) + 1:] if flt.before is not None else stored
        expected = [j.id for j in after if (not flt.statuses or j.status in flt.statuses) and flt.queue in (None, j.queue)
                    and flt.task in (None, j.task)]
        assert [j.id for j in pg.list_jobs(flt)] == expected[: flt.limit], flt
    counts = {s.name: {k: v for k, v in s.counts.items() if v} for s in pg.queue_stats()}
    assert counts == {"qa": {"queued": 9, "running": 4, "completed": 2}, "qb": {"queued": 9, "running": 4, "completed": 2}}
