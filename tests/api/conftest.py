"""Fixtures: a real uvicorn server on a free port, over a real backend, with a real worker."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quantq import backends, tasks
from quantq.api import ApiConfig, ApiServer, create_app
from quantq.backends.base import Backend
from quantq.worker import Worker, WorkerOptions
from tests import backend_factories

#: the API runs on every backend through the interface; these (state shared between processes) are exercised
#: here -- redis once its factory exists; QUANTQ_API_TEST_BACKENDS=sqlite,redis,postgres picks others.
#: The memory backend is process-local, so an API over it serves only its own process.
_WANTED = os.environ.get("QUANTQ_API_TEST_BACKENDS", "sqlite,redis").split(",")
BACKENDS = [name for name in _WANTED if name in backend_factories.FACTORIES]


@functools.cache
def registry() -> tasks.Registry:
    """Built-in and plugin tasks, loaded once for the whole session."""
    return tasks.default_registry()


class Running:
    """A started API server and an httpx client bound to it."""

    def __init__(self, server: ApiServer, backend: Backend, headers: dict[str, str] | None = None) -> None:
        self.server = server
        self.backend = backend
        self.client = httpx.Client(base_url=server.url, timeout=10.0, headers=headers or {})

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.client.close()
        self.server.stop()


class WorkerThread:
    """quantq's real Worker in thread mode, on its own thread (signals are left to the main thread)."""

    def __init__(self, backend: Backend, name: str = "api-test-worker", concurrency: int = 2, lease: float = 5.0) -> None:
        self.worker = Worker(backend, WorkerOptions(mode="thread", concurrency=concurrency, lease=lease, poll_interval=0.1,
                                                    grace=2.0, name=name, status_interval=0, retry_backoff=0.05),
                             registry=registry())
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def start(self) -> WorkerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.worker.stop(immediately=True)
        self.thread.join(10)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    gen = backend_factories.FACTORIES[request.param](tmp_path)
    url = next(gen)
    opened = backends.from_url(url)
    try:
        yield opened
    finally:
        opened.close()
        for _ in gen:
            pass


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[Backend]:
    opened = backends.from_url(f"sqlite:///{tmp_path}/api.db")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """serve(backend, config=..., headers=...) -> a running server; all are stopped at the end."""
    started: list[Running] = []

    def start(backend: Backend, config: ApiConfig | None = None, headers: dict[str, str] | None = None) -> Running:
        app = create_app(backend, config=config or ApiConfig(), registry=registry())
        running = Running(ApiServer(app, "127.0.0.1", 0).start(), backend, headers)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


@pytest.fixture
def worker() -> Iterator[Callable[..., WorkerThread]]:
    started: list[WorkerThread] = []

    def start(backend: Backend, **kwargs: Any) -> WorkerThread:
        w = WorkerThread(backend, **kwargs).start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_for(client: httpx.Client, job_id: str, statuses: set[str], timeout: float = 15.0) -> dict[str, Any]:
    """Poll the job over HTTP until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/jobs/{job_id}").json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {body['status']} after {timeout}s")
        time.sleep(0.05)
