"""Seed 000's deeper-analysis routes and seed 002's monitor API, end to end with a real worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from quantq.backends.base import Backend
from tests.api.conftest import Running, WorkerThread


def seed_store(path: Path) -> None:
    from quantq.finance.data.store import MarketStore
    from quantq.finance.schema import Ticks

    times = ["2024-03-07T15:00:00", "2024-03-08T14:45:00", "2024-03-08T15:30:00", "2024-03-08T19:50:00",
             "2024-03-08T20:00:00"]  # UTC, as the store keeps them
    store = MarketStore.open(str(path))
    store.write_ticks("ACME", Ticks(ts=np.array(times, dtype="datetime64[ns]"), price=np.array([50.0, 51.0, 51.0, 52.0, 52.5]),
                                    size=np.array([100.0, 200.0, 100.0, 300.0, 100.0]), venue=np.array(["NSDQ"] * 5, dtype=object),
                                    seq=np.arange(5)))


def poll_seed_status(api: Running, job_id: str, timeout: float = 30) -> list[str]:
    words: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.client.get(f"/api/deeper-analysis/status/{job_id}")
        assert r.status_code == 200
        word = r.json()["status"]
        if not words or words[-1] != word:
            words.append(word)
        if word in ("completed", "failed"):
            return words
        time.sleep(0.05)
    raise AssertionError(f"still {words}")


@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")  # exchange_calendars on pandas 3
def test_deeper_analysis_compute_status_result(sqlite_backend: Backend, serve: Callable[..., Running],
                                               worker: Callable[..., WorkerThread], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed_store(tmp_path / "market")
    monkeypatch.setenv("QUANTQ_DATA", str(tmp_path / "market"))
    api = serve(sqlite_backend)
    r = api.client.post("/api/deeper-analysis/compute", json={"symbols": ["ACME", "NOPE"], "min_lot": 100})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["success"] is True and body["status"] == "queued"
    early = api.client.get(f"/api/deeper-analysis/result/{body['job_id']}")
    assert early.status_code == 409 and early.json()["details"]["status"] == "queued"
    worker(sqlite_backend)
    words = poll_seed_status(api, body["job_id"])
    assert words[-1] == "completed" and set(words) <= {"queued", "processing", "completed"}
    result = api.client.get(f"/api/deeper-analysis/result/{body['job_id']}").json()
    assert result["success"] is True and result["job_id"] == body["job_id"] and result["total_symbols"] == 2
    assert result["processed_count"] == 1 and result["data"]["ACME"]["last_price"] == 52.5
    assert "error" in result["data"]["NOPE"]
    # the same job through the main API
    assert api.client.get(f"/api/jobs/{body['job_id']}").json()["task"] == "deeper_analysis"


def test_deeper_analysis_failure_and_bad_args(sqlite_backend: Backend, serve: Callable[..., Running],
                                              worker: Callable[..., WorkerThread], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTQ_DATA", str(tmp_path / "empty-store"))
    api = serve(sqlite_backend)
    bad = api.client.post("/api/deeper-analysis/compute", json={"min_lot": -1})
    assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "min_lot"
    unknown = api.client.post("/api/deeper-analysis/compute", json={"colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["details"]["fields"][0]["field"] == "colour"
    job_id = api.client.post("/api/deeper-analysis/compute").json()["job_id"]  # no body: every symbol
    worker(sqlite_backend)
    assert poll_seed_status(api, job_id)[-1] == "failed"
    status = api.client.get(f"/api/deeper-analysis/status/{job_id}").json()
    assert status["error"]
    result = api.client.get(f"/api/deeper-analysis/result/{job_id}")
    assert result.status_code == 200 and result.json()["success"] is False and result.json()["error"] == status["error"]
    assert result.json()["data"] == {}


@pytest.mark.parametrize("path", ["/api/monitor", "/monitor_api.php"])
def test_monitor_api(sqlite_backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread], path: str) -> None:
    api = serve(sqlite_backend)
    added = api.client.post(path, params={"action": "add_job"},
                            json={"job_type": "quantq.echo", "priority": "high", "parameters": {"stockId": 123}})
    assert added.status_code == 201 and added.json()["success"] is True
    job: dict[str, Any] = added.json()["data"]["job"]
    assert job["job_type"] == "quantq.echo" and job["priority"] == "high" and job["status"] == "pending"
    assert job["parameters"] == {"stockId": 123}
    pending = api.client.get(path, params={"action": "jobs", "status": "pending"}).json()["data"]
    assert [j["id"] for j in pending] == [job["id"]]
    worker(sqlite_backend, name="monitor-w")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = api.client.get(path, params={"action": "jobs", "status": "completed"}).json()["data"]
        if done:
            break
        time.sleep(0.05)
    assert done[0]["result"] == {"stockId": 123} and done[0]["completed_at"] and done[0]["failed_at"] is None
    assert done[0]["worker_id"] == "monitor-w"
    overview = api.client.get(path, params={"action": "overview"}).json()["data"]
    assert overview["jobs_seed"]["completed"] == 1 and overview["workers"]["alive"] == 1
    workers = api.client.get(path, params={"action": "workers"}).json()["data"]
    assert workers[0]["worker_id"] == "monitor-w" and workers[0]["status"] == "active"
    unknown = api.client.post(path, params={"action": "add_job"}, json={"job_type": "no_such_job"})
    assert unknown.status_code == 404 and "quantq.echo" in unknown.json()["details"]["known_tasks"]
