"""Return-based statistics, exactly as pinned in FINANCE.md ("Statistics — pinned definitions").

Conventions shared by every function here:

- Input is 1-D ``(T,)`` or 2-D ``(T, K)`` with time along axis 0; a 1-D input gives a float,
  a 2-D input gives a ``(K,)`` array whose column ``k`` equals the 1-D result on column ``k``.
- Values are fractions (0.15 means 15 %), returns are simple returns.
- ``periods_per_year`` (N) is required wherever a figure is annualised; ``risk_free_rate`` is
  annual and enters per period as ``(1 + rf)^(1/N) - 1``.
- Standard deviations and covariances are sample ones (ddof 1).
- Fewer than 2 observations, or a zero denominator, give NaN; results are never ±inf.
  A NaN inside the input propagates to NaN in that column (nothing is dropped silently).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from quantq.finance.metrics._arrays import (
    DAYS_PER_YEAR,
    NS_PER_DAY,
    all_equal,
    as_2d,
    check_confidence,
    check_periods,
    check_rate,
    finish,
    per_period_rate,
    times_ns,
)

_NORMAL = NormalDist()


def returns(equity: Any) -> np.ndarray:
    """Simple returns ``r_t = E_t / E_{t-1} - 1`` of equity marked at each bar's close.

    Returns an array one row shorter than ``equity`` (same ndim).  A zero previous value is a zero
    denominator and gives NaN for that period.
    """
    e, was_1d = as_2d(equity, "equity")
    prev = e[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev != 0, e[1:] / np.where(prev != 0, prev, 1.0) - 1.0, np.nan)
    r = np.where(np.isfinite(r), r, np.nan)
    return r[:, 0] if was_1d else r


def total_return(equity: Any) -> float | np.ndarray:
    """``E_T / E_0 - 1`` (fraction).  Fewer than 2 points or ``E_0 == 0`` give NaN."""
    e, was_1d = as_2d(equity, "equity")
    if e.shape[0] < 2:
        return finish(np.full(e.shape[1], np.nan), was_1d)
    first = e[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(first != 0, e[-1] / np.where(first != 0, first, 1.0) - 1.0, np.nan)
    return finish(out, was_1d)


def _geometric_mean_return(r: np.ndarray) -> np.ndarray:
    """Per column ``g = (prod(1 + r))^(1/n) - 1``; NaN when some ``r < -1`` (no real root)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log1p(r)  # r == -1 gives -inf, so g == -1 (total loss) as it should
        g = np.expm1(np.mean(logs, axis=0))
    g = np.where(np.any(r < -1.0, axis=0), np.nan, g)
    return g


def annual_return(r: Any, periods_per_year: float) -> float | np.ndarray:
    """Annualised geometric return ``(1 + g)^N - 1``, ``g`` the geometric-mean period return.

    ``g = (prod(1 + r_t))^(1/n) - 1`` over the n returns.  Fewer than 2 returns, or a return
    below -1 (equity crossing zero), give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    n = check_periods(periods_per_year)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    g = _geometric_mean_return(a)
    with np.errstate(over="ignore", invalid="ignore"):
        out = (1.0 + g) ** n - 1.0
    return finish(out, was_1d)


def cagr(equity: Any, times: Any) -> float | np.ndarray:
    """Compound annual growth on calendar time: ``(E_T / E_0)^(1 / years) - 1``.

    ``years = (t_T - t_0) / 365.25 days`` from ``times`` (one per equity row).  Fewer than 2
    points, zero elapsed time, ``E_0 == 0`` or a negative ratio give NaN.
    """
    e, was_1d = as_2d(equity, "equity")
    t = times_ns(times, e.shape[0])
    if e.shape[0] < 2:
        return finish(np.full(e.shape[1], np.nan), was_1d)
    years = (t[-1] - t[0]) / NS_PER_DAY / DAYS_PER_YEAR
    if years <= 0:
        return finish(np.full(e.shape[1], np.nan), was_1d)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(e[0] != 0, e[-1] / np.where(e[0] != 0, e[0], 1.0), np.nan)
        out = np.where(ratio >= 0, np.abs(ratio) ** (1.0 / years) - 1.0, np.nan)
    return finish(out, was_1d)


def volatility(r: Any, periods_per_year: float) -> float | np.ndarray:
    """Annualised volatility ``std(r, ddof=1) * sqrt(N)``.  Fewer than 2 returns give NaN."""
    a, was_1d = as_2d(r, "returns")
    n = check_periods(periods_per_year)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    return finish(np.std(a, axis=0, ddof=1) * math.sqrt(n), was_1d)


def sharpe_ratio(r: Any, periods_per_year: float, risk_free_rate: float = 0.0) -> float | np.ndarray:
    """``mean(r - rf_p) / std(r - rf_p, ddof=1) * sqrt(N)``, ``rf_p = (1 + rf)^(1/N) - 1``.

    Fewer than 2 returns, or all excess returns equal (zero std), give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    n = check_periods(periods_per_year)
    ex = a - per_period_rate(risk_free_rate, n)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    sd = np.std(ex, axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.mean(ex, axis=0) / sd * math.sqrt(n)
    out = np.where(all_equal(ex), np.nan, out)
    return finish(out, was_1d)


def sortino_ratio(r: Any, periods_per_year: float, risk_free_rate: float = 0.0) -> float | np.ndarray:
    """``mean(x) * N / (sqrt(mean(min(x, 0)^2)) * sqrt(N))`` with ``x = r - rf_p``.

    The downside mean runs over all observations (not only the negative ones).  Fewer than 2
    returns, or no excess return below zero (zero downside deviation), give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    n = check_periods(periods_per_year)
    ex = a - per_period_rate(risk_free_rate, n)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    downside = np.sqrt(np.mean(np.minimum(ex, 0.0) ** 2, axis=0)) * math.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.mean(ex, axis=0) * n / downside
    out = np.where(downside == 0, np.nan, out)
    return finish(out, was_1d)


def sharpe_ratio_geometric(r: Any, periods_per_year: float, risk_free_rate: float = 0.0) -> float | np.ndarray:
    """backtesting.py's Sharpe ratio, kept under its own name so results can be checked against it.

    ``(A - rf) / V`` with ``g`` the geometric-mean period return, ``A = (1 + g)^N - 1`` and
    ``V = sqrt((var(r, ddof=1) + (1 + g)^2)^N - (1 + g)^(2N))`` (the volatility of a compounded
    return).  ``rf`` is annual and subtracted once, unscaled.  Fewer than 2 returns, a return
    below -1, or ``V == 0`` give NaN.  (backtesting.py itself uses ``g = 0`` when a return is
    ``<= -1``; here that case is NaN, or ``g = -1`` for a return of exactly -1.)
    """
    a, was_1d = as_2d(r, "returns")
    n = check_periods(periods_per_year)
    rf = check_rate(risk_free_rate)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    g = _geometric_mean_return(a)
    var = np.var(a, axis=0, ddof=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ann = (1.0 + g) ** n - 1.0
        vol = np.sqrt((var + (1.0 + g) ** 2) ** n - (1.0 + g) ** (2.0 * n))
        out = (ann - rf) / vol
    out = np.where((vol == 0) | all_equal(a), np.nan, out)
    return finish(out, was_1d)


def _quantile_position(n: int, confidence: float) -> float:
    # Hyndman-Fan type 7 (numpy's "linear"): the (1 - c) quantile sits at position (n - 1)(1 - c).
    return (n - 1) * (1.0 - confidence)


def var_historical(r: Any, confidence: float = 0.95) -> float | np.ndarray:
    """Historical value at risk: the ``1 - confidence`` empirical quantile of the returns.

    In return space (a loss is a negative number), per period, not annualised.  Quantile rule:
    sort the n returns ascending as ``x_0..x_{n-1}``, ``h = (n - 1)(1 - confidence)``, then
    ``VaR = x_floor(h) + (h - floor(h)) (x_floor(h)+1 - x_floor(h))`` (numpy's "linear").
    Fewer than 2 returns give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    c = check_confidence(confidence)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    out = np.quantile(a, 1.0 - c, axis=0, method="linear")
    out = np.where(np.any(np.isnan(a), axis=0), np.nan, out)
    return finish(out, was_1d)


def cvar_historical(r: Any, confidence: float = 0.95) -> float | np.ndarray:
    """Historical conditional VaR (expected shortfall) with the same quantile rule as the VaR.

    The mean of the ``floor(h) + 1`` smallest returns, ``h = (n - 1)(1 - confidence)``: exactly the
    returns at or below the interpolated VaR.  Return space, per period; fewer than 2 returns give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    c = check_confidence(confidence)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    k = int(math.floor(_quantile_position(a.shape[0], c) + 1e-12))
    tail = np.sort(a, axis=0)[: k + 1]
    out = np.mean(tail, axis=0)
    out = np.where(np.any(np.isnan(a), axis=0), np.nan, out)
    return finish(out, was_1d)


def var_parametric(r: Any, confidence: float = 0.95) -> float | np.ndarray:
    """Gaussian value at risk ``mean(r) + z * std(r, ddof=1)``, ``z = Phi^-1(1 - confidence)``.

    Return space (negative for a loss), per period.  Fewer than 2 returns give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    c = check_confidence(confidence)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    z = _NORMAL.inv_cdf(1.0 - c)
    return finish(np.mean(a, axis=0) + z * np.std(a, axis=0, ddof=1), was_1d)


def cvar_parametric(r: Any, confidence: float = 0.95) -> float | np.ndarray:
    """Gaussian expected shortfall ``mean(r) - std(r, ddof=1) * phi(z) / (1 - confidence)``.

    ``z = Phi^-1(1 - confidence)``, ``phi`` the standard normal density.  Return space, per
    period.  Fewer than 2 returns give NaN.
    """
    a, was_1d = as_2d(r, "returns")
    c = check_confidence(confidence)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    z = _NORMAL.inv_cdf(1.0 - c)
    return finish(np.mean(a, axis=0) - np.std(a, axis=0, ddof=1) * _NORMAL.pdf(z) / (1.0 - c), was_1d)


def _f(a: np.ndarray) -> np.ndarray:
    # column-major so each column sums exactly as the 1-D call would
    return np.asfortranarray(a)


def _paired(r: Any, benchmark: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    a, was_1d = as_2d(r, "returns")
    b, b_1d = as_2d(benchmark, "benchmark")
    if b.shape[0] != a.shape[0]:
        raise ValueError(f"returns have {a.shape[0]} rows but the benchmark has {b.shape[0]}")
    if not b_1d and b.shape[1] != a.shape[1]:
        raise ValueError(f"a 2-D benchmark must have one column per return column ({a.shape[1]}), got {b.shape[1]}")
    return a, np.asfortranarray(np.broadcast_to(b, a.shape)), was_1d


def beta(r: Any, benchmark: Any) -> float | np.ndarray:
    """``cov(r, b) / var(b)`` on simple returns, both ddof 1.

    ``benchmark`` is 1-D (shared by every column) or 2-D matching ``r``.  Fewer than 2
    observations or a constant benchmark give NaN.
    """
    a, b, was_1d = _paired(r, benchmark)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    da = a - a.mean(axis=0)
    db = b - b.mean(axis=0)
    cov = np.sum(_f(da * db), axis=0) / (a.shape[0] - 1)
    var = np.sum(_f(db * db), axis=0) / (a.shape[0] - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / var
    out = np.where(all_equal(b), np.nan, out)
    return finish(out, was_1d)


def correlation(r: Any, benchmark: Any) -> float | np.ndarray:
    """Pearson correlation ``cov(r, b) / (std(r) std(b))``, clipped to [-1, 1] against rounding.

    Fewer than 2 observations or a constant series (zero denominator) give NaN.
    """
    a, b, was_1d = _paired(r, benchmark)
    if a.shape[0] < 2:
        return finish(np.full(a.shape[1], np.nan), was_1d)
    da = a - a.mean(axis=0)
    db = b - b.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sum(_f(da * db), axis=0) / np.sqrt(np.sum(_f(da * da), axis=0) * np.sum(_f(db * db), axis=0))
    out = np.clip(out, -1.0, 1.0)  # rounding can step just past ±1
    out = np.where(all_equal(a) | all_equal(b), np.nan, out)
    return finish(out, was_1d)


def win_rate(trade_pnls: Any) -> float | np.ndarray:
    """Closed trades with net PnL > 0 divided by closed trades.

    1-D: one PnL per closed trade.  2-D: one column per run, padded with NaN where a run has
    fewer trades (NaN here means "no trade", the one place it is not propagated).  No closed
    trade (a zero denominator) gives NaN; a single trade gives 0 or 1.
    """
    a, was_1d = as_2d(trade_pnls, "trade_pnls")
    present = ~np.isnan(a)
    count = present.sum(axis=0)
    wins = (present & (a > 0)).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(count > 0, wins / np.maximum(count, 1), np.nan)
    return finish(out, was_1d)
