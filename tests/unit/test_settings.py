from __future__ import annotations

from pathlib import Path

import pytest

from quantq import errors, settings

SEED_002 = """
queue:
  backend: "database"
worker:
  max_concurrent_jobs: 3
  poll_interval: 5
  job_timeout: 3600
  log_file: "logs/worker.log"
database:
  host: "db.internal"
  port: 3306
  username: "quant"
  password: "p@ss word"
  database: "stockdb"
hosts:
  - host: "worker1.example.com"
    user: "ubuntu"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, _ in settings.ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_USERNAME", "REDIS_DB", "REDIS_SSL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("QUANTQ_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def test_seed_002_file_is_understood(tmp_path: Path) -> None:
    path = tmp_path / "job_processor.yml"
    path.write_text(SEED_002)
    loaded, problems = settings.load(str(path))
    assert problems == []
    assert loaded.url == "mysql://quant:p%40ss%20word@db.internal:3306/stockdb"
    assert (loaded.concurrency, loaded.poll_interval, loaded.job_timeout, loaded.log_file) == (3, 5.0, 3600.0, "logs/worker.log")


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "quantq.yml").write_text("queue:\n  url: sqlite:///file.db\nworker:\n  concurrency: 2\n  lease: 10\n  poll_interval: 3\n")
    assert settings.load()[0].url == "sqlite:///file.db"  # ./quantq.yml is found
    monkeypatch.setenv("QUANTQ_URL", "sqlite:///env.db")
    monkeypatch.setenv("QUANTQ_CONCURRENCY", "4")
    monkeypatch.setenv("POLL_TIMEOUT", "7")
    loaded = settings.load(overrides={"concurrency": 8, "lease": None})[0]
    assert (loaded.url, loaded.concurrency, loaded.lease, loaded.poll_interval) == ("sqlite:///env.db", 8, 10.0, 7.0)


def test_seed_000_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_NAME", "worker1")
    monkeypatch.setenv("POLL_TIMEOUT", "5")
    monkeypatch.setenv("MAX_JOB_TIME", "300")
    loaded = settings.load()[0]
    assert (loaded.worker_name, loaded.poll_interval, loaded.job_timeout) == ("worker1", 5.0, 300.0)
    monkeypatch.setenv("QUANTQ_POLL_INTERVAL", "1")
    assert settings.load()[0].poll_interval == 1.0  # quantq's own name wins


def test_problems_are_plain_sentences(tmp_path: Path) -> None:
    path = tmp_path / "quantq.yml"
    path.write_text("queue:\n  backend: kafka\nworker:\n  max_concurent_jobs: 3\n  lease: -1\n  mode: fibers\nlogs: {}\n")
    loaded, problems = settings.load(str(path), strict=False)
    text = "\n".join(problems)
    assert "queue.backend 'kafka' is not one of" in text
    assert "unknown key worker.max_concurent_jobs (did you mean worker.max_concurrent_jobs?)" in text
    assert "lease from" in text and "must be greater than 0" in text
    assert "mode from" in text and "process, thread" in text
    assert "unknown section 'logs' (did you mean 'log'?)" in text
    with pytest.raises(errors.ConfigError):
        settings.load(str(path))


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("queue: [unclosed\n")
    assert "not valid YAML" in settings.load(str(bad), strict=False)[1][0]
    assert "does not exist" in settings.load(str(tmp_path / "nope.yml"), strict=False)[1][0]


@pytest.mark.parametrize(
    ("backend", "section", "url"),
    [
        ("redis", "redis:\n  host: r\n  port: 6380\n  password: s3cret\n  database: 2\n", "redis://:s3cret@r:6380/2"),
        ("rabbitmq", "rabbitmq:\n  host: mq\n  user: u\n  password: p\n  vhost: /\n", "amqp://u:p@mq:5672/%2F"),
        ("mqtt", "mqtt:\n  host: m\n  port: 1883\n", "mqtt://m:1883"),
        ("postgresql", "database:\n  host: pg\n  username: a\n  database: d\n", "postgresql://a@pg:5432/d"),
    ],
)
def test_backend_sections_become_urls(tmp_path: Path, backend: str, section: str, url: str) -> None:
    path = tmp_path / "quantq.yml"
    path.write_text(f"queue:\n  backend: {backend}\n{section}")
    assert settings.load(str(path))[0].url == url


def test_seed_001_redis_variables_give_the_backend_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "quantq.yml").write_text("queue:\n  url: sqlite:///file.db\n")
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_PASSWORD", "mysecret")
    assert settings.load()[0].url == "redis://:mysecret@cache:6380/0"  # over the file
    monkeypatch.setenv("REDIS_URL", "redis://other:6379/3")
    assert settings.load()[0].url == "redis://other:6379/3"  # REDIS_URL over the parts
    monkeypatch.setenv("QUANTQ_URL", "sqlite:///env.db")
    assert settings.load()[0].url == "sqlite:///env.db"  # quantq's own variable over the seed's
    monkeypatch.delenv("QUANTQ_URL")
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("REDIS_PORT", "sixty")
    assert "REDIS_PORT must be a number" in "\n".join(settings.load(strict=False)[1])


def test_bridges_and_prefetch_from_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "quantq.yml").write_text("worker:\n  bridges: [seed001]\n  prefetch: 4\n")
    loaded = settings.load()[0]
    assert (loaded.bridges, loaded.prefetch) == (("seed001",), 4)
    monkeypatch.setenv("QUANTQ_BRIDGES", "seed000,seed001")
    assert settings.load()[0].bridges == ("seed000", "seed001")
