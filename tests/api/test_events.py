"""Live updates against a real server: SSE in order to the terminal state, the all-jobs stream, WebSockets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from quantq.backends.base import Backend
from tests.api.conftest import Running, WorkerThread, wait_for


def read_sse(response: httpx.Response, stop: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
    """Parse an event stream into [{id, event, data}] until it ends (or ``stop`` says so)."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if "event" in current:
                events.append(current)
                if stop is not None and stop(current):
                    break
            current = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value
    return events


def test_sse_delivers_progress_in_order_and_ends_at_terminal(backend: Backend, serve: Callable[..., Running],
                                                             worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 0.8}}).json()
    worker(backend)
    with api.client.stream("GET", f"/api/jobs/{job['id']}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = read_sse(r)  # returns only because the server ends the stream
    kinds = [e["event"] for e in events]
    statuses = [e["data"]["status"] for e in events]
    progress = [e["data"]["progress"] for e in events]
    assert statuses[-1] == "completed" and kinds[-1] == "status"
    assert "running" in statuses and statuses.index("running") < len(statuses) - 1
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress)
    assert "progress" in kinds
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(1, len(ids) + 1))
    assert all(e["data"]["id"] == job["id"] for e in events)


def test_sse_of_finished_job_sends_final_state_and_ends(backend: Backend, serve: Callable[..., Running],
                                                        worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    worker(backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.fail", "args": {"message": "nope"}}).json()
    wait_for(api.client, job["id"], {"failed"})
    with api.client.stream("GET", f"/api/jobs/{job['id']}/events") as r:
        events = read_sse(r)
    assert [e["data"]["status"] for e in events] == ["failed"]
    assert events[0]["data"]["error"]["message"] == "nope"


def test_sse_unknown_job_is_404_and_timeout_ends_stream(sqlite_backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(sqlite_backend)
    missing = api.client.get("/api/jobs/does-not-exist/events")
    assert missing.status_code == 404 and missing.json()["code"] == "job_not_found"
    job = api.client.post("/api/jobs", json={"task": "quantq.noop"}).json()  # no worker: stays queued
    started = time.monotonic()
    with api.client.stream("GET", f"/api/jobs/{job['id']}/events", params={"timeout": 0.5}) as r:
        events = read_sse(r)
    assert [e["event"] for e in events] == ["status", "timeout"]
    assert events[0]["data"]["status"] == "queued" and time.monotonic() - started < 5


def test_cancel_is_streamed(sqlite_backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(sqlite_backend)
    worker(sqlite_backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 20}}).json()
    wait_for(api.client, job["id"], {"running"})
    threading.Timer(0.4, lambda: httpx.delete(f"{api.url}/api/jobs/{job['id']}")).start()
    with api.client.stream("GET", f"/api/jobs/{job['id']}/events") as r:
        events = read_sse(r)
    assert events[-1]["data"]["status"] == "cancelled"


def test_all_events_stream_sees_new_and_finished_jobs(backend: Backend, serve: Callable[..., Running],
                                                      worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    worker(backend)
    submitted: list[str] = []

    def submit_later() -> None:
        time.sleep(0.3)
        for i in range(3):
            submitted.append(httpx.post(f"{api.url}/api/jobs", json={"task": "quantq.echo", "args": {"i": i}}).json()["id"])

    threading.Thread(target=submit_later).start()
    completed: set[str] = set()

    def stop(event: dict[str, Any]) -> bool:
        if event["data"].get("status") == "completed":
            completed.add(event["data"]["id"])
        return len(submitted) == 3 and set(submitted) <= completed

    with api.client.stream("GET", "/api/events", params={"timeout": 10}) as r:
        events = read_sse(r, stop)
    assert set(submitted) <= completed, events
    for job_id in submitted:  # per job, in order: nothing after its terminal state
        mine = [e["data"]["status"] for e in events if e["data"].get("id") == job_id]
        assert mine[-1] == "completed" and mine.count("completed") == 1


def test_websocket_job_stream(backend: Backend, serve: Callable[..., Running], worker: Callable[..., WorkerThread]) -> None:
    api = serve(backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.sleep", "args": {"seconds": 0.6}}).json()
    worker(backend)
    messages = []
    with connect(f"ws://127.0.0.1:{api.server.port}/api/jobs/{job['id']}/ws", open_timeout=5) as ws:
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=10)))
        except Exception as exc:  # the server closes with 1000 after the terminal state
            assert getattr(exc, "rcvd", None) is not None and exc.rcvd.code == 1000  # type: ignore[attr-defined]
    assert messages[-1]["data"]["status"] == "completed" and messages[-1]["event"] == "status"
    progress = [m["data"]["progress"] for m in messages]
    assert progress == sorted(progress)


@pytest.mark.parametrize("path", ["/api/ws", "/api/jobs/x/ws"])
def test_websocket_requires_key_when_keys_configured(sqlite_backend: Backend, serve: Callable[..., Running], path: str) -> None:
    from quantq.api import ApiConfig, security

    api = serve(sqlite_backend, config=ApiConfig(keys=security.parse_keys("reader-secret:read")))
    with pytest.raises(Exception) as info:
        with connect(f"ws://127.0.0.1:{api.server.port}{path}", open_timeout=5) as ws:
            ws.recv(timeout=5)
    assert "1008" in str(info.value) or "403" in str(info.value)
    with connect(f"ws://127.0.0.1:{api.server.port}/api/ws?api_key=reader-secret", open_timeout=5) as ws:
        ws.send("hello")  # accepted: the connection is open
        assert ws.protocol.state.name == "OPEN"


def test_streams_on_one_job_share_one_poll(sqlite_backend: Backend, serve: Callable[..., Running],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    api = serve(sqlite_backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.noop"}).json()
    calls = {"get": 0}
    real_get = sqlite_backend.get

    def counting_get(job_id: str) -> Any:
        calls["get"] += 1
        return real_get(job_id)

    monkeypatch.setattr(sqlite_backend, "get", counting_get)
    results: list[list[dict[str, Any]]] = []
    connected = threading.Semaphore(0)

    def watch() -> None:
        first = [True]

        def on_event(event: dict[str, Any]) -> bool:
            if first[0]:
                first[0] = False
                connected.release()
            return False

        with httpx.stream("GET", f"{api.url}/api/jobs/{job['id']}/events", timeout=20) as r:
            results.append(read_sse(r, on_event))

    threads = [threading.Thread(target=watch) for _ in range(12)]
    for t in threads:
        t.start()
    for _ in threads:  # every stream is open and has had its first event
        assert connected.acquire(timeout=20)
    started = calls["get"]
    time.sleep(0.9)  # about 0.9 s / 0.15 s = 6 ticks: one read per tick, not one per stream
    during = calls["get"] - started
    httpx.delete(f"{api.url}/api/jobs/{job['id']}")
    for t in threads:
        t.join(20)
    assert len(results) == 12
    assert all(r[0]["data"]["status"] == "queued" and r[-1]["data"]["status"] == "cancelled" for r in results)
    assert 1 <= during <= 12, during  # per-stream polling would be about 12 x 6 reads


def test_event_source_is_pluggable(sqlite_backend: Backend) -> None:
    from quantq.api import ApiConfig, ApiServer, create_app
    from quantq.api.events import JobEvent

    class Pushed:
        async def job_events(self, job_id: str) -> Any:
            yield JobEvent("status", {"id": job_id, "status": "running", "progress": 10.0})
            yield None
            yield JobEvent("status", {"id": job_id, "status": "completed", "progress": 100.0})

        async def all_events(self, *, queue: str | None = None, task: str | None = None) -> Any:
            yield JobEvent("status", {"id": "x", "status": "queued", "queue": queue})

    server = ApiServer(create_app(sqlite_backend, config=ApiConfig(), events_source=Pushed()), "127.0.0.1", 0).start()
    try:
        job = httpx.post(f"{server.url}/api/jobs", json={"task": "quantq.noop"}).json()
        with httpx.stream("GET", f"{server.url}/api/jobs/{job['id']}/events") as r:
            events = read_sse(r)
    finally:
        server.stop()
    assert [e["data"]["status"] for e in events] == ["running", "completed"]


def test_websocket_rejects_bad_filters_and_ids(sqlite_backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(sqlite_backend)
    for path in ("/api/ws?queue=bad%20queue", "/api/ws?task=%24%24", "/api/jobs/%20bad/ws"):
        with pytest.raises(Exception) as info:
            with connect(f"ws://127.0.0.1:{api.server.port}{path}", open_timeout=5) as ws:
                ws.recv(timeout=5)
        assert "1008" in str(info.value) or "403" in str(info.value), (path, info.value)


def test_all_jobs_streams_share_one_scan(sqlite_backend: Backend, serve: Callable[..., Running],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    api = serve(sqlite_backend)
    job = api.client.post("/api/jobs", json={"task": "quantq.noop"}).json()
    calls = {"list": 0}
    real_list = sqlite_backend.list_jobs

    def counting_list(flt: Any) -> Any:
        calls["list"] += 1
        return real_list(flt)

    monkeypatch.setattr(sqlite_backend, "list_jobs", counting_list)
    results: list[list[dict[str, Any]]] = []
    connected = threading.Semaphore(0)

    def watch() -> None:
        first = [True]

        def on_event(event: dict[str, Any]) -> bool:
            if first[0]:
                first[0] = False
                connected.release()
            return event["data"]["status"] == "cancelled"

        with httpx.stream("GET", f"{api.url}/api/events", params={"timeout": 20}, timeout=30) as r:
            results.append(read_sse(r, on_event))

    threads = [threading.Thread(target=watch) for _ in range(6)]
    for t in threads:
        t.start()
    for _ in threads:
        assert connected.acquire(timeout=20)
    started = calls["list"]
    time.sleep(0.9)
    during = calls["list"] - started
    httpx.delete(f"{api.url}/api/jobs/{job['id']}")
    for t in threads:
        t.join(30)
    assert len(results) == 6
    assert all([e["data"]["status"] for e in r] == ["queued", "cancelled"] for r in results), results
    assert 1 <= during <= 14, during  # two lists per tick, shared; per-stream scans would be about 6 x 12
