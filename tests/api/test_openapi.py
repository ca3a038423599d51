"""schemathesis against the OpenAPI document of a real running server, bounded in time.

Every operation gets generated valid and invalid requests; every response must be documented
(status, content type, body schema) and none may be a server error.  The two endless SSE
streams are left out (they are tested in test_events.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantq import backends
from quantq.api import ApiConfig, ApiServer, create_app, security

if os.environ.get("CI", "").lower() == "true":
    import schemathesis  # a dev dependency: under CI its absence fails the run
else:
    schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

MAX_EXAMPLES = int(os.environ.get("QUANTQ_SCHEMATHESIS_EXAMPLES", "5"))  # per operation and mode: bounds the run
ADMIN = "schemathesis-admin-key"  # with keys configured, so the documented security is real


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("openapi") / "api.db"
    backend = backends.from_url(f"sqlite:///{path}")
    server = ApiServer(create_app(backend, config=ApiConfig(submit_rate=0, keys=security.parse_keys(f"{ADMIN}:admin"))), "127.0.0.1", 0).start()
    try:
        loaded = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        yield loaded.exclude(path_regex=r"events$")
    finally:
        server.stop()
        backend.close()


def _operation_labels() -> list[str]:
    doc = create_app("memory://", config=ApiConfig()).openapi()
    return sorted(f"{method.upper()} {path}" for path, item in doc["paths"].items() for method in item
                  if not path.endswith("events"))


@pytest.mark.parametrize("label", _operation_labels())
def test_api_conforms_to_its_openapi_document(api_schema: Any, label: str) -> None:
    from hypothesis import given

    operation = api_schema.find_operation_by_label(label)
    assert operation is not None, label
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @given(operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(headers={"X-API-Key": ADMIN}, timeout=10)

        try:
            check()
        except Unsatisfiable:
            assert mode is schemathesis.GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body


def test_openapi_document_is_complete(api_schema: Any) -> None:
    import httpx

    doc = httpx.get(api_schema.location).json() if api_schema.location else {}
    paths = doc["paths"]
    for expected in ("/api/jobs", "/api/jobs/batch", "/api/jobs/{job_id}", "/api/jobs/{job_id}/result",
                     "/api/jobs/{job_id}/progress", "/api/jobs/{job_id}/retry", "/api/jobs/{job_id}/events", "/api/events",
                     "/api/queues", "/api/workers", "/api/overview", "/api/tasks", "/api/queues/{name}/pause",
                     "/api/queues/{name}/resume", "/healthz", "/readyz", "/metrics", "/api/deeper-analysis/compute",
                     "/api/deeper-analysis/status/{job_id}", "/api/deeper-analysis/result/{job_id}", "/api/monitor"):
        assert expected in paths, expected
    assert "delete" in paths["/api/jobs/{job_id}"]
    error_schema = doc["components"]["schemas"]["ErrorResponse"]
    assert set(error_schema["properties"]) == {"code", "message", "details"}
    submit = paths["/api/jobs"]["post"]["responses"]
    assert {"201", "404", "413", "422", "429"} <= set(submit)
    assert submit["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert {"APIKeyHeader", "HTTPBearer"} <= set(doc["components"]["securitySchemes"])
    # seed 000's body is the deeper_analysis task's own argument schema
    compute = paths["/api/deeper-analysis/compute"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "min_lot" in str(compute) or "$ref" in str(compute)
