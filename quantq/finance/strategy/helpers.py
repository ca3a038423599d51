"""Helpers a strategy may import: ``from quantq.finance.strategy import helpers``.

Pure functions over NumPy arrays or pandas Series; indicators come from TA-Lib.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import talib


def _f64(x: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))


def sma(values: Any, period: int) -> np.ndarray:
    """Simple moving average (TA-Lib SMA); NaN for the first ``period - 1`` bars."""
    return talib.SMA(_f64(values), timeperiod=period)


def ema(values: Any, period: int) -> np.ndarray:
    """Exponential moving average (TA-Lib EMA)."""
    return talib.EMA(_f64(values), timeperiod=period)


def rsi(values: Any, period: int = 14) -> np.ndarray:
    """Relative strength index (TA-Lib RSI), 0–100."""
    return talib.RSI(_f64(values), timeperiod=period)


def crossover(a: Any, b: Any) -> np.ndarray:
    """True on bars where ``a`` goes from strictly below ``b`` to strictly above it."""
    a, b = _f64(a), _f64(b)
    out = np.zeros(a.shape, dtype=bool)
    out[1:] = (a[:-1] < b[:-1]) & (a[1:] > b[1:])
    return out


def crossunder(a: Any, b: Any) -> np.ndarray:
    """True on bars where ``a`` goes from strictly above ``b`` to strictly below it."""
    return crossover(b, a)


def entries_to_target(long_entry: Any, short_entry: Any | None = None, exit_: Any | None = None) -> np.ndarray:
    """Targets for position mode: 1 on long entries, -1 on short entries, 0 on exits, NaN = hold."""
    long_entry = np.asarray(long_entry, dtype=bool)
    target = np.full(long_entry.shape, np.nan)
    if exit_ is not None:
        target[np.asarray(exit_, dtype=bool)] = 0.0
    if short_entry is not None:
        target[np.asarray(short_entry, dtype=bool)] = -1.0
    target[long_entry] = 1.0
    return target


def per_ticker(df: pd.DataFrame, fn: Any) -> np.ndarray:
    """Apply ``fn(sub_frame) -> array`` to each ticker's rows; returns one array aligned to ``df``."""
    out = np.full(len(df), np.nan)
    for _, idx in df.groupby("ticker", sort=False).indices.items():
        out[idx] = np.asarray(fn(df.iloc[idx]), dtype=np.float64)
    return out
