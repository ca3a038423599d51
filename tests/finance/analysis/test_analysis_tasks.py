"""The technical_analysis and portfolio_analysis jobs on a real market-data store in a temporary folder."""

from __future__ import annotations

import ast
import json
import pathlib
from typing import Any

import numpy as np
import pytest

from quantq import errors
from quantq.context import TaskContext
from quantq.finance import indicators as ind
from quantq.finance import portfolio as pf
from quantq.finance import technical as ta
from quantq.finance.tasks import analysis as A
from quantq.tasks import Registry

from .tolerance import assert_close


class Recorder:
    def __init__(self, cancel: bool = False) -> None:
        self.messages: list[tuple[float, str | None]] = []
        self.cancel = cancel

    def progress(self, percent: float, message: str | None) -> None:
        self.messages.append((percent, message))

    def cancelled(self) -> bool:
        return self.cancel


def _ctx(reporter: Recorder, name: str) -> TaskContext:
    return TaskContext(job_id="job-1", task=name, queue="default", attempt=1, reporter=reporter)


@pytest.fixture(scope="module")
def store_url(goog: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    from quantq.finance.data.store import MarketStore
    from quantq.finance.schema import Bars

    root = tmp_path_factory.mktemp("store")
    store = MarketStore.open(str(root))
    ts = goog.index.to_numpy().astype("datetime64[ns]")
    cols = [goog[c].to_numpy(dtype=np.float64) for c in ("Open", "High", "Low", "Close", "Volume")]
    store.write_bars("GOOG", Bars(ts, *cols, daily=True), "1d")
    # a second symbol: GOOG x 1.1 starting 100 bars later, so alignment has something to drop
    store.write_bars("GOOX", Bars(ts[100:], *(c[100:] * 1.1 for c in cols), daily=True), "1d")
    # a third with only 10 bars: too short for most indicators, still analysable
    store.write_bars("TINY", Bars(ts[:10], *(c[:10] for c in cols), daily=True), "1d")
    return str(root)


@pytest.fixture
def data_env(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("QUANTQ_DATA", store_url)
    return store_url


def test_tasks_are_registered_with_typed_schemas() -> None:
    reg = Registry()
    reg.load_module("quantq.finance.tasks")
    assert {"technical_analysis", "portfolio_analysis"} <= set(reg.names())
    tech = reg.get("technical_analysis").args_schema()["properties"]
    assert {"stockId", "symbol", "indicators", "bar_size", "include_series", "store_series"} <= set(tech)
    port = reg.get("portfolio_analysis").args_schema()
    assert "holdings" in port["required"] and "periods_per_year" in port["properties"]


def test_seed_shaped_job_runs_every_symbol(data_env: str) -> None:
    rec = Recorder()
    out = A.technical_analysis.run({"stockId": None, "indicators": ["RSI", "MACD", "SMA_20"]}, _ctx(rec, "technical_analysis"))
    json.dumps(out, allow_nan=False)
    assert out["success"] is True and out["total_symbols"] == 3 and out["processed_count"] == 3
    assert out["indicators"] == ["RSI", "MACD", "SMA_20"]
    assert [m for _, m in rec.messages] == ["GOOG: ok (1/3)", "GOOX: ok (2/3)", "TINY: ok (3/3)"]
    assert [p for p, _ in rec.messages] == pytest.approx([100 / 3, 200 / 3, 100])
    goog = out["data"]["GOOG"]
    assert goog["bars"] == 2148 and goog["last_time"] == "2013-03-01"
    assert {s["indicator"] for s in goog["signals"]} == {"RSI", "MACD", "SMA_20"}
    assert out["data"]["TINY"]["latest"]["SMA_20"]["real"] is None


def test_job_values_equal_talib_on_the_stored_bars(data_env: str, goog_bars: dict[str, np.ndarray]) -> None:
    out = A.technical_analysis.run(
        {"symbol": "goog", "indicators": [{"name": "RSI", "timeperiod": 10}, "BBANDS_20_2.5"], "include_series": True},
        _ctx(Recorder(), "technical_analysis"),
    )
    assert list(out["data"]) == ["GOOG"]
    import talib

    rsi = out["data"]["GOOG"]["indicators"][0]
    assert rsi["label"] == "RSI_10" and rsi["lookback"] == 10
    want = talib.RSI(goog_bars["close"], 10)
    got = np.array([np.nan if v is None else v for v in rsi["series"]["real"]])
    np.testing.assert_array_equal(got, want)
    assert out["data"]["GOOG"]["latest"]["BBANDS_20_2.5"]["upperband"] == talib.BBANDS(goog_bars["close"], 20, 2.5, 2.0)[0][-1]


def test_a_failing_symbol_is_reported_and_the_others_complete(store_url: str) -> None:
    class Flaky(A.BarSource):
        def read(self, symbol: str, bar_size: str, start: str | None, end: str | None) -> Any:
            if symbol == "GOOX":
                raise OSError("disk on fire")
            return super().read(symbol, bar_size, start, end)

    rec = Recorder()
    out = A.run_technical_analysis(
        ["GOOG", "GOOX", "NOPE"], ind.parse_specs(["RSI"]), ta.SignalConfig(), Flaky(store_url),
        progress=lambda p, msg: rec.progress(p, msg),
    )
    assert out["processed_count"] == 1 and out["failed_count"] == 2
    assert out["data"]["GOOX"] == {"symbol": "GOOX", "error": "OSError: disk on fire"}
    assert out["data"]["NOPE"]["error"].startswith("unknown symbol(s) NOPE: no 1d bars in the store (it has 3 symbols")
    assert "GOOG, GOOX, TINY" in out["data"]["NOPE"]["error"]
    assert [m for _, m in rec.messages] == ["GOOG: ok (1/3)", "GOOX: error (2/3)", "NOPE: error (3/3)"]


def test_dates_limit_the_bars(data_env: str, goog: Any) -> None:
    out = A.technical_analysis.run(
        {"symbols": ["GOOG"], "indicators": ["SMA_5"], "start": "2013-01-01", "end": "2013-01-31"},
        _ctx(Recorder(), "technical_analysis"),
    )
    # January 2013: 23 weekdays less New Year's Day and Martin Luther King Day
    in_range = ((goog.index >= "2013-01-01") & (goog.index <= "2013-01-31")).sum()
    assert out["data"]["GOOG"]["bars"] == in_range == 21 and out["data"]["GOOG"]["last_time"] == "2013-01-31"
    empty = A.technical_analysis.run(
        {"symbols": ["GOOG"], "indicators": ["SMA_5"], "start": "1990-01-01", "end": "1990-02-01"},
        _ctx(Recorder(), "technical_analysis"),
    )
    assert "no 1d bars for GOOG between 1990-01-01 and 1990-02-01" in empty["data"]["GOOG"]["error"]


def test_store_series_writes_them_next_to_the_bars(data_env: str) -> None:
    from quantq.finance.data.store import MarketStore

    out = A.technical_analysis.run({"symbol": "TINY", "indicators": ["SMA_3"], "store_series": True}, _ctx(Recorder(), "technical_analysis"))
    tiny = out["data"]["TINY"]
    assert tiny["series_stored"] is True and "series" not in tiny["indicators"][0]
    ts, columns = MarketStore.open(data_env).read_indicator_series("TINY", "1d")
    assert len(ts) == 10 and list(columns) == ["SMA_3.real"]
    assert np.isnan(columns["SMA_3.real"][:2]).all() and not np.isnan(columns["SMA_3.real"][2:]).any()


def test_store_series_falls_back_to_returning_them(store_url: str) -> None:
    class ReadOnly(A.BarSource):
        def write_series(self, symbol: str, bar_size: str, ts: np.ndarray, columns: dict[str, np.ndarray]) -> None:
            raise A.SeriesNotStored()

    out = A.run_technical_analysis(["TINY"], ind.parse_specs(["SMA_3"]), ta.SignalConfig(), ReadOnly(store_url), store_series=True)
    tiny = out["data"]["TINY"]
    assert tiny["series_stored"] is False
    assert len(tiny["indicators"][0]["series"]["real"]) == 10 and len(tiny["series_times"]) == 10


def test_store_series_uses_the_store_when_it_can(store_url: str) -> None:
    written: dict[str, Any] = {}

    class Writable(A.BarSource):
        def write_series(self, symbol: str, bar_size: str, ts: np.ndarray, columns: dict[str, np.ndarray]) -> None:
            written[symbol] = (len(ts), sorted(columns))

    out = A.run_technical_analysis(["TINY"], ind.parse_specs(["MACD", "SMA_3"]), ta.SignalConfig(), Writable(store_url), store_series=True)
    assert out["data"]["TINY"]["series_stored"] is True and "series" not in out["data"]["TINY"]["indicators"][0]
    assert written == {"TINY": (10, ["MACD.macd", "MACD.macdhist", "MACD.macdsignal", "SMA_3.real"])}


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ({"stockId": 123}, "stockId", "names stocks by symbol"),
        ({"indicators": ["RSI", "FOO"]}, "indicators.1", "unknown indicator 'FOO'; known indicators: "),
        ({"indicators": ["RSI", "SMA_20", {"name": "SMA", "timeperiod": 20}]}, "indicators", "repeated: SMA_20"),
        ({"indicators": [{"name": "RSI", "timeperiod": 1}]}, "indicators", "TA-Lib rejects"),
        ({"signals": {"rsi_high": 80}}, "signals", "rsi_high"),
        ({"indicators": []}, "indicators", "at least 1"),
        ({"pattern_bars": 0}, "pattern_bars", "greater than or equal to 1"),
        ({"colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_bad_technical_arguments_name_the_field(data_env: str, args: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(errors.InvalidArguments) as info:
        A.technical_analysis.run(args, _ctx(Recorder(), "technical_analysis"))
    assert field in str(info.value) and message in str(info.value)


def test_every_bad_indicator_is_reported(data_env: str) -> None:
    with pytest.raises(errors.InvalidArguments) as info:
        A.technical_analysis.run({"indicators": ["RSI_1", "SMA_20", "FOO"]}, _ctx(Recorder(), "technical_analysis"))
    assert [f for f, _ in info.value.problems] == ["indicators.0", "indicators.2"]


def test_schemas_describe_the_arguments() -> None:
    props = A.technical_analysis.args_schema()["properties"]
    assert "PATTERNS" in props["indicators"]["description"] and props["indicators"]["minItems"] == 1
    assert "252" in A.portfolio_analysis.args_schema()["properties"]["periods_per_year"]["description"]


def test_cancellation_stops_the_job(data_env: str) -> None:
    with pytest.raises(errors.JobCancelled):
        A.technical_analysis.run({"indicators": ["RSI"]}, _ctx(Recorder(cancel=True), "technical_analysis"))


def test_an_empty_store_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    from quantq.finance.data.store import MarketStore

    MarketStore.open(str(tmp_path))
    with pytest.raises(A.NothingToProcess, match="no 1d bars"):
        A.run_technical_analysis(None, ind.parse_specs(["RSI"]), ta.SignalConfig(), A.BarSource(str(tmp_path)))


def test_portfolio_job_by_hand_on_aligned_closes(data_env: str, goog_bars: dict[str, np.ndarray]) -> None:
    rec = Recorder()
    out = A.portfolio_analysis.run(
        {"holdings": [{"symbol": "goog", "weight": 0.25}, {"symbol": "GOOX", "weight": 0.75}], "benchmark": "GOOG", "include_series": True},
        _ctx(rec, "portfolio_analysis"),
    )
    json.dumps(out, allow_nan=False)
    assert out["periods_per_year"] == 252 and out["bars"] == 2048
    assert out["bars_dropped_by_alignment"] == {"GOOG": 100, "GOOX": 0}
    assert out["first_time"] == "2005-01-11" and out["times"][0] == "2005-01-11"
    # both holdings are GOOG's closes (one x 1.1) from bar 100 on: the portfolio moves exactly with GOOG
    c = goog_bars["close"][100:]
    assert_close(out["total_return"], c[-1] / c[0] - 1, rel=1e-12)
    assert_close(out["beta"], 1.0, rel=1e-9)
    assert_close([h["return_contribution"] for h in out["holdings"]], [0.25 * (c[-1] / c[0] - 1), 0.75 * (c[-1] / c[0] - 1)], rel=1e-12)
    direct = pf.analyze_portfolio(
        np.column_stack([c, c * 1.1]), pf.Holdings.build({"GOOG": 0.25, "GOOX": 0.75}, "weights"), pf.PortfolioConfig(periods_per_year=252)
    )
    assert_close(out["sharpe_ratio"], direct.sharpe_ratio, rel=1e-12)
    assert_close(out["var_historical"], direct.var_historical, rel=1e-12)
    assert [m for _, m in rec.messages][-1] == "analysed" and rec.messages[0][1] == "read GOOG (1/2)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"holdings": {"GOOG": 0.5, "NOPE": 0.5}, "kind": "weights"}, "unknown symbol(s) NOPE: no 1d bars in the store (it has 3 symbols with 1d bars: GOOG, GOOX, TINY)"),
        ({"holdings": {"GOOG": 1.0}, "kind": "weights", "benchmark": "SPX"}, "unknown symbol(s) SPX"),
        ({"holdings": {"GOOG": 0.5, "GOOX": 0.4}, "kind": "weights"}, "weights sum to 0.9; they must sum to 1"),
        ({"holdings": {"GOOG": 1.0}}, "say whether"),
        ({"holdings": {"GOOG": 1.0}, "kind": "weights", "bar_size": "1h"}, "periods_per_year: required for bar size '1h'"),
        ({"holdings": {"GOOG": 1.0}, "kind": "weights", "rebalance": "monthly"}, "rebalance"),
        ({"holdings": {"GOOG": 1.0}, "kind": "weights", "periods_per_year": 0}, "periods_per_year"),
        ({"holdings": {"GOOG": 0.5, "goog": 0.5}, "kind": "weights"}, "held twice (ignoring case): GOOG"),
        ({"holdings": {"GOOG": 0.5, "TINY": 0.5}, "kind": "weights", "start": "2010-01-01"}, "no 1d bars for TINY between 2010-01-01"),
    ],
)
def test_bad_portfolio_arguments_are_clear(data_env: str, args: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidArguments) as info:
        A.portfolio_analysis.run(args, _ctx(Recorder(), "portfolio_analysis"))
    assert message in str(info.value)


def test_pure_modules_do_not_import_the_queue_core() -> None:
    root = pathlib.Path(A.__file__).resolve().parents[1]
    paths = [root / "indicators.py", root / "technical.py", root / "portfolio.py", *sorted((root / "metrics").glob("*.py"))]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not (name == "quantq" or (name.startswith("quantq.") and not name.startswith("quantq.finance"))), f"{path.name} imports {name}"


def test_series_bars_keeps_the_tail_with_its_times(data_env: str, goog_bars: dict[str, np.ndarray]) -> None:
    out = A.technical_analysis.run(
        {"symbol": "GOOG", "indicators": ["SMA_3", "DOJI"], "include_series": True, "series_bars": 4},
        _ctx(Recorder(), "technical_analysis"),
    )
    goog = out["data"]["GOOG"]
    assert goog["series_times"] == ["2013-02-26", "2013-02-27", "2013-02-28", "2013-03-01"]
    c = goog_bars["close"]
    want = [float(np.mean(c[i - 2 : i + 1])) for i in range(len(c) - 4, len(c))]
    assert goog["indicators"][0]["series"]["real"] == pytest.approx(want, rel=1e-12)
    assert len(goog["indicators"][1]["series"]["integer"]) == 4
