"""Portfolio analysis: holdings plus price histories -> returns, risk, and contribution by holding.

Pure: arrays in, a frozen :class:`PortfolioResult` out; every statistic is the pinned one from
:mod:`quantq.finance.metrics`.

How the portfolio is valued (``V_t``, prices ``P_{i,t}``, returns ``R_{i,t} = P_{i,t}/P_{i,t-1} - 1``):
- ``rebalance="none"`` (buy and hold): quantities ``q_i`` are held throughout,
  ``V_t = sum_i q_i P_{i,t}``.  Weights ``w_i`` become quantities ``q_i = w_i / P_{i,0}`` (so ``V_0 = 1``)
  and then drift with prices.
- ``rebalance="every_period"``: the starting weights are restored at every bar,
  ``r_t = sum_i w_i R_{i,t}`` and ``V_t = V_{t-1} (1 + r_t)``.
Per-period contribution of holding i: ``C_{t,i} = w_{i,t-1} R_{i,t}`` with ``w_{i,t-1}`` the weight held
over the period, so ``sum_i C_{t,i} = r_t`` exactly.
- ``return_contribution_i = sum_t (V_{t-1}/V_0) C_{t,i}`` = the holding's P&L over ``V_0``; these sum to
  the portfolio's total return exactly.
- ``risk_contribution_i = cov(C_i, r) / var(r)``: the holding's share of the portfolio variance; these sum to 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pydantic

from quantq.finance import metrics


class PortfolioError(ValueError):
    """Bad holdings, prices or benchmark for a portfolio analysis."""


class PortfolioConfig(pydantic.BaseModel):
    """How to value and annualise; unknown fields are rejected."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    periods_per_year: float = pydantic.Field(gt=0, allow_inf_nan=False)
    risk_free_rate: float = pydantic.Field(default=0.0, gt=-1, allow_inf_nan=False)
    confidence: float = pydantic.Field(default=0.95, gt=0, lt=1)
    rebalance: Literal["none", "every_period"] = "none"
    weight_tolerance: float = pydantic.Field(default=1e-6, ge=0, le=0.01)  #: |sum(weights) - 1| allowed


@dataclasses.dataclass(frozen=True)
class Holdings:
    """Symbols with either weights (fractions summing to 1) or quantities (units held)."""

    symbols: tuple[str, ...]
    amounts: tuple[float, ...]
    kind: Literal["weights", "quantities"]

    @classmethod
    def build(
        cls,
        holdings: Mapping[str, float] | Sequence[Mapping[str, Any]],
        kind: Literal["weights", "quantities"] | None = None,
        weight_tolerance: float = 1e-6,
    ) -> Holdings:
        """From ``{"AAPL": 0.6, "MSFT": 0.4}`` (with ``kind``) or ``[{"symbol": "AAPL", "weight": 0.6}, ...]``.

        In the list form each entry has ``weight`` or ``quantity`` (all entries the same).
        Weights must sum to 1 within ``weight_tolerance``; quantities must not all be zero.
        """
        pairs: list[tuple[str, Any]] = []
        if isinstance(holdings, Mapping):
            if kind is None:
                raise PortfolioError("say whether the holdings mapping gives 'weights' or 'quantities'")
            pairs = list(holdings.items())
        elif isinstance(holdings, Sequence) and not isinstance(holdings, str):
            kinds = set()
            for entry in holdings:
                if not isinstance(entry, Mapping) or "symbol" not in entry:
                    raise PortfolioError(f"each holding needs a 'symbol' and a 'weight' or 'quantity', got {entry!r}")
                extra = set(entry) - {"symbol", "weight", "quantity"}
                if extra:
                    raise PortfolioError(f"holding {entry.get('symbol')!r}: unknown field(s) {', '.join(sorted(extra))}")
                has = [k for k in ("weight", "quantity") if k in entry]
                if len(has) != 1:
                    raise PortfolioError(f"holding {entry['symbol']!r} must give exactly one of 'weight' or 'quantity'")
                kinds.add("weights" if has[0] == "weight" else "quantities")
                pairs.append((entry["symbol"], entry[has[0]]))
            if len(kinds) > 1:
                raise PortfolioError("holdings mix weights and quantities; use one or the other")
            if kinds:
                found = kinds.pop()
                if kind is not None and kind != found:
                    raise PortfolioError(f"holdings give {found} but kind={kind!r} was asked")
                kind = found  # type: ignore[assignment]
        else:
            raise PortfolioError(f"holdings must be a mapping or a list of mappings, got {type(holdings).__name__}")
        if kind not in ("weights", "quantities"):
            raise PortfolioError(f"kind must be 'weights' or 'quantities', got {kind!r}")
        if not pairs:
            raise PortfolioError("holdings are empty")
        symbols: list[str] = []
        amounts: list[float] = []
        for sym, amount in pairs:
            if not isinstance(sym, str) or not sym.strip():
                raise PortfolioError(f"a holding's symbol must be a non-empty string, got {sym!r}")
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
                raise PortfolioError(f"holding {sym!r}: {kind[:-1]} must be a finite number, got {amount!r}")
            symbols.append(sym.strip())
            amounts.append(float(amount))
        dupes = sorted({s for s in symbols if symbols.count(s) > 1})
        if dupes:
            raise PortfolioError(f"symbols held twice: {', '.join(dupes)}")
        if kind == "weights":
            total = math.fsum(amounts)
            if abs(total - 1.0) > weight_tolerance:
                raise PortfolioError(
                    f"weights sum to {total:.10g}; they must sum to 1 (within {weight_tolerance:g}) - "
                    "add a cash-like holding for the rest, or give quantities"
                )
        elif all(a == 0 for a in amounts):
            raise PortfolioError("all quantities are zero")
        return cls(tuple(symbols), tuple(amounts), kind)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        key = "weight" if self.kind == "weights" else "quantity"
        return {"kind": self.kind, "holdings": [{"symbol": s, key: a} for s, a in zip(self.symbols, self.amounts, strict=True)]}


@dataclasses.dataclass(frozen=True)
class HoldingResult:
    symbol: str
    start_weight: float
    end_weight: float
    total_return: float  #: the holding's own P_T / P_0 - 1
    volatility: float  #: the holding's own annualised volatility
    return_contribution: float  #: its P&L over V_0; these sum to the portfolio's total return
    risk_contribution: float  #: its share of portfolio variance; these sum to 1

    def to_json(self) -> dict[str, Any]:
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in dataclasses.asdict(self).items()}


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


@dataclasses.dataclass(frozen=True)
class PortfolioResult:
    """Portfolio statistics (fractions; NaN where undefined, null in JSON)."""

    config: PortfolioConfig
    kind: str
    observations: int
    start_value: float
    end_value: float
    total_return: float
    annual_return: float
    cagr: float
    volatility: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    drawdown: metrics.DrawdownEpisode
    calmar_ratio: float
    var_historical: float
    cvar_historical: float
    var_parametric: float
    cvar_parametric: float
    beta: float
    correlation: float
    benchmark_total_return: float
    holdings: tuple[HoldingResult, ...]
    values: np.ndarray  #: V_t on every bar
    returns: np.ndarray  #: r_t, one fewer than values

    def to_json(self, include_series: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = self.config.model_dump()
        for field in dataclasses.fields(self):
            if field.name in ("config", "values", "returns"):
                continue
            v = getattr(self, field.name)
            if field.name == "holdings":
                out["holdings"] = [h.to_json() for h in v]
            elif isinstance(v, metrics.DrawdownEpisode):
                out[field.name] = v.to_json()
            elif isinstance(v, float):
                out[field.name] = _num(v)
            else:
                out[field.name] = v
        if include_series:
            out["values"] = [_num(x) for x in self.values.tolist()]
            out["returns"] = [_num(x) for x in self.returns.tolist()]
        return out


def _check_prices(prices: Any, k: int, what: str) -> np.ndarray:
    try:
        p = np.asarray(prices, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PortfolioError(f"{what} must be numeric: {exc}") from None
    if p.ndim == 1 and k == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] != k:
        raise PortfolioError(f"{what} must have shape (bars, {k}), got {p.shape}")
    if p.shape[0] < 1:
        raise PortfolioError(f"{what} have no bars")
    if not np.all(np.isfinite(p)):
        raise PortfolioError(f"{what} contain NaN or infinite values (align the histories first)")
    if np.any(p <= 0):
        bad = sorted(set(np.nonzero(p <= 0)[1].tolist()))
        raise PortfolioError(f"{what} must be positive; columns {bad} are not")
    return p


def analyze_portfolio(
    prices: Any,
    holdings: Holdings,
    config: PortfolioConfig,
    *,
    benchmark: Any = None,
    times: Any = None,
) -> PortfolioResult:
    """Analyse ``holdings`` over ``prices`` (shape (T, K), columns in ``holdings.symbols`` order).

    ``benchmark`` (prices, shape (T,)) enables beta and correlation; ``times`` (T UTC times)
    enables CAGR and drawdown durations in days.  Raises :class:`PortfolioError` on bad input.
    """
    k = len(holdings.symbols)
    p = _check_prices(prices, k, "prices")
    t_len = p.shape[0]
    amounts = np.asarray(holdings.amounts, dtype=np.float64)
    if holdings.kind == "weights":
        q = amounts / p[0]  # V_0 = 1
    else:
        q = amounts
    v0 = float(q @ p[0])
    if v0 <= 0:
        raise PortfolioError(f"the portfolio's starting value is {v0:g}; it must be positive")
    w0 = q * p[0] / v0
    asset_r = p[1:] / p[:-1] - 1.0
    if config.rebalance == "none":
        values = p @ q
        if np.any(values <= 0):
            bad = int(np.argmax(values <= 0))
            raise PortfolioError(f"the portfolio's value is not positive at bar {bad}; returns are undefined")
        held = (q * p[:-1]) / values[:-1, None]  # weight held over each period
    else:
        r_p = asset_r @ w0
        values = v0 * np.concatenate([[1.0], np.cumprod(1.0 + r_p)])
        if np.any(values <= 0):
            bad = int(np.argmax(values <= 0))
            raise PortfolioError(f"the portfolio's value is not positive at bar {bad}; returns are undefined")
        held = np.broadcast_to(w0, asset_r.shape)
    contrib = held * asset_r  # (T-1, K), rows sum to r_t
    r = metrics.returns(values)
    growth = values[:-1] / v0
    return_contribution = (growth[:, None] * contrib).sum(axis=0) if t_len > 1 else np.full(k, np.nan)
    if r.shape[0] >= 2 and not np.all(r == r[0]):
        rc = contrib - contrib.mean(axis=0)
        rr = r - r.mean()
        risk_contribution = (rc * rr[:, None]).sum(axis=0) / float(rr @ rr)
    else:
        risk_contribution = np.full(k, np.nan)
    end_w = q * p[-1] / values[-1] if config.rebalance == "none" else w0
    asset_vol = np.atleast_1d(metrics.volatility(asset_r, config.periods_per_year))
    holding_results = tuple(
        HoldingResult(
            symbol=sym,
            start_weight=float(w0[i]),
            end_weight=float(end_w[i]),
            total_return=float(p[-1, i] / p[0, i] - 1.0) if t_len > 1 else math.nan,
            volatility=float(asset_vol[i]),
            return_contribution=float(return_contribution[i]),
            risk_contribution=float(risk_contribution[i]),
        )
        for i, sym in enumerate(holdings.symbols)
    )
    values.setflags(write=False)  # the result is frozen, its arrays too
    r.setflags(write=False)
    nan = math.nan
    beta = corr = bench_total = nan
    if benchmark is not None:
        b = _check_prices(benchmark, 1, "benchmark prices")[:, 0]
        if b.shape[0] != t_len:
            raise PortfolioError(f"benchmark has {b.shape[0]} bars but the prices have {t_len}")
        b_r = metrics.returns(b)
        beta = float(metrics.beta(r, b_r))
        corr = float(metrics.correlation(r, b_r))
        bench_total = float(metrics.total_return(b))
    n, rf, c = config.periods_per_year, config.risk_free_rate, config.confidence
    return PortfolioResult(
        config=config,
        kind=holdings.kind,
        observations=int(r.shape[0]),
        start_value=v0,
        end_value=float(values[-1]),
        total_return=float(metrics.total_return(values)),
        annual_return=float(metrics.annual_return(r, n)),
        cagr=float(metrics.cagr(values, times)) if times is not None else nan,
        volatility=float(metrics.volatility(r, n)),
        sharpe_ratio=float(metrics.sharpe_ratio(r, n, rf)),
        sortino_ratio=float(metrics.sortino_ratio(r, n, rf)),
        max_drawdown=float(metrics.max_drawdown(values)),
        drawdown=metrics.drawdown_episode(values, times),  # type: ignore[arg-type]
        calmar_ratio=float(metrics.calmar_ratio(values, n)),
        var_historical=float(metrics.var_historical(r, c)),
        cvar_historical=float(metrics.cvar_historical(r, c)),
        var_parametric=float(metrics.var_parametric(r, c)),
        cvar_parametric=float(metrics.cvar_parametric(r, c)),
        beta=beta,
        correlation=corr,
        benchmark_total_return=bench_total,
        holdings=holding_results,
        values=values,
        returns=r,
    )
