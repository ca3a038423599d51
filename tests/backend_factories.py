"""How the conformance suite opens each backend, fresh and empty for one test.

Each factory is a generator: it yields a backend URL and cleans up after the test.
A later backend adds its factory here and passes the suite unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

Factory = Callable[[Path], Iterator[str]]


def memory(tmp_path: Path) -> Iterator[str]:
    yield "memory://"


def sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path}/quantq.db"


FACTORIES: dict[str, Factory] = {"memory": memory, "sqlite": sqlite}

#: Backends whose state is shared between processes (the process-level tests run on these).
SHARED = ["sqlite"]
