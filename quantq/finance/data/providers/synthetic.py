"""Synthetic bars for any symbol name: seeded by (seed, crc32(symbol)), on XNYS sessions."""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np

from quantq.finance.data.providers import ProviderError
from quantq.finance.data.synthetic import generate_bars, xnys_sessions_between
from quantq.finance.schema import Bars, check_symbol, is_daily


class SyntheticProvider:
    name = "synthetic"

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed

    def fetch(self, symbol: str, start: dt.date | None, end: dt.date | None, bar_size: str) -> Bars:
        if not is_daily(bar_size) or bar_size != "1d":
            raise ProviderError("the synthetic source makes daily bars only (bar_size 1d)")
        end = end or dt.datetime.now(dt.UTC).date()
        start = start or end - dt.timedelta(days=365)
        if start > end:
            raise ProviderError(f"start {start} is after end {end}")
        try:
            sessions, _ = xnys_sessions_between(start, end)
        except Exception as exc:  # exchange_calendars' range errors carry the useful message
            raise ProviderError(f"no XNYS calendar for {start}..{end}: {exc}") from None
        if len(sessions) == 0:
            raise ProviderError(f"no XNYS sessions between {start} and {end}")
        dates = np.asarray(sessions.values, dtype="datetime64[ns]")
        bars, _ = generate_bars(zlib.crc32(check_symbol(symbol).encode()), dates, self.seed)
        return bars
