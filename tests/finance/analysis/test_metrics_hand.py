"""Every pinned statistic against values worked out by hand on small series (arithmetic in comments)."""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import numpy as np
import pytest

from quantq.finance import metrics as m

from .tolerance import assert_close

# r = [0.02, -0.01, 0.03, 0.00, -0.02]
# mean = 0.02 / 5 = 0.004
# deviations 0.016, -0.014, 0.026, -0.004, -0.024; squares 0.000256 0.000196 0.000676 0.000016 0.000576
# sum of squares = 0.00172, sample variance = 0.00172 / 4 = 0.00043
R = np.array([0.02, -0.01, 0.03, 0.00, -0.02])
MEAN = 0.004
VAR = 0.00172 / 4
STD = math.sqrt(VAR)
# benchmark b = [0.01, -0.005, 0.02, 0.0, -0.01], mean 0.003
# deviations 0.007 -0.008 0.017 -0.003 -0.013
# sum dr*db = 0.000112 + 0.000112 + 0.000442 + 0.000012 + 0.000312 = 0.00099
# sum db^2 = 0.000049 + 0.000064 + 0.000289 + 0.000009 + 0.000169 = 0.00058
B = np.array([0.01, -0.005, 0.02, 0.0, -0.01])
# growth: 1.02 * 0.99 * 1.03 * 1.00 * 0.98 = 1.01929212
GROWTH = 1.02 * 0.99 * 1.03 * 1.00 * 0.98


def test_returns_are_simple_returns_of_equity() -> None:
    # 100 -> 120 is +0.2, 120 -> 90 is -0.25, 90 -> 135 is +0.5
    assert_close(m.returns([100.0, 120.0, 90.0, 135.0]), [0.2, -0.25, 0.5])
    assert_close(GROWTH, 1.01929212)


def test_sharpe_ratio_by_hand() -> None:
    # 0.004 / sqrt(0.00043) * sqrt(252) = 0.004 / 0.02073644 * 15.874508 = 3.0621470
    assert_close(m.sharpe_ratio(R, 252), 0.004 / math.sqrt(0.00043) * math.sqrt(252))
    assert_close(m.sharpe_ratio(R, 252), 3.0621470, rel=1e-7)


def test_sharpe_ratio_with_risk_free_rate_per_period() -> None:
    # rf 5 % a year is (1.05)^(1/252) - 1 per period; subtracting a constant leaves the std unchanged
    rf_p = 1.05 ** (1 / 252) - 1
    assert_close(rf_p, 0.000193630, rel=1e-5)
    assert_close(m.sharpe_ratio(R, 252, risk_free_rate=0.05), (MEAN - rf_p) / STD * math.sqrt(252))


def test_sortino_ratio_by_hand() -> None:
    # min(r, 0) = [0, -0.01, 0, 0, -0.02]; squares 0.0001 + 0.0004 over all 5 observations = 0.0001
    # downside deviation sqrt(0.0001) = 0.01; sortino = 0.004 * 252 / (0.01 * sqrt(252)) = 6.34980...
    assert_close(m.sortino_ratio(R, 252), 0.004 * 252 / (0.01 * math.sqrt(252)))
    assert_close(m.sortino_ratio(R, 252), 6.3498031, rel=1e-7)


def test_volatility_by_hand() -> None:
    assert_close(m.volatility(R, 252), math.sqrt(0.00043) * math.sqrt(252))
    assert_close(m.volatility(R, 12), math.sqrt(0.00043) * math.sqrt(12))


def test_annual_return_is_geometric() -> None:
    # g = 1.01929212^(1/5) - 1, annual = (1 + g)^252 - 1 = 1.01929212^(252/5) - 1
    assert_close(m.annual_return(R, 252), 1.01929212 ** (252 / 5) - 1)
    assert_close(m.annual_return(R, 12), 1.01929212 ** (12 / 5) - 1)


def test_sharpe_ratio_geometric_by_hand() -> None:
    # backtesting.py: (A - rf) / sqrt((var + (1+g)^2)^N - (1+g)^(2N)), A = (1+g)^N - 1
    one_g = 1.01929212 ** (1 / 5)
    vol = math.sqrt((0.00043 + one_g**2) ** 252 - one_g ** (2 * 252))
    assert_close(m.sharpe_ratio_geometric(R, 252), (one_g**252 - 1) / vol)
    assert_close(m.sharpe_ratio_geometric(R, 252, 0.02), (one_g**252 - 1 - 0.02) / vol)


def test_historical_var_and_cvar_share_one_quantile_rule() -> None:
    # sorted: -0.02, -0.01, 0.00, 0.02, 0.03 (n = 5)
    # 95 %: h = 4 * 0.05 = 0.2 -> VaR = -0.02 + 0.2 * (-0.01 - -0.02) = -0.018; CVaR = mean of 1 smallest = -0.02
    assert_close(m.var_historical(R, 0.95), -0.018)
    assert_close(m.cvar_historical(R, 0.95), -0.02)
    # 60 %: h = 4 * 0.4 = 1.6 -> VaR = -0.01 + 0.6 * (0 - -0.01) = -0.004; CVaR = mean(-0.02, -0.01) = -0.015
    assert_close(m.var_historical(R, 0.60), -0.004)
    assert_close(m.cvar_historical(R, 0.60), -0.015)
    # 75 %: h = 4 * 0.25 = 1 exactly -> VaR = x_1 = -0.01; CVaR = mean(-0.02, -0.01) = -0.015
    assert_close(m.var_historical(R, 0.75), -0.01)
    assert_close(m.cvar_historical(R, 0.75), -0.015)


def test_parametric_var_and_cvar_by_hand() -> None:
    # z = Phi^-1(0.05) = -1.6448536...; VaR = 0.004 - 1.6448536 * 0.0207364
    z = -1.6448536269514722
    assert_close(NormalDist().inv_cdf(0.05), z, rel=1e-12)
    assert_close(m.var_parametric(R, 0.95), MEAN + z * STD)
    # CVaR = mean - std * phi(z) / 0.05, phi(z) = exp(-z^2 / 2) / sqrt(2 pi) = 0.1031356...
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    assert_close(m.cvar_parametric(R, 0.95), MEAN - STD * phi / 0.05)
    assert m.cvar_parametric(R, 0.95) < m.var_parametric(R, 0.95) < 0


def test_beta_and_correlation_by_hand() -> None:
    # beta = (0.00099 / 4) / (0.00058 / 4) = 1.7068965...
    assert_close(m.beta(R, B), 0.00099 / 0.00058)
    assert_close(m.correlation(R, B), 0.00099 / math.sqrt(0.00172 * 0.00058))
    # against itself: beta 1, correlation 1
    assert_close(m.beta(B, B), 1.0)
    assert_close(m.correlation(B, B), 1.0)


# equity 100, 120, 90, 135, 108, 144: returns 0.2, -0.25, 0.5, -0.2, 1/3
# running max 100, 120, 120, 135, 135, 144; drawdown 0, 0, -0.25, 0, -0.2, 0
E = np.array([100.0, 120.0, 90.0, 135.0, 108.0, 144.0])
DAYS = [dt.date(2020, 1, 1), dt.date(2020, 1, 3), dt.date(2020, 1, 10), dt.date(2020, 1, 20), dt.date(2020, 1, 21), dt.date(2022, 1, 1)]
TIMES = np.array([np.datetime64(d, "ns") for d in DAYS])


def test_total_return_and_drawdown_by_hand() -> None:
    assert_close(m.total_return(E), 144 / 100 - 1)
    assert_close(m.drawdown(E), [0, 0, 90 / 120 - 1, 0, 108 / 135 - 1, 0])
    assert_close(m.max_drawdown(E), -0.25)


def test_drawdown_episode_by_hand() -> None:
    ep = m.drawdown_episode(E, TIMES)
    assert isinstance(ep, m.DrawdownEpisode)
    # the -25 % drawdown: peak at bar 1 (120), trough bar 2 (90), back at 135 >= 120 on bar 3
    assert (ep.peak, ep.trough, ep.recovery, ep.duration_bars) == (1, 2, 3, 2)
    assert ep.duration_days == (dt.date(2020, 1, 20) - dt.date(2020, 1, 3)).days == 17
    # spells under a high: bars 1..3 (17 days) and 3..5 (2020-01-20 .. 2022-01-01, 712 days)
    assert ep.longest_duration_bars == 2
    assert ep.longest_duration_days == (dt.date(2022, 1, 1) - dt.date(2020, 1, 20)).days == 712
    assert m.max_drawdown_duration(E) == 2.0


def test_unrecovered_drawdown_runs_to_the_last_bar() -> None:
    ep = m.drawdown_episode([100.0, 90.0, 95.0])
    assert_close(ep.max_drawdown, -0.1)
    assert (ep.peak, ep.trough, ep.recovery, ep.duration_bars, ep.longest_duration_bars) == (0, 1, None, 2, 2)
    assert ep.duration_days is None


def test_cagr_on_calendar_time() -> None:
    # 2020-01-01 .. 2022-01-01 is 731 days (2020 is a leap year) = 731 / 365.25 years
    assert_close(m.cagr(E, TIMES), 1.44 ** (365.25 / 731) - 1)


def test_calmar_ratio_by_hand() -> None:
    # annual return with N = 12 on 5 returns: 1.44^(12/5) - 1; max drawdown 0.25
    assert_close(m.calmar_ratio(E, 12), (1.44 ** (12 / 5) - 1) / 0.25)
    assert m.calmar is m.calmar_ratio


def test_win_rate_by_hand() -> None:
    # PnLs 10, -5, 0, 3: a zero PnL is not a win -> 2 / 4
    assert m.win_rate([10.0, -5.0, 0.0, 3.0]) == 0.5
    assert m.win_rate([-1.0]) == 0.0
    nan = math.nan
    assert_close(m.win_rate(np.array([[10.0, 1.0], [-5.0, nan], [0.0, nan], [3.0, nan]])), [0.5, 1.0])


def test_performance_report_collects_the_same_numbers() -> None:
    cfg = m.StatsConfig(periods_per_year=12, risk_free_rate=0.01)
    b = m.returns(E) * 0.5 + 0.001
    rep = m.performance_report(E, cfg, times=TIMES, benchmark_returns=b, trade_pnls=[5.0, -1.0, 2.0])
    r = m.returns(E)
    assert rep.observations == 5
    assert_close(rep.total_return, 0.44)
    assert_close(rep.sharpe_ratio, m.sharpe_ratio(r, 12, 0.01))
    assert_close(rep.sortino_ratio, m.sortino_ratio(r, 12, 0.01))
    assert_close(rep.cagr, 1.44 ** (365.25 / 731) - 1)
    assert_close(rep.beta, 2.0)  # r = 2 (b - 0.001): cov(r, b) / var(b) = 2
    assert_close(rep.correlation, 1.0)
    assert_close(rep.win_rate, 2 / 3)
    assert rep.trades == 3
    j = rep.to_json()
    assert j["periods_per_year"] == 12 and j["risk_free_rate"] == 0.01
    assert j["drawdown"]["peak"] == 1 and j["max_drawdown"] == -0.25


def test_stats_config_rejects_unknown_fields_and_is_frozen() -> None:
    with pytest.raises(ValueError, match="extra"):
        m.StatsConfig(periods_per_year=252, periods=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        m.StatsConfig()  # type: ignore[call-arg]  # periods_per_year is explicit, never guessed
    cfg = m.StatsConfig(periods_per_year=252)
    with pytest.raises(ValueError):
        cfg.periods_per_year = 12  # type: ignore[misc]
