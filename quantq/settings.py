"""Configuration from ``quantq.yml``, the environment and flags: flags win over the
environment, the environment over the file, the file over defaults.

The file accepts seed 002's shape (``queue.backend`` plus a ``database`` / ``redis`` /
``rabbitmq`` / ``mqtt`` section, ``worker.max_concurrent_jobs``, ``poll_interval``,
``job_timeout``, ``log_file``) as well as quantq's own ``queue.url``.  Problems are
collected as plain sentences so ``quantq config check`` can list them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from quantq import errors, jobs

CONFIG_NAMES = ("quantq.yml", "quantq.yaml")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    url: str | None = None  #: backend URL; None is the embedded SQLite default
    queues: tuple[str, ...] = (jobs.DEFAULT_QUEUE,)
    concurrency: int = max(1, os.cpu_count() or 1)
    mode: str = "process"
    lease: float = 30.0
    poll_interval: float = 5.0
    job_timeout: float | None = None
    grace: float = 30.0
    worker_name: str | None = None
    imports: tuple[str, ...] = ()
    retry_backoff: float = 2.0
    max_memory_mb: int = 0
    prefetch: int = 1
    batch: int = 64  #: most short jobs lined up in one slot at once (1: one at a time)
    status_interval: float = 30.0
    log_level: str = "INFO"
    log_format: str = "text"
    log_file: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    data: str | None = None  #: market-data store URL (finance layer)
    bridges: tuple[str, ...] = ()  #: foreign queues a worker also serves (seed001, seed000)
    source: str | None = None  #: the config file read, if any


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a number is needed, not true/false")
    return float(value)


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("a whole number is needed")
    return int(value)


def _as_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    else:
        raise ValueError("a list or a comma-separated string is needed")
    items = [i for i in items if i]
    if not items:
        raise ValueError("the list is empty")
    return tuple(items)


def _optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null", "0")):
        return None
    number = _as_float(value)
    return None if number == 0 else number


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).lower()
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text

    return check


def _positive(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        out = convert(value)
        if out is not None and out <= 0:
            raise ValueError("must be greater than 0")
        return out

    return check


#: field -> converter (raises ValueError with a plain reason)
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "url": str,
    "queues": _as_list,
    "concurrency": _positive(_as_int),
    "mode": _choice("process", "thread"),
    "lease": _positive(_as_float),
    "poll_interval": _positive(_as_float),
    "job_timeout": _optional_float,
    "grace": lambda v: max(0.0, _as_float(v)),
    "worker_name": str,
    "imports": _as_list,
    "retry_backoff": lambda v: max(0.0, _as_float(v)),
    "max_memory_mb": lambda v: max(0, _as_int(v)),
    "prefetch": lambda v: max(0, _as_int(v)),
    "batch": _positive(_as_int),
    "status_interval": lambda v: max(0.0, _as_float(v)),
    "log_level": _choice("debug", "info", "warning", "error"),
    "log_format": _choice("text", "json"),
    "log_file": str,
    "api_host": str,
    "api_port": _positive(_as_int),
    "data": str,
    "bridges": _as_list,
}

#: environment variable -> field; later entries win (QUANTQ_* over the seeds' names)
ENVIRONMENT: list[tuple[str, str]] = [
    ("POLL_TIMEOUT", "poll_interval"),  # seed 000
    ("MAX_JOB_TIME", "job_timeout"),  # seed 000
    ("WORKER_NAME", "worker_name"),  # seed 000
    ("REDIS_URL", "url"),  # seed 001: REDIS_URL, or REDIS_HOST/PORT/PASSWORD (see _seed_redis_url)
    ("QUANTQ_URL", "url"),
    ("QUANTQ_QUEUES", "queues"),
    ("QUANTQ_CONCURRENCY", "concurrency"),
    ("QUANTQ_MODE", "mode"),
    ("QUANTQ_LEASE", "lease"),
    ("QUANTQ_POLL_INTERVAL", "poll_interval"),
    ("QUANTQ_JOB_TIMEOUT", "job_timeout"),
    ("QUANTQ_GRACE", "grace"),
    ("QUANTQ_WORKER_NAME", "worker_name"),
    ("QUANTQ_IMPORTS", "imports"),
    ("QUANTQ_RETRY_BACKOFF", "retry_backoff"),
    ("QUANTQ_MAX_MEMORY_MB", "max_memory_mb"),
    ("QUANTQ_PREFETCH", "prefetch"),
    ("QUANTQ_BATCH", "batch"),
    ("QUANTQ_STATUS_INTERVAL", "status_interval"),
    ("QUANTQ_LOG_LEVEL", "log_level"),
    ("QUANTQ_LOG_FORMAT", "log_format"),
    ("QUANTQ_LOG_FILE", "log_file"),
    ("QUANTQ_API_HOST", "api_host"),
    ("QUANTQ_API_PORT", "api_port"),
    ("QUANTQ_DATA", "data"),
    ("QUANTQ_BRIDGES", "bridges"),
]

#: file section -> {key: field}; None means "accepted, used elsewhere" (e.g. deploy hosts)
FILE_KEYS: dict[str, dict[str, str | None]] = {
    "queue": {"backend": None, "url": "url", "names": "queues", "queues": "queues"},
    "worker": {
        "max_concurrent_jobs": "concurrency", "concurrency": "concurrency", "poll_interval": "poll_interval",
        "job_timeout": "job_timeout", "log_file": "log_file", "name": "worker_name", "mode": "mode",
        "lease": "lease", "grace": "grace", "imports": "imports", "retry_backoff": "retry_backoff",
        "max_memory_mb": "max_memory_mb", "status_interval": "status_interval", "bridges": "bridges",
        "prefetch": "prefetch", "batch": "batch",
    },
    "log": {"level": "log_level", "format": "log_format", "file": "log_file"},
    "api": {"host": "api_host", "port": "api_port"},
    "data": {"url": "data"},
    "database": {k: None for k in ("host", "port", "username", "user", "password", "database", "driver", "name")},
    "redis": {k: None for k in ("host", "port", "password", "database", "db", "username")},
    "rabbitmq": {k: None for k in ("host", "port", "user", "username", "password", "vhost")},
    "mqtt": {k: None for k in ("host", "port", "username", "password", "keepalive")},
    "hosts": {},
}

BACKEND_WORDS = ("sqlite", "database", "mysql", "postgresql", "postgres", "redis", "rabbitmq", "amqp", "mqtt", "nats", "memory")


def find_config(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("QUANTQ_CONFIG")
    if env:
        return Path(env)
    for name in CONFIG_NAMES:
        if Path(name).is_file():
            return Path(name)
    return None


def _url_from_sections(backend: str, doc: dict[str, Any]) -> str | None:
    """Build a backend URL from seed 002's ``queue.backend`` and its connection section."""
    def creds(user: Any, password: Any) -> str:
        if not user:
            return ""
        return quote(str(user), safe="") + (f":{quote(str(password), safe='')}" if password else "") + "@"

    if backend in ("database", "mysql", "postgresql", "postgres"):
        db = doc.get("database") or {}
        driver = str(db.get("driver") or ("mysql" if backend == "database" else backend)).lower()
        scheme = "postgresql" if driver.startswith("postg") else "mysql"
        port = db.get("port") or (5432 if scheme == "postgresql" else 3306)
        return f"{scheme}://{creds(db.get('username') or db.get('user'), db.get('password'))}{db.get('host', 'localhost')}:{port}/{db.get('database') or db.get('name') or ''}"
    if backend == "redis":
        r = doc.get("redis") or {}
        auth = f"{quote(str(r['username']), safe='') if r.get('username') else ''}:{quote(str(r['password']), safe='')}@" if r.get("password") else ""
        return f"redis://{auth}{r.get('host', 'localhost')}:{r.get('port', 6379)}/{r.get('database', r.get('db', 0))}"
    if backend in ("rabbitmq", "amqp"):
        r = doc.get("rabbitmq") or {}
        vhost = quote(str(r.get("vhost", "/")), safe="")
        return f"amqp://{creds(r.get('user') or r.get('username') or 'guest', r.get('password') or 'guest')}{r.get('host', 'localhost')}:{r.get('port', 5672)}/{vhost}"
    if backend == "mqtt":
        m = doc.get("mqtt") or {}
        return f"mqtt://{creds(m.get('username'), m.get('password'))}{m.get('host', 'localhost')}:{m.get('port', 1883)}"
    return None


def _read_file(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        problems.append(f"config file {path} does not exist")
        return {}
    except yaml.YAMLError as exc:
        problems.append(f"config file {path} is not valid YAML: {exc}")
        return {}
    if not isinstance(doc, dict):
        problems.append(f"config file {path} must hold a mapping of sections, not {type(doc).__name__}")
        return {}
    values: dict[str, Any] = {}
    if "url" in doc:
        values["url"] = doc["url"]
    for section, body in doc.items():
        if section == "url":
            continue
        if section not in FILE_KEYS:
            hint = difflib.get_close_matches(str(section), FILE_KEYS, n=1)
            problems.append(f"{path}: unknown section {section!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
            continue
        if section == "hosts":
            continue
        if not isinstance(body, dict):
            problems.append(f"{path}: section {section!r} must be a mapping")
            continue
        keys = FILE_KEYS[section]
        for key, value in body.items():
            if key not in keys:
                hint = difflib.get_close_matches(str(key), keys, n=1)
                problems.append(f"{path}: unknown key {section}.{key}" + (f" (did you mean {section}.{hint[0]}?)" if hint else ""))
            elif keys[key] is not None:
                values[keys[key]] = value
    backend = (doc.get("queue") or {}).get("backend") if isinstance(doc.get("queue"), dict) else None
    if backend is not None and "url" not in values:
        word = str(backend).lower()
        if word not in BACKEND_WORDS:
            problems.append(f"{path}: queue.backend {backend!r} is not one of {', '.join(BACKEND_WORDS)}")
        elif word == "sqlite":
            pass  # the embedded default
        else:
            url = _url_from_sections(word, doc)
            if url:
                values["url"] = url
    return values


def _seed_redis_url(problems: list[str]) -> str | None:
    """Seed 001's Redis variables, below ``QUANTQ_URL`` and above the config file."""
    if not any(os.environ.get(n) for n in ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")):
        return None
    from quantq.backends.redis_keys import url_from_env

    try:
        return url_from_env()
    except errors.QuantqError as exc:
        problems.append(str(exc))
        return None


def load(config: str | None = None, overrides: dict[str, Any] | None = None, *, strict: bool = True) -> tuple[Settings, list[str]]:
    """Settings from file, environment and ``overrides`` (flags; None values ignored).

    Returns the settings and every problem found.  With ``strict``, problems raise
    :class:`~quantq.errors.ConfigError` instead.
    """
    problems: list[str] = []
    raw: dict[str, tuple[Any, str]] = {}
    path = find_config(config)
    if path is not None:
        for key, value in _read_file(path, problems).items():
            raw[key] = (value, f"{path}")
    for env_name, field in ENVIRONMENT:
        if env_name == "REDIS_URL":
            seed_url = _seed_redis_url(problems)
            if seed_url:
                raw["url"] = (seed_url, "$REDIS_URL / $REDIS_HOST")
            continue
        if os.environ.get(env_name) not in (None, ""):
            raw[field] = (os.environ[env_name], f"${env_name}")
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = (value, f"--{key.replace('_', '-')}")
    values: dict[str, Any] = {}
    for field, (value, origin) in raw.items():
        try:
            values[field] = CONVERTERS[field](value)
        except (ValueError, TypeError) as exc:
            problems.append(f"{field} from {origin}: {value!r} is not valid ({exc})")
    settings = Settings(**values, source=str(path) if path else None)
    if strict and problems:
        raise errors.ConfigError("; ".join(problems))
    return settings, problems
