"""Backends by URL scheme, imported only when used.

A backend module whose driver is missing fails with the ``pip install`` line that
fixes it, not an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from quantq import errors
from quantq.backends.base import Backend, JobFilter, Outcome, QueueStats, WorkerInfo

__all__ = ["Backend", "JobFilter", "Outcome", "QueueStats", "WorkerInfo", "from_url", "default_url", "redact", "SCHEMES"]

#: scheme -> (module, class, pip extra that brings its driver, the driver's import name)
SCHEMES: dict[str, tuple[str, str, str | None, str | None]] = {
    "memory": ("quantq.backends.memory", "MemoryBackend", None, None),
    "sqlite": ("quantq.backends.sqlite", "SQLiteBackend", None, None),
    "redis": ("quantq.backends.redis", "RedisBackend", "redis", "redis"),
    "rediss": ("quantq.backends.redis", "RedisBackend", "redis", "redis"),
    "postgresql": ("quantq.backends.postgres", "PostgresBackend", "postgres", "psycopg"),
    "postgres": ("quantq.backends.postgres", "PostgresBackend", "postgres", "psycopg"),
    "mysql": ("quantq.backends.mysql", "MySQLBackend", "mysql", "pymysql"),
    "amqp": ("quantq.backends.amqp", "AMQPBackend", "amqp", "pika"),
    "mqtt": ("quantq.backends.mqtt", "MQTTBackend", "mqtt", "paho"),
    "nats": ("quantq.backends.nats", "NATSBackend", "nats", "nats"),
}


def default_url() -> str:
    """The embedded default: a SQLite file in the user's data directory."""
    import platformdirs

    path = Path(platformdirs.user_data_dir("quantq")) / "quantq.db"
    return f"sqlite:///{path}"


def from_url(url: str | None = None) -> Backend:
    """Open the backend a URL names (``QUANTQ_URL`` or the embedded default when None)."""
    url = url or os.environ.get("QUANTQ_URL") or default_url()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise errors.ConfigError(f"unknown backend URL {redact(url)!r}: the scheme must be one of {known}")
    module_name, class_name, extra, driver = SCHEMES[scheme]
    if driver is not None:
        try:
            importlib.import_module(driver)
        except ImportError:
            raise errors.MissingDependency(
                f"the {scheme}:// backend needs the {driver!r} package: pip install 'quantq[{extra}]'"
            ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise errors.ConfigError(f"the {scheme}:// backend is not part of this quantq build yet") from None
        raise
    backend_class: type[Backend] = getattr(module, class_name)
    return backend_class(url)


def redact(url: str) -> str:
    """Hide a password in a URL before it goes into a message or a log."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url

