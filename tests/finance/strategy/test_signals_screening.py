"""Signal-mode forward returns and screening ranks, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantq.finance.backtest.config import ExecutionConfig
from quantq.finance.backtest.panel import Panel, backtest_targets, signal_performance
from quantq.finance.screening import rank

DAY = 86_400 * 10**9
T0 = np.datetime64("2024-01-01", "ns").astype(np.int64)


def _panel() -> Panel:
    dates = T0 + np.arange(6) * DAY
    a = {"date": dates, "open": np.array([10, 11, 12, 13, 14, 15.0]), "high": np.full(6, 20.0), "low": np.full(6, 5.0),
         "close": np.array([10.5, 11.5, 12.5, 13.5, 14.5, 15.5]), "volume": np.full(6, 100.0)}
    b = {"date": dates[:4], "open": np.array([20, 19, 18, 17.0]), "high": np.full(4, 30.0), "low": np.full(4, 5.0),
         "close": np.array([20, 19, 18, 17.0]), "volume": np.full(4, 100.0)}
    return Panel.from_columns({"AAA": a, "BBB": b})


def test_forward_returns_by_hand():
    inst = [
        {"ticker": "AAA", "date": "2024-01-01", "signal": True},  # enter 11 (open day 2), exit close day 3 = 12.5
        {"ticker": "BBB", "date": "2024-01-01 00:00:00", "signal": "sell"},  # short 19 -> 18
        {"ticker": "AAA", "date": "2024-01-05", "signal": True},  # no bars after: skipped
        {"ticker": "AAA", "date": "2024-01-02", "signal": False},  # not traded
        {"ticker": "ZZZ", "date": "2024-01-01", "signal": 1},  # unknown ticker: skipped
    ]
    m = signal_performance(inst, _panel(), horizon=2, commission=0.0)
    r1, r2 = 12.5 / 11 - 1, -(18 / 19 - 1)
    assert m["trades_evaluated"] == 2 and m["instances_without_forward_data"] == 2 and m["signals_traded"] == 4
    assert m["total_return"] == pytest.approx(r1 + r2, rel=1e-12)
    assert m["avg_return"] == pytest.approx((r1 + r2) / 2, rel=1e-12)
    assert m["win_rate"] == 1.0
    with_fee = signal_performance(inst[:1], _panel(), horizon=2, commission=0.01)
    assert with_fee["total_return"] == pytest.approx(r1 - 0.01 * (1 + 12.5 / 11), rel=1e-12)


def test_forward_returns_empty_and_bad_horizon():
    m = signal_performance([], _panel(), horizon=1, commission=0.0)
    assert math.isnan(m["total_return"]) and m["trades_evaluated"] == 0
    with pytest.raises(ValueError):
        signal_performance([], _panel(), horizon=0, commission=0.0)


def test_panel_backtest_sums_accounts():
    p = _panel()
    target = np.full(len(p), np.nan)
    target[0] = 1.0  # AAA long from day 2
    out = backtest_targets(p, target, ExecutionConfig(cash=100.0))
    aaa, bbb = out["symbols"]
    assert aaa.trades[0].size == 9 and bbb.trades == ()
    np.testing.assert_allclose(out["equity"][:4], aaa.equity[:4] + 100.0)
    np.testing.assert_allclose(out["equity"][4:], aaa.equity[4:] + 100.0)  # BBB ended: its cash stays
    assert out["equity_dates"][0] == "2024-01-01" and len(out["equity_dates"]) == 6
    with pytest.raises(ValueError):
        backtest_targets(p, target[:3], ExecutionConfig())


def test_rank_orders_limits_and_dedups():
    rows = [
        {"ticker": "A", "score": 0.5, "message": "a"},
        {"ticker": "B", "score": 0.9},
        {"ticker": "A", "score": 0.7},
        {"ticker": "C", "score": float("nan")},
        {"ticker": "D", "score": None},
        {"ticker": "X", "score": 5.0},  # not in the universe
        {"ticker": "E", "score": 0.9},
    ]
    out = rank(rows, ["A", "B", "C", "D", "E"], limit=3)
    assert [(r["ticker"], r["score"], r["rank"]) for r in out] == [("B", 0.9, 1), ("E", 0.9, 2), ("A", 0.7, 3)]
    assert rank(rows, ["A", "B", "C", "D", "E"], limit=1)[0]["ticker"] == "B"
    with pytest.raises(ValueError):
        rank(rows, ["A"], limit=0)
