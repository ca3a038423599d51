"""Live oracle: backtesting.py's own statistics on a real GOOG backtest equal ours where the formulas agree.

backtesting.py reports percent; ours are fractions.  Its "Sharpe Ratio" is our
``sharpe_ratio_geometric``; its Sortino uses a different numerator and is not compared.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from quantq.finance import metrics as m

from .tolerance import assert_close


@pytest.fixture(scope="module")
def run(backtesting: Any, goog: Any) -> Any:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(SMA, self.data.Close, 10)
            self.slow = self.I(SMA, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.fast, self.slow):
                self.buy(size=0.5)
            elif crossover(self.slow, self.fast):
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Backtest(goog, SmaCross, cash=10_000, commission=0.002, finalize_trades=True).run()


def test_return_statistics_match_backtesting_py(run: Any) -> None:
    equity = run._equity_curve["Equity"].to_numpy()
    times = run._equity_curve.index
    r = m.returns(equity)
    assert_close(m.total_return(equity), run["Return [%]"] / 100, what="total_return")
    assert_close(m.annual_return(r, 252), run["Return (Ann.) [%]"] / 100, what="annual_return")
    assert_close(m.sharpe_ratio_geometric(r, 252), run["Sharpe Ratio"], what="sharpe_ratio_geometric")
    assert_close(m.cagr(equity, times), run["CAGR [%]"] / 100, what="cagr")


def test_drawdown_statistics_match_backtesting_py(run: Any) -> None:
    equity = run._equity_curve["Equity"].to_numpy()
    times = run._equity_curve.index
    assert_close(m.max_drawdown(equity), run["Max. Drawdown [%]"] / 100, what="max_drawdown")
    assert_close(m.calmar_ratio(equity, 252), run["Calmar Ratio"], what="calmar")
    ep = m.drawdown_episode(equity, times)
    assert ep.longest_duration_days == run["Max. Drawdown Duration"].days
    assert m.max_drawdown(equity) < -0.05  # the comparison is not vacuous


def test_win_rate_matches_backtesting_py(run: Any) -> None:
    pnls = run._trades["PnL"].to_numpy()
    assert len(pnls) > 10
    assert_close(m.win_rate(pnls), run["Win Rate [%]"] / 100, what="win_rate")


def test_geometric_sharpe_with_risk_free_rate_matches(run: Any, goog: Any) -> None:
    from backtesting.lib import compute_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = compute_stats(stats=run, data=goog, risk_free_rate=0.02)
    r = m.returns(run._equity_curve["Equity"].to_numpy())
    assert_close(m.sharpe_ratio_geometric(r, 252, 0.02), stats["Sharpe Ratio"])
    assert not np.isclose(stats["Sharpe Ratio"], run["Sharpe Ratio"])  # the rate changed the figure
