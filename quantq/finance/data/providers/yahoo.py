"""Yahoo Finance through yfinance (optional extra ``quantq[yahoo]``), imported only when used.

Bars are yfinance's ``auto_adjust=True`` OHLC (split- and dividend-adjusted).  Daily rows are
labelled by their session date; intraday rows by their UTC start time.  Rows where every price
is missing (yfinance emits them for days without trading) are dropped and counted; a row with
only some prices missing is an error, as everywhere in quantq.
"""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import numpy as np

from quantq.finance.data.providers import ProviderError, SourceUnavailable
from quantq.finance.schema import Bars, SchemaError, check_symbol, is_daily

HOST = "query1.finance.yahoo.com"
INTERVALS = {
    "1m": "1m",
    "2m": "2m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1h",
    "1d": "1d",
    "1w": "1wk",
    "1mo": "1mo",
}


def check_network(host: str = HOST, timeout: float = 5.0) -> None:
    """Raise ProviderError unless a TCP connection to Yahoo's API host opens (yfinance itself swallows errors)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            pass
    except OSError as exc:
        raise SourceUnavailable(
            f"Yahoo Finance is unreachable ({host}:443: {exc}); check the network or use source drop_folder"
        ) from None


def _yfinance() -> Any:
    try:
        import yfinance
    except ImportError:
        raise SourceUnavailable("source yahoo_finance needs yfinance: pip install 'quantq[yahoo]'") from None
    return yfinance


def bars_from_yahoo_frame(frame: Any, symbol: str, bar_size: str) -> tuple[Bars, int]:
    """Convert a ``yfinance.download`` frame (flat or (Price, Ticker) columns) to Bars; also returns dropped empty rows."""
    import pandas as pd

    if frame is None or len(frame) == 0:
        raise ProviderError(
            f"Yahoo Finance returned no data for {symbol} (unknown symbol, empty range or a failed request)"
        )
    df = frame
    if isinstance(df.columns, pd.MultiIndex):
        tickers = df.columns.get_level_values(-1)
        if symbol in set(tickers):
            df = df.xs(symbol, axis=1, level=-1)
        elif len(set(tickers)) == 1:
            df = df.droplevel(-1, axis=1)
        else:
            raise ProviderError(f"Yahoo Finance response has no columns for {symbol}")
    df = df.rename(columns=lambda c: str(c).strip().lower())
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in df.columns]
    if missing:
        raise ProviderError(f"Yahoo Finance response for {symbol} lacks columns {missing}")
    prices = df[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    empty = np.isnan(prices).all(axis=1)
    df = df.loc[~empty]
    idx = pd.DatetimeIndex(df.index)
    if is_daily(bar_size):
        # the session date is the exchange-local calendar date yfinance labels the row with
        days = idx.tz_localize(None) if idx.tz is not None else idx
        ts = days.normalize().values.astype("datetime64[ns]")
    else:
        if idx.tz is None:
            raise ProviderError(f"Yahoo Finance gave naive intraday times for {symbol}")
        ts = idx.tz_convert("UTC").tz_localize(None).values.astype("datetime64[ns]")
    try:
        bars = Bars(
            ts,
            df["open"].to_numpy(np.float64),
            df["high"].to_numpy(np.float64),
            df["low"].to_numpy(np.float64),
            df["close"].to_numpy(np.float64),
            df["volume"].to_numpy(np.float64),
            daily=is_daily(bar_size),
        )
    except SchemaError as exc:
        raise ProviderError(f"Yahoo Finance data for {symbol} is invalid: {exc}") from None
    return bars, int(empty.sum())


class YahooProvider:
    name = "yahoo_finance"

    def __init__(self) -> None:
        self._checked = False

    def fetch(self, symbol: str, start: dt.date | None, end: dt.date | None, bar_size: str) -> Bars:
        sym = check_symbol(symbol)
        if bar_size not in INTERVALS:
            raise ProviderError(f"Yahoo Finance has no bar size {bar_size!r}; use one of {sorted(INTERVALS)}")
        yf = _yfinance()
        if not self._checked:
            check_network()
            self._checked = True
        end_excl = (end + dt.timedelta(days=1)).isoformat() if end else None  # yfinance's end is exclusive
        kwargs: dict[str, Any] = {
            "interval": INTERVALS[bar_size],
            "auto_adjust": True,
            "actions": False,
            "progress": False,
            "threads": False,
        }
        if start is None and end is None:
            kwargs["period"] = "1y"
        else:
            kwargs["start"] = start.isoformat() if start else None
            kwargs["end"] = end_excl
        try:
            frame = yf.download(sym, **kwargs)
        except Exception as exc:  # yfinance raises many kinds; the message is what matters to the user
            raise ProviderError(f"Yahoo Finance download of {sym} failed: {exc}") from None
        bars, _ = bars_from_yahoo_frame(frame, sym, bar_size)
        return bars
