"""Position-mode backtests: target positions in, trades, equity and statistics out."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from quantq.finance.backtest import kernel
from quantq.finance.backtest.config import ExecutionConfig
from quantq.finance.backtest.report import performance_report, performance_reports
from quantq.finance.backtest.trades import Trade, trades_from_table


class BacktestInputError(ValueError):
    """Prices or targets that the engine refuses (never repaired silently)."""


@dataclasses.dataclass(frozen=True)
class SymbolResult:
    """One symbol's run: its equity curve, position per bar, trades and stats."""

    symbol: str
    equity: np.ndarray
    position: np.ndarray
    table: np.ndarray  # the kernel's trade table (kernel.TRADE_FIELDS columns)
    stats: dict[str, Any]
    times: Sequence[str] | None = None

    @property
    def trades(self) -> tuple[Trade, ...]:
        """Trade records, built on demand from ``table``."""
        return trades_from_table(self.table, self.symbol, self.times)

    def to_json(self, *, curves: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"symbol": self.symbol, "stats": self.stats, "trades": [t.to_json() for t in self.trades]}
        if curves:
            out["equity"] = self.equity.tolist()
        return out


@dataclasses.dataclass(frozen=True)
class BacktestResult:
    """Per-symbol results and the portfolio of all symbols (sum of their accounts)."""

    config: ExecutionConfig
    symbols: tuple[SymbolResult, ...]
    portfolio: dict[str, Any]

    def to_json(self, *, curves: bool = True) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "portfolio": self.portfolio,
            "symbols": [s.to_json(curves=curves) for s in self.symbols],
        }


def check_inputs(open_: np.ndarray, close: np.ndarray, target: np.ndarray) -> None:
    """Reject shapes, non-positive or NaN prices and targets outside [-1, 1]."""
    if open_.shape != close.shape or open_.shape != target.shape:
        raise BacktestInputError(f"open {open_.shape}, close {close.shape} and target {target.shape} differ in shape")
    if open_.ndim not in (1, 2) or open_.shape[0] < 1:
        raise BacktestInputError("prices must be 1-D or 2-D (bars × symbols) with at least one bar")
    for name, arr in (("open", open_), ("close", close)):
        bad = ~np.isfinite(arr) | (arr <= 0)
        if bad.any():
            raise BacktestInputError(f"{name} has {int(bad.sum())} NaN or non-positive price(s), first at row {int(np.argwhere(bad)[0][0])}")
    finite = target[~np.isnan(target)]
    if np.isinf(finite).any() or (np.abs(finite) > 1).any():
        raise BacktestInputError("targets must be NaN (hold) or a fraction of cash in [-1, 1]")


def _as_f64(a: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def run_backtest(
    open_: Any,
    close: Any,
    target: Any,
    config: ExecutionConfig | None = None,
    *,
    symbols: Sequence[str] | None = None,
    times: Sequence[str] | None = None,
    dates_ns: Any = None,
    simulate: Callable[..., Any] | None = None,
) -> BacktestResult:
    """Simulate each symbol (column) on its own account.

    ``target[t]`` is the signed fraction of cash to hold from the open of bar t+1 (NaN: keep
    the previous target, 0: flat). ``times`` (ISO strings per bar) label trades; ``dates_ns`` (int64 ns per bar)
    gives CAGR its calendar time. ``simulate`` swaps the fill loop (the reference loop in tests).
    Inputs are not modified.
    """
    config = config or ExecutionConfig()
    o, c, t = _as_f64(open_), _as_f64(close), _as_f64(target)
    check_inputs(o, c, t)
    if o.ndim == 1:
        o, c, t = o[:, None], c[:, None], t[:, None]
    n_sym = o.shape[1]
    names = list(symbols) if symbols is not None else [f"s{i}" for i in range(n_sym)]
    if len(names) != n_sym:
        raise BacktestInputError(f"{len(names)} symbol names for {n_sym} columns")
    if times is not None and len(times) != o.shape[0]:
        raise BacktestInputError(f"{len(times)} times for {o.shape[0]} bars")
    sim = simulate or kernel.simulate
    o_t, c_t, t_t = (np.ascontiguousarray(a.T) for a in (o, c, t))  # one copy: each column contiguous
    labels = list(times) if times is not None else None
    dates = None if dates_ns is None else np.asarray(dates_ns, dtype=np.int64)
    if dates is not None and len(dates) != o.shape[0]:
        raise BacktestInputError(f"{len(dates)} dates for {o.shape[0]} bars")
    results = []
    runs = [
        sim(o_t[j], c_t[j], t_t[j], config.cash, config.commission, config.size_fraction, config.whole_units, config.close_at_end)
        for j in range(n_sym)
    ]
    equities = np.column_stack([run[0] for run in runs])
    positions = np.column_stack([run[1] for run in runs])
    stats = performance_reports(equities, positions, [run[2] for run in runs], c, config, dates)
    for j, (equity, position, table) in enumerate(runs):
        results.append(SymbolResult(names[j], equity, position, table, stats[j], labels))
    total_equity = np.sum([r.equity for r in results], axis=0)
    all_tables = np.concatenate([r.table for r in results]) if results else np.empty((0, 6))
    exposure = np.mean([r.position != 0 for r in results], axis=0)
    portfolio = performance_report(total_equity, exposure, all_tables, np.mean(c, axis=1), config, dates)
    portfolio["buy_and_hold_return"] = float(np.mean(c[-1] / c[0] - 1.0))
    portfolio["symbols"] = n_sym
    return BacktestResult(config, tuple(results), {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in portfolio.items()})
