"""The statistics report of one backtest, on FINANCE.md's pinned definitions.

The pinned statistics come from ``quantq.finance.metrics``; this module only adds what is
about positions and trades (exposure, trade counts, commissions) and names the fields.
Values are fractions; NaN means "not defined" and is serialised as null.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from quantq.finance import metrics
from quantq.finance.backtest.config import ExecutionConfig


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


def trade_columns(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From a kernel trade table: (closed mask, net PnL, net return) per trade (NaN while open)."""
    entry_bar, exit_bar, size, entry, exit_, fee = (table[:, k] for k in range(6))
    closed = exit_bar >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pnl = np.where(closed, size * (exit_ - entry) - fee, np.nan)
        ret = np.where(closed, np.sign(size) * (exit_ / entry - 1.0) - fee / (np.abs(size) * entry), np.nan)
    return closed, pnl, ret


def performance_report(
    equity: np.ndarray,
    position: np.ndarray,
    table: np.ndarray,
    close: np.ndarray,
    config: ExecutionConfig,
    dates_ns: np.ndarray | None = None,
) -> dict[str, Any]:
    """Stats of one equity curve and its trade table (``kernel.TRADE_FIELDS`` columns);
    ``dates_ns`` (int64 ns per bar) enables the calendar CAGR."""
    return performance_reports(equity[:, None], position[:, None], [table], close[:, None], config, dates_ns)[0]


def performance_reports(
    equity: np.ndarray,
    position: np.ndarray,
    tables: list[np.ndarray],
    close: np.ndarray,
    config: ExecutionConfig,
    dates_ns: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """:func:`performance_report` of each column of 2-D (bars × runs) inputs, one metrics call
    per statistic for all columns (each column equals its 1-D report)."""
    n_per_year, rf = config.periods_per_year, config.risk_free_rate
    n_bars, k = equity.shape
    nan = np.full(k, np.nan)
    with np.errstate(all="ignore"):
        r = metrics.returns(equity) if n_bars > 1 else np.empty((0, k))
        has_r = len(r) > 0
        raw = {
            "total_return": metrics.total_return(equity) if n_bars else nan,
            "annual_return": metrics.annual_return(r, n_per_year) if has_r else nan,
            "volatility": metrics.volatility(r, n_per_year) if has_r else nan,
            "sharpe_ratio": metrics.sharpe_ratio(r, n_per_year, rf) if has_r else nan,
            "sortino_ratio": metrics.sortino_ratio(r, n_per_year, rf) if has_r else nan,
            "sharpe_ratio_geometric": metrics.sharpe_ratio_geometric(r, n_per_year, rf) if has_r else nan,
            "max_drawdown": metrics.max_drawdown(equity) if n_bars else nan,
            "max_drawdown_duration_bars": metrics.max_drawdown_duration(equity) if n_bars else nan,
            "var_95": metrics.var_historical(r, 0.95) if has_r else nan,
            "cvar_95": metrics.cvar_historical(r, 0.95) if has_r else nan,
        }
        cols = {name: np.atleast_1d(np.asarray(v, dtype=np.float64)) for name, v in raw.items()}
        bh = close[-1] / close[0] - 1.0 if n_bars else nan
        exposure = np.mean(position != 0, axis=0) if n_bars else nan
        out = []
        for j in range(k):
            is_closed, pnl, ret = trade_columns(tables[j])
            n_closed = int(is_closed.sum())
            e = equity[:, j]
            out.append({
                "total_return": float(cols["total_return"][j]),
                "annual_return": float(cols["annual_return"][j]),
                "cagr": cagr(e, dates_ns),
                "volatility": float(cols["volatility"][j]),
                "sharpe_ratio": float(cols["sharpe_ratio"][j]),
                "sortino_ratio": float(cols["sortino_ratio"][j]),
                "sharpe_ratio_geometric": float(cols["sharpe_ratio_geometric"][j]),
                "max_drawdown": float(cols["max_drawdown"][j]),
                "max_drawdown_duration_bars": float(cols["max_drawdown_duration_bars"][j]),
                "buy_and_hold_return": float(bh[j]),
                "exposure": float(exposure[j]),
                "trade_count": n_closed,
                "open_trades": len(tables[j]) - n_closed,
                "win_rate": _f(metrics.win_rate(pnl[is_closed])),
                "avg_trade_return": float(np.mean(ret[is_closed])) if n_closed else math.nan,
                "commissions": float(tables[j][:, 5].sum()),
                "var_95": float(cols["var_95"][j]),
                "cvar_95": float(cols["cvar_95"][j]),
                "final_equity": float(e[-1]) if n_bars else math.nan,
                "periods_per_year": n_per_year,
                "risk_free_rate": rf,
            })
    return out
