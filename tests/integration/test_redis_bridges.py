"""Seed 001 and seed 000 bridges end to end: raw Redis commands in, a real worker, the
seeds' keys, status words, result shapes and expiries out.  The seeds' key names are
fixed, so these tests use a Redis database of their own (15 unless QUANTQ_TEST_BRIDGE_DB)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redis_py

from quantq import builtin_tasks, errors, tasks
from quantq.backends.redis import RedisBackend
from quantq.bridges import BRIDGES, Route, open_bridge
from quantq.compat.seed001 import add_backtest_task, add_screening_task, get_task_result
from quantq.worker.worker import Worker, WorkerOptions
from tests.services import service_url

DB = int(os.environ.get("QUANTQ_TEST_BRIDGE_DB", "15"))
SEED_PATTERNS = ("strategy_queue", "task_result:*", "deeper_analysis:*")


@pytest.fixture
def url() -> Iterator[str]:
    base = service_url("redis").split("?")[0].rsplit("/", 1)[0]
    prefix = f"qqbridge-{uuid.uuid4().hex[:10]}"
    client = redis_py.Redis.from_url(f"{base}/{DB}")
    # the seeds' key names are fixed: two test runs at once (two engineers) take turns on the database
    lock = client.lock("quantq-test:bridge-db", timeout=120, blocking_timeout=180)
    assert lock.acquire(), "another test run held the bridge test database too long"
    try:
        yield f"{base}/{DB}?prefix={prefix}"
    finally:
        for pattern in (f"{prefix}:*", *SEED_PATTERNS):
            for key in client.scan_iter(match=pattern, count=1000):
                client.delete(key)
        lock.release()
        client.close()


@pytest.fixture
def raw(url: str) -> Iterator[redis_py.Redis]:
    client = redis_py.Redis.from_url(url.split("?")[0], decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def backend(url: str) -> Iterator[RedisBackend]:
    opened = RedisBackend(url)
    yield opened
    opened.close()


@pytest.fixture
def worker(backend: RedisBackend) -> Iterator[Worker]:
    w = Worker(backend, WorkerOptions(concurrency=2, mode="thread", lease=5, status_interval=0, grace=1, poll_interval=0.5),
               registry=tasks.Registry(builtin_tasks.TASKS))  # the built-ins only: no entry-point imports
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    yield w
    w.stop()
    thread.join(10)


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


def result_of(raw: redis_py.Redis, key: str, status: str) -> dict[str, Any]:
    return wait_for(lambda: (json.loads(v) if (v := raw.get(key)) and json.loads(v)["status"] == status else None))


SEED001_ROUTES = {"backtest": "quantq.echo", "screening": "quantq.fail", "slow": Route(task="quantq.sleep")}


def test_seed001_completed_result_has_the_seeds_shape_and_expiry(backend: RedisBackend, raw: redis_py.Redis, worker: Worker) -> None:
    runner = open_bridge("seed001", backend, routes=SEED001_ROUTES, known_tasks=set(worker.registry.names())).start()
    try:
        task = {"task_id": "bt-123", "task_type": "backtest", "args": {"symbols": ["AAPL", "MSFT"], "start_date": "2024-01-01T00:00:00"}}
        raw.lpush("strategy_queue", json.dumps(task))
        result = result_of(raw, "task_result:bt-123", "completed")
        data = result["data"]
        assert data["symbols"] == ["AAPL", "MSFT"] and data["start_date"] == "2024-01-01T00:00:00"
        assert data["worker_id"] == worker.id and data["completed_at"].endswith("Z")
        assert data["execution_time_ms"] >= 0 and data["execution_time_seconds"] >= 0
        assert result["updated_at"].endswith("Z") and set(result) == {"status", "data", "updated_at"}
        assert 0 < raw.ttl("task_result:bt-123") <= 24 * 3600
        assert raw.llen("strategy_queue") == 0
    finally:
        runner.stop()


def test_seed001_running_then_error_words(backend: RedisBackend, raw: redis_py.Redis, worker: Worker) -> None:
    runner = open_bridge("seed001", backend, routes=SEED001_ROUTES, registry=worker.registry).start()
    try:
        raw.lpush("strategy_queue", json.dumps({"task_id": "slow-1", "task_type": "slow", "args": {"seconds": 1.0}}))
        running = result_of(raw, "task_result:slow-1", "running")
        assert running["data"]["worker_id"] == worker.id
        result_of(raw, "task_result:slow-1", "completed")
        raw.lpush("strategy_queue", json.dumps({"task_id": "sc-9", "task_type": "screening", "args": {"message": "Security validation failed"}}))
        error = result_of(raw, "task_result:sc-9", "error")
        assert "Security validation failed" in error["data"]["error"] and error["data"]["completed_at"].endswith("Z")
    finally:
        runner.stop()


def test_seed001_bad_items_get_error_results_dead_letters_and_the_bridge_goes_on(backend: RedisBackend, raw: redis_py.Redis, worker: Worker) -> None:
    runner = open_bridge("seed001", backend, routes=SEED001_ROUTES, registry=worker.registry).start()
    try:
        raw.lpush("strategy_queue", "{broken", json.dumps({"task_id": "u-1", "task_type": "optimise", "args": {}}),
                  json.dumps({"task_id": "a-1", "task_type": "backtest", "args": []}),
                  json.dumps({"task_id": "ok-1", "task_type": "backtest", "args": {"n": 1}}))
        assert result_of(raw, "task_result:ok-1", "completed")["data"]["n"] == 1
        unknown = result_of(raw, "task_result:u-1", "error")
        assert "unknown task type 'optimise'" in unknown["data"]["error"]
        assert "'args' must be a JSON object" in result_of(raw, "task_result:a-1", "error")["data"]["error"]
        dead = [json.loads(x) for x in raw.lrange(runner.dead, 0, -1)]
        assert len(dead) == 3 and {d["foreign_id"] for d in dead} == {None, "u-1", "a-1"}
        assert any(d["raw"] == "{broken" and "not valid JSON" in d["reason"] for d in dead)
        assert runner.refused == 3 and runner.taken == 1
    finally:
        runner.stop()


def test_seed001_route_to_a_task_the_worker_lacks_is_an_error(backend: RedisBackend, raw: redis_py.Redis) -> None:
    runner = open_bridge("seed001", backend, known_tasks={"quantq.echo"})  # default routes: backtest, screening
    raw.lpush("strategy_queue", json.dumps({"task_id": "x-1", "task_type": "backtest", "args": {}}))
    assert runner.handle(raw.rpop("strategy_queue")) is None
    body = json.loads(raw.get("task_result:x-1"))
    assert body["status"] == "error" and "'backtest' for type 'backtest' is not registered" in body["data"]["error"]


def test_seed001_compat_helpers_round_trip(backend: RedisBackend, raw: redis_py.Redis, worker: Worker) -> None:
    routes = {"backtest": "quantq.echo", "screening": "quantq.echo"}
    runner = open_bridge("seed001", backend, routes=routes).start()
    try:
        assert get_task_result(raw, "my-backtest-123") is None
        add_backtest_task(raw, "my-backtest-123", "def s(df): return []", ["AAPL"], "2024-01-01T00:00:00", "2024-12-31T23:59:59")
        add_screening_task(raw, "my-screening-456", "def s(df): return []", ["AAPL", "TSLA"], limit=5)
        wait_for(lambda: (r := get_task_result(raw, "my-screening-456")) and r["status"] == "completed")
        done = wait_for(lambda: (r := get_task_result(raw, "my-backtest-123")) and r["status"] == "completed" and r)
        assert done["data"]["end_date"] == "2024-12-31T23:59:59" and done["data"]["strategy_code"].startswith("def s")
        assert get_task_result(raw, "my-screening-456")["data"]["limit"] == 5
    finally:
        runner.stop()


def test_an_item_taken_twice_runs_once_and_a_crash_leaves_it_for_recovery(backend: RedisBackend, raw: redis_py.Redis) -> None:
    runner = open_bridge("seed001", backend, routes=SEED001_ROUTES)
    item = json.dumps({"task_id": "dup", "task_type": "backtest", "args": {}})
    raw.lpush(runner.processing, item)  # as if a bridge died after taking it
    runner.start()
    try:
        wait_for(lambda: raw.llen(runner.processing) == 0)
        assert runner.handle(item) == "seed001.dup"  # again: same job, not a second one
        assert backend.get("seed001.dup").status.value == "queued"
        assert [j.id for j in backend.list_jobs(__import__("quantq.backends.base", fromlist=["JobFilter"]).JobFilter())] == ["seed001.dup"]
    finally:
        runner.stop()


def test_seed000_status_words_ttls_and_result(backend: RedisBackend, raw: redis_py.Redis, worker: Worker) -> None:
    runner = open_bridge("seed000", backend, routes={"deeper_analysis": "quantq.echo", "broken": "quantq.fail"}, registry=worker.registry).start()
    try:
        raw.lpush("deeper_analysis:jobs", json.dumps({"job_id": "da-1", "symbols": ["AAPL", "MSFT"], "top_n": 3}))
        status = result_of(raw, "deeper_analysis:status:da-1", "completed")
        assert status["job_id"] == "da-1" and status["progress"] == 100
        assert json.loads(raw.get("deeper_analysis:result:da-1")) == {"symbols": ["AAPL", "MSFT"], "top_n": 3}
        assert 3500 < raw.ttl("deeper_analysis:status:da-1") <= 3600
        assert 7100 < raw.ttl("deeper_analysis:result:da-1") <= 7200
        raw.lpush("deeper_analysis:jobs", json.dumps({"job_id": "da-2", "type": "broken", "args": {"message": "no ticks"}}))
        failed = result_of(raw, "deeper_analysis:status:da-2", "failed")
        assert "no ticks" in failed["error"]
        assert json.loads(raw.get("deeper_analysis:result:da-2"))["status"] == "failed"
    finally:
        runner.stop()


def test_seed000_queued_then_processing_words(backend: RedisBackend, raw: redis_py.Redis) -> None:
    runner = open_bridge("seed000", backend, routes={"deeper_analysis": "quantq.sleep"})
    raw.lpush("deeper_analysis:jobs", json.dumps({"job_id": "da-q", "params": {"seconds": 0.1}}))
    runner.handle(raw.rpop("deeper_analysis:jobs"))
    assert json.loads(raw.get("deeper_analysis:status:da-q"))["status"] == "queued"
    [claim] = backend.claim(["default"], worker_id="w-seed", hostname="h", lease=30)
    assert claim.job.args == {"seconds": 0.1}
    runner.sync()
    processing = json.loads(raw.get("deeper_analysis:status:da-q"))
    assert (processing["status"], processing["worker"]) == ("processing", "w-seed")


def test_seed000_bad_items(backend: RedisBackend, raw: redis_py.Redis) -> None:
    runner = open_bridge("seed000", backend)
    for item in ("[1, 2]", json.dumps({"symbols": ["X"]}), json.dumps({"job_id": "da-u", "type": "god_only"})):
        raw.lpush("deeper_analysis:jobs", item)
        assert runner.handle(raw.rpop("deeper_analysis:jobs")) is None
    assert json.loads(raw.get("deeper_analysis:status:da-u"))["status"] == "failed"
    reasons = [json.loads(x)["reason"] for x in raw.lrange(runner.dead, 0, -1)]
    assert any("'job_id' is required" in r for r in reasons) and any("must be a JSON object" in r for r in reasons)


def test_bridge_names_and_bad_configuration() -> None:
    assert set(BRIDGES) == {"seed001", "seed000"}
    with pytest.raises(errors.ConfigError):
        open_bridge("seed999", RedisBackend("redis://127.0.0.1:6379/0"))
    with pytest.raises(errors.EnvelopeError):
        Route(task="not a task name")
    with pytest.raises(ValueError):
        BRIDGES["seed000"](status_ttl=0)


def test_a_bridge_can_feed_a_non_redis_backend(url: str, raw: redis_py.Redis, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from quantq.backends import from_url

    sqlite = from_url(f"sqlite:///{tmp_path}/jobs.db")
    monkeypatch.setenv("REDIS_URL", url.split("?")[0])
    runner = open_bridge("seed001", sqlite, routes={"backtest": "quantq.echo"})
    raw.lpush("strategy_queue", json.dumps({"task_id": "sq-1", "task_type": "backtest", "args": {"k": "v"}}))
    assert runner.handle(raw.rpop("strategy_queue")) == "seed001.sq-1"
    [claim] = sqlite.claim(["default"], worker_id="w-sql", hostname="h", lease=30)
    sqlite.complete(claim, {"k": "v"})
    assert runner.sync() == 1
    body = json.loads(raw.get("task_result:sq-1"))
    assert body["status"] == "completed" and body["data"]["worker_id"] == "w-sql" and body["data"]["k"] == "v"
    for key in raw.scan_iter(match="quantq:bridge:seed001:*"):
        raw.delete(key)
    sqlite.close()
