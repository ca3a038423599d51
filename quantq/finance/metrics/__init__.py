"""Performance statistics as pinned in FINANCE.md: pure functions over NumPy arrays.

Every function takes 1-D ``(T,)`` or 2-D ``(T, K)`` input (time along axis 0), returns
fractions, needs ``periods_per_year`` wherever it annualises, and gives NaN (never inf) for
fewer than 2 observations or a zero denominator.  Typical use::

    from quantq.finance import metrics
    r = metrics.returns(equity)
    metrics.sharpe_ratio(r, periods_per_year=252, risk_free_rate=0.02)
    metrics.performance_report(equity, metrics.StatsConfig(periods_per_year=252), times=ts)
"""

from __future__ import annotations

from quantq.finance.metrics.drawdowns import (
    DrawdownEpisode,
    calmar_ratio,
    drawdown,
    drawdown_episode,
    max_drawdown,
    max_drawdown_duration,
)
from quantq.finance.metrics.report import PerformanceReport, StatsConfig, performance_report
from quantq.finance.metrics.returns import (
    annual_return,
    beta,
    cagr,
    correlation,
    cvar_historical,
    cvar_parametric,
    returns,
    sharpe_ratio,
    sharpe_ratio_geometric,
    sortino_ratio,
    total_return,
    var_historical,
    var_parametric,
    volatility,
    win_rate,
)

calmar = calmar_ratio  # short alias

__all__ = [
    "DrawdownEpisode",
    "PerformanceReport",
    "StatsConfig",
    "annual_return",
    "beta",
    "cagr",
    "calmar",
    "calmar_ratio",
    "correlation",
    "cvar_historical",
    "cvar_parametric",
    "drawdown",
    "drawdown_episode",
    "max_drawdown",
    "max_drawdown_duration",
    "performance_report",
    "returns",
    "sharpe_ratio",
    "sharpe_ratio_geometric",
    "sortino_ratio",
    "total_return",
    "var_historical",
    "var_parametric",
    "volatility",
    "win_rate",
]
