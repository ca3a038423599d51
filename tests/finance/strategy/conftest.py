from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest

from quantq.finance.backtest.panel import Panel
from quantq.finance.strategy.sandbox import Sandbox, SandboxConfig


def require_oracle(module: str) -> ModuleType:
    """Import a test oracle; skip locally when it is missing, fail under CI=true."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"test oracle {module!r} is not installed (required under CI=true)")
        pytest.skip(f"test oracle {module!r} is not installed")


# Short limits keep the escape corpus fast: CPU 2 s, wall 4 s, 256 MB on top of the runner.
FAST = SandboxConfig(memory_mb=256, cpu_seconds=2, wall_seconds=4.0)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox()
    yield sb
    sb.close()


def small_panel(n: int = 60, symbols: tuple[str, ...] = ("AAA", "BBB"), seed: int = 3) -> Panel:
    rng = np.random.default_rng(seed)
    per = {}
    start = np.datetime64("2024-01-01", "D")
    for k, sym in enumerate(symbols):
        close = 50.0 * (k + 1) * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        open_ = close * np.exp(rng.normal(0, 0.01, n))
        per[sym] = {
            "date": (start + np.arange(n)).astype("datetime64[ns]").astype(np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(1_000, 10_000, n).astype(float),
        }
    return Panel.from_columns(per)


@pytest.fixture(scope="session")
def panel() -> Panel:
    return small_panel()
