"""The backtest and screening tasks through the HTTP API (FastAPI app, SQLite backend, a real
worker in thread mode): submit, poll, read seed 001's result; a bad strategy fails once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.finance.strategy.test_tasks import GAP_UP, MOMENTUM, SYMBOLS, store_dir  # noqa: F401 - fixture

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:  # noqa: F811
    from fastapi.testclient import TestClient

    from quantq import backends
    from quantq.api import ApiConfig, create_app
    from quantq.tasks import default_registry
    from quantq.worker import Worker, WorkerOptions

    monkeypatch.setenv("QUANTQ_DATA", str(store_dir))
    backend = backends.from_url(f"sqlite:///{tmp_path}/api.db")
    registry = default_registry()
    worker = Worker(backend, WorkerOptions(mode="thread", concurrency=1, lease=30, poll_interval=0.05, grace=2.0, status_interval=0),
                    registry=registry)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    with TestClient(create_app(backend, config=ApiConfig(), registry=registry)) as http:
        yield http
    worker.stop(immediately=True)
    thread.join(10)
    backend.close()


def _finished(http: Any, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"/api/jobs/{job_id}").json()
        if body["status"] in ("completed", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_backtest_and_screening_over_http(client: Any) -> None:
    r = client.post("/api/jobs", json={"task": "backtest", "args": {
        "strategy_code": GAP_UP, "symbols": SYMBOLS[:2], "start_date": "2024-01-01T00:00:00", "end_date": "2024-12-31T23:59:59"}})
    assert r.status_code == 201, r.text
    job = _finished(client, r.json()["id"])
    assert job["status"] == "completed"
    result = client.get(f"/api/jobs/{job['id']}/result").json()
    data = result.get("result", result)
    assert data["execution_mode"] == "backtest" and data["summary"]["symbols_processed"] == 2

    r = client.post("/api/jobs", json={"task": "screening", "args": {"strategy_code": MOMENTUM, "universe": SYMBOLS, "limit": 3}})
    job = _finished(client, r.json()["id"])
    data = client.get(f"/api/jobs/{job['id']}/result").json()
    data = data.get("result", data)
    assert data["execution_mode"] == "screening" and data["results_returned"] == 3


def test_bad_strategy_over_http_fails_once_with_the_rule(client: Any) -> None:
    r = client.post("/api/jobs", json={"task": "backtest", "args": {
        "strategy_code": "def f(df):\n    return df.__class__", "symbols": ["SYN0"], "start_date": "2024-01-01", "end_date": "2024-03-01"}})
    job = _finished(client, r.json()["id"])
    assert job["status"] == "failed" and job["attempts"] == 1
    assert "Security validation failed: line 2" in str(job["error"]) and "dunder-attribute" in str(job["error"])


def test_missing_seed_argument_is_rejected_at_submit(client: Any) -> None:
    r = client.post("/api/jobs", json={"task": "backtest", "args": {"strategy_code": GAP_UP, "symbols": ["SYN0"]}})
    assert r.status_code == 422 and "start_date" in r.text
