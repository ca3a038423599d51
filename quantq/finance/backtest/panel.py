"""Many symbols' daily bars stacked in one set of arrays (the strategy frame's row order),
and the position-mode and signal-mode engines that work on it."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from quantq.finance.backtest.config import ExecutionConfig
from quantq.finance.backtest.engine import SymbolResult, run_backtest
from quantq.finance.backtest.report import performance_report
from quantq.finance.schema import Bars


@dataclasses.dataclass(frozen=True)
class Panel:
    """All symbols' bars; rows sorted by symbol, then date. ``ticker`` indexes ``symbols``."""

    symbols: tuple[str, ...]
    ticker: np.ndarray  # int32
    date: np.ndarray  # int64 ns since the epoch (daily bars: the session date at midnight)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ticker)
        for name in ("date", "open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"panel column {name} has {len(getattr(self, name))} rows, ticker has {n}")
        if n and (np.any(np.diff(self.ticker) < 0) or self.ticker.min() < 0 or self.ticker.max() >= len(self.symbols)):
            raise ValueError("panel rows must be grouped by ticker in symbol order")

    def __len__(self) -> int:
        return len(self.ticker)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "ticker": np.ascontiguousarray(self.ticker, dtype=np.int32),
            "date": np.ascontiguousarray(self.date, dtype=np.int64),
            **{k: np.ascontiguousarray(getattr(self, k), dtype=np.float64) for k in ("open", "high", "low", "close", "volume")},
        }

    def segments(self) -> list[tuple[str, slice]]:
        """Each present symbol and its row slice."""
        if not len(self):
            return []
        starts = np.flatnonzero(np.r_[True, self.ticker[1:] != self.ticker[:-1]])
        ends = np.r_[starts[1:], len(self)]
        return [(self.symbols[int(self.ticker[s])], slice(int(s), int(e))) for s, e in zip(starts, ends, strict=True)]

    def tail(self, bars: int) -> Panel:
        """The latest ``bars`` rows of each symbol."""
        keep = np.zeros(len(self), dtype=bool)
        for _, sl in self.segments():
            keep[max(sl.start, sl.stop - bars) : sl.stop] = True
        return dataclasses.replace(self, **{k: getattr(self, k)[keep] for k in ("ticker", "date", "open", "high", "low", "close", "volume")})

    @classmethod
    def from_columns(cls, per_symbol: Mapping[str, Mapping[str, np.ndarray]]) -> Panel:
        """From ``{symbol: {"date": int64 ns, "open": ..., ...}}``; symbols are sorted."""
        symbols = tuple(sorted(per_symbol))
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ticker", "date", "open", "high", "low", "close", "volume")}
        for i, sym in enumerate(symbols):
            data = per_symbol[sym]
            dates = np.asarray(data["date"], dtype=np.int64)
            if len(dates) > 1 and not np.all(np.diff(dates) > 0):
                raise ValueError(f"{sym}: dates must be strictly increasing")
            cols["ticker"].append(np.full(len(dates), i, dtype=np.int32))
            cols["date"].append(dates)
            for k in ("open", "high", "low", "close", "volume"):
                cols[k].append(np.asarray(data[k], dtype=np.float64))
        joined = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in cols.items()}
        return cls(symbols, joined["ticker"].astype(np.int32), joined["date"].astype(np.int64),
                   *(joined[k] for k in ("open", "high", "low", "close", "volume")))

    @classmethod
    def from_bars(cls, bars: Mapping[str, Bars], tail: int | None = None) -> Panel:
        """From validated daily :class:`Bars` per symbol (symbols sorted, empty ones left out);
        with ``tail``, only the latest ``tail`` bars of each. One concatenation per column."""
        if tail is not None and tail < 1:
            raise ValueError("tail must be at least 1 bar")
        symbols = tuple(sorted(s for s, b in bars.items() if len(b)))
        chosen = [bars[s] for s in symbols]
        for sym, b in zip(symbols, chosen, strict=True):
            if not b.daily:
                raise ValueError(f"{sym}: a panel holds daily bars (session dates), got intraday bars")
        # the latest ``tail`` rows of a validated Bars are valid: plain array views, no re-check
        cut = slice(-tail, None) if tail is not None else slice(None)
        # validated daily bars carry their session date at 00:00 UTC: ts is the panel's date as it is
        date = [b.ts.view(np.int64)[cut] for b in chosen]
        lengths = np.fromiter((len(d) for d in date), dtype=np.int64, count=len(date))
        ticker = np.repeat(np.arange(len(chosen), dtype=np.int32), lengths)
        if not chosen:
            empty = np.empty(0)
            return cls((), ticker, np.empty(0, np.int64), empty, empty, empty, empty, empty)
        cols = [np.concatenate([getattr(b, k)[cut] for b in chosen]) for k in ("open", "high", "low", "close", "volume")]
        date_all = np.concatenate(date)
        return cls(symbols, ticker, date_all, *cols)


def _iso_dates(ns: np.ndarray) -> list[str]:
    return np.datetime_as_string(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"), unit="D").tolist()


def backtest_targets(panel: Panel, target: np.ndarray, config: ExecutionConfig) -> dict[str, Any]:
    """Position mode over a panel: each symbol on its own account, then the portfolio.

    ``target`` is aligned to the panel's rows. The portfolio's equity is the sum of the
    accounts on the union of dates (an account before its first bar holds its cash).
    """
    if target.shape != (len(panel),):
        raise ValueError(f"targets have shape {target.shape}; the panel has {len(panel)} rows")
    segments = panel.segments()
    # Symbols on the same dates (the usual case) run as one 2-D backtest: the statistics are
    # computed for all of them in one vectorised pass; each column equals its own 1-D run.
    groups: dict[bytes, list[int]] = {}
    for i, (_, sl) in enumerate(segments):
        groups.setdefault(panel.date[sl].tobytes(), []).append(i)
    by_index: dict[int, SymbolResult] = {}
    for members in groups.values():
        sls = [segments[i][1] for i in members]
        dates = panel.date[sls[0]]
        res = run_backtest(
            np.column_stack([panel.open[sl] for sl in sls]),
            np.column_stack([panel.close[sl] for sl in sls]),
            np.column_stack([target[sl] for sl in sls]),
            config, symbols=[segments[i][0] for i in members], times=_iso_dates(dates), dates_ns=dates,
        )
        by_index.update(zip(members, res.symbols, strict=True))
    results: list[SymbolResult] = []
    all_dates = np.unique(panel.date)
    total = np.zeros(len(all_dates))
    held = np.zeros(len(all_dates))
    for i, (_, sl) in enumerate(segments):
        dates = panel.date[sl]
        sym_res = by_index[i]
        results.append(sym_res)
        pos = np.searchsorted(all_dates, dates)
        eq = np.full(len(all_dates), np.nan)
        eq[pos] = sym_res.equity
        filled = _ffill(eq, config.cash)
        total += filled
        inpos = np.zeros(len(all_dates))
        inpos[pos] = sym_res.position != 0
        held = np.maximum(held, inpos)
    table = np.concatenate([r.table for r in results]) if results else np.empty((0, 6))
    first_last = [(panel.close[sl][0], panel.close[sl][-1]) for _, sl in panel.segments()]
    portfolio = performance_report(total, held, table, np.array([1.0, 1.0]), config, all_dates) if len(all_dates) else {}
    portfolio["buy_and_hold_return"] = float(np.mean([b / a - 1.0 for a, b in first_last])) if first_last else math.nan
    portfolio["avg_return"] = portfolio.get("avg_trade_return", math.nan)
    return {
        "portfolio": portfolio,
        "symbols": results,
        "equity_dates": _iso_dates(all_dates),
        "equity": total,
    }


def _ffill(values: np.ndarray, first: float) -> np.ndarray:
    out = values.copy()
    if len(out) and math.isnan(out[0]):
        out[0] = first
    idx = np.where(np.isnan(out), 0, np.arange(len(out)))
    np.maximum.accumulate(idx, out=idx)
    return out[idx]


def _direction(signal: Any) -> float:
    """+1 long, -1 short, 0 no trade, from seed 001's ``signal`` values."""
    if isinstance(signal, bool):
        return 1.0 if signal else 0.0
    if isinstance(signal, (int, float)) and math.isfinite(signal):
        return float(np.sign(signal))
    if isinstance(signal, str):
        word = signal.strip().lower()
        return 1.0 if word in ("buy", "long", "true", "1") else -1.0 if word in ("sell", "short", "-1") else 0.0
    return 0.0


def _day_ns(value: Any) -> int | None:
    try:
        return int(np.datetime64(str(value)[:10], "D").astype("datetime64[ns]").astype(np.int64))
    except (ValueError, TypeError):
        return None


def signal_performance(instances: Sequence[dict[str, Any]], panel: Panel, horizon: int, commission: float) -> dict[str, Any]:
    """Forward returns of seed 001 instances, computed by the engine (never by user code).

    An instance on bar t with a long (short) signal enters at the open of bar t+1 and exits
    at the close of bar t+horizon; its return is side·(exit/entry − 1) net of ``commission``
    on both sides. Instances without that many later bars, or with an unknown ticker/date,
    are counted in ``instances_without_forward_data``. ``total_return`` sums the returns
    (equal stake per instance, not compounded); ``win_rate`` is the share with return > 0.
    """
    if horizon < 1:
        raise ValueError("horizon must be at least 1 bar")
    seg = {sym: sl for sym, sl in panel.segments()}
    returns: list[float] = []
    skipped = traded = 0
    for inst in instances:
        side = _direction(inst.get("signal"))
        if side == 0.0:
            continue
        traded += 1
        sl = seg.get(str(inst.get("ticker")))
        day = _day_ns(inst.get("date"))
        if sl is None or day is None:
            skipped += 1
            continue
        dates = panel.date[sl]
        i = int(np.searchsorted(dates, day))
        if i >= len(dates) or dates[i] != day or i + horizon >= len(dates):
            skipped += 1
            continue
        entry = panel.open[sl][i + 1]
        exit_ = panel.close[sl][i + horizon]
        gross = side * (exit_ / entry - 1.0)
        returns.append(gross - commission * (1.0 + exit_ / entry))
    r = np.array(returns)
    return {
        "total_return": float(r.sum()) if len(r) else math.nan,
        "avg_return": float(r.mean()) if len(r) else math.nan,
        "win_rate": float(np.mean(r > 0)) if len(r) else math.nan,
        "median_return": float(np.median(r)) if len(r) else math.nan,
        "best_return": float(r.max()) if len(r) else math.nan,
        "worst_return": float(r.min()) if len(r) else math.nan,
        "trades_evaluated": len(r),
        "signals_traded": traded,
        "instances_without_forward_data": skipped,
        "horizon_bars": horizon,
        "commission": commission,
    }
