"""CLI edges, in-process: bad input gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quantq.cli.main import app

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("QUANTQ_URL", value)
    monkeypatch.chdir(tmp_path)
    return value


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_enqueue_status_jobs_cancel_retry_purge(url: str) -> None:
    code, out = invoke("enqueue", "quantq.echo", "--args", '{"a": 1}', "--priority", "high", "--id", "cli-1")
    assert code == 0 and out.strip() == "cli-1"
    code, out = invoke("status", "cli-1", "--json")
    record = json.loads(out)
    assert (record["status"], record["priority"], record["args"]) == ("queued", 8, {"a": 1})
    assert json.loads(invoke("jobs", "--json", "--status", "queued")[1])[0]["id"] == "cli-1"
    assert json.loads(invoke("queues", "--json")[1])[0]["counts"]["queued"] == 1
    assert invoke("cancel", "cli-1")[0] == 0
    assert invoke("cancel", "cli-1")[0] == 2  # already cancelled
    assert json.loads(invoke("retry", "cli-1", "--json")[1])["status"] == "queued"
    assert json.loads(invoke("stats", "--json")[1])["jobs"]["queued"] == 1
    invoke("cancel", "cli-1")
    assert json.loads(invoke("purge", "--yes", "--json")[1]) == {"purged": 1}


def test_immediate_runs_in_process(url: str) -> None:
    code, out = invoke("enqueue", "quantq.echo", "--args", '{"x": [1, 2]}', "--immediate")
    assert code == 0 and json.loads(out) == {"x": [1, 2]}
    failed = runner.invoke(app, ["enqueue", "quantq.fail", "--args", '{"message": "nope"}', "--immediate"])
    # the job's own traceback is shown to help; the CLI itself did not crash
    assert failed.exit_code == 1 and "DiagnosticFailure: nope" in failed.output and "builtin_tasks.py" in failed.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["enqueue", "quantq.echo", "--args", "{bad"], "not valid JSON"),
        (["enqueue", "quantq.echo", "--args", "[1]"], "must be a JSON object"),
        (["enqueue", "quantq.sleep", "--args", '{"seconds": "x"}'], "seconds"),
        (["enqueue", "quantq.echo", "--priority", "urgent"], "priority"),
        (["enqueue", "quantq.echo", "--queue", "no spaces"], "queue"),
        (["status", "missing-id"], "no job has id"),
        (["result", "missing-id"], "no job has id"),
        (["retry", "missing-id"], "no job has id"),
        (["jobs", "--status", "sleeping"], "--status must be one of"),
        (["purge", "--status", "running", "--yes"], "cannot be purged"),
    ],
)
def test_bad_input_is_one_clear_line(url: str, args: list[str], words: str) -> None:
    code, out = invoke(*args)
    assert code == 2 and words in " ".join(out.split())


def test_unknown_backend_scheme_and_missing_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = invoke("--url", "kafka://x", "queues")
    assert code == 2 and "scheme must be one of" in out
    import sys

    monkeypatch.setitem(sys.modules, "redis", None)  # as if the driver were not installed
    code, out = invoke("--url", "redis://127.0.0.1:6379/0", "queues")
    assert code == 2 and "pip install 'quantq[redis]'" in " ".join(out.split())


def test_config_check_reports_problems(url: str, tmp_path: Path) -> None:
    assert invoke("config", "check")[0] == 0
    (tmp_path / "quantq.yml").write_text("worker:\n  max_concurent_jobs: 3\n")
    code, out = invoke("config", "check", "--json")
    report = json.loads(out)
    assert code == 2 and report["ok"] is False
    assert "did you mean worker.max_concurrent_jobs" in report["checks"][0]["detail"]


def test_args_from_a_file(url: str, tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text('{"from": "file"}')
    code, out = invoke("enqueue", "quantq.echo", "--args", f"@{tmp_path}/job.json", "--immediate")
    assert code == 0 and json.loads(out) == {"from": "file"}
    code, out = invoke("enqueue", "quantq.echo", "--args", "@/no/such/file.json")
    assert code == 2 and "cannot read" in out


def test_api_refuses_to_serve_open_beyond_loopback(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUANTQ_API_KEYS", raising=False)
    code, out = invoke("api", "--host", "0.0.0.0", "--port", "8799")
    assert code == 2 and "refusing to serve the API on 0.0.0.0 without API keys" in " ".join(out.split())


def test_migrate_on_sqlite_has_nothing_to_do(url: str) -> None:
    code, out = invoke("migrate", "--json")
    assert code == 0 and json.loads(out) == {"applied": []}
    code, out = invoke("--url", "redis://127.0.0.1:6379/0", "migrate")
    assert code == 2 and "nothing to migrate" in out


def test_migrate_applies_the_postgres_schema_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    import psycopg

    from tests.services import service_url

    base = service_url("postgres")
    schema = f"qq_cli_{uuid.uuid4().hex[:8]}"
    url = f"{base}?schema={schema}&migrate=never"
    try:
        code, out = invoke("--url", url, "migrate", "--json")
        applied = json.loads(out)["applied"]
        assert code == 0 and applied and applied[0].startswith("001")
        code, out = invoke("--url", url, "migrate", "--json")
        assert code == 0 and json.loads(out) == {"applied": []}
        code, out = invoke("--url", url, "enqueue", "quantq.noop")
        assert code == 0
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_pause_and_resume_speak_json_and_refuse_bad_queue_names(url: str) -> None:
    assert json.loads(invoke("pause", "research", "--json")[1]) == {"queue": "research", "paused": True}
    stats = json.loads(invoke("queues", "--json")[1])
    assert [q for q in stats if q["name"] == "research"][0]["paused"] is True
    assert json.loads(invoke("resume", "research", "--json")[1]) == {"queue": "research", "paused": False}
    code, out = invoke("pause", "bad queue!", "--json")
    assert code == 2 and "queue" in out
