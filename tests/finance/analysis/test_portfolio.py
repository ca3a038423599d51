"""Portfolio metrics against hand-computed values on a 5-bar, 2-asset series."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from quantq.finance import metrics as m
from quantq.finance import portfolio as pf

from .tolerance import assert_close

# prices: A 10 11 12 11.5 13, B 20 19 21 18 20
P = np.array([[10.0, 20.0], [11.0, 19.0], [12.0, 21.0], [11.5, 18.0], [13.0, 20.0]])
# buy and hold 50/50 from V_0 = 1: q_A = 0.5 / 10 = 0.05, q_B = 0.5 / 20 = 0.025
# V = 0.05 A + 0.025 B = 1.0, 0.55 + 0.475 = 1.025, 0.6 + 0.525 = 1.125, 0.575 + 0.45 = 1.025, 0.65 + 0.5 = 1.15
V = [1.0, 1.025, 1.125, 1.025, 1.15]
R_BH = [0.025, 0.1 / 1.025, -0.1 / 1.125, 0.125 / 1.025]
# contribution C_{t,i} = (weight held over the period) x (asset return):
# t1: 0.5 x 0.1 = 0.05 and 0.5 x -0.05 = -0.025
# t2: (0.55/1.025) x (1/11) = 0.05/1.025 and (0.475/1.025) x (2/19) = 0.05/1.025
# t3: (0.6/1.125) x (-0.5/12) = -0.025/1.125 and (0.525/1.125) x (-3/21) = -0.075/1.125
# t4: (0.575/1.025) x (1.5/11.5) = 0.075/1.025 and (0.45/1.025) x (2/18) = 0.05/1.025
C_A = [0.05, 0.05 / 1.025, -0.025 / 1.125, 0.075 / 1.025]
C_B = [-0.025, 0.05 / 1.025, -0.075 / 1.125, 0.05 / 1.025]
BENCH = [100.0, 101.0, 103.0, 102.0, 104.0]
CFG = pf.PortfolioConfig(periods_per_year=252)


def _cov_over_var(x: list[float], y: list[float]) -> float:
    """sum((x - mean x)(y - mean y)) / sum((y - mean y)^2): the n - 1 cancels."""
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum((b - my) ** 2 for b in y)


def test_buy_and_hold_weights_by_hand() -> None:
    res = pf.analyze_portfolio(P, pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights"), CFG)
    assert_close(res.values, V)
    assert_close(res.returns, R_BH)
    assert_close(res.total_return, 0.15)
    # drawdown: peak 1.125 on bar 2, 1.025 on bar 3 -> 1.025 / 1.125 - 1 = -0.0888..., back above on bar 4
    assert_close(res.max_drawdown, 1.025 / 1.125 - 1)
    assert (res.drawdown.peak, res.drawdown.trough, res.drawdown.recovery) == (2, 3, 4)
    mean = sum(R_BH) / 4
    std = math.sqrt(sum((x - mean) ** 2 for x in R_BH) / 3)
    assert_close(res.volatility, std * math.sqrt(252))
    assert_close(res.sharpe_ratio, mean / std * math.sqrt(252))
    # downside: only -0.1/1.125 is negative; mean of squares over all 4 observations
    downside = math.sqrt((0.1 / 1.125) ** 2 / 4)
    assert_close(res.sortino_ratio, mean * 252 / (downside * math.sqrt(252)))
    # annual return: 1.15^(252/4) - 1; calmar divides by 0.0888...
    assert_close(res.annual_return, 1.15 ** (252 / 4) - 1)
    assert_close(res.calmar_ratio, (1.15 ** (252 / 4) - 1) / (1 - 1.025 / 1.125))
    # historical VaR 95 % on 4 returns: h = 3 x 0.05 = 0.15 between the two smallest; CVaR = the smallest
    x0, x1 = -0.1 / 1.125, 0.025
    assert_close(res.var_historical, x0 + 0.15 * (x1 - x0))
    assert_close(res.cvar_historical, x0)
    assert_close(res.var_parametric, mean - 1.6448536269514722 * std, rel=1e-12)


def test_contribution_by_holding_by_hand() -> None:
    res = pf.analyze_portfolio(P, pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights"), CFG)
    a, b = res.holdings
    assert (a.symbol, b.symbol) == ("A", "B")
    # P&L over V_0: A 0.05 x (13 - 10) = 0.15, B 0.025 x (20 - 20) = 0; they add up to the total return
    assert_close(a.return_contribution, 0.15)
    assert_close(b.return_contribution, 0.0, abs_tol=1e-15)
    assert_close(a.return_contribution + b.return_contribution, res.total_return)
    assert_close([a.start_weight, b.start_weight], [0.5, 0.5])
    assert_close([a.end_weight, b.end_weight], [0.65 / 1.15, 0.5 / 1.15])
    assert_close([a.total_return, b.total_return], [0.3, 0.0], abs_tol=1e-15)
    # risk contribution: cov(C_i, r) / var(r); they add up to 1
    assert_close(a.risk_contribution, _cov_over_var(C_A, R_BH))
    assert_close(b.risk_contribution, _cov_over_var(C_B, R_BH))
    assert_close(a.risk_contribution + b.risk_contribution, 1.0)


def test_quantities_give_the_same_returns_on_their_own_scale() -> None:
    # 10 A at 10 and 5 B at 20: V_0 = 200, the same 50/50 split, so V = 200 x the weights case
    res = pf.analyze_portfolio(P, pf.Holdings.build([{"symbol": "A", "quantity": 10}, {"symbol": "B", "quantity": 5}]), CFG)
    assert res.kind == "quantities"
    assert_close(res.values, [200 * v for v in V])
    assert_close(res.returns, R_BH)
    assert_close(res.holdings[0].return_contribution, 10 * 3 / 200)


def test_rebalanced_every_period_by_hand() -> None:
    cfg = pf.PortfolioConfig(periods_per_year=252, rebalance="every_period")
    res = pf.analyze_portfolio(P, pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights"), cfg)
    ra = [0.1, 1 / 11, -0.5 / 12, 1.5 / 11.5]
    rb = [-0.05, 2 / 19, -3 / 21, 2 / 18]
    r = [0.5 * x + 0.5 * y for x, y in zip(ra, rb, strict=True)]
    assert_close(res.returns, r)
    growth = math.prod(1 + x for x in r)
    assert_close(res.total_return, growth - 1)
    assert_close([h.end_weight for h in res.holdings], [0.5, 0.5])
    # P&L of A per period is 0.5 x V_{t-1} x R_A; over V_0 = 1 they add up to the total return
    v_prev = [1.0, 1 + r[0], (1 + r[0]) * (1 + r[1]), (1 + r[0]) * (1 + r[1]) * (1 + r[2])]
    assert_close(res.holdings[0].return_contribution, sum(0.5 * vp * x for vp, x in zip(v_prev, ra, strict=True)))
    assert_close(sum(h.return_contribution for h in res.holdings), res.total_return)
    assert_close(sum(h.risk_contribution for h in res.holdings), 1.0)


def test_benchmark_beta_and_correlation_by_hand() -> None:
    res = pf.analyze_portfolio(P, pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights"), CFG, benchmark=BENCH)
    b = [1 / 100, 2 / 101, -1 / 103, 2 / 102]
    assert_close(res.beta, _cov_over_var(R_BH, b))
    mr, mb = sum(R_BH) / 4, sum(b) / 4
    corr = sum((x - mr) * (y - mb) for x, y in zip(R_BH, b, strict=True)) / math.sqrt(
        sum((x - mr) ** 2 for x in R_BH) * sum((y - mb) ** 2 for y in b)
    )
    assert_close(res.correlation, corr)
    assert_close(res.benchmark_total_return, 0.04)


def test_result_json_is_strict_and_carries_the_config() -> None:
    times = np.array(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], dtype="datetime64[ns]")
    res = pf.analyze_portfolio(P[:, :1], pf.Holdings.build({"A": 1.0}, "weights"), CFG, times=times)
    j = res.to_json(include_series=True)
    json.dumps(j, allow_nan=False)
    assert j["periods_per_year"] == 252 and j["rebalance"] == "none" and j["beta"] is None
    assert j["values"] == pytest.approx([1.0, 1.1, 1.2, 1.15, 1.3])
    assert_close(j["cagr"], 1.3 ** (365.25 / 6) - 1)
    assert j["drawdown"]["duration_days"] == 4.0  # peak 2024-01-04, recovered 2024-01-08: 4 days
    assert_close(res.sharpe_ratio, m.sharpe_ratio(m.returns([1.0, 1.1, 1.2, 1.15, 1.3]), 252))


@pytest.mark.parametrize(
    ("holdings", "kind", "message"),
    [
        ({"A": 0.5, "B": 0.4}, "weights", r"weights sum to 0.9; they must sum to 1"),
        ({"A": 0.7, "B": 0.7}, "weights", "weights sum to 1.4"),
        ({"A": 0.5, "B": 0.5}, None, "say whether"),
        ({}, "weights", "empty"),
        ({"A": math.nan, "B": 1.0}, "weights", "finite"),
        ({"A": "x"}, "quantities", "finite number"),
        ({"A": 0, "B": 0}, "quantities", "all quantities are zero"),
        ({" ": 1.0}, "weights", "non-empty string"),
        ([{"symbol": "A", "weight": 0.5}, {"symbol": "B", "quantity": 3}], None, "mix weights and quantities"),
        ([{"symbol": "A", "weight": 0.5, "quantity": 1}], None, "exactly one"),
        ([{"symbol": "A", "weight": 1.0, "price": 3}], None, "unknown field"),
        ([{"weight": 1.0}], None, "needs a 'symbol'"),
        ([{"symbol": "A", "weight": 0.5}, {"symbol": "A", "weight": 0.5}], None, "held twice: A"),
        ([{"symbol": "A", "weight": 1.0}], "quantities", "give weights but kind='quantities'"),
        ("AAPL", "weights", "mapping or a list"),
    ],
)
def test_bad_holdings_are_rejected_clearly(holdings: object, kind: object, message: str) -> None:
    with pytest.raises(pf.PortfolioError, match=message):
        pf.Holdings.build(holdings, kind)  # type: ignore[arg-type]


def test_bad_prices_and_benchmark_are_rejected() -> None:
    h = pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights")
    with pytest.raises(pf.PortfolioError, match=r"shape \(bars, 2\)"):
        pf.analyze_portfolio(P[:, :1], h, CFG)
    bad = P.copy()
    bad[2, 1] = np.nan
    with pytest.raises(pf.PortfolioError, match="NaN"):
        pf.analyze_portfolio(bad, h, CFG)
    bad[2, 1] = -1.0
    with pytest.raises(pf.PortfolioError, match=r"positive; columns \[1\]"):
        pf.analyze_portfolio(bad, h, CFG)
    with pytest.raises(pf.PortfolioError, match="benchmark has 3 bars"):
        pf.analyze_portfolio(P, h, CFG, benchmark=[1.0, 2.0, 3.0])
    with pytest.raises(pf.PortfolioError, match="starting value"):
        pf.analyze_portfolio(P, pf.Holdings.build({"A": -10, "B": 1}, "quantities"), CFG)
    with pytest.raises(pf.PortfolioError, match="no bars"):
        pf.analyze_portfolio(np.empty((0, 2)), h, CFG)


def test_config_rejects_unknown_fields_and_needs_periods() -> None:
    with pytest.raises(ValueError, match="extra"):
        pf.PortfolioConfig(periods_per_year=252, rebalancing="monthly")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        pf.PortfolioConfig()  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        pf.PortfolioConfig(periods_per_year=252, rebalance="monthly")  # type: ignore[arg-type]


def test_inputs_are_not_mutated() -> None:
    prices = P.copy()
    pf.analyze_portfolio(prices, pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights"), CFG, benchmark=BENCH)
    np.testing.assert_array_equal(prices, P)


def test_results_are_frozen() -> None:
    h = pf.Holdings.build({"A": 0.5, "B": 0.5}, "weights")
    assert h.to_json() == {"kind": "weights", "holdings": [{"symbol": "A", "weight": 0.5}, {"symbol": "B", "weight": 0.5}]}
    res = pf.analyze_portfolio(P, h, CFG)
    with pytest.raises(ValueError, match="read-only"):
        res.values[0] = 2.0
    with pytest.raises(ValueError, match="read-only"):
        res.returns[0] = 2.0
    with pytest.raises(AttributeError):
        res.total_return = 1.0  # type: ignore[misc]
