"""Every kind of bad input gets the right 4xx with a JSON error naming the problem; nothing leaks a trace."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from quantq.api import ApiConfig
from quantq.backends.base import Backend
from tests.api.conftest import Running


@pytest.fixture
def api(sqlite_backend: Backend, serve: Callable[..., Running]) -> Running:
    return serve(sqlite_backend, config=ApiConfig(max_body_bytes=4096, max_batch=5))


def error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"code", "message", "details"} and body["message"]
    assert "Traceback" not in r.text
    if code:
        assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


def test_malformed_json(api: Running) -> None:
    for raw in (b"{", b'{"task": }', b"[1,2", b"\xff\xfe"):
        error(api.client.post("/api/jobs", content=raw, headers={"Content-Type": "application/json"}), 400, "malformed_json")


def test_wrong_types_name_the_field(api: Running) -> None:
    cases: list[tuple[Any, str]] = [
        ({"task": 5}, "task"),
        ({"task": "quantq.noop", "args": []}, "args"),
        ({"task": "quantq.noop", "priority": "urgent"}, "priority"),
        ({"task": "quantq.noop", "max_attempts": 0}, "max_attempts"),
        ({"task": "quantq.noop", "timeout": -1}, "timeout"),
        ({"task": "quantq.noop", "queue": "bad queue"}, "queue"),
        ({"task": "quantq.noop", "surprise": 1}, "surprise"),
        ({"task": "quantq.noop", "run_at": "2030-01-01T09:30:00"}, "run_at"),  # no offset
        ({"task": "quantq.sleep", "args": {"seconds": "long"}}, "args.seconds"),
        ({"task": "quantq.sleep", "args": {"seconds": -3}}, "args.seconds"),
        ({"task": "quantq.sleep", "args": {"minutes": 3}}, "args.minutes"),
        (b'{"task": "quantq.echo", "args": {"x": NaN}}', "args"),  # Python's parser takes NaN; JSON does not
    ]
    for body, field in cases:
        content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
        r = api.client.post("/api/jobs", content=content, headers={"Content-Type": "application/json"})
        got = error(r, 422)
        fields = [f["field"] for f in got["details"]["fields"]]
        assert any(f == field or f.startswith(field + ".") or f.startswith(field + "[") for f in fields), (body, got)


def test_unknown_task_lists_known_tasks(api: Running) -> None:
    body = error(api.client.post("/api/jobs", json={"task": "quantq.nope"}), 404, "unknown_task")
    assert "quantq.echo" in body["details"]["known_tasks"] and "quantq.echo" in body["message"]
    batch = error(api.client.post("/api/jobs/batch", json={"jobs": [{"task": "quantq.noop"}, {"task": "quantq.nope"}]}),
                  404, "unknown_task")
    assert batch["details"]["index"] == 1 and batch["message"].startswith("jobs[1]")
    assert api.client.get("/api/jobs").json()["jobs"] == []  # nothing of the bad batch was stored


def test_batch_errors_name_the_index_and_limit(api: Running) -> None:
    bad = error(api.client.post("/api/jobs/batch", json={"jobs": [{"task": "quantq.noop"}, {"task": "quantq.sleep",
                                                                                           "args": {"seconds": "x"}}]}), 422)
    assert bad["message"].startswith("jobs[1]") and bad["details"]["index"] == 1
    error(api.client.post("/api/jobs/batch", json={"jobs": [{"task": "quantq.noop"}] * 6}), 413, "batch_too_large")
    error(api.client.post("/api/jobs/batch", json={"jobs": []}), 422)


def test_oversize_bodies(api: Running) -> None:
    big = {"task": "quantq.echo", "args": {"blob": "x" * 5000}}
    body = error(api.client.post("/api/jobs", json=big), 413, "body_too_large")
    assert body["details"]["max_bytes"] == 4096

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming too
        yield b'{"task": "quantq.echo", "args": {"blob": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}'

    error(api.client.post("/api/jobs", content=chunks(), headers={"Content-Type": "application/json"}), 413, "body_too_large")


def test_oversize_body_over_raw_socket_declared_length(api: Running) -> None:
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=5) as sock:
        sock.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 999999999\r\n\r\n{")
        data = b""
        while chunk := sock.recv(4096):  # the server answers at once and closes
            data += chunk
        reply = data.decode()
    assert reply.startswith("HTTP/1.1 413") and "body_too_large" in reply


def test_not_json_media_type(api: Running) -> None:
    error(api.client.post("/api/jobs", content=b"task=quantq.noop", headers={"Content-Type": "application/x-www-form-urlencoded"}),
          415, "unsupported_media_type")
    error(api.client.post("/api/jobs", content=b'{"task": "quantq.noop"}', headers={"Content-Type": "text/plain"}),
          415, "unsupported_media_type")


def test_bad_and_unknown_ids(api: Running) -> None:
    for path in ("/api/jobs/%20bad", "/api/jobs/-x/result", "/api/jobs/" + "a" * 200, "/api/jobs/a%2Fb/progress"):
        r = api.client.get(path)
        assert r.status_code in (404, 422), (path, r.text)
        error(r, r.status_code)
    error(api.client.get("/api/jobs/%20bad"), 422, "invalid_request")
    error(api.client.get("/api/jobs/no-such-job"), 404, "job_not_found")
    error(api.client.delete("/api/jobs/no-such-job"), 404, "job_not_found")
    error(api.client.post("/api/jobs/no-such-job/retry"), 404, "job_not_found")
    error(api.client.get("/api/deeper-analysis/status/no-such-job"), 404, "job_not_found")


def test_bad_query_parameters(api: Running) -> None:
    error(api.client.get("/api/jobs", params={"status": "sleeping"}), 422)
    error(api.client.get("/api/jobs", params={"limit": 0}), 422)
    error(api.client.get("/api/jobs", params={"limit": "many"}), 422)
    error(api.client.get("/api/jobs", params={"created_after": "yesterday"}), 422)
    error(api.client.get("/api/jobs", params={"before": "bad id"}), 422)
    error(api.client.get("/api/monitor", params={"action": "drop_tables"}), 422)


def test_unknown_route_and_method(api: Running) -> None:
    error(api.client.get("/api/nothing-here"), 404, "not_found")
    error(api.client.put("/api/jobs", json={}), 405, "method_not_allowed")


def test_unexpected_errors_are_json_without_trace(sqlite_backend: Backend, serve: Callable[..., Running],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    api = serve(sqlite_backend)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(sqlite_backend, "get", explode)
    body = error(api.client.get("/api/jobs/some-job"), 500, "internal_error")
    assert "secret" not in body["message"] and body["details"]["reference"]
