"""Drawdowns of an equity curve: the series, the maximum, its duration, and the Calmar ratio.

Same conventions as :mod:`quantq.finance.metrics.returns`: 1-D ``(T,)`` or 2-D ``(T, K)``
equity, fractions, NaN (never inf) for fewer than 2 points or a zero denominator.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from quantq.finance.metrics._arrays import as_2d, finish, times_ns
from quantq.finance.metrics.returns import annual_return, returns


def drawdown(equity: Any) -> np.ndarray:
    """``E_t / max_{s<=t} E_s - 1`` for every bar (0 at a new high, -0.25 a quarter below the peak).

    Same shape as ``equity``.  A running peak that is not positive is a zero/meaningless
    denominator and gives NaN for that bar.
    """
    e, was_1d = as_2d(equity, "equity")
    peak = np.maximum.accumulate(e, axis=0) if e.shape[0] else e
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, e / np.where(peak > 0, peak, 1.0) - 1.0, np.nan)
    return dd[:, 0] if was_1d else dd


def max_drawdown(equity: Any) -> float | np.ndarray:
    """``min_t(E_t / max_{s<=t} E_s - 1)``, in ``[-1, 0]``.

    Fewer than 2 points, or a non-positive running peak anywhere, give NaN.
    """
    e, was_1d = as_2d(equity, "equity")
    if e.shape[0] < 2:
        return finish(np.full(e.shape[1], np.nan), was_1d)
    dd = drawdown(e)
    return finish(np.min(dd, axis=0), was_1d)  # NaN anywhere propagates through min


@dataclasses.dataclass(frozen=True, kw_only=True)
class DrawdownEpisode:
    """The maximum drawdown of one equity column and the episode it belongs to (bar indices)."""

    max_drawdown: float  #: min_t(E_t / peak_t - 1), NaN if undefined
    peak: int | None  #: last bar at the running high before the trough
    trough: int | None  #: first bar where the maximum drawdown is reached
    recovery: int | None  #: first bar after the trough back at the peak, None if never
    duration_bars: int | None  #: (recovery or last bar) - peak
    duration_days: float | None  #: the same span in calendar days, when times are given
    longest_duration_bars: int | None  #: longest underwater spell: from a high to the next high (or the last bar)
    longest_duration_days: float | None  #: the same in calendar days, when times are given

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["max_drawdown"] = None if not np.isfinite(self.max_drawdown) else self.max_drawdown
        return out


def _underwater_spells(dd: np.ndarray) -> list[tuple[int, int]]:
    """(start high, end) bar pairs of every spell below a high; end is the next high or the last bar."""
    highs = np.flatnonzero(dd == 0)
    ends = np.unique(np.r_[highs, len(dd) - 1])
    spells = []
    for prev, nxt in zip(ends[:-1], ends[1:], strict=False):
        if nxt > prev + 1 or (nxt == len(dd) - 1 and dd[nxt] < 0):
            spells.append((int(prev), int(nxt)))
    return spells


def _one_episode(e: np.ndarray, t: np.ndarray | None) -> DrawdownEpisode:
    empty = DrawdownEpisode(
        max_drawdown=float("nan"), peak=None, trough=None, recovery=None, duration_bars=None,
        duration_days=None, longest_duration_bars=None, longest_duration_days=None,
    )
    if e.shape[0] < 2:
        return empty
    dd = drawdown(e)
    if np.any(np.isnan(dd)):
        return empty
    trough = int(np.argmin(dd))
    mdd = float(dd[trough])
    peak = int(np.flatnonzero(dd[: trough + 1] == 0)[-1])
    after = np.flatnonzero(dd[trough:] == 0)
    recovery = int(trough + after[0]) if after.size else None
    end = recovery if recovery is not None else len(e) - 1
    spells = _underwater_spells(dd)
    longest = max((b - a for a, b in spells), default=0)

    def days(a: int, b: int) -> float | None:
        return None if t is None else float((t[b] - t[a]) / 86_400e9)

    longest_days = None
    if t is not None:
        longest_days = max((days(a, b) or 0.0 for a, b in spells), default=0.0)
    return DrawdownEpisode(
        max_drawdown=mdd,
        peak=peak,
        trough=trough,
        recovery=recovery,
        duration_bars=end - peak,
        duration_days=days(peak, end),
        longest_duration_bars=int(longest),
        longest_duration_days=longest_days,
    )


def drawdown_episode(equity: Any, times: Any = None) -> DrawdownEpisode | list[DrawdownEpisode]:
    """The maximum drawdown with its peak, trough, recovery and duration, in bars and (with ``times``) days.

    The episode runs from the last high before the trough to the recovery, or to the last bar
    if equity never gets back to the peak.  ``longest_duration_*`` is the longest spell under a
    high, whichever drawdown it holds (backtesting.py's "Max. Drawdown Duration").  A 2-D input
    gives one episode per column.  Fewer than 2 points or a non-positive peak give a NaN
    drawdown and None elsewhere.
    """
    e, was_1d = as_2d(equity, "equity")
    t = None if times is None else times_ns(times, e.shape[0])
    episodes = [_one_episode(e[:, k], t) for k in range(e.shape[1])]
    return episodes[0] if was_1d else episodes


def max_drawdown_duration(equity: Any) -> float | np.ndarray:
    """Bars from the peak before the maximum drawdown to its recovery (or the last bar); NaN if undefined."""
    e, was_1d = as_2d(equity, "equity")
    out = [ep.duration_bars if ep.duration_bars is not None else np.nan for ep in (_one_episode(e[:, k], None) for k in range(e.shape[1]))]
    return finish(np.asarray(out, dtype=np.float64), was_1d)


def calmar_ratio(equity: Any, periods_per_year: float) -> float | np.ndarray:
    """``annual_return(returns(equity), N) / |max_drawdown(equity)|``.

    Uses the geometric annual return (as backtesting.py does).  No drawdown (a zero
    denominator), fewer than 3 equity points (fewer than 2 returns) give NaN.
    """
    e, was_1d = as_2d(equity, "equity")
    ann = np.atleast_1d(np.asarray(annual_return(returns(e), periods_per_year), dtype=np.float64))
    mdd = np.atleast_1d(np.asarray(max_drawdown(e), dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mdd < 0, ann / np.abs(np.where(mdd < 0, mdd, 1.0)), np.nan)
    return finish(out, was_1d)
