from __future__ import annotations

import os
import warnings
from typing import Any

import pytest


def _oracle(module: str) -> Any:
    """Import a test oracle: missing is a skip locally and a failure under CI=true."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return __import__(module, fromlist=["_"])
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"test oracle {module} is missing under CI=true: {exc}")
        pytest.skip(f"test oracle {module} is not installed: {exc}")


@pytest.fixture(scope="session")
def goog() -> Any:
    """backtesting.py's bundled GOOG daily history (2004-08-19 .. 2013-03-01, 2,148 bars)."""
    return _oracle("backtesting.test").GOOG


@pytest.fixture(scope="session")
def goog_bars(goog: Any) -> dict[str, Any]:
    import numpy as np

    return {c.lower(): np.ascontiguousarray(goog[c].to_numpy(dtype=np.float64)) for c in ("Open", "High", "Low", "Close", "Volume")}


@pytest.fixture(scope="session")
def backtesting() -> Any:
    return _oracle("backtesting")


@pytest.fixture(scope="session")
def empyrical() -> Any:
    """empyrical-reloaded: the pinned Sharpe, Sortino, volatility, VaR/CVaR, beta share its formulas."""
    return _oracle("empyrical")
