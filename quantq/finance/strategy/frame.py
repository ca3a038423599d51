"""Seed 001's frame, built from bar arrays at the sandbox boundary (in the child, before user code)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from quantq.finance.strategy import contract

BAR_ARRAYS = ("ticker", "date", "open", "high", "low", "close", "volume")
VOLUME_WINDOW = 20


def build_frame(arrays: dict[str, np.ndarray], symbols: Sequence[str]) -> pd.DataFrame:
    """One frame of all symbols: rows sorted by ticker then date, columns as ``contract.FRAME_COLUMNS``.

    ``arrays["ticker"]`` holds int32 indexes into ``symbols``; ``arrays["date"]`` int64
    nanoseconds; the price and volume arrays float64. Rows must already be sorted.
    """
    codes = arrays["ticker"].astype(np.int64)
    names = np.asarray(list(symbols), dtype=object)
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
            "ticker": names[codes] if len(codes) else np.array([], dtype=object),
            "date": pd.to_datetime(arrays["date"], unit="ns"),
            "open": open_,
            "high": arrays["high"],
            "low": arrays["low"],
            "close": close,
            "volume": arrays["volume"],
        }
    )
    df["ticker"] = df["ticker"].astype(str)
    df["prev_close"] = prev_close
    df["returns"] = close / prev_close - 1.0
    df["gap_pct"] = (open_ / prev_close - 1.0) * 100.0
    df["change_pct"] = df["returns"] * 100.0
    df["range_pct"] = (arrays["high"] - arrays["low"]) / prev_close * 100.0
    vol_avg = df.groupby("ticker", sort=False)["volume"].transform(
        lambda v: v.rolling(VOLUME_WINDOW, min_periods=VOLUME_WINDOW).mean().shift(1)
    )
    df["volume_avg_20"] = vol_avg.to_numpy(dtype=np.float64)
    avg = df["volume_avg_20"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        df["volume_ratio"] = np.where(avg > 0, df["volume"].to_numpy() / avg, np.nan)
    df["dollar_volume"] = close * arrays["volume"]
    assert tuple(df.columns) == contract.FRAME_COLUMNS
    return df
