from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from quantq.finance.data.store import MarketStore
from quantq.finance.schema import Bars

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "samples"
RECORDED = Path(__file__).resolve().parent / "recorded"


@pytest.fixture
def store(tmp_path: Path) -> MarketStore:
    return MarketStore.open(tmp_path / "store")


def daily_bars(n: int = 10, start: str = "2024-01-02", seed: int = 0) -> Bars:
    rng = np.random.default_rng(seed)
    ts = (np.datetime64(start) + np.arange(n)).astype("datetime64[ns]")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    return Bars(ts, open_, high, low, close, rng.integers(1000, 5000, n).astype(float), daily=True)


def tree_snapshot(root: str | os.PathLike[str]) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) with its sha256: a store 'unchanged' check."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


def require(module: str) -> object:
    """Import an optional test dependency: skip locally if missing, fail under CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        return __import__(module)
    return pytest.importorskip(module)
