"""Bridges by name: ``open_bridge("seed001", backend).start()`` inside a worker process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis as redis_py

from quantq import errors
from quantq.backends.base import Backend
from quantq.bridges.base import BadItem, Bridge, BridgeRunner, Route
from quantq.bridges.seed000 import Seed000Bridge
from quantq.bridges.seed001 import Seed001Bridge

__all__ = ["BRIDGES", "BadItem", "Bridge", "BridgeRunner", "Route", "open_bridge"]

BRIDGES: dict[str, type[Bridge]] = {"seed001": Seed001Bridge, "seed000": Seed000Bridge}


def open_bridge(name: str, backend: Backend, *, routes: Mapping[str, str | Route] | None = None,
                known_tasks: set[str] | None = None, registry: Any = None, redis_url: str | None = None,
                **options: Any) -> BridgeRunner:
    """A runner for the bridge ``name`` (not started).  ``routes`` maps the foreign task types
    onto quantq tasks (default: the seed's names); ``registry`` (the worker's ``tasks.Registry``)
    gives each job its task's defaults (queue, timeout, attempts) and, like ``known_tasks``,
    turns a route to a missing task into an error result; ``redis_url`` is where the foreign
    keys live when they are not on the backend's Redis (default: the seeds' REDIS_* variables)."""
    if name not in BRIDGES:
        raise errors.ConfigError(f"unknown bridge {name!r}; known: {', '.join(sorted(BRIDGES))}")
    bridge = BRIDGES[name](routes, **options)
    client = None
    if redis_url is None and getattr(backend, "client", None) is None:
        from quantq.backends.redis_keys import url_from_env

        redis_url = url_from_env()
        if redis_url is None:
            raise errors.ConfigError(f"bridge {name!r} needs Redis: use a redis:// backend or set REDIS_URL / REDIS_HOST")
    if redis_url is not None:
        client = redis_py.Redis.from_url(redis_url, decode_responses=True)
    return BridgeRunner(bridge, backend, client=client, known_tasks=known_tasks, registry=registry)
