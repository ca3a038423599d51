"""Golden files (tests/golden/analysis/, made by make_goldens.py): compared field by field at relative 1e-9."""

from __future__ import annotations

import csv
import hashlib
import json
import pathlib
from typing import Any

import numpy as np

from quantq.finance import indicators as ind
from quantq.finance import metrics as m

from .tolerance import assert_close, assert_json_close

GOLDEN = pathlib.Path(__file__).resolve().parents[2] / "golden" / "analysis"


def _load(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


def test_metrics_equal_backtesting_py_golden() -> None:
    meta = _load("backtesting_goog_smacross.meta.json")
    path = GOLDEN / meta["equity_file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["equity_sha256"]
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    times = np.array([r["date"] for r in rows], dtype="datetime64[ns]")
    equity = np.array([float(r["equity"]) for r in rows])
    want = _load("backtesting_goog_smacross.json")
    n = meta["parameters"]["periods_per_year"]
    r = m.returns(equity)
    got = {
        "total_return": m.total_return(equity),
        "annual_return": m.annual_return(r, n),
        "sharpe_ratio_geometric": m.sharpe_ratio_geometric(r, n),
        "cagr": m.cagr(equity, times),
        "max_drawdown": m.max_drawdown(equity),
        "calmar_ratio": m.calmar_ratio(equity, n),
        "longest_drawdown_days": m.drawdown_episode(equity, times).longest_duration_days,
        "win_rate": m.win_rate(want["trade_pnls"]),
        "trade_pnls": want["trade_pnls"],
    }
    assert_json_close(got, want)


def test_report_matches_the_golden_too() -> None:
    want = _load("backtesting_goog_smacross.json")
    with (GOLDEN / "backtesting_goog_smacross_equity.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    equity = np.array([float(r["equity"]) for r in rows])
    times = np.array([r["date"] for r in rows], dtype="datetime64[ns]")
    rep = m.performance_report(equity, m.StatsConfig(periods_per_year=252), times=times, trade_pnls=want["trade_pnls"])
    for key in ("total_return", "annual_return", "sharpe_ratio_geometric", "cagr", "max_drawdown", "calmar_ratio", "win_rate"):
        assert_close(getattr(rep, key), want[key], what=key)


def test_indicators_equal_talib_golden(goog_bars: dict[str, np.ndarray], goog: Any) -> None:
    import backtesting

    meta = _load("talib_goog_core.meta.json")
    src = pathlib.Path(backtesting.__file__).parent / "test" / "GOOG.csv"
    assert hashlib.sha256(src.read_bytes()).hexdigest() == meta["input_sha256"]
    want = _load("talib_goog_core.json")
    for key, outputs in want["indicators"].items():
        name, *values = key.split("_")
        spec = ind.parse_spec(key)
        assert spec.name == name and len(values) == len(spec.params)
        got = list(ind.compute(spec, goog_bars).values())
        assert len(got) == len(outputs), key
        for g, w in zip(got, outputs, strict=True):
            assert spec.lookback == w["first_valid"], key
            assert_close(g[-5:], w["last5"], what=key)
            assert_close(float(np.nansum(g)), w["sum"], what=key)
    for name, bars in want["pattern_bars"].items():
        out = ind.compute(ind.make_spec(name), goog_bars)["integer"]
        assert np.flatnonzero(out).tolist() == bars, name
    assert sum(len(b) for b in want["pattern_bars"].values()) > 100  # the patterns do occur on GOOG
