"""Seed 001's frame, built from bar arrays at the sandbox boundary (in the child, before user code)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from quantq.finance.strategy import contract

BAR_ARRAYS = ("ticker", "date", "open", "high", "low", "close", "volume")
VOLUME_WINDOW = 20
# The dtype pandas gives a column of Python str (``str`` backed by Arrow on pandas 3)
TICKER_DTYPE = pd.Series(np.array(["A"], dtype=object)).astype(str).dtype


def _tickers(codes: np.ndarray, symbols: Sequence[str]) -> pd.Series:
    """The ``ticker`` column: each row's symbol, taken from the symbol list in Arrow (C++),
    not built one Python string at a time."""
    names = pa.array([str(s) for s in symbols], pa.large_string())
    return pd.Series(names.take(pa.array(codes, pa.int64())), dtype=TICKER_DTYPE)


def _previous_mean(values: np.ndarray, first: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` values before each row, within its ticker (NaN until enough exist)."""
    n = len(values)
    csum = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
    idx = np.arange(n)
    start_of_group = np.maximum.accumulate(np.where(first, idx, 0)) if n else idx
    out = np.full(n, np.nan)
    ok = idx - window >= start_of_group
    out[ok] = (csum[idx[ok]] - csum[idx[ok] - window]) / window
    return out


def build_frame(arrays: dict[str, np.ndarray], symbols: Sequence[str]) -> pd.DataFrame:
    """One frame of all symbols: rows sorted by ticker then date, columns as ``contract.FRAME_COLUMNS``.

    ``arrays["ticker"]`` holds int32 indexes into ``symbols``; ``arrays["date"]`` int64
    nanoseconds; the price and volume arrays float64. Rows must already be sorted.
    """
    codes = arrays["ticker"].astype(np.int64)
    close = arrays["close"]
    open_ = arrays["open"]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]  # first bar of each ticker: nothing before it
    prev_close = np.empty_like(close)
    prev_close[0:1] = np.nan
    prev_close[1:] = close[:-1]
    prev_close[first] = np.nan
    df = pd.DataFrame(
        {
            "ticker": _tickers(codes, symbols),
            "date": pd.to_datetime(arrays["date"], unit="ns"),
            "open": open_,
            "high": arrays["high"],
            "low": arrays["low"],
            "close": close,
            "volume": arrays["volume"],
        }
    )
    df["prev_close"] = prev_close
    df["returns"] = close / prev_close - 1.0
    df["gap_pct"] = (open_ / prev_close - 1.0) * 100.0
    df["change_pct"] = df["returns"] * 100.0
    df["range_pct"] = (arrays["high"] - arrays["low"]) / prev_close * 100.0
    df["volume_avg_20"] = avg = _previous_mean(arrays["volume"], first, VOLUME_WINDOW)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["volume_ratio"] = np.where(avg > 0, df["volume"].to_numpy() / avg, np.nan)
    df["dollar_volume"] = close * arrays["volume"]
    assert tuple(df.columns) == contract.FRAME_COLUMNS
    return df
