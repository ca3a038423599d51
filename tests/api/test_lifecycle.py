"""The job life cycle over HTTP against a real server and a real worker, on every shared-state backend."""

from __future__ import annotations

import time
from collections.abc import Callable

from quantq.backends.base import Backend
from tests.api.conftest import Running, WorkerThread, wait_for


def test_submit_run_read_result(backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    worker(backend)
    r = api.client.post("/api/jobs", json={"task": "quantq.echo", "args": {"symbol": "MSFT", "n": 3}, "meta": {"who": "t"}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "completed")
    assert r.headers["location"] == f"/api/jobs/{job['id']}"
    done = wait_for(api.client, job["id"], {"completed"})
    assert done["result"] == {"symbol": "MSFT", "n": 3}
    assert done["worker_id"] == "api-test-worker" and done["attempts"] == 1 and done["meta"] == {"who": "t"}
    result = api.client.get(f"/api/jobs/{job['id']}/result")
    assert result.status_code == 200 and result.json() == {"id": job["id"], "status": "completed", "result": {"symbol": "MSFT", "n": 3}}
    progress = api.client.get(f"/api/jobs/{job['id']}/progress").json()
    assert progress["status"] == "completed" and progress["id"] == job["id"]


def test_result_before_finish_is_409_and_progress_moves(backend: Backend, serve: Callable[..., Running],
                                                        worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 0.7}}).json()
    early = api.client.get(f"/api/jobs/{job['id']}/result")
    assert early.status_code == 409 and early.json()["code"] == "job_not_finished"
    assert early.json()["details"]["status"] == "queued"
    worker(backend)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        p = api.client.get(f"/api/jobs/{job['id']}/progress").json()
        seen.append(p["progress"])
        if p["status"] == "completed":
            break
        time.sleep(0.1)
    assert any(0 < v < 100 for v in seen), seen
    assert seen == sorted(seen)
    assert api.client.get(f"/api/jobs/{job['id']}/result").json()["result"] == {"slept": 0.7}


def test_failure_then_retry(backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    worker(backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.fail", "args": {"message": "boom"}}).json()
    failed = wait_for(api.client, job["id"], {"failed"})
    assert failed["error"]["type"] == "DiagnosticFailure" and "boom" in failed["error"]["message"]
    r = api.client.get(f"/api/jobs/{job['id']}/result")
    assert r.status_code == 409 and r.json()["code"] == "job_failed" and r.json()["details"]["error"]["message"] == "boom"
    retried = api.client.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] in ("queued", "running", "failed")
    again = wait_for(api.client, job["id"], {"failed"})
    assert again["attempts"] == 1  # a fresh run
    # a completed job cannot be retried
    ok = api.client.post("/api/jobs", json={"task": "quantq.noop"}).json()
    wait_for(api.client, ok["id"], {"completed"})
    conflict = api.client.post(f"/api/jobs/{ok['id']}/retry")
    assert conflict.status_code == 409 and conflict.json()["code"] == "invalid_transition"


def test_cancel_running_job(backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    worker(backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 30}}).json()
    wait_for(api.client, job["id"], {"running"})
    r = api.client.delete(f"/api/jobs/{job['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    again = api.client.delete(f"/api/jobs/{job['id']}")
    assert again.status_code == 409
    # the worker lets go of it and stays usable
    nxt = api.client.post("/api/jobs", json={"task": "quantq.echo", "args": {"x": 1}}).json()
    assert wait_for(api.client, nxt["id"], {"completed"})["result"] == {"x": 1}
    assert api.client.get(f"/api/jobs/{job['id']}").json()["status"] == "cancelled"


def test_batch_listing_filters_and_cursor(backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(backend)
    jobs = [{"task": "quantq.echo", "args": {"i": i}, "queue": "a" if i % 2 else "b"} for i in range(7)]
    r = api.client.post("/api/jobs/batch", json={"jobs": jobs})
    assert r.status_code == 201 and len(r.json()["jobs"]) == 7 and all(r.json()["created"])
    ids = [j["id"] for j in r.json()["jobs"]]
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"before": cursor} if cursor else {})}
        page = api.client.get("/api/jobs", params=params).json()
        pages.append([j["id"] for j in page["jobs"]])
        assert all("result" not in j for j in page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    flat = [i for p in pages for i in p]
    assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))
    only_a = api.client.get("/api/jobs", params={"queue": "a"}).json()["jobs"]
    assert {j["args"]["i"] for j in only_a} == {1, 3, 5}
    assert api.client.get("/api/jobs", params={"status": "completed"}).json()["jobs"] == []
    pending = api.client.get("/api/jobs", params={"status": "pending"}).json()["jobs"]  # seed word for queued
    assert len(pending) == 7
    assert api.client.get("/api/jobs", params={"task": "quantq.noop"}).json()["jobs"] == []
    future = api.client.get("/api/jobs", params={"created_after": "2999-01-01T00:00:00Z"}).json()["jobs"]
    assert future == []


def test_idempotent_submission_and_conflict(backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(backend)
    first = api.client.post("/api/jobs", json={"id": "order-42", "task": "quantq.echo", "args": {"a": 1}})
    assert first.status_code == 201
    again = api.client.post("/api/jobs", json={"id": "order-42", "task": "quantq.echo", "args": {"a": 2}})
    assert again.status_code == 200 and again.headers["idempotent-replay"] == "true"
    assert again.json()["args"] == {"a": 1}
    other = api.client.post("/api/jobs", json={"id": "order-42", "task": "quantq.noop"})
    assert other.status_code == 409 and other.json()["code"] == "id_conflict"


def test_delay_priority_and_options(backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(backend)
    r = api.client.post("/api/jobs", json={"task": "quantq.noop", "delay": 3600, "priority": "high", "timeout": 5,
                                           "max_attempts": 2, "queue": "research"})
    job = r.json()
    assert r.status_code == 201 and job["status"] == "scheduled" and job["priority"] == 8
    assert job["timeout"] == 5 and job["max_attempts"] == 2 and job["queue"] == "research" and job["run_at"]
    both = api.client.post("/api/jobs", json={"task": "quantq.noop", "delay": 1, "run_at": "2030-01-01T00:00:00Z"})
    assert both.status_code == 422 and both.json()["details"]["fields"][0]["field"] == "run_at"


def test_system_views(backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready"}
    paused = api.client.post("/api/queues/slow/pause")
    assert paused.status_code == 200 and paused.json()["paused"] is True
    held = api.client.post("/api/jobs", json={"task": "quantq.noop", "queue": "slow"}).json()
    w = worker(backend)
    done = api.client.post("/api/jobs", json={"task": "quantq.noop"}).json()
    wait_for(api.client, done["id"], {"completed"})
    w.stop()
    queues = {q["name"]: q for q in api.client.get("/api/queues").json()["queues"]}
    assert queues["slow"]["paused"] and queues["slow"]["depth"] == 1 and queues["slow"]["oldest_wait_seconds"] >= 0
    assert queues["default"]["counts"]["completed"] == 1 and queues["default"]["finished_last_minute"]["completed"] == 1
    assert api.client.get(f"/api/jobs/{held['id']}").json()["status"] == "queued"  # paused: not handed out
    resumed = api.client.post("/api/queues/slow/resume").json()
    assert resumed["paused"] is False
    workers = api.client.get("/api/workers").json()["workers"]
    assert workers == [] or workers[0]["id"] == "api-test-worker"  # a stopped worker unregisters
    overview = api.client.get("/api/overview").json()
    assert overview["jobs"]["completed"] == 1 and overview["jobs"]["queued"] == 1
    assert "quantq.sleep" in overview["tasks"]
    tasks = {t["name"]: t for t in api.client.get("/api/tasks").json()["tasks"]}
    assert tasks["quantq.sleep"]["args_schema"]["properties"]["seconds"]["maximum"] == 86400
    assert api.client.get("/api/tasks/quantq.sleep").json()["name"] == "quantq.sleep"
    assert api.client.get("/api/tasks/nope").status_code == 404


def test_worker_view_while_running(backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    worker(backend, name="wv-1", lease=1.2)  # heartbeats every lease/3
    job = api.client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 5}}).json()
    wait_for(api.client, job["id"], {"running"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        [w] = api.client.get("/api/workers").json()["workers"]
        if w["current_jobs"]:
            break
        time.sleep(0.1)
    assert w["id"] == "wv-1" and w["alive"] and w["current_jobs"] == [job["id"]] and w["pid"] > 0
    assert w["queues"] == ["default"] and w["heartbeat_age_seconds"] < 60
    api.client.delete(f"/api/jobs/{job['id']}")


def test_batch_with_conflicting_id_stores_nothing(backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(backend)
    assert api.client.post("/api/jobs", json={"id": "taken", "task": "quantq.echo"}).status_code == 201
    r = api.client.post("/api/jobs/batch", json={"jobs": [{"id": "fresh-1", "task": "quantq.noop"},
                                                         {"id": "taken", "task": "quantq.noop"}]})
    assert r.status_code == 409 and r.json()["code"] == "id_conflict" and r.json()["details"]["index"] == 1
    assert api.client.get("/api/jobs/fresh-1").status_code == 404
    replay = api.client.post("/api/jobs/batch", json={"jobs": [{"id": "fresh-2", "task": "quantq.noop"},
                                                              {"id": "taken", "task": "quantq.echo"}]})
    assert replay.status_code == 201 and replay.json()["created"] == [True, False]


def test_app_target_brings_its_own_tasks(tmp_path: object) -> None:
    import httpx

    import quantq
    from quantq.api import ApiConfig, ApiServer, create_app

    app = quantq.App(immediate=True)  # in-memory, each job run inline at submission

    @app.task("desk.double", queue="desk")
    def double(x: int) -> int:
        return 2 * x

    server = ApiServer(create_app(app, config=ApiConfig()), "127.0.0.1", 0).start()
    try:
        names = [t["name"] for t in httpx.get(f"{server.url}/api/tasks").json()["tasks"]]
        assert "desk.double" in names and "quantq.echo" in names
        bad = httpx.post(f"{server.url}/api/jobs", json={"task": "desk.double", "args": {"x": "two"}})
        assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "args.x"
        job = httpx.post(f"{server.url}/api/jobs", json={"task": "desk.double", "args": {"x": 21}}).json()
        assert job["queue"] == "desk"
        assert httpx.get(f"{server.url}/api/jobs/{job['id']}/result").json()["result"] == 42
    finally:
        server.stop()
        app.close()
