from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantq.context import TaskContext
from quantq.finance.data.providers import ProviderError, SourceUnavailable, get_provider
from quantq.finance.data.providers import yahoo as yahoo_mod
from quantq.finance.data.store import MarketStore
from quantq.finance.data.update import update_prices
from quantq.finance.tasks.data import DataTaskError, price_update

from .conftest import RECORDED, SAMPLES, require


def _ctx() -> TaskContext:
    return TaskContext(job_id="job-1", task="price_update", queue="default", attempt=1)


def recorded_frame(symbol: str, bar_size: str) -> pd.DataFrame:
    """The recorded response in yfinance's shape: (Price, Ticker) MultiIndex columns."""
    df = pd.read_csv(RECORDED / f"yahoo_{symbol}_{bar_size}.csv")
    index_col = df.columns[0]
    if bar_size == "1d":
        index = pd.DatetimeIndex(pd.to_datetime(df[index_col]), name="Date")
    else:
        index = pd.DatetimeIndex(pd.to_datetime(df[index_col], utc=True), name="Datetime").tz_convert(
            "America/New_York"
        )
    df = df.drop(columns=[index_col]).set_index(index)
    df.columns = pd.MultiIndex.from_tuples([(c, symbol) for c in df.columns], names=["Price", "Ticker"])
    return df


@pytest.fixture
def fake_yahoo(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    yf = require("yfinance")
    calls: list[dict[str, Any]] = []

    def download(tickers: str, **kwargs: Any) -> pd.DataFrame:
        calls.append({"tickers": tickers, **kwargs})
        if tickers == "AAPL":
            return recorded_frame("AAPL", "1d" if kwargs["interval"] == "1d" else "1h")
        return pd.DataFrame()  # what yfinance returns for an unknown symbol

    monkeypatch.setattr(yf, "download", download)
    monkeypatch.setattr(yahoo_mod, "check_network", lambda *a, **k: None)
    return calls


def test_yahoo_recorded_daily(store: MarketStore, fake_yahoo: list[dict[str, Any]]) -> None:
    report = update_prices(
        store, get_provider("yahoo_finance"), ["AAPL", "NOPE"], start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 16)
    )
    ok, bad = report.results
    assert (ok.symbol, ok.status, ok.rows, ok.first, ok.last) == ("AAPL", "ok", 10, "2024-01-02", "2024-01-16")
    assert bad.status == "failed" and "returned no data for NOPE" in (bad.error or "")
    bars = store.read_bars("AAPL")
    raw = pd.read_csv(RECORDED / "yahoo_AAPL_1d.csv").dropna()
    assert np.array_equal(bars.close, raw["Close"].to_numpy()) and np.array_equal(bars.volume, raw["Volume"].to_numpy())
    assert str(bars.ts[0]) == "2024-01-02T00:00:00.000000000"  # session date at 00:00 UTC
    assert fake_yahoo[0]["end"] == "2024-01-17"  # yfinance's end is exclusive
    assert fake_yahoo[0]["auto_adjust"] is True and fake_yahoo[0]["progress"] is False


def test_yahoo_recorded_intraday_converted_to_utc(store: MarketStore, fake_yahoo: list[dict[str, Any]]) -> None:
    report = update_prices(store, get_provider("yahoo"), ["AAPL"], bar_size="1h")
    assert report.results[0].status == "ok"
    bars = store.read_bars("AAPL", "1h")
    # 09:30 EST = 14:30Z before the DST change, 09:30 EDT = 13:30Z after it
    assert [str(t)[:16] for t in bars.ts] == [
        "2024-03-08T14:30",
        "2024-03-08T15:30",
        "2024-03-11T13:30",
        "2024-03-11T14:30",
    ]
    assert fake_yahoo[0]["interval"] == "1h" and fake_yahoo[0]["period"] == "1y"


def test_yahoo_partial_nan_row_is_an_error() -> None:
    frame = recorded_frame("AAPL", "1d")
    frame.iloc[2, 0] = np.nan  # one price missing: not a holiday row, a broken one
    with pytest.raises(ProviderError, match="invalid"):
        yahoo_mod.bars_from_yahoo_frame(frame, "AAPL", "1d")


def test_yahoo_unreachable_network_is_a_clear_error(store: MarketStore, monkeypatch: pytest.MonkeyPatch) -> None:
    require("yfinance")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(SourceUnavailable, match="Yahoo Finance is unreachable"):
        update_prices(store, get_provider("yahoo_finance"), ["AAPL", "MSFT"])
    with pytest.raises(DataTaskError, match="unreachable"):
        price_update.run({"symbols": ["AAPL"], "source": "yahoo_finance", "data": store.url}, _ctx())
    assert store.list() == []


def test_yahoo_without_yfinance_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_yf(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "yfinance":
            raise ImportError("No module named 'yfinance'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_yf)
    with pytest.raises(SourceUnavailable, match=r"quantq\[yahoo\]"):
        get_provider("yahoo_finance").fetch("AAPL", None, None, "1d")


def test_drop_folder_provider(store: MarketStore, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "MSFT_daily.csv").write_bytes((SAMPLES / "MSFT_daily.csv").read_bytes())
    (folder / "BAD.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1,0.5,2,1,1\n")
    ctx = _ctx()
    out = price_update.run(
        {
            "symbols": ["MSFT", "BAD", "NONE"],
            "source": "drop_folder",
            "folder": str(folder),
            "start": "2017-01-01",
            "data": store.url,
        },
        ctx,
    )
    assert out["updated"] == 1
    failed = {f["symbol"]: f["error"] for f in out["failed"]}
    assert "row 1: high < low" in failed["BAD"] and "no file for NONE" in failed["NONE"]
    msft = store.read_bars("MSFT")
    assert str(msft.ts[0])[:10] == "2017-01-03" and str(msft.ts[-1])[:10] == "2017-11-10"
    assert ctx.last_progress is not None and ctx.last_progress[0] == 100.0
    with pytest.raises(DataTaskError, match="does not exist"):
        price_update.run(
            {"symbols": ["MSFT"], "source": "drop_folder", "folder": str(tmp_path / "nope"), "data": store.url}, ctx
        )


def test_synthetic_provider_is_deterministic(store: MarketStore) -> None:
    p = get_provider("synthetic", seed=7)
    a = p.fetch("ZZZ", dt.date(2024, 1, 1), dt.date(2024, 6, 30), "1d")
    b = get_provider("synthetic", seed=7).fetch("ZZZ", dt.date(2024, 1, 1), dt.date(2024, 6, 30), "1d")
    c = get_provider("synthetic", seed=8).fetch("ZZZ", dt.date(2024, 1, 1), dt.date(2024, 6, 30), "1d")
    assert np.array_equal(a.close, b.close) and not np.array_equal(a.close, c.close)
    assert str(a.ts[0])[:10] == "2024-01-02" and len(a) == 124  # XNYS sessions in H1 2024
    with pytest.raises(ProviderError, match="daily bars only"):
        p.fetch("ZZZ", None, None, "1h")


def test_price_update_seed_shape_and_schema() -> None:
    schema = price_update.args_schema()
    assert schema["required"] == ["symbols"]
    assert set(schema["properties"]["source"]["enum"]) >= {"yahoo_finance", "drop_folder", "synthetic"}
    from quantq.errors import InvalidArguments

    with pytest.raises(InvalidArguments):
        price_update.validate_args({"symbols": [], "source": "yahoo_finance"})
    with pytest.raises(InvalidArguments):
        price_update.validate_args({"symbols": ["A"], "source": "bloomberg"})


def test_unknown_source() -> None:
    with pytest.raises(ProviderError, match="unknown source"):
        get_provider("bloomberg")
