"""The stats report: every pinned statistic of one equity curve in one frozen, JSON-ready value."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pydantic

from quantq.finance.metrics import drawdowns as _dd
from quantq.finance.metrics import returns as _r
from quantq.finance.metrics._arrays import as_2d


class StatsConfig(pydantic.BaseModel):
    """How to annualise and measure tail risk; unknown fields are rejected."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    periods_per_year: float = pydantic.Field(gt=0, allow_inf_nan=False)
    risk_free_rate: float = pydantic.Field(default=0.0, gt=-1, allow_inf_nan=False)
    confidence: float = pydantic.Field(default=0.95, gt=0, lt=1)


def _f(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class PerformanceReport:
    """Pinned statistics of one equity curve (fractions; NaN where undefined, null in JSON)."""

    periods_per_year: float
    risk_free_rate: float
    confidence: float
    observations: int  #: number of returns (equity points - 1)
    start_value: float
    end_value: float
    total_return: float
    annual_return: float
    cagr: float  #: NaN unless times were given
    volatility: float
    sharpe_ratio: float
    sharpe_ratio_geometric: float
    sortino_ratio: float
    calmar_ratio: float
    max_drawdown: float
    drawdown: _dd.DrawdownEpisode
    var_historical: float
    cvar_historical: float
    var_parametric: float
    cvar_parametric: float
    beta: float  #: NaN unless a benchmark was given
    correlation: float
    win_rate: float  #: NaN unless trade PnLs were given
    trades: int

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, _dd.DrawdownEpisode):
                out[field.name] = value.to_json()
            elif isinstance(value, float):
                out[field.name] = _f(value)
            else:
                out[field.name] = value
        return out


def performance_report(
    equity: Any,
    config: StatsConfig,
    *,
    times: Any = None,
    benchmark_returns: Any = None,
    trade_pnls: Any = None,
) -> PerformanceReport:
    """Compute every pinned statistic for a 1-D equity curve.

    ``times`` (one per equity point) enables CAGR and drawdown durations in days;
    ``benchmark_returns`` (one per return) enables beta and correlation; ``trade_pnls``
    (net PnL per closed trade) enables the win rate.
    """
    e, was_1d = as_2d(equity, "equity")
    if not was_1d:
        raise ValueError("performance_report takes one equity curve (1-D); call it per column")
    e = e[:, 0]
    if e.shape[0] and not np.all(np.isfinite(e)):
        raise ValueError("equity contains NaN or infinite values")
    n = config.periods_per_year
    rf = config.risk_free_rate
    c = config.confidence
    r = _r.returns(e)
    nan = float("nan")
    if benchmark_returns is not None:
        b = np.asarray(benchmark_returns, dtype=np.float64)
        if b.shape != r.shape:
            raise ValueError(f"benchmark_returns must have one value per return ({r.shape[0]}), got shape {b.shape}")
        beta, corr = float(_r.beta(r, b)), float(_r.correlation(r, b))
    else:
        beta = corr = nan
    pnls = None if trade_pnls is None else np.asarray(trade_pnls, dtype=np.float64).reshape(-1)
    return PerformanceReport(
        periods_per_year=n,
        risk_free_rate=rf,
        confidence=c,
        observations=int(r.shape[0]),
        start_value=float(e[0]) if e.size else nan,
        end_value=float(e[-1]) if e.size else nan,
        total_return=float(_r.total_return(e)),
        annual_return=float(_r.annual_return(r, n)),
        cagr=float(_r.cagr(e, times)) if times is not None else nan,
        volatility=float(_r.volatility(r, n)),
        sharpe_ratio=float(_r.sharpe_ratio(r, n, rf)),
        sharpe_ratio_geometric=float(_r.sharpe_ratio_geometric(r, n, rf)),
        sortino_ratio=float(_r.sortino_ratio(r, n, rf)),
        calmar_ratio=float(_dd.calmar_ratio(e, n)),
        max_drawdown=float(_dd.max_drawdown(e)),
        drawdown=_dd.drawdown_episode(e, times),  # type: ignore[arg-type]
        var_historical=float(_r.var_historical(r, c)),
        cvar_historical=float(_r.cvar_historical(r, c)),
        var_parametric=float(_r.var_parametric(r, c)),
        cvar_parametric=float(_r.cvar_parametric(r, c)),
        beta=beta,
        correlation=corr,
        win_rate=float(_r.win_rate(pnls)) if pnls is not None else nan,
        trades=int(pnls.shape[0]) if pnls is not None else 0,
    )
