"""The statistics report of one backtest, on FINANCE.md's pinned definitions.

The pinned statistics come from ``quantq.finance.metrics``; this module only adds what is
about positions and trades (exposure, trade counts, commissions) and names the fields.
Values are fractions; NaN means "not defined" and is serialised as null.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from quantq.finance import metrics
from quantq.finance.backtest.config import ExecutionConfig
from quantq.finance.backtest.trades import Trade


def _f(x: Any) -> float:
    return float(x)


def cagr(equity: np.ndarray, dates_ns: np.ndarray | None) -> float:
    """``metrics.cagr`` on int64-ns dates, without its per-call pandas time parsing (about 2 ms,
    which dominated 100-symbol reports); a test pins it to ``metrics.cagr``."""
    if dates_ns is None or len(equity) < 2:
        return math.nan
    years = (int(dates_ns[-1]) - int(dates_ns[0])) / 86_400e9 / 365.25
    ratio = equity[-1] / equity[0] if equity[0] != 0 else math.nan
    if not years > 0 or not ratio >= 0:
        return math.nan
    return float(ratio ** (1.0 / years) - 1.0)


def performance_report(
    equity: np.ndarray,
    position: np.ndarray,
    trades: Sequence[Trade],
    close: np.ndarray,
    config: ExecutionConfig,
    dates_ns: np.ndarray | None = None,
) -> dict[str, Any]:
    """Stats of one equity curve; ``dates_ns`` (int64 ns per bar) enables the calendar CAGR."""
    n_per_year, rf = config.periods_per_year, config.risk_free_rate
    r = metrics.returns(equity) if len(equity) > 1 else np.empty(0)
    closed = [t for t in trades if t.is_closed]
    with np.errstate(all="ignore"):
        return {
            "total_return": _f(metrics.total_return(equity)) if len(equity) else math.nan,
            "annual_return": _f(metrics.annual_return(r, n_per_year)) if len(r) else math.nan,
            "cagr": cagr(equity, dates_ns),
            "volatility": _f(metrics.volatility(r, n_per_year)) if len(r) else math.nan,
            "sharpe_ratio": _f(metrics.sharpe_ratio(r, n_per_year, rf)) if len(r) else math.nan,
            "sortino_ratio": _f(metrics.sortino_ratio(r, n_per_year, rf)) if len(r) else math.nan,
            "sharpe_ratio_geometric": _f(metrics.sharpe_ratio_geometric(r, n_per_year, rf)) if len(r) else math.nan,
            "max_drawdown": _f(metrics.max_drawdown(equity)) if len(equity) else math.nan,
            "max_drawdown_duration_bars": _f(metrics.max_drawdown_duration(equity)) if len(equity) else math.nan,
            "buy_and_hold_return": float(close[-1] / close[0] - 1.0) if len(close) else math.nan,
            "exposure": float(np.mean(position != 0)) if len(position) else math.nan,
            "trade_count": len(closed),
            "open_trades": len(trades) - len(closed),
            "win_rate": _f(metrics.win_rate(np.array([t.pnl for t in closed], dtype=np.float64))),
            "avg_trade_return": float(np.mean([t.return_pct for t in closed])) if closed else math.nan,
            "commissions": float(sum(t.commission for t in trades)),
            "var_95": _f(metrics.var_historical(r, 0.95)) if len(r) else math.nan,
            "cvar_95": _f(metrics.cvar_historical(r, 0.95)) if len(r) else math.nan,
            "final_equity": float(equity[-1]) if len(equity) else math.nan,
            "periods_per_year": n_per_year,
            "risk_free_rate": rf,
        }
