"""Live oracle: empyrical-reloaded's statistics on real GOOG returns equal the pinned ones.

empyrical uses the same formulas as FINANCE.md for Sharpe (arithmetic mean over sample std),
Sortino (downside over all observations), annualised volatility, geometric annual return,
Calmar, historical VaR (numpy's linear percentile) and CVaR, and beta; it takes the risk-free
rate per period, so ours, annual, is converted with (1 + rf)^(1/N) - 1 before the call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from quantq.finance import metrics as m

from .tolerance import assert_close


@pytest.fixture(scope="module")
def series(goog: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    close = goog["Close"].to_numpy(dtype=np.float64)
    bench = goog["Open"].to_numpy(dtype=np.float64)  # a second real series to regress on
    return close, m.returns(close), m.returns(bench)


@pytest.mark.parametrize(("rf", "n"), [(0.0, 252), (0.03, 252), (0.02, 52)])
def test_ratios_match_empyrical(empyrical: Any, series: Any, rf: float, n: int) -> None:
    _, r, _ = series
    rf_p = (1 + rf) ** (1 / n) - 1
    assert_close(m.sharpe_ratio(r, n, rf), empyrical.sharpe_ratio(r, rf_p, annualization=n), what="sharpe")
    assert_close(m.sortino_ratio(r, n, rf), empyrical.sortino_ratio(r, rf_p, annualization=n), what="sortino")
    assert_close(m.volatility(r, n), empyrical.annual_volatility(r, annualization=n), what="volatility")
    assert_close(m.annual_return(r, n), empyrical.annual_return(r, annualization=n), what="annual_return")


def test_drawdown_and_calmar_match_empyrical(empyrical: Any, series: Any) -> None:
    close, r, _ = series
    assert_close(m.max_drawdown(close), empyrical.max_drawdown(r), what="max_drawdown")
    assert_close(m.calmar_ratio(close, 252), empyrical.calmar_ratio(r, annualization=252), what="calmar")


@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.9])
def test_historical_var_and_cvar_match_empyrical(empyrical: Any, series: Any, confidence: float) -> None:
    _, r, _ = series
    cutoff = 1 - confidence
    assert_close(m.var_historical(r, confidence), empyrical.value_at_risk(r, cutoff), what="var")
    assert_close(m.cvar_historical(r, confidence), empyrical.conditional_value_at_risk(r, cutoff), what="cvar")


def test_beta_matches_empyrical(empyrical: Any, series: Any) -> None:
    _, r, b = series
    assert_close(m.beta(r, b), empyrical.beta(r, b), what="beta")
    assert_close(m.correlation(r, b), float(np.corrcoef(r, b)[0, 1]), rel=1e-12, what="correlation")
