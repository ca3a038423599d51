"""Position mode against backtesting.py run live: SMA(10)/SMA(20) crossover on GOOG daily,
10,000 cash, 0.2 % commission, exclusive orders -> the same trades, bar by bar."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantq.finance.backtest import ExecutionConfig, kernel, run_backtest
from quantq.finance.strategy import helpers
from tests.finance.strategy.conftest import require_oracle

REL = 1e-9
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


def close_enough(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def test_close_enough_rejects_unequal_numbers():
    assert close_enough(1.0, 1.0 + 1e-12)
    assert not close_enough(1.0, 1.0 + 1e-6)
    assert not close_enough(462.64, 462.63)


@pytest.fixture(scope="module")
def oracle():
    bt_mod = require_oracle("backtesting")
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

    class SmaCross(bt_mod.Strategy):
        def init(self):
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 20)

        def next(self):
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.sell()

    stats = bt_mod.Backtest(GOOG, SmaCross, cash=10_000, commission=0.002, exclusive_orders=True).run()
    return GOOG, stats


@pytest.fixture(scope="module")
def ours(oracle):
    goog, _ = oracle
    close = goog["Close"].to_numpy()
    fast, slow = helpers.sma(close, 10), helpers.sma(close, 20)
    target = helpers.entries_to_target(helpers.crossover(fast, slow), helpers.crossunder(fast, slow))
    cfg = ExecutionConfig(cash=10_000, commission=0.002)
    return run_backtest(goog["Open"].to_numpy(), close, target, cfg, symbols=["GOOG"]).symbols[0], (goog["Open"].to_numpy(), close, target, cfg)


def test_summary_matches(oracle, ours):
    _, stats = oracle
    res, _ = ours
    assert stats["# Trades"] == 93 and res.stats["trade_count"] == 93
    assert close_enough(res.stats["total_return"] * 100, stats["Return [%]"])
    assert round(res.stats["total_return"] * 100, 2) == 462.64
    assert close_enough(res.stats["final_equity"], stats["Equity Final [$]"])
    assert close_enough(res.stats["win_rate"] * 100, stats["Win Rate [%]"])
    assert close_enough(res.stats["max_drawdown"] * 100, stats["Max. Drawdown [%]"])
    assert close_enough(res.stats["annual_return"] * 100, stats["Return (Ann.)[%]"] if "Return (Ann.)[%]" in stats else stats["Return (Ann.) [%]"])
    assert close_enough(res.stats["sharpe_ratio_geometric"], stats["Sharpe Ratio"])


def test_trades_match_row_by_row(oracle, ours):
    _, stats = oracle
    res, _ = ours
    theirs = stats["_trades"]
    closed = [t for t in res.trades if t.is_closed]
    assert len(closed) == len(theirs)
    for mine, (_, row) in zip(closed, theirs.iterrows(), strict=True):
        assert (mine.entry_bar, mine.exit_bar, mine.size) == (row.EntryBar, row.ExitBar, row.Size)
        assert mine.entry_price == row.EntryPrice and mine.exit_price == row.ExitPrice
        assert close_enough(mine.pnl, row.PnL) and close_enough(mine.commission, row.Commission)
        assert close_enough(mine.return_pct, row.ReturnPct)


def test_equity_curve_matches_bar_by_bar(oracle, ours):
    _, stats = oracle
    res, _ = ours
    np.testing.assert_allclose(res.equity, stats["_equity_curve"]["Equity"].to_numpy(), rtol=REL)


def test_reference_loop_gives_the_same_run(ours):
    res, (o, c, t, cfg) = ours
    ref = run_backtest(o, c, t, cfg, symbols=["GOOG"], simulate=kernel.simulate_reference).symbols[0]
    np.testing.assert_array_equal(ref.equity, res.equity)
    assert ref.trades == res.trades
