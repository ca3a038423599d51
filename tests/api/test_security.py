"""Keys and scopes, the bind rule, the loopback Host check, CORS and the submission rate limit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from quantq import errors
from quantq.api import ApiConfig, security
from quantq.api.server import ApiServer, serve_in_thread
from quantq.backends.base import Backend
from quantq.settings import Settings
from tests.api.conftest import Running

KEYS = "reader-key-1:read;producer-key-2:submit;both-key-3:read,submit;admin-key-4:admin"


@pytest.fixture
def secured(sqlite_backend: Backend, serve: Callable[..., Running]) -> Running:
    return serve(sqlite_backend, config=ApiConfig(keys=security.parse_keys(KEYS)))


def call(api: Running, method: str, path: str, key: str | None = None, **kw: object) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return api.client.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]


def test_no_key_or_wrong_key_is_401(secured: Running) -> None:
    r = call(secured, "GET", "/api/jobs")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated" and r.headers["www-authenticate"] == "Bearer"
    r = call(secured, "GET", "/api/jobs", "not-a-key")
    assert r.status_code == 401 and r.json()["code"] == "invalid_key"
    # health stays open for probes
    assert call(secured, "GET", "/healthz").status_code == 200 and call(secured, "GET", "/readyz").status_code == 200


@pytest.mark.parametrize(
    "method,path,body,needed",
    [
        ("GET", "/api/jobs", None, "read"),
        ("GET", "/api/queues", None, "read"),
        ("GET", "/metrics", None, "read"),
        ("POST", "/api/jobs", {"task": "quantq.noop"}, "submit"),
        ("POST", "/api/jobs/batch", {"jobs": [{"task": "quantq.noop"}]}, "submit"),
        ("POST", "/api/deeper-analysis/compute", {}, "submit"),
        ("POST", "/api/queues/default/pause", None, "admin"),
    ],
)
def test_scopes_enforced(secured: Running, method: str, path: str, body: object, needed: str) -> None:
    holders = {"read": {"reader-key-1", "both-key-3", "admin-key-4"},
               "submit": {"producer-key-2", "both-key-3", "admin-key-4"},
               "admin": {"admin-key-4"}}[needed]
    for key in ("reader-key-1", "producer-key-2", "both-key-3", "admin-key-4"):
        r = call(secured, method, path, key, json=body) if body is not None else call(secured, method, path, key)
        if key in holders:
            assert r.status_code < 400, (key, r.status_code, r.text)
        else:
            assert r.status_code == 403 and r.json()["details"]["needed"] == needed, (key, r.text)


def test_bearer_and_query_key(secured: Running) -> None:
    ok = secured.client.get("/api/jobs", headers={"Authorization": "Bearer reader-key-1"})
    assert ok.status_code == 200
    # the query-string key is accepted only where browsers need it (EventSource)
    assert secured.client.get("/api/jobs", params={"api_key": "reader-key-1"}).status_code == 401
    job = call(secured, "POST", "/api/jobs", "producer-key-2", json={"task": "quantq.noop"}).json()
    with secured.client.stream("GET", f"/api/jobs/{job['id']}/events", params={"api_key": "reader-key-1", "timeout": 0.3}) as r:
        assert r.status_code == 200


def test_parse_keys_rejects_bad_specs() -> None:
    keys = security.parse_keys("a-secret:read,submit; b-secret:admin")
    assert [sorted(k.scopes) for k in keys] == [["read", "submit"], ["admin"]]
    assert keys[1].grants("submit") and not keys[0].grants("admin")
    assert security.find_key(keys, "a-secret") is keys[0] and security.find_key(keys, "nope") is None
    for bad in ("nokey", "k:write", "k:", ":read", "k:read;k:admin"):
        with pytest.raises(errors.ConfigError):
            security.parse_keys(bad)
    env = ApiConfig.from_env({"QUANTQ_API_KEYS": "x-secret:read", "QUANTQ_API_RATE": "5"})
    assert len(env.keys) == 1 and env.submit_rate == 5.0
    with pytest.raises(errors.ConfigError):
        ApiConfig.from_env({"QUANTQ_API_MAX_BODY": "lots"})


def test_bind_rule() -> None:
    assert "loopback" in (security.check_bind("127.0.0.1", has_keys=False, insecure=False) or "")
    assert security.check_bind("::1", has_keys=False, insecure=False)
    with pytest.raises(errors.ConfigError, match="without API keys"):
        security.check_bind("0.0.0.0", has_keys=False, insecure=False)
    assert "WARNING" in (security.check_bind("0.0.0.0", has_keys=False, insecure=True) or "")
    assert security.check_bind("0.0.0.0", has_keys=True, insecure=False) is None


def test_serve_refuses_open_public_bind(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUANTQ_API_KEYS", raising=False)
    with pytest.raises(errors.ConfigError):
        serve_in_thread(Settings(url="memory://", api_host="0.0.0.0", api_port=0))


def test_serve_in_thread_announces_loopback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUANTQ_API_KEYS", raising=False)
    server = serve_in_thread(Settings(url="memory://", api_host="127.0.0.1", api_port=0))
    try:
        assert isinstance(server, ApiServer) and server.port > 0
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    finally:
        server.stop()
    assert "no API keys configured" in capsys.readouterr().err


def test_open_api_answers_loopback_host_names_only(sqlite_backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(sqlite_backend)
    assert api.client.get("/api/jobs", headers={"Host": "localhost:8000"}).status_code == 200
    evil = api.client.get("/api/jobs", headers={"Host": "attacker.example:8000"})
    assert evil.status_code == 400 and evil.json()["code"] == "bad_host"


def test_cors_only_for_configured_origins(sqlite_backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(sqlite_backend, config=ApiConfig(cors_origins=("https://desk.example",)))
    pre = {"Origin": "https://desk.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type,x-api-key"}
    ok = api.client.options("/api/jobs", headers=pre)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://desk.example"
    bad = api.client.options("/api/jobs", headers={**pre, "Origin": "https://other.example"})
    assert "access-control-allow-origin" not in bad.headers
    too_big = api.client.post("/api/jobs", content=b"x" * (2 << 20), headers={"Origin": "https://desk.example",
                                                                           "Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers["access-control-allow-origin"] == "https://desk.example"
    plain = serve(sqlite_backend)  # default: no CORS at all
    assert "access-control-allow-origin" not in plain.client.get("/api/jobs", headers={"Origin": "https://desk.example"}).headers


def test_submission_rate_limit_per_key(sqlite_backend: Backend, serve: Callable[..., Running]) -> None:
    api = serve(sqlite_backend, config=ApiConfig(keys=security.parse_keys("p1-secret:submit;p2-secret:submit"),
                                                 submit_rate=0.5, submit_burst=3))
    codes = [call(api, "POST", "/api/jobs", "p1-secret", json={"task": "quantq.noop"}).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    limited = call(api, "POST", "/api/jobs", "p1-secret", json={"task": "quantq.noop"})
    assert limited.json()["code"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
    # another key has its own bucket; a batch costs one token per job
    assert call(api, "POST", "/api/jobs", "p2-secret", json={"task": "quantq.noop"}).status_code == 201
    big = call(api, "POST", "/api/jobs/batch", "p2-secret", json={"jobs": [{"task": "quantq.noop"}] * 3})
    assert big.status_code == 429


def test_rate_limiter_refills() -> None:
    limiter = security.RateLimiter(rate=1000.0, burst=2)
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    wait = limiter.take("a")
    assert 0 < wait <= 0.002
    assert security.RateLimiter(rate=0, burst=1).take("a", 10**6) == 0  # 0 turns it off


def test_keys_from_a_file(tmp_path: Path) -> None:
    secrets = tmp_path / "keys"
    secrets.write_text("# producers\nfile-key-1:submit\nfile-key-2:read,submit  # dashboard\n\n")
    keys = security.keys_from_env({"QUANTQ_API_KEYS": "env-key:admin", "QUANTQ_API_KEYS_FILE": str(secrets)})
    assert len(keys) == 3 and security.find_key(keys, "file-key-2").scopes == {"read", "submit"}  # type: ignore[union-attr]
    with pytest.raises(errors.ConfigError, match="cannot read"):
        security.keys_from_env({"QUANTQ_API_KEYS_FILE": str(tmp_path / "missing")})
