"""The statistics report of one backtest, on FINANCE.md's pinned definitions.

Everything goes through :func:`performance_report` so that the computation can move to
``quantq.finance.metrics`` in one place. Values are fractions; NaN means "not defined"
(fewer than two observations or a zero denominator) and is serialised as null.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from quantq.finance.backtest.config import ExecutionConfig
from quantq.finance.backtest.trades import Trade


def _ratio(num: float, den: float) -> float:
    return num / den if den != 0 and math.isfinite(den) and math.isfinite(num) else math.nan


def _pow(base: float, exp: float) -> float:
    """``base ** exp``, NaN instead of an overflow or a complex result (never inf)."""
    try:
        out = base**exp
    except (OverflowError, ZeroDivisionError):
        return math.nan
    return out if isinstance(out, float) and math.isfinite(out) else math.nan


def _drawdown(equity: np.ndarray) -> tuple[float, int]:
    """Max drawdown (≤ 0) and the longest run of consecutive bars below a previous peak."""
    peak = np.maximum.accumulate(equity)
    dd = equity / peak - 1.0
    under = dd < 0
    longest = run = 0
    for flag in under.tolist():
        run = run + 1 if flag else 0
        longest = max(longest, run)
    return float(dd.min()) if len(dd) else math.nan, longest


def performance_report(
    equity: np.ndarray,
    position: np.ndarray,
    trades: Sequence[Trade],
    close: np.ndarray,
    config: ExecutionConfig,
    days: float | None = None,
) -> dict[str, Any]:
    """Stats of one equity curve. ``days`` is the calendar span (for CAGR), if known."""
    n_per_year = config.periods_per_year
    rf_p = (1.0 + config.risk_free_rate) ** (1.0 / n_per_year) - 1.0
    r = equity[1:] / equity[:-1] - 1.0 if len(equity) > 1 else np.empty(0)
    excess = r - rf_p
    nobs = len(r)
    std = float(np.std(excess, ddof=1)) if nobs >= 2 else math.nan
    mean = float(np.mean(excess)) if nobs >= 2 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2))) if nobs >= 2 else math.nan
    growth = equity[-1] / equity[0] if len(equity) else math.nan
    g = float(np.exp(np.mean(np.log1p(r)))) - 1.0 if nobs >= 1 and np.all(r > -1) else math.nan
    annual_return = _pow(1.0 + g, n_per_year) - 1.0 if math.isfinite(g) else math.nan
    # backtesting.py's annualised volatility of compounded returns, for the geometric Sharpe
    var = float(np.var(r, ddof=1)) if nobs >= 2 else math.nan
    geo_vol = (
        math.sqrt(max(_pow(var + (1 + g) ** 2, n_per_year) - _pow(1 + g, 2 * n_per_year), 0.0))
        if math.isfinite(var) and math.isfinite(g)
        else math.nan
    )
    max_dd, dd_bars = _drawdown(equity) if len(equity) else (math.nan, 0)
    closed = [t for t in trades if t.is_closed]
    wins = [t for t in closed if (t.pnl or 0.0) > 0]
    q05 = float(np.quantile(r, 0.05)) if nobs >= 2 else math.nan
    return {
        "total_return": growth - 1.0,
        "annual_return": annual_return,
        "cagr": _pow(float(growth), 365.25 / days) - 1.0 if days and days > 0 and growth > 0 else math.nan,
        "volatility": std * math.sqrt(n_per_year),
        "sharpe_ratio": _ratio(mean, std) * math.sqrt(n_per_year),
        "sortino_ratio": _ratio(mean * n_per_year, downside * math.sqrt(n_per_year)),
        "sharpe_ratio_geometric": _ratio(annual_return - config.risk_free_rate, geo_vol),
        "max_drawdown": max_dd,
        "max_drawdown_duration_bars": dd_bars,
        "buy_and_hold_return": float(close[-1] / close[0] - 1.0) if len(close) else math.nan,
        "exposure": float(np.mean(position != 0)) if len(position) else math.nan,
        "trade_count": len(closed),
        "open_trades": len(trades) - len(closed),
        "win_rate": _ratio(len(wins), len(closed)),
        "avg_trade_return": float(np.mean([t.return_pct for t in closed])) if closed else math.nan,
        "commissions": float(sum(t.commission for t in trades)),
        "var_95": q05,
        "cvar_95": float(np.mean(r[r <= q05])) if nobs >= 2 else math.nan,
        "final_equity": float(equity[-1]) if len(equity) else math.nan,
        "periods_per_year": n_per_year,
        "risk_free_rate": config.risk_free_rate,
    }
