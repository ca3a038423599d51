"""Where the test services are, and the rule for when one is down.

Each service is found through an environment variable with the local default.
Unreachable: the test skips with a one-line reason, except under ``CI=true``,
where it fails, so a green CI means every backend was really tested.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

SERVICES = {
    "redis": ("QUANTQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "postgres": ("QUANTQ_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": ("QUANTQ_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
    "rabbitmq": ("QUANTQ_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
    "mosquitto": ("QUANTQ_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"),
    "nats": ("QUANTQ_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def service_url(name: str) -> str:
    """The service's URL, or skip (fail under CI) when nothing listens there."""
    env, default = SERVICES[name]
    url = os.environ.get(env, default)
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            pass
    except OSError as exc:
        message = f"{name} unreachable at {parts.hostname}:{parts.port} ({exc}); set {env}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return url
