"""The backend contract (docs/backends.md), run unchanged against every backend."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from quantq import envelope, errors, jobs
from quantq.backends.base import Backend, JobFilter, Outcome, WorkerInfo

S = jobs.JobStatus
LEASE = 30.0
SHORT = 0.4  # a lease short enough to run out inside a test


def make(task: str = "quantq.echo", **fields: object) -> jobs.Job:
    return envelope.parse_submission({"task": task, **fields})


def claim_one(backend: Backend, queues: tuple[str, ...] = ("default",), lease: float = LEASE, worker: str = "w1") -> jobs.Claim:
    claims = backend.claim(list(queues), worker_id=worker, hostname="host-a", lease=lease)
    assert len(claims) == 1, f"expected one claim, got {claims}"
    return claims[0]


def test_enqueue_get_roundtrip_keeps_every_field(backend: Backend) -> None:
    job = make(
        id="job-1", args={"symbols": ["MSFT", "ÅÄÖ"], "nested": {"x": [1, 2.5, None, True]}}, queue="research",
        priority="high", timeout=12.5, max_attempts=4, result_ttl=60, failure_ttl=None, meta={"user": "ada"},
        parent_id="parent-1",
    )
    [stored] = backend.enqueue([job])
    got = backend.get("job-1")
    assert got == stored
    assert (got.task, got.queue, got.args, got.priority, got.timeout) == ("quantq.echo", "research", job.args, 8, 12.5)
    assert (got.max_attempts, got.result_ttl, got.failure_ttl, got.meta) == (4, 60, None, {"user": "ada"})
    assert got.status is S.QUEUED and got.attempts == 0 and got.parent_id == "parent-1"
    assert got.created_at is not None and got.created_at.tzinfo is not None


def test_get_unknown_is_none(backend: Backend) -> None:
    assert backend.get("nope") is None


def test_enqueue_existing_id_is_idempotent(backend: Backend) -> None:
    [first] = backend.enqueue([make(id="same", args={"n": 1})])
    [second] = backend.enqueue([make(id="same", args={"n": 2})])
    assert second.args == {"n": 1} and second.created_at == first.created_at
    assert len(backend.list_jobs(JobFilter())) == 1


def test_bulk_enqueue_with_existing_and_repeated_ids_keeps_the_first_record(backend: Backend) -> None:
    """A batch among whose ids some exist already, and one comes twice: each known id gives back
    its stored job unchanged, the new ones are stored once, in the batch's order."""
    [kept] = backend.enqueue([make(id="old", args={"n": 0})])
    batch = [make(id="a", args={"n": 1}), make(id="old", args={"n": 2}), make(id="b", args={"n": 3}),
             make(id="a", args={"n": 4}), make(id="c", args={"n": 5})]
    out = backend.enqueue(batch)
    assert [j.id for j in out] == ["a", "old", "b", "a", "c"]
    assert [j.args for j in out] == [{"n": 1}, {"n": 0}, {"n": 3}, {"n": 1}, {"n": 5}]
    assert out[1].created_at == kept.created_at
    assert sorted(j.id for j in backend.list_jobs(JobFilter())) == ["a", "b", "c", "old"]
    assert backend.get("a").args == {"n": 1}
    assert [c.job_id for c in backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE, limit=10)] == \
        ["old", "a", "b", "c"]


def test_bulk_enqueue_stores_every_field_of_every_job(backend: Backend) -> None:
    """A batch of unlike jobs (every optional field set on one, none on another, one delayed):
    each comes back as get() reads it, with its own fields."""
    out = backend.enqueue([
        make(id="full", args={"x": [1, 2.5, "s"]}, priority=7, timeout=2.5, max_attempts=4, result_ttl=None,
             failure_ttl=60, meta={"m": {"n": 1}}, parent_id="p1", depends_on=["d1", "d2"]),
        make(id="bare"),
        make(id="later", delay=3600, priority="low", args={"when": "later"}),
    ])
    assert [j == backend.get(j.id) for j in out] == [True, True, True]
    full, bare, later = out
    assert (full.args, full.priority, full.timeout, full.max_attempts, full.result_ttl, full.failure_ttl, full.meta,
            full.parent_id, full.depends_on) == ({"x": [1, 2.5, "s"]}, 7, 2.5, 4, None, 60, {"m": {"n": 1}}, "p1",
                                                 ("d1", "d2"))
    assert (bare.status, bare.timeout, bare.parent_id, bare.depends_on, bare.args) == (S.QUEUED, None, None, (), {})
    assert later.status is S.SCHEDULED and later.run_at is not None and later.args == {"when": "later"}


def test_claim_takes_highest_priority_then_oldest(backend: Backend) -> None:
    backend.enqueue([make(id="low", priority="low"), make(id="n1"), make(id="high", priority=9), make(id="n2")])
    order = [claim_one(backend).job_id for _ in range(4)]
    assert order == ["high", "n1", "n2", "low"]
    assert backend.claim(["default"], worker_id="w1", hostname="h", lease=LEASE) == []


def test_claim_batch_respects_limit_and_order(backend: Backend) -> None:
    backend.enqueue([make(id=f"j{i}") for i in range(5)])
    claims = backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE, limit=3)
    assert [c.job_id for c in claims] == ["j0", "j1", "j2"]
    assert len({c.token for c in claims}) == 3


def test_claim_only_from_named_queues(backend: Backend) -> None:
    backend.enqueue([make(id="a", queue="alpha"), make(id="b", queue="beta")])
    assert claim_one(backend, ("beta",)).job_id == "b"
    assert backend.claim(["gamma"], worker_id="w", hostname="h", lease=LEASE) == []


def test_claim_marks_running_counts_attempt_and_records_worker(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend, worker="worker-7")
    job = backend.get("a")
    assert job.status is S.RUNNING and job.attempts == 1
    assert job.worker_id == "worker-7" and job.hostname == "host-a" and job.started_at is not None
    assert claim.expires_at > backend.now()


def test_claimed_jobs_are_their_records_as_stored(backend: Backend) -> None:
    """What a claim hands the worker is the record get() reads after it, field for field, for
    every job of a batch: a store may lay the claim's own changes over the rows it picked instead
    of reading them back.  One job comes back from a failed attempt with progress and a message."""
    backend.enqueue([make(id="again", args={"n": 1}, meta={"m": 1}, timeout=3.5, priority=8)])
    first = claim_one(backend)
    backend.progress(first, 40.0, "part way")
    backend.fail(first, jobs.JobError(type="Flaky", message="once"), retry_in=0.01)
    time.sleep(0.05)
    backend.promote_due()
    backend.enqueue([make(id="plain"), make(id="full", args={"x": [1, 2.5]}, queue="default", priority=2,
                          max_attempts=5, result_ttl=None, parent_id="p", depends_on=["d"])])
    claims = backend.claim(["default"], worker_id="w-batch", hostname="h-batch", lease=LEASE, limit=10)
    assert [c.job_id for c in claims] == ["again", "plain", "full"]
    for claim in claims:
        assert claim.job == backend.get(claim.job_id), claim.job_id
        assert claim.job.status is S.RUNNING and claim.job.worker_id == "w-batch" and claim.job.progress == 0
    assert claims[0].job.attempts == 2 and claims[0].job.status_message is None and claims[0].job.error is not None


def test_concurrent_claims_never_hand_out_a_job_twice(backend: Backend) -> None:
    backend.enqueue([make(id=f"j{i:03d}") for i in range(200)])
    seen: list[str] = []
    lock = threading.Lock()

    def grab(worker: str) -> None:
        while True:
            claims = backend.claim(["default"], worker_id=worker, hostname="h", lease=LEASE, limit=3)
            if not claims:
                return
            with lock:
                seen.extend(c.job_id for c in claims)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 200 and len(set(seen)) == 200


def test_paused_queue_hands_out_nothing_until_resumed(backend: Backend) -> None:
    backend.enqueue([make(id="a", queue="q")])
    backend.set_paused("q", True)
    assert backend.claim(["q"], worker_id="w", hostname="h", lease=LEASE) == []
    assert [s.paused for s in backend.queue_stats() if s.name == "q"] == [True]
    backend.set_paused("q", False)
    assert claim_one(backend, ("q",)).job_id == "a"


def test_renew_extends_a_held_lease(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend, lease=SHORT)
    time.sleep(SHORT / 2)
    [renewed] = backend.renew([claim], LEASE)
    assert renewed is not None and renewed.expires_at > claim.expires_at
    time.sleep(SHORT)
    assert backend.reap_expired() == 0
    assert backend.get("a").status is S.RUNNING


def test_renewing_many_claims_at_once_extends_only_the_held_ones(backend: Backend) -> None:
    """A worker renews all it holds in one call (hundreds while jobs are lined up): each held
    claim comes back with a later expiry, in order; a stale token and a lease that ran out get
    None, and their records keep what they had."""
    backend.enqueue([make(id=f"r{i}") for i in range(4)])
    short = backend.claim(["default"], worker_id="w", hostname="h", lease=SHORT, limit=1)
    held = backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE, limit=3)
    stale = jobs.Claim(job=held[1].job, token="not-the-token", expires_at=held[1].expires_at)
    time.sleep(SHORT + 0.1)
    renewed = backend.renew([held[0], stale, short[0], held[2], held[1]], 2 * LEASE)
    assert [r is not None for r in renewed] == [True, False, False, True, True]
    for got, was in zip((renewed[0], renewed[3], renewed[4]), (held[0], held[2], held[1]), strict=True):
        assert got.job_id == was.job_id and got.token == was.token and got.expires_at > was.expires_at
    assert backend.lost(held) == set() and backend.lost(short) == {short[0].job_id}
    assert backend.reap_expired() == 1 and backend.get(short[0].job_id).status is S.QUEUED


def test_progress_is_recorded_under_a_held_claim(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend)
    backend.progress(claim, 42.5, "halfway")
    job = backend.get("a")
    assert (job.progress, job.status_message) == (42.5, "halfway")


def test_complete_records_result_and_refuses_a_second_completion(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend)
    done = backend.complete(claim, {"total_return": 0.15, "trades": [1, 2]})
    assert done.status is S.COMPLETED and done.result == {"total_return": 0.15, "trades": [1, 2]}
    assert done.progress == 100 and done.finished_at is not None
    with pytest.raises(errors.StaleClaim):
        backend.complete(claim, "again")
    assert backend.get("a").result == {"total_return": 0.15, "trades": [1, 2]}


def test_fail_with_retry_schedules_then_promotes(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend)
    err = jobs.JobError(type="ValueError", message="bad", traceback="Traceback ...")
    job = backend.fail(claim, err, retry_in=0.3)
    assert job.status is S.SCHEDULED and job.error == err and job.run_at > backend.now()
    assert backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE) == []
    assert backend.promote_due() == 0
    time.sleep(0.35)
    assert backend.promote_due() == 1
    again = claim_one(backend)
    assert again.job.attempts == 2 and again.token != claim.token


def test_final_failure_keeps_type_message_and_traceback(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    err = jobs.JobError(type="ZeroDivisionError", message="division by zero", traceback="Traceback (most recent call last): ...")
    job = backend.fail(claim_one(backend), err)
    assert job.status is S.FAILED and backend.get("a").error == err and job.finished_at is not None


def test_expired_lease_requeues_and_fences_the_old_claim(backend: Backend) -> None:
    backend.enqueue([make(id="a", max_attempts=3)])
    old = claim_one(backend, lease=SHORT, worker="lost-worker")
    time.sleep(SHORT + 0.1)
    with pytest.raises(errors.StaleClaim):
        backend.progress(old, 50, "late")  # expired, even before anyone reaped it
    assert backend.reap_expired() == 1
    assert backend.get("a").status is S.QUEUED
    new = claim_one(backend, worker="new-worker")
    assert new.job.attempts == 2
    for late in (lambda: backend.complete(old, "stale"), lambda: backend.fail(old, jobs.JobError(type="X", message="x"))):
        with pytest.raises(errors.StaleClaim):
            late()
    assert backend.renew([old], LEASE) == [None]
    assert backend.lost([old]) == {"a"} and backend.lost([new]) == set()
    backend.complete(new, "fresh")
    assert backend.get("a").result == "fresh"


def test_a_batch_of_completions_whose_leases_ran_out_is_refused(backend: Backend) -> None:
    """Leases run out, not yet reaped, tokens still on the records: a batch of only those
    outcomes is refused whole, and beside a live claim only the live one is taken."""
    backend.enqueue([make(id=f"e{i}") for i in range(3)])
    gone = backend.claim(["default"], worker_id="w", hostname="h", lease=SHORT, limit=2)
    [live] = backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE)
    time.sleep(SHORT + 0.1)
    assert backend.acknowledge([Outcome(claim=c, result="late") for c in gone]) == [False, False]
    assert [backend.get(c.job_id).status for c in gone] == [S.RUNNING, S.RUNNING]
    assert backend.report([Outcome(claim=gone[0], result="late"), Outcome(claim=live, result="ok")])[0] is None
    assert backend.acknowledge([Outcome(claim=gone[1], result="late"), Outcome(claim=live, result="again")]) == [False, False]
    assert backend.get(live.job_id).result == "ok" and backend.get(gone[0].job_id).result is None


def test_expired_lease_with_no_attempts_left_fails_as_worker_lost(backend: Backend) -> None:
    backend.enqueue([make(id="a", max_attempts=1)])
    claim_one(backend, lease=SHORT)
    time.sleep(SHORT + 0.1)
    assert backend.reap_expired() == 1
    job = backend.get("a")
    assert job.status is S.FAILED and job.error.type == "WorkerLost" and "lease" in job.error.message


def test_cancel_queued_and_scheduled_jobs(backend: Backend) -> None:
    backend.enqueue([make(id="q"), make(id="s", delay=60)])
    assert backend.get("s").status is S.SCHEDULED
    for job_id in ("q", "s"):
        job = backend.cancel(job_id)
        assert job.status is S.CANCELLED and job.finished_at is not None
    assert backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE) == []


def test_cancel_running_job_makes_its_claim_stale(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend)
    assert backend.lost([claim]) == set()
    assert backend.cancel("a").status is S.CANCELLED
    assert backend.lost([claim]) == {"a"}
    with pytest.raises(errors.StaleClaim):
        backend.complete(claim, "too late")
    assert backend.get("a").status is S.CANCELLED


def test_cancel_errors(backend: Backend) -> None:
    with pytest.raises(errors.JobNotFound):
        backend.cancel("missing")
    backend.enqueue([make(id="a")])
    backend.complete(claim_one(backend), None)
    with pytest.raises(errors.InvalidTransition):
        backend.cancel("a")


def test_retry_reruns_failed_or_cancelled_jobs_only(backend: Backend) -> None:
    backend.enqueue([make(id="f"), make(id="c"), make(id="done")])
    backend.fail(claim_one(backend), jobs.JobError(type="E", message="m"))
    backend.cancel("c")
    backend.complete(claim_one(backend), 1)
    for job_id in ("f", "c"):
        job = backend.retry(job_id)
        assert job.status is S.QUEUED and job.attempts == 0 and job.error is None and job.finished_at is None
    with pytest.raises(errors.InvalidTransition):
        backend.retry("done")
    with pytest.raises(errors.JobNotFound):
        backend.retry("missing")
    assert {claim_one(backend).job_id, claim_one(backend).job_id} == {"f", "c"}


def test_delayed_job_waits_for_its_time(backend: Backend) -> None:
    backend.enqueue([make(id="later", delay=0.3), make(id="at", run_at=(backend.now() + timedelta(seconds=0.3)).isoformat())])
    assert {backend.get(i).status for i in ("later", "at")} == {S.SCHEDULED}
    backend.promote_due()
    assert backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE) == []
    time.sleep(0.35)
    assert backend.promote_due() == 2
    assert {claim_one(backend).job_id, claim_one(backend).job_id} == {"later", "at"}


def test_release_hands_back_without_counting_the_attempt(backend: Backend) -> None:
    backend.enqueue([make(id="a")])
    claim = claim_one(backend)
    backend.release(claim)
    job = backend.get("a")
    assert job.status is S.QUEUED and job.attempts == 0
    assert claim_one(backend).job.attempts == 1


def test_report_batches_outcomes_and_skips_stale_claims(backend: Backend) -> None:
    backend.enqueue([make(id=f"j{i}") for i in range(3)])
    c0, c1, c2 = backend.claim(["default"], worker_id="w", hostname="h", lease=LEASE, limit=3)
    backend.cancel(c2.job_id)
    out = backend.report(
        [
            Outcome(claim=c0, result={"ok": True}),
            Outcome(claim=c1, error=jobs.JobError(type="E", message="m"), retry_in=None),
            Outcome(claim=c2, result="stale"),
        ]
    )
    assert [o.status if o else None for o in out] == [S.COMPLETED, S.FAILED, None]
    assert backend.get("j2").status is S.CANCELLED


def test_prune_deletes_only_expired_finished_jobs(backend: Backend) -> None:
    backend.enqueue([make(id="short", result_ttl=0), make(id="keep", result_ttl=None), make(id="fail", failure_ttl=0)])
    backend.complete(claim_one(backend), 1)
    backend.complete(claim_one(backend), 2)
    backend.fail(claim_one(backend), jobs.JobError(type="E", message="m"))
    time.sleep(0.05)
    assert backend.prune() == 2
    assert backend.get("short") is None and backend.get("fail") is None and backend.get("keep").result == 2


def test_purge_removes_finished_jobs_but_never_running_ones(backend: Backend) -> None:
    backend.enqueue([make(id="done"), make(id="run"), make(id="wait", queue="other")])
    backend.complete(claim_one(backend), 1)
    claim_one(backend)
    assert backend.purge() == 1
    assert backend.purge(statuses=[S.RUNNING, S.QUEUED], queue="other") == 1
    assert backend.get("run").status is S.RUNNING and backend.get("done") is None and backend.get("wait") is None


def test_list_jobs_filters_and_paginates_newest_first(backend: Backend) -> None:
    for i in range(7):
        backend.enqueue([make(id=f"j{i}", queue="a" if i % 2 else "b", task="quantq.noop" if i < 3 else "quantq.echo")])
        time.sleep(0.002)
    assert [j.id for j in backend.list_jobs(JobFilter(limit=3))] == ["j6", "j5", "j4"]
    assert [j.id for j in backend.list_jobs(JobFilter(limit=3, before="j4"))] == ["j3", "j2", "j1"]
    assert [j.id for j in backend.list_jobs(JobFilter(queue="a"))] == ["j5", "j3", "j1"]
    assert [j.id for j in backend.list_jobs(JobFilter(task="quantq.noop"))] == ["j2", "j1", "j0"]
    backend.complete(claim_one(backend, ("b",)), None)
    assert [j.id for j in backend.list_jobs(JobFilter(statuses=(S.COMPLETED,)))] == ["j0"]
    middle = backend.get("j3").created_at
    assert [j.id for j in backend.list_jobs(JobFilter(created_after=middle))] == ["j6", "j5", "j4", "j3"]
    assert [j.id for j in backend.list_jobs(JobFilter(created_before=middle))] == ["j2", "j1", "j0"]


def test_queue_stats_count_every_status_and_the_oldest_waiting(backend: Backend) -> None:
    backend.enqueue([make(id="a"), make(id="b"), make(id="c", delay=60), make(id="x", queue="other")])
    claim_one(backend)
    stats = {s.name: s for s in backend.queue_stats()}
    assert stats["default"].counts == {"scheduled": 1, "queued": 1, "running": 1, "completed": 0, "failed": 0, "cancelled": 0}
    assert stats["other"].counts["queued"] == 1
    assert stats["default"].oldest_queued_at is not None and stats["default"].oldest_queued_at <= backend.now()


def test_worker_registry_lifecycle(backend: Backend) -> None:
    info = WorkerInfo(id="w1", hostname="host-a", pid=123, queues=("default", "research"), concurrency=4)
    backend.register_worker(info)
    backend.heartbeat_worker("w1", current_jobs=["j1", "j2"], processed=10, failed=2)
    [seen] = backend.list_workers()
    assert (seen.id, seen.hostname, seen.pid, seen.queues, seen.concurrency) == ("w1", "host-a", 123, ("default", "research"), 4)
    assert (seen.current_jobs, seen.processed, seen.failed) == (("j1", "j2"), 10, 2)
    assert seen.heartbeat_at is not None and seen.started_at is not None
    assert backend.reap_workers(max_silence=60) == 0
    time.sleep(0.3)
    assert backend.reap_workers(max_silence=0.2) == 1
    assert backend.list_workers() == []
    backend.register_worker(info)
    backend.unregister_worker("w1")
    assert backend.list_workers() == []


def test_wait_for_work_wakes_when_work_arrives(backend: Backend) -> None:
    started = time.monotonic()
    backend.wait_for_work(["default"], 0.2)
    assert time.monotonic() - started >= 0.15  # nothing there: it waited
    timer = threading.Timer(0.2, lambda: backend.enqueue([make(id="wake")]))
    timer.start()
    started = time.monotonic()
    backend.wait_for_work(["default"], 5.0)
    timer.join()
    assert time.monotonic() - started < 2.0


def test_wait_and_claim_takes_work_that_arrives_while_it_waits(backend: Backend) -> None:
    def wait_and_claim(timeout: float) -> list[jobs.Claim]:
        return backend.wait_and_claim(["default"], worker_id="w1", hostname="host-a", lease=LEASE, limit=5, timeout=timeout)

    started = time.monotonic()
    assert wait_and_claim(0.2) == []  # nothing there: it waited, then found nothing
    assert time.monotonic() - started >= 0.15
    timer = threading.Timer(0.2, lambda: backend.enqueue([make(id="late")]))
    timer.start()
    started = time.monotonic()
    claims = wait_and_claim(5.0)
    timer.join()
    assert time.monotonic() - started < 2.0
    assert [c.job_id for c in claims] == ["late"]
    assert backend.get("late").status is S.RUNNING  # a real claim: held, with its lease
    backend.enqueue([make(id="there", priority=7), make(id="also")])
    started = time.monotonic()
    assert [c.job_id for c in wait_and_claim(5.0)] == ["there", "also"]  # work already there: no wait
    assert time.monotonic() - started < 1.5
    assert wait_and_claim(0.05) == []  # and nothing is handed out twice


def test_wait_finished_returns_each_way_a_job_can_end(backend: Backend) -> None:
    assert backend.wait_finished("nope", 0.1) is None
    backend.enqueue([make(id="ok"), make(id="bad", max_attempts=1), make(id="gone")])
    started = time.monotonic()
    assert backend.wait_finished("ok", 0.2).status is S.QUEUED  # not finished: as it stands at the timeout
    assert time.monotonic() - started >= 0.15
    claims = {c.job_id: c for c in backend.claim(["default"], worker_id="w1", hostname="host-a", lease=LEASE, limit=3)}

    def finish() -> None:
        backend.complete(claims["ok"], {"n": 1})
        backend.fail(claims["bad"], jobs.JobError(type="ValueError", message="no"))
        backend.cancel("gone")

    timer = threading.Timer(0.2, finish)
    timer.start()
    started = time.monotonic()
    done = backend.wait_finished("ok", 10.0)
    assert time.monotonic() - started < 2.0
    assert done.status is S.COMPLETED and done.result == {"n": 1}
    timer.join()
    assert backend.wait_finished("bad", 10.0).status is S.FAILED
    assert backend.wait_finished("gone", 10.0).status is S.CANCELLED
    started = time.monotonic()
    assert backend.wait_finished("ok", 10.0).result == {"n": 1}  # finished already: no wait
    assert time.monotonic() - started < 1.0


def test_wait_finished_serves_many_waiters_at_once(backend: Backend) -> None:
    backend.enqueue([make(id=f"j{i}") for i in range(6)])
    claims = backend.claim(["default"], worker_id="w1", hostname="host-a", lease=LEASE, limit=6)
    seen: dict[str, jobs.Job | None] = {}

    def wait(job_id: str) -> None:
        seen[job_id] = backend.wait_finished(job_id, 10.0)

    waiters = [threading.Thread(target=wait, args=(f"j{i}",)) for i in range(6)]
    for t in waiters:
        t.start()
    time.sleep(0.2)
    backend.report([Outcome(claim=c, result=c.job_id) for c in claims])  # one batch finishes them all
    started = time.monotonic()
    for t in waiters:
        t.join(10)
    assert time.monotonic() - started < 2.0
    assert {k: (v.status, v.result) for k, v in seen.items() if v} == {f"j{i}": (S.COMPLETED, f"j{i}") for i in range(6)}


def test_backend_clock_is_timezone_aware_utc(backend: Backend) -> None:
    now = backend.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
