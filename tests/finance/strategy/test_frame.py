"""The frame's ticker column: built in Arrow, the same column pandas builds from Python str."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantq.finance.strategy.frame import build_frame

from .conftest import small_panel


def test_ticker_column_is_the_str_column_pandas_would_build() -> None:
    panel = small_panel(n=25, symbols=("AAA", "BRK.B", "^GSPC"))
    df = build_frame(panel.arrays(), list(panel.symbols))
    want = pd.Series(np.asarray(panel.symbols, dtype=object)[panel.ticker]).astype(str)
    assert df["ticker"].dtype == want.dtype
    assert df["ticker"].equals(want)
    assert df["ticker"].iloc[30] == "BRK.B" and isinstance(df["ticker"].iloc[30], str)
    assert list(df.groupby("ticker")["close"].count().index) == ["AAA", "BRK.B", "^GSPC"]
    assert df["ticker"].str.startswith("^").sum() == 25


def test_empty_frame_keeps_its_column_types() -> None:
    panel = small_panel(n=3)
    empty = {k: v[:0] for k, v in panel.arrays().items()}
    df = build_frame(empty, list(panel.symbols))
    assert len(df) == 0 and df["ticker"].dtype == build_frame(panel.arrays(), list(panel.symbols))["ticker"].dtype
