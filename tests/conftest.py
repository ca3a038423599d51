from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quantq import backends
from quantq.backends.base import Backend
from tests import backend_factories


@pytest.fixture(params=sorted(backend_factories.FACTORIES))
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    factory = backend_factories.FACTORIES[request.param]
    yield from factory(tmp_path)


@pytest.fixture
def backend(backend_url: str) -> Iterator[Backend]:
    opened = backends.from_url(backend_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(params=backend_factories.SHARED)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A backend whose state several processes share (for tests that drive the real CLI)."""
    factory = backend_factories.FACTORIES[request.param]
    yield from factory(tmp_path)
