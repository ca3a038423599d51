"""Redis backend beyond the shared contract: URLs, the foreign-producer protocol read and
written with raw Redis commands, live events, wake-ups, multi-queue claims and listing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py

from quantq import builtin_tasks, envelope, errors, jobs, tasks
from quantq.backends import from_url
from quantq.backends._finish_watch import FinishWatch
from quantq.backends.base import JobFilter, Outcome
from quantq.backends.redis import RedisBackend
from quantq.backends.redis_keys import parse_url, url_from_env
from quantq.worker.worker import Worker, WorkerOptions
from tests import backend_factories
from tests.claim_checks import assert_claimed_jobs_are_their_records
from tests.finish_watch_checks import assert_each_ending_wakes_its_waiter

S = jobs.JobStatus


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    yield from backend_factories.redis(tmp_path)


@pytest.fixture
def backend(url: str) -> Iterator[RedisBackend]:
    opened = from_url(url)
    assert isinstance(opened, RedisBackend)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def raw(url: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(url.split("?")[0], decode_responses=True)
    yield client
    client.close()


def make(**fields: Any) -> jobs.Job:
    return envelope.parse_submission({"task": "quantq.echo", **fields})


def run_worker(backend: RedisBackend, queues: tuple[str, ...] = ("default",)) -> tuple[Worker, threading.Thread]:
    worker = Worker(backend, WorkerOptions(queues=queues, concurrency=2, mode="thread", lease=5, status_interval=0, grace=1,
                                           poll_interval=0.5),
               registry=tasks.Registry(builtin_tasks.TASKS))  # the built-ins only: no entry-point imports
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return worker, thread


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


# ---- URLs and the seeds' variables --------------------------------------------------------


def test_url_options_are_parsed_and_removed_from_the_client_url() -> None:
    opts = parse_url("rediss://alice:s%3Acret@cache.example:6380/3?prefix=app1&events=off&ssl_cert_reqs=none")
    assert (opts.prefix, opts.events, opts.tls) == ("app1", "off", True)
    assert opts.client_url == "rediss://alice:s%3Acret@cache.example:6380/3?ssl_cert_reqs=none"


@pytest.mark.parametrize(
    "bad", ["http://x:1", "redis://", "redis://h:1/db1", "redis://h:1/0?prefix=a b", "redis://h:1/0?events=stream"]
)
def test_bad_urls_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(errors.ConfigError):
        parse_url(bad)


def test_seed_variables_build_the_url_and_redis_url_wins() -> None:
    assert url_from_env({}) is None
    env = {"REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_PASSWORD": "p@ss/w"}
    assert url_from_env(env) == "redis://:p%40ss%2Fw@cache:6380/0"
    assert url_from_env({**env, "REDIS_USERNAME": "worker", "REDIS_DB": "2", "REDIS_SSL": "true"}) == "rediss://worker:p%40ss%2Fw@cache:6380/2"
    assert url_from_env({**env, "REDIS_URL": "redis://other:6379/1"}) == "redis://other:6379/1"
    with pytest.raises(errors.ConfigError):
        url_from_env({"REDIS_PORT": "sixty"})


def test_password_and_acl_user_in_the_url_authenticate(raw: redis_py.Redis, url: str) -> None:
    user = f"qq-acl-{time.time_ns()}"
    raw.acl_setuser(user, enabled=True, passwords=["+pw-123"], keys=["*"], channels=["*"], commands=["+@all"])
    try:
        host = url.split("://", 1)[1].split("?")[0]
        good = RedisBackend(f"redis://{user}:pw-123@{host}?{url.split('?')[1]}")
        good.ping()
        [stored] = good.enqueue([make(id="acl-job")])
        assert stored.status is S.QUEUED
        good.close()
        bad = RedisBackend(f"redis://{user}:wrong@{host}?{url.split('?')[1]}")
        with pytest.raises(errors.BackendError):
            bad.ping()
        bad.close()
    finally:
        raw.acl_deluser(user)


def test_unreachable_redis_is_a_backend_unavailable_error() -> None:
    backend = RedisBackend("redis://127.0.0.1:1/0")
    with pytest.raises(errors.BackendUnavailable):
        backend.ping()
    backend.close()


# ---- key layout -------------------------------------------------------------------------


def test_every_key_of_a_queue_shares_its_hash_slot(backend: RedisBackend, raw: redis_py.Redis) -> None:
    backend.enqueue([make(id="a", queue="research"), make(id="b", queue="research", delay=60)])
    [claim] = backend.claim(["research"], worker_id="w", hostname="h", lease=30)
    backend.complete(claim, {"ok": 1})
    keys = [k for k in raw.scan_iter(match=f"{backend.keys.prefix}:{{research}}:*")]
    assert len(keys) >= 5
    assert {_slot(k) for k in keys} == {"research"}  # the hash tag: one slot on a cluster


def _slot(key: str) -> str:
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start >= 0 and end > start + 1 else key


def test_result_ttl_is_a_key_expiry(backend: RedisBackend, raw: redis_py.Redis) -> None:
    backend.enqueue([make(id="ttl", result_ttl=120), make(id="keep", result_ttl=None)])
    for claim in backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=2):
        backend.complete(claim, 1)
    assert 100 < raw.ttl(backend.keys.job("default", "ttl")) <= 120
    assert raw.ttl(backend.keys.job("default", "keep")) == -1


# ---- the foreign-producer protocol, with raw commands only --------------------------------


def test_a_foreign_producer_lpushes_an_envelope_and_reads_the_result_hash(backend: RedisBackend, raw: redis_py.Redis) -> None:
    inbox = f"{backend.keys.prefix}:{{default}}:inbox"
    worker, thread = run_worker(backend)
    try:
        raw.lpush(inbox, json.dumps({"id": "go-1", "task": "quantq.echo", "args": {"symbol": "MSFT"}, "priority": "high"}))
        key = f"{backend.keys.prefix}:{{default}}:job:go-1"
        wait_until(lambda: raw.hget(key, "status") == "completed")
        record = raw.hgetall(key)
        assert json.loads(record["result"]) == {"symbol": "MSFT"}
        assert (record["task"], record["priority"], record["attempts"]) == ("quantq.echo", "8", "1")
        assert float(record["finished_at"]) >= float(record["created_at"])
        assert raw.llen(inbox) == 0
    finally:
        worker.stop()
        thread.join(10)


def test_bad_inbox_items_are_dead_lettered_with_a_reason_and_the_rest_run(backend: RedisBackend, raw: redis_py.Redis) -> None:
    inbox = f"{backend.keys.prefix}:{{default}}:inbox"
    raw.lpush(inbox, "{not json", json.dumps({"id": "bad-1", "task": "quantq.echo", "priority": 42}),
              json.dumps({"id": "elsewhere", "task": "quantq.echo", "queue": "other"}), json.dumps({"id": "ok-1", "task": "quantq.echo"}))
    claims = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=10)
    assert [c.job_id for c in claims] == ["ok-1"]
    dead = backend.dead_letters("default")
    assert len(dead) == 3 and {d["raw"] for d in dead} >= {"{not json"}
    reasons = " | ".join(d["reason"] for d in dead)
    assert "not valid JSON" in reasons and "'priority'" in reasons and "inbox of 'other'" in reasons
    bad = raw.hgetall(f"{backend.keys.prefix}:{{default}}:job:bad-1")
    assert bad["status"] == "failed" and json.loads(bad["error"])["type"] == "EnvelopeError"
    assert backend.get("bad-1").status is S.FAILED
    assert raw.llen(inbox) == 0


def test_an_idle_worker_wakes_on_a_raw_lpush_without_polling(backend: RedisBackend, raw: redis_py.Redis) -> None:
    inbox = f"{backend.keys.prefix}:{{default}}:inbox"
    assert backend.claim(["default"], worker_id="w", hostname="h", lease=30) == []
    timer = threading.Timer(0.3, lambda: raw.lpush(inbox, json.dumps({"id": "wake-me", "task": "quantq.noop"})))
    timer.start()
    started = time.monotonic()
    backend.wait_for_work(["default"], 4.0)
    waited = time.monotonic() - started
    timer.join()
    assert 0.25 <= waited < 1.5
    assert [c.job_id for c in backend.claim(["default"], worker_id="w", hostname="h", lease=30)] == ["wake-me"]
    started = time.monotonic()
    backend.wait_for_work(["default"], 0.4)  # the wake token is spent: it waits again
    assert time.monotonic() - started >= 0.35


def test_multi_queue_wait_and_claim_follow_priority_across_queues(backend: RedisBackend) -> None:
    started = time.monotonic()
    backend.wait_for_work(["a", "b"], 0.3)
    assert time.monotonic() - started >= 0.25
    timer = threading.Timer(0.2, lambda: backend.enqueue([make(id="b-low", queue="b", priority=1), make(id="b-top", queue="b", priority=9)]))
    timer.start()
    started = time.monotonic()
    backend.wait_for_work(["a", "b"], 4.0)
    timer.join()
    assert time.monotonic() - started < 1.5
    backend.enqueue([make(id="a-mid", queue="a", priority=5)])
    claims = backend.claim(["a", "b"], worker_id="w", hostname="h", lease=30, limit=2)
    assert [c.job_id for c in claims] == ["b-top", "a-mid"]


def test_wait_and_claim_on_one_queue_is_one_round_trip(backend: RedisBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    # the blocking wait and the claim go in one pipeline: Redis runs the claim when the wait ends
    monkeypatch.setattr(backend, "wait_for_work", lambda *a, **k: pytest.fail("waited in a call of its own"))
    timer = threading.Timer(0.3, lambda: backend.enqueue([make(id="piped")]))
    timer.start()
    started = time.monotonic()
    claims = backend.wait_and_claim(["default"], worker_id="w", hostname="h", lease=30, limit=3, timeout=4.0)
    waited = time.monotonic() - started
    timer.join()
    assert 0.25 <= waited < 1.5
    assert [c.job_id for c in claims] == ["piped"]
    assert backend.get("piped").status is S.RUNNING


def test_wait_and_claim_ends_when_a_scheduled_job_falls_due(backend: RedisBackend) -> None:
    backend.enqueue([make(id="soon", delay=0.5)])
    assert backend.claim(["default"], worker_id="w", hostname="h", lease=30) == []  # (learns when it is due)
    started = time.monotonic()
    claims = backend.wait_and_claim(["default"], worker_id="w", hostname="h", lease=30, timeout=4.0)
    assert 0.3 <= time.monotonic() - started < 1.2
    assert [c.job_id for c in claims] == ["soon"]


def test_a_raw_batch_raises_its_first_error_and_keeps_the_connection_in_step(backend: RedisBackend, raw: redis_py.Redis) -> None:
    key = f"{backend.keys.prefix}:scratch"
    raw.set(key, "not a number")
    pipe = backend._pipe()
    pipe.command("INCR", key)
    pipe.command("GET", key)
    with pytest.raises(redis_py.ResponseError):
        pipe.execute()
    pipe = backend._pipe()
    pipe.command("ECHO", "next")
    assert pipe.execute() == ["next"]  # not a reply left over from the failed batch


def test_raw_batches_are_packed_by_hiredis_as_redis_py_packs_them(backend: RedisBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """One write of hiredis's packing, byte for byte redis-py's; an argument of no type Redis
    takes is redis-py's DataError, before anything is sent, and the connection stays usable."""
    from quantq.backends import redis as redis_backend

    assert redis_backend.pack_command is not None  # the redis extra brings hiredis
    commands = [("ECHO", "é ünïcode"), ("ECHO", 1.25), ("ECHO", -7), ("ECHO", b"\x00raw")]
    pool, conn = backend._take_connection()
    try:
        packed = redis_backend._pack(conn, commands)
        assert packed == [b"".join(conn.pack_commands(commands))]
        monkeypatch.setattr(conn, "pack_commands", lambda _commands: pytest.fail("redis-py packed what hiredis can"))
        redis_backend._pack(conn, commands)
    finally:
        monkeypatch.undo()
        backend._give_back(pool, conn, True)
    pipe = backend._pipe()
    for command in commands:
        pipe.command(*command)
    assert pipe.execute() == ["é ünïcode", "1.25", "-7", "\x00raw"]
    pipe = backend._pipe()
    pipe.command("ECHO", True)
    with pytest.raises(redis_py.DataError, match="must be str, int, float or bytes"):
        pipe.execute()
    pipe = backend._pipe()
    pipe.command("ECHO", "after")
    assert pipe.execute() == ["after"]


def test_round_trips_keep_their_connection_and_start_afresh_when_one_is_left_out_of_step(backend: RedisBackend) -> None:
    """Raw round trips reuse a connection the backend keeps (not the pool's checkout each
    time); one interrupted while replies were still unread is disconnected, not reused so."""
    pipe = backend._pipe()
    pipe.command("ECHO", "warm")
    assert pipe.execute() == ["warm"]
    pool, kept = backend._take_connection()
    backend._give_back(pool, kept, True)
    pipe = backend._pipe()
    pipe.command("ECHO", "same")
    assert pipe.execute() == ["same"]
    assert backend._take_connection()[1] is kept  # the one it kept, not a checkout from the pool
    backend._give_back(pool, kept, True)

    real_read = kept.read_response
    calls = {"n": 0}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("interrupted before the replies were read")
        return real_read(*args, **kwargs)

    kept.read_response = interrupted
    pipe = backend._pipe()
    pipe.command("ECHO", "stale 1")
    pipe.command("ECHO", "stale 2")
    with pytest.raises(RuntimeError, match="interrupted"):
        pipe.execute()
    for word in ("fresh", "again"):
        pipe = backend._pipe()
        pipe.command("ECHO", word)
        assert pipe.execute() == [word]  # its own reply, not one the interrupted batch left


def test_scripts_are_loaded_again_when_redis_has_lost_them(backend: RedisBackend, raw: redis_py.Redis) -> None:
    backend.enqueue([make(id="before")])
    raw.script_flush()  # as after a restart
    backend.enqueue([make(id="after")])
    raw.script_flush()
    claims = backend.wait_and_claim(["default"], worker_id="w", hostname="h", lease=30, limit=5, timeout=1.0)
    assert [c.job_id for c in claims] == ["before", "after"]


def test_wait_returns_when_a_scheduled_job_falls_due(backend: RedisBackend) -> None:
    backend.enqueue([make(id="soon", delay=0.5)])
    assert backend.claim(["default"], worker_id="w", hostname="h", lease=30) == []
    started = time.monotonic()
    backend.wait_for_work(["default"], 4.0)
    assert 0.3 <= time.monotonic() - started < 1.2
    assert [c.job_id for c in backend.claim(["default"], worker_id="w", hostname="h", lease=30)] == ["soon"]


# ---- live events ------------------------------------------------------------------------


def test_live_events_cover_a_jobs_life(backend: RedisBackend) -> None:
    seen: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        ready.set()
        for event in backend.subscribe_events(timeout=1.5):
            seen.append(event)

    listener = threading.Thread(target=listen)
    listener.start()
    ready.wait()
    time.sleep(0.2)
    backend.enqueue([make(id="e1"), make(id="e2"), make(id="e3", task="quantq.fail")])
    c1, c2, c3 = backend.claim(["default"], worker_id="w9", hostname="h", lease=30, limit=3)
    backend.progress(c1, 50.0, "half")
    backend.complete(c1, {"x": 1})
    backend.fail(c3, jobs.JobError(type="E", message="boom"))
    backend.cancel("e2")
    listener.join()
    kinds = [(e["event"], e["id"]) for e in seen]
    assert kinds[:3] == [("enqueued", "e1"), ("enqueued", "e2"), ("enqueued", "e3")]
    for expected in [("started", "e1"), ("progress", "e1"), ("completed", "e1"), ("failed", "e3"), ("cancelled", "e2")]:
        assert expected in kinds
    progress = next(e for e in seen if e["event"] == "progress")
    assert (progress["progress"], progress["message"], progress["queue"]) == (50.0, "half", "default")
    assert next(e for e in seen if e["event"] == "failed")["error"]["message"] == "boom"
    assert next(e for e in seen if e["event"] == "started")["worker"] == "w9"


def events_of(backend: RedisBackend, raw: redis_py.Redis, act: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """What ``act()`` publishes: the messages on the wire (each a list of events) and the
    events subscribe_events hands out for them."""
    wire = raw.pubsub(ignore_subscribe_messages=True)
    wire.subscribe(backend.keys.events)
    seen: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        ready.set()
        seen.extend(backend.subscribe_events(timeout=1.0))

    listener = threading.Thread(target=listen)
    listener.start()
    ready.wait()
    time.sleep(0.2)
    act()
    listener.join()
    messages = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # (None also stands for the skipped subscribe confirmation)
        if (message := wire.get_message(timeout=0.1)) is not None:
            messages.append(json.loads(message["data"]))
    wire.close()
    return messages, seen


def test_a_group_enqueued_together_is_one_event_on_the_wire_and_one_per_job_in_python(
        backend: RedisBackend, raw: redis_py.Redis) -> None:
    """On the channel, jobs enqueued together that share a template are one `enqueued` event
    with `ids`; a lone job keeps `id`; an id that existed gets none.  subscribe_events hands
    out one complete event per job, in the order sent."""
    backend.enqueue([make(id="old")])
    later = time.time() + 3600
    messages, seen = events_of(backend, raw, lambda: backend.enqueue([
        make(id="b1"), make(id="old"), make(id="b2", run_at=later), make(id="b3"), make(id="lone", task="quantq.fail")]))
    assert len(messages) == 1  # one call, one message
    (queued, scheduled, lone) = messages[0]
    assert (queued["ids"], queued["status"], queued["task"]) == (["b1", "b3"], "queued", "quantq.echo")
    assert "id" not in queued
    assert (scheduled.get("id"), scheduled["status"]) == ("b2", "scheduled")
    assert (lone.get("id"), lone["task"], "ids" in lone) == ("lone", "quantq.fail", False)
    assert [(e["event"], e["id"], e["status"]) for e in seen] == [
        ("enqueued", "b1", "queued"), ("enqueued", "b3", "queued"), ("enqueued", "b2", "scheduled"),
        ("enqueued", "lone", "queued")]
    assert all(e["queue"] == "default" and "ids" not in e and e["at"] == seen[0]["at"] for e in seen)


def test_a_batch_claim_and_report_are_one_event_per_task_on_the_wire_and_one_per_job_in_python(
        backend: RedisBackend, raw: redis_py.Redis) -> None:
    """`started` and `completed` of the jobs of one task in one claim or report share one event
    with `ids`; other tasks' jobs, failures and retries keep their own; subscribe_events hands
    out one event per job."""
    backend.enqueue([make(id="a1"), make(id="a2"), make(id="b1", task="quantq.fail"), make(id="a3"), make(id="a4")])
    error = jobs.JobError(type="E", message="no")

    def claim_and_report() -> None:
        claims = {c.job_id: c for c in backend.claim(["default"], worker_id="w7", hostname="h", lease=30, limit=5)}
        backend.report([Outcome(claim=claims["a1"], result=1), Outcome(claim=claims["b1"], error=error),
                        Outcome(claim=claims["a2"], result=2), Outcome(claim=claims["a3"], error=error, retry_in=60),
                        Outcome(claim=claims["a4"], result=4)])

    messages, seen = events_of(backend, raw, claim_and_report)
    assert len(messages) == 2  # one per call
    started_a, started_b = messages[0]
    assert (started_a["event"], started_a["ids"], started_a["worker"], "id" in started_a) == ("started", ["a1", "a2", "a3", "a4"], "w7", False)
    assert (started_b["event"], started_b["id"], started_b["task"]) == ("started", "b1", "quantq.fail")
    assert [(e["event"], e.get("id"), e.get("ids")) for e in messages[1]] == [
        ("completed", None, ["a1", "a2", "a4"]), ("failed", "b1", None), ("retrying", "a3", None)]
    assert [(e["event"], e["id"]) for e in seen] == [
        ("started", "a1"), ("started", "a2"), ("started", "a3"), ("started", "a4"), ("started", "b1"),
        ("completed", "a1"), ("completed", "a2"), ("completed", "a4"), ("failed", "b1"), ("retrying", "a3")]
    assert all("ids" not in e and e["queue"] == "default" for e in seen)
    assert {e["worker"] for e in seen if e["event"] == "started"} == {"w7"}


def test_index_writes_kept_to_a_scripts_end_leave_what_one_write_each_would(
        backend: RedisBackend, raw: redis_py.Redis) -> None:
    """A claim that promotes a due job and claims it in the same script, and a report mixing
    completion, failure and retry, leave every index as one write per change would."""
    backend.enqueue([make(id="soon", run_at=time.time() + 0.3), make(id="now")])
    time.sleep(0.5)
    claims = {c.job_id: c for c in backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=5)}
    assert set(claims) == {"soon", "now"}
    k = backend.keys
    members = {status: set(raw.zrange(k.status("default", status), 0, -1)) for status in ("scheduled", "queued", "running")}
    assert members == {"scheduled": set(), "queued": set(), "running": {"soon", "now"}}
    assert set(raw.zrange(k.base("default") + "run", 0, -1)) == {"soon", "now"}
    assert raw.zcard(k.base("default") + "sched") == 0
    backend.enqueue([make(id="bad", max_attempts=1), make(id="again", max_attempts=3)])
    claims.update({c.job_id: c for c in backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=5)})
    error = jobs.JobError(type="E", message="no")
    backend.report([Outcome(claim=claims["now"], result=1), Outcome(claim=claims["bad"], error=error),
                    Outcome(claim=claims["again"], error=error, retry_in=60), Outcome(claim=claims["soon"], result=2)])

    def index(name: str) -> set[str]:
        return set(raw.zrange(k.base("default") + name, 0, -1))
    assert index("st:running") == set() and index("run") == set()
    assert (index("st:completed"), index("st:failed"), index("st:scheduled")) == ({"now", "soon"}, {"bad"}, {"again"})
    assert index("sched") == {"again"} and index("ready") == set()
    assert {m.split("\n")[0] for m in index("exp")} == {"now", "soon", "bad"}
    counts = {s.name: s.counts for s in backend.queue_stats()}["default"]
    assert [counts[s] for s in ("completed", "failed", "scheduled", "running", "queued")] == [2, 1, 1, 0, 0]


def test_events_off_publishes_nothing(url: str) -> None:
    quiet = RedisBackend(url + "&events=off")
    with pytest.raises(errors.ConfigError):
        next(iter(quiet.subscribe_events(timeout=0.1)))
    quiet.close()


def test_waiters_are_told_by_the_events_that_end_jobs(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With their fallback look an hour away, a waiter still wakes at once when another client
    completes, fails or cancels its job; a stray message on the channel changes nothing."""
    waiter, worker = RedisBackend(url), RedisBackend(url)
    try:
        worker.enqueue([make(id="ok"), make(id="bad", max_attempts=1), make(id="gone"), make(id="p1"), make(id="p2")])
        claims = {c.job_id: c for c in worker.claim(["default"], worker_id="w", hostname="h", lease=30, limit=2)}
        pair = worker.claim(["default"], worker_id="w", hostname="h", lease=30, limit=3)[1:]
        endings = {
            "ok": lambda: worker.complete(claims["ok"], {"n": 1}),
            # reported together: one `completed` event whose `ids` name the job second
            "p2": lambda: worker.report([Outcome(claim=c, result=c.job_id) for c in pair]),
            "bad": lambda: worker.fail(claims["bad"], jobs.JobError(type="E", message="no")),
            "gone": lambda: (worker.client.publish(worker.keys.events, "not json"), worker.cancel("gone")),
        }
        assert_each_ending_wakes_its_waiter(waiter, endings, monkeypatch)
        assert waiter.wait_finished("ok", 0).result == {"n": 1}
    finally:
        waiter.close()
        worker.close()


def test_the_finish_watch_lets_go_of_its_subscription_when_nobody_waits(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscription hears every event of the system: kept only while someone waits (IDLE),
    and opened again, still telling waiters at once, for the next one."""
    monkeypatch.setattr(FinishWatch, "IDLE", 0.3)
    monkeypatch.setattr(FinishWatch, "RECHECK", 3600.0)
    backend = RedisBackend(url)
    try:
        for n in range(2):
            backend.enqueue([make(id=f"r{n}")])
            [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
            timer = threading.Timer(0.2, backend.complete, (claim, n))
            timer.start()
            started = time.monotonic()
            assert backend.wait_finished(f"r{n}", 60.0).result == n
            timer.join()
            assert time.monotonic() - started < 5.0
            assert backend.client.pubsub_numsub(backend.keys.events) == [(backend.keys.events, 1)]
            deadline = time.monotonic() + 10
            while backend.client.pubsub_numsub(backend.keys.events) != [(backend.keys.events, 0)]:
                assert time.monotonic() < deadline, "the idle subscription was kept"
                time.sleep(0.05)
    finally:
        backend.close()


def test_with_events_off_waiters_look_again_and_again(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FinishWatch, "RECHECK", 3600.0)  # (not used: no events to be told by)
    quiet = RedisBackend(url + "&events=off")
    try:
        quiet.enqueue([make(id="q")])
        [claim] = quiet.claim(["default"], worker_id="w", hostname="h", lease=30)
        timer = threading.Timer(0.2, lambda: quiet.complete(claim, "done"))
        timer.start()
        started = time.monotonic()
        assert quiet.wait_finished("q", 30.0).result == "done"
        timer.join()
        assert time.monotonic() - started < 2.0
    finally:
        quiet.close()


# ---- listing and counts -----------------------------------------------------------------


def test_listing_merges_queues_and_filters_task_with_status(backend: RedisBackend) -> None:
    for i in range(12):
        backend.enqueue([make(id=f"j{i:02d}", queue="qa" if i % 2 else "qb", task="t.even" if i % 3 == 0 else "t.odd")])
        time.sleep(0.001)
    for claim in backend.claim(["qa"], worker_id="w", hostname="h", lease=30, limit=3):
        backend.complete(claim, None)
    newest = backend.list_jobs(JobFilter(limit=4))
    assert [j.id for j in newest] == ["j11", "j10", "j09", "j08"]
    assert [j.id for j in backend.list_jobs(JobFilter(limit=4, before="j08"))] == ["j07", "j06", "j05", "j04"]
    done_even = backend.list_jobs(JobFilter(task="t.even", statuses=(S.COMPLETED,)))
    assert [j.id for j in done_even] == ["j03"]
    assert [j.id for j in backend.list_jobs(JobFilter(queue="qa", statuses=(S.QUEUED,), limit=2))] == ["j11", "j09"]
    stats = {s.name: s.counts for s in backend.queue_stats()}
    assert stats["qa"]["completed"] == 3 and stats["qa"]["queued"] == 3 and stats["qb"]["queued"] == 6


def test_outcomes_survive_an_unreachable_redis_in_the_report_buffer(backend: RedisBackend) -> None:
    backend.enqueue([make(id="buffered")])
    [claim] = backend.claim(["default"], worker_id="w", hostname="h", lease=30)
    real = backend.client
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    backend.client = redis_py.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    try:
        from quantq.backends.base import Outcome

        [provisional] = backend.report([Outcome(claim=claim, result={"late": True})])
        assert provisional.status is S.COMPLETED and backend.pending_outcomes == 1
    finally:
        backend.client = real
    wait_until(lambda: backend.pending_outcomes == 0, timeout=10)
    assert backend.get("buffered").result == {"late": True}


def test_an_id_reused_after_its_result_expired_is_a_clean_new_job(backend: RedisBackend) -> None:
    backend.enqueue([make(id="reuse", result_ttl=1)])
    backend.complete(backend.claim(["default"], worker_id="w", hostname="h", lease=30)[0], "first")
    time.sleep(1.1)
    [again] = backend.enqueue([make(id="reuse", args={"n": 2})])
    assert again.status is S.QUEUED and again.args == {"n": 2}
    assert backend.prune() == 0  # nothing was deleted: the live job under that id stays
    counts = {s.name: s.counts for s in backend.queue_stats()}["default"]
    assert (counts["completed"], counts["queued"]) == (0, 1)
    assert backend.get("reuse").result is None and [j.id for j in backend.list_jobs(JobFilter())] == ["reuse"]


def test_foreign_envelopes_are_taken_in_while_the_queue_is_busy(backend: RedisBackend, raw: redis_py.Redis) -> None:
    backend.enqueue([make(id=f"busy-{i}") for i in range(5)])
    raw.lpush(f"{backend.keys.prefix}:{{default}}:inbox", json.dumps({"id": "foreign-top", "task": "quantq.noop", "priority": 9}))
    first = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=1)
    assert [c.job_id for c in first] == ["busy-0"]  # the batch was full before the inbox was read
    assert backend.get("foreign-top").status is S.QUEUED  # ...but the envelope was taken in at once
    assert [c.job_id for c in backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=1)] == ["foreign-top"]


def test_a_mixed_bulk_enqueue_stores_each_job_as_given_in_one_call_per_queue(backend: RedisBackend, raw: redis_py.Redis) -> None:
    """Jobs that share a template travel as one group; each reply still belongs to its job,
    whatever the groups' order, and an id that exists comes back as stored."""
    existing = backend.enqueue([make(id="known", args={"message": "first"})])[0]
    batch = [make(id="known", args={"message": "again"})]
    for i in range(30):
        batch.append(make(id=f"j{i}", args={"message": f"m{i}"} if i % 3 else {}, priority=i % 3 * 4,
                          meta={"n": i % 2} if i % 5 == 0 else {}, timeout=2.5 if i % 7 == 0 else None,
                          **({"run_at": time.time() + 3600} if i == 11 else {})))
    stored = backend.enqueue(batch)
    assert stored[0] == existing  # an id that existed: the stored job, untouched
    for given, got in zip(batch[1:], stored[1:], strict=True):
        assert (got.id, got.args, got.priority, got.meta, got.timeout) == (given.id, given.args, given.priority, given.meta, given.timeout)
        assert got.status == (S.SCHEDULED if given.id == "j11" else S.QUEUED)
        assert backend.get(given.id) == got  # what enqueue returned is what was recorded
    assert raw.hget(f"{backend.keys.base('default')}job:j1", "args") == '{"message":"m1"}'
    # places in line follow the call's order within a priority, whatever the grouping
    claims = backend.claim(["default"], worker_id="w", hostname="h", lease=30, limit=40)
    taken = [c.job_id for c in claims]
    expected = sorted([existing] + [j for j in batch[1:] if j.id != "j11"], key=lambda j: -j.priority)
    assert [c.job.priority for c in claims] == [j.priority for j in expected]
    for priority in {j.priority for j in expected}:
        assert [t for t in taken if backend.get(t).priority == priority] == [j.id for j in expected if j.priority == priority]


def test_a_claimed_job_is_its_record_as_stored(backend: RedisBackend) -> None:
    """The claim builds its jobs from its reply, not by reading them back."""
    for claim in assert_claimed_jobs_are_their_records(backend):
        assert backend.lost([claim]) == set()


def test_the_claim_reply_is_read_in_the_scripts_field_order() -> None:
    """claim.lua's CLAIMED list and the Python side that names its reply's fields are one list."""
    import re

    from quantq.backends import redis_keys

    source = (Path(redis_keys.__file__).parent / "lua" / "claim.lua").read_text()
    listed = re.search(r"local CLAIMED = \{(.*?)\}", source, re.S)
    assert listed is not None
    assert tuple(re.findall(r"'([a-z_]+)'", listed.group(1))) == redis_keys.CLAIMED_FIELDS


def test_a_reply_handler_that_fails_leaves_the_connection_in_step(backend: RedisBackend) -> None:
    """A pipeline's per-reply handler runs while later replies are still unread; when it
    raises, every reply is read first, so the pooled connection serves the next call right."""
    def boom(reply: Any) -> None:
        raise ValueError(f"cannot use {reply!r}")

    seen: list[Any] = []
    pipe = backend._pipe()
    pipe.command("ECHO", "first", then=boom)
    pipe.command("ECHO", "second", then=seen.append)
    pipe.command("ECHO", "third")
    with pytest.raises(ValueError, match="first"):
        pipe.execute()
    for _ in range(3):  # the same pooled connection, in step: each reply is its own
        pipe = backend._pipe()
        pipe.command("ECHO", "again")
        assert pipe.execute() == ["again"]
    [job] = backend.enqueue([make(id="after")])
    assert backend.get("after") is not None and job.id == "after"
