"""A deterministic synthetic universe: daily bars for N symbols and tick prints for recent sessions.

Same config (seed included) → bit-identical data on any machine: every symbol draws from its
own ``numpy.random.Generator`` seeded with ``(seed, symbol index)`` (ticks with ``(seed, index, 1)``),
and sessions come from the XNYS calendar up to a fixed ``end`` date, never today's date.

Model (for trying things out, not for research): close follows a geometric random walk with a
per-symbol drift and volatility; the open gaps from the previous close; high/low extend past
open/close by half-normal amounts; prices are in cents with ``low <= open, close <= high``.
Volume is log-normal around a per-symbol average and rises on large moves.  Ticks fall inside
each session's open-close interval (early closes and DST from the calendar), more of them near
the open and the close, priced on a Brownian bridge from the day's open to its close kept
within the day's range; sizes mix odd lots (< 100), round lots and blocks; venues include the
dark venue ``D`` (about 30 %).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pydantic

from quantq.finance.schema import Bars, SymbolMeta, Ticks

VENUES = np.array(["N", "Q", "P", "Z", "K", "D"], dtype=object)
VENUE_P = np.array([0.22, 0.22, 0.10, 0.10, 0.06, 0.30])
_NS_PER_DAY = 86_400 * 1_000_000_000


class SyntheticConfig(pydantic.BaseModel):
    """What to generate; ``end`` is fixed so that reruns on later days give the same data."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    symbols: int = pydantic.Field(default=500, ge=1, le=20_000)
    years: float = pydantic.Field(default=10.0, gt=0, le=40)
    seed: int = pydantic.Field(default=42, ge=0)
    end: dt.date = dt.date(2025, 12, 31)
    ticks: bool = False
    tick_days: int = pydantic.Field(default=5, ge=1, le=60)
    prints_per_day: int = pydantic.Field(default=2000, ge=1, le=200_000)
    prefix: str = pydantic.Field(default="SYN", pattern=r"^[A-Z][A-Z0-9]{0,8}$")

    @property
    def sessions_wanted(self) -> int:
        return max(1, round(self.years * 252))


def symbol_names(cfg: SyntheticConfig) -> list[str]:
    """``SYN0000`` … : symbol i is the same whatever the universe size."""
    width = max(4, len(str(cfg.symbols - 1)))
    return [f"{cfg.prefix}{i:0{width}d}" for i in range(cfg.symbols)]


@functools.lru_cache(maxsize=8)
def _xnys(start: dt.date, end: dt.date) -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start=start.isoformat(), end=end.isoformat())


def xnys_sessions_between(start: dt.date, end: dt.date) -> Any:
    """XNYS sessions in ``[start, end]`` (a DatetimeIndex of dates), and the calendar that made them."""
    # the calendar starts two weeks early: exchange_calendars rejects range bounds before its first session
    cal = _xnys(start - dt.timedelta(days=14), end + dt.timedelta(days=14))
    return cal.sessions_in_range(start.isoformat(), end.isoformat()), cal


def xnys_sessions(cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The last ``years * 252`` XNYS sessions up to ``end``: (dates as datetime64[ns] at 00:00 UTC, opens ns, closes ns)."""
    span_days = int(cfg.sessions_wanted * 366 / 252) + 30
    first = max(dt.date(1990, 1, 2), cfg.end - dt.timedelta(days=span_days))
    sessions, cal = xnys_sessions_between(first, cfg.end)
    sessions = sessions[-cfg.sessions_wanted :]
    dates = np.asarray(sessions.values, dtype="datetime64[ns]")
    return dates, _utc_ns(cal.opens.loc[sessions]), _utc_ns(cal.closes.loc[sessions])


def _utc_ns(times: Any) -> np.ndarray:
    import pandas as pd

    idx = pd.DatetimeIndex(times)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.to_numpy().astype("datetime64[ns]").view(np.int64)


def generate_bars(index: int, dates: np.ndarray, seed: int) -> tuple[Bars, float]:
    """Daily bars for symbol ``index`` on ``dates``; also returns its average daily volume (last 20 sessions)."""
    rng = np.random.default_rng([seed, index])
    n = len(dates)
    vol_annual = rng.uniform(0.15, 0.45)
    drift_annual = rng.uniform(-0.05, 0.15)
    sd = vol_annual / np.sqrt(252)
    mu = drift_annual / 252 - 0.5 * sd * sd
    start = np.exp(rng.uniform(np.log(10), np.log(400)))
    rets = rng.normal(mu, sd, n)
    close = start * np.exp(np.cumsum(rets))
    prev = np.concatenate([[start], close[:-1]])
    open_ = prev * np.exp(rng.normal(0, 0.3 * sd, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.5 * sd, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.5 * sd, n)))
    # cents: floor the low and ceil the high so the rounded bar still contains open and close
    open_, close = np.round(open_, 2), np.round(close, 2)
    low = np.maximum(0.01, np.minimum(np.floor(low * 100) / 100, np.minimum(open_, close)))
    open_, close = np.maximum(open_, low), np.maximum(close, low)
    high = np.maximum(np.ceil(high * 100) / 100, np.maximum(open_, close))
    adv = np.exp(rng.uniform(np.log(2e5), np.log(2e7)))
    volume = np.round(adv * rng.lognormal(-0.125, 0.5, n) * (1 + 2 * np.abs(rets) / sd) / 2)
    bars = Bars(dates, open_, high, low, close, volume, daily=True)
    return bars, float(volume[-20:].mean())


def generate_ticks(
    index: int, seed: int, bars: Bars, opens: np.ndarray, closes: np.ndarray, days: int, prints_per_day: int
) -> Ticks:
    """Tick prints for the last ``days`` sessions of ``bars`` (session bounds in ns UTC, aligned with bars)."""
    rng = np.random.default_rng([seed, index, 1])
    chunks: list[tuple[np.ndarray, ...]] = []
    for k in range(len(bars) - min(days, len(bars)), len(bars)):
        m = max(1, int(rng.poisson(prints_per_day)))
        # U-shaped intraday activity: Beta(0.6, 0.6) puts more prints near the open and close
        frac = np.sort(rng.beta(0.6, 0.6, m))
        t = opens[k] + np.floor(frac * (closes[k] - opens[k]) / 1e6).astype(np.int64) * 1_000_000  # whole ms
        lo, hi, o, c = bars.low[k], bars.high[k], bars.open[k], bars.close[k]
        walk = np.cumsum(rng.normal(0, 1, m)) / np.sqrt(m)
        bridge = walk - frac * walk[-1]
        path = o + (c - o) * frac + bridge * (hi - lo) * 0.5
        price = np.clip(np.round(path, 2), lo, hi)
        kind = rng.random(m)
        size = np.where(
            kind < 0.40,
            rng.integers(1, 100, m),  # odd lots
            np.where(kind < 0.85, rng.choice([100, 200, 300, 500], m), rng.integers(1, 50, m) * 100),
        ).astype(np.float64)
        venue = rng.choice(VENUES, m, p=VENUE_P)
        chunks.append((t, price, size, venue))
    if not chunks:
        return Ticks.empty()
    ts, price, size, venue = (np.concatenate(parts) for parts in zip(*chunks, strict=True))
    return Ticks(ts.view("datetime64[ns]"), price, size, venue, np.arange(len(ts), dtype=np.int64))


def generate_universe(
    cfg: SyntheticConfig, progress: Callable[[int, int, str], None] | None = None
) -> Iterator[tuple[str, Bars, Ticks | None, SymbolMeta]]:
    """Yield ``(symbol, bars, ticks or None, metadata)`` for each symbol, in order."""
    dates, opens, closes = xnys_sessions(cfg)
    names = symbol_names(cfg)
    for i, sym in enumerate(names):
        bars, adv = generate_bars(i, dates, cfg.seed)
        ticks = (
            generate_ticks(i, cfg.seed, bars, opens, closes, cfg.tick_days, cfg.prints_per_day) if cfg.ticks else None
        )
        yield (
            sym,
            bars,
            ticks,
            SymbolMeta(symbol=sym, exchange="XNYS", average_daily_volume=adv, currency="USD", name=f"Synthetic {i}"),
        )
        if progress is not None:
            progress(i + 1, len(names), sym)
