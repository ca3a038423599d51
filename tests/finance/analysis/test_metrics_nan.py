"""The NaN rules (fewer than 2 observations, zero denominators, never inf, null in JSON) and bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from quantq.finance import metrics as m

RETURN_STATS = [
    lambda r: m.sharpe_ratio(r, 252),
    lambda r: m.sortino_ratio(r, 252),
    lambda r: m.sharpe_ratio_geometric(r, 252),
    lambda r: m.volatility(r, 252),
    lambda r: m.annual_return(r, 252),
    lambda r: m.var_historical(r),
    lambda r: m.cvar_historical(r),
    lambda r: m.var_parametric(r),
    lambda r: m.cvar_parametric(r),
    lambda r: m.beta(r, r),
    lambda r: m.correlation(r, r),
]


@pytest.mark.parametrize("stat", RETURN_STATS)
@pytest.mark.parametrize("r", [[], [0.01]])
def test_fewer_than_two_observations_give_nan(stat, r) -> None:  # type: ignore[no-untyped-def]
    assert math.isnan(stat(np.array(r, dtype=float)))
    out = stat(np.array(r, dtype=float).reshape(-1, 1))
    assert out.shape == (1,) and math.isnan(out[0])


@pytest.mark.parametrize("equity", [[], [100.0]])
def test_equity_stats_of_fewer_than_two_points_are_nan(equity) -> None:  # type: ignore[no-untyped-def]
    e = np.array(equity, dtype=float)
    assert math.isnan(m.total_return(e))
    assert math.isnan(m.max_drawdown(e))
    assert math.isnan(m.max_drawdown_duration(e))
    assert math.isnan(m.calmar_ratio(e, 252))
    assert m.drawdown_episode(e).peak is None


def test_zero_denominators_give_nan_not_inf() -> None:
    flat = np.full(10, 0.001)
    assert math.isnan(m.sharpe_ratio(flat, 252))  # zero std
    assert math.isnan(m.sharpe_ratio_geometric(flat, 252))
    assert math.isnan(m.sortino_ratio(np.array([0.01, 0.02, 0.0]), 252))  # no downside
    assert math.isnan(m.beta(np.array([0.01, 0.02, 0.03]), np.zeros(3)))  # constant benchmark
    assert math.isnan(m.correlation(np.array([0.01, 0.01, 0.01]), np.array([0.01, 0.02, 0.03])))
    assert math.isnan(m.total_return(np.array([0.0, 10.0])))
    assert math.isnan(m.calmar_ratio(np.array([100.0, 101.0, 102.0]), 252))  # no drawdown
    assert math.isnan(m.cagr(np.array([100.0, 110.0]), np.array(["2020-01-01", "2020-01-01"], dtype="datetime64[ns]")))
    r = m.returns(np.array([0.0, 5.0, 6.0]))
    assert math.isnan(r[0]) and r[1] == pytest.approx(0.2)
    assert math.isnan(m.win_rate(np.array([])))


def test_a_nan_in_the_input_propagates_to_its_column_only() -> None:
    r = np.array([[0.01, 0.01], [np.nan, -0.02], [0.03, 0.02]])
    for stat in RETURN_STATS[:-2]:
        out = stat(r)
        assert math.isnan(out[0]) and math.isfinite(out[1])


def test_large_compounding_gives_nan_not_inf() -> None:
    r = np.full(50, 5.0)  # +500 % a period: (1 + g)^N overflows
    for v in (m.annual_return(r, 1e6), m.sharpe_ratio_geometric(r, 1e6)):
        assert not math.isinf(v)


def test_report_serialises_nan_as_null() -> None:
    rep = m.performance_report(np.array([100.0, 100.0]), m.StatsConfig(periods_per_year=252))
    j = rep.to_json()
    text = json.dumps(j, allow_nan=False)  # raises if a NaN or inf slipped through
    assert j["sharpe_ratio"] is None and j["beta"] is None and j["win_rate"] is None
    assert json.loads(text)["total_return"] == 0.0


@pytest.mark.parametrize("n", [0, -252, math.inf, math.nan, True, None, "252"])
def test_periods_per_year_must_be_a_positive_number(n) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises((ValueError, TypeError)):
        m.sharpe_ratio(np.array([0.01, 0.02]), n)


@pytest.mark.parametrize("c", [0.0, 1.0, 1.5, -0.1])
def test_confidence_must_be_inside_zero_one(c: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        m.var_historical(np.array([0.01, 0.02]), c)


def test_bad_shapes_and_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="1-D"):
        m.sharpe_ratio(np.zeros((2, 2, 2)), 252)
    with pytest.raises(ValueError, match="numeric"):
        m.sharpe_ratio(["a", "b"], 252)
    with pytest.raises(ValueError, match="risk_free_rate"):
        m.sharpe_ratio(np.array([0.01, 0.02]), 252, risk_free_rate=-1.0)
    with pytest.raises(ValueError, match="rows"):
        m.beta(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="times has"):
        m.cagr(np.array([1.0, 2.0]), np.array(["2020-01-01"], dtype="datetime64[ns]"))
    with pytest.raises(ValueError, match="1-D"):
        m.performance_report(np.ones((3, 2)), m.StatsConfig(periods_per_year=252))
    with pytest.raises(ValueError, match="NaN"):
        m.performance_report(np.array([1.0, np.nan]), m.StatsConfig(periods_per_year=252))
