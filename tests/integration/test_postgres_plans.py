"""PostgreSQL query plans that keep the per-job cost flat: a claimed job is written by id
lookup even when the statistics say nothing is running, and a worker's claim is planned
once per session, not on every call."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantq import backends, envelope
from quantq.backends.base import Outcome
from tests import backend_factories


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
