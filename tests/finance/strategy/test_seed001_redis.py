"""Seed 001's Redis protocol end to end with the real tasks: LPUSH strategy_queue, a worker,
task_result:{id} with the seed's result and error shapes. Needs Redis (skips locally when it
is down, fails under CI=true); uses a database of its own because the seed's keys are fixed."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.finance.strategy.test_tasks import GAP_UP, MOMENTUM, SYMBOLS, store_dir  # noqa: F401 - fixture
from tests.services import service_url

DB = int(os.environ.get("QUANTQ_TEST_STRATEGY_DB", "13"))


@pytest.fixture
def redis_url() -> Iterator[str]:
    redis_py = pytest.importorskip("redis")
    base = service_url("redis").split("?")[0].rsplit("/", 1)[0]
    prefix = f"qqstrat-{uuid.uuid4().hex[:10]}"
    yield f"{base}/{DB}?prefix={prefix}"
    client = redis_py.Redis.from_url(f"{base}/{DB}")
    for pattern in (f"{prefix}:*", "strategy_queue", "task_result:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.close()


@pytest.fixture
def running(redis_url: str, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # noqa: F811
    import redis as redis_py

    from quantq.backends.redis import RedisBackend
    from quantq.bridges import open_bridge
    from quantq.tasks import default_registry
    from quantq.worker.worker import Worker, WorkerOptions

    monkeypatch.setenv("QUANTQ_DATA", str(store_dir))
    backend = RedisBackend(redis_url)
    worker = Worker(backend, WorkerOptions(concurrency=1, mode="thread", lease=30, status_interval=0, grace=1, poll_interval=0.2),
                    registry=default_registry())
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    bridge = open_bridge("seed001", backend, known_tasks=set(worker.registry.names()), registry=worker.registry).start()
    raw = redis_py.Redis.from_url(redis_url.split("?")[0], decode_responses=True)
    yield raw
    bridge.stop()
    worker.stop()
    thread.join(10)
    raw.close()
    backend.close()


def _result(raw: Any, task_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = raw.get(f"task_result:{task_id}")
        if value and json.loads(value)["status"] == status:
            return json.loads(value)
        time.sleep(0.05)
    raise AssertionError(f"task_result:{task_id} never reached {status!r}: {raw.get(f'task_result:{task_id}')}")


def test_seed001_backtest_screening_and_error_over_redis(running: Any, caplog: pytest.LogCaptureFixture) -> None:
    raw = running
    raw.lpush("strategy_queue", json.dumps({"task_id": "bt-1", "task_type": "backtest", "args": {
        "strategy_code": GAP_UP, "symbols": SYMBOLS[:3], "start_date": "2024-01-01T00:00:00", "end_date": "2024-12-31T23:59:59"}}))
    raw.lpush("strategy_queue", json.dumps({"task_id": "sc-1", "task_type": "screening", "args": {
        "strategy_code": MOMENTUM, "universe": SYMBOLS, "limit": 2}}))
    raw.lpush("strategy_queue", json.dumps({"task_id": "bad-1", "task_type": "backtest", "args": {
        "strategy_code": "import subprocess\ndef f(df):\n    return []", "symbols": ["SYN0"], "start_date": "2024-01-01", "end_date": "2024-02-01"}}))
    done = _result(raw, "bt-1", "completed")
    data = done["data"]
    assert data["success"] is True and data["execution_mode"] == "backtest" and data["instances"]
    assert {"total_instances", "positive_signals", "date_range", "symbols_processed", "data_shape"} <= set(data["summary"])
    assert {"total_return", "win_rate", "avg_return"} <= set(data["performance_metrics"])
    assert {"execution_time_ms", "execution_time_seconds", "worker_id", "completed_at"} <= set(data)
    screen = _result(raw, "sc-1", "completed")["data"]
    assert screen["execution_mode"] == "screening" and screen["results_returned"] == 2 and screen["universe_size"] == len(SYMBOLS)
    assert len(screen["ranked_results"]) == 2
    error = _result(raw, "bad-1", "error")
    assert set(error["data"]) == {"error", "completed_at"}
    assert "Security validation failed: line 1: import of 'subprocess'" in error["data"]["error"]
    assert "job.retrying" not in caplog.text  # a strategy that failed once fails again: no retry
