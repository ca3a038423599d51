from __future__ import annotations

import numpy as np
import pytest

from quantq.finance.data.store import MarketStore
from quantq.finance.data.synthetic import SyntheticConfig, generate_universe, symbol_names, xnys_sessions
from quantq.finance.data.update import write_synthetic

from .conftest import tree_snapshot

SMALL = SyntheticConfig(symbols=3, years=1, seed=11, ticks=True, tick_days=3, prints_per_day=300)


def _arrays(cfg: SyntheticConfig) -> list[tuple]:
    out = []
    for sym, bars, ticks, meta in generate_universe(cfg):
        tick_cols = (ticks.ts, ticks.price, ticks.size, ticks.venue) if ticks is not None else (np.empty(0),) * 4
        out.append(
            (
                sym,
                bars.ts,
                bars.open,
                bars.high,
                bars.low,
                bars.close,
                bars.volume,
                *tick_cols,
                meta.average_daily_volume,
            )
        )
    return out


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b = _arrays(SMALL), _arrays(SMALL)
    for x, y in zip(a, b, strict=True):
        assert x[0] == y[0]
        assert all(np.array_equal(p, q) for p, q in zip(x[1:11], y[1:11], strict=True))
        assert x[11] == y[11]
    c = _arrays(SMALL.model_copy(update={"seed": 12}))
    assert not np.array_equal(a[0][5], c[0][5])


def test_symbol_i_does_not_depend_on_universe_size() -> None:
    small = _arrays(SyntheticConfig(symbols=2, years=1, seed=3))
    big = _arrays(SyntheticConfig(symbols=5, years=1, seed=3))
    assert small[1][0] == big[1][0] == "SYN0001" and np.array_equal(small[1][5], big[1][5])
    assert symbol_names(SyntheticConfig(symbols=12000))[-1] == "SYN11999"


def test_bars_are_xnys_sessions_with_sane_ohlc() -> None:
    cfg = SyntheticConfig(symbols=2, years=2, seed=5, end="2024-12-31")
    dates, opens, closes = xnys_sessions(cfg)
    assert len(dates) == 504 and str(dates[-1])[:10] == "2024-12-31"
    assert np.datetime64("2024-12-25", "ns") not in dates and np.datetime64("2024-07-04", "ns") not in dates
    for _, bars, ticks, meta in generate_universe(cfg):
        assert ticks is None and np.array_equal(bars.ts, dates)
        assert (bars.low <= np.minimum(bars.open, bars.close)).all() and (
            bars.high >= np.maximum(bars.open, bars.close)
        ).all()
        assert (bars.low > 0).all() and (bars.volume > 0).all()
        assert np.array_equal(np.round(bars.close, 2), bars.close)  # cents
        assert meta.exchange == "XNYS" and meta.average_daily_volume == pytest.approx(bars.volume[-20:].mean())


def test_ticks_inside_sessions_with_odd_lots_and_dark_venue() -> None:
    cfg = SyntheticConfig(symbols=1, years=1, seed=2, ticks=True, tick_days=5, prints_per_day=2000, end="2025-12-31")
    dates, opens, closes = xnys_sessions(cfg)
    _, bars, ticks, _ = next(generate_universe(cfg))
    t = ticks.ts.view(np.int64)
    day = np.searchsorted(opens, t, side="right") - 1
    assert (day >= len(dates) - 5).all()
    assert ((t >= opens[day]) & (t <= closes[day])).all()  # never outside the session
    # 2025-12-24 closes early (13:00 New York = 18:00Z)
    dec24 = np.flatnonzero(dates == np.datetime64("2025-12-24", "ns"))[0]
    assert closes[dec24] == np.datetime64("2025-12-24T18:00", "ns").astype(np.int64)
    assert ((t[day == dec24]) <= closes[dec24]).all() and (day == dec24).any()
    assert (ticks.size < 100).mean() > 0.2 and (ticks.size >= 100).mean() > 0.3
    assert 0.2 < (ticks.venue == "D").mean() < 0.4
    assert (np.diff(t) >= 0).all()
    for k in np.unique(day):  # within the day's bar range
        sel = day == k
        assert ticks.price[sel].min() >= bars.low[k] and ticks.price[sel].max() <= bars.high[k]


def test_write_synthetic_is_reproducible_on_disk(tmp_path) -> None:
    a, b = MarketStore.open(tmp_path / "a"), MarketStore.open(tmp_path / "b")
    summary = write_synthetic(a, SMALL)
    write_synthetic(b, SMALL)
    assert summary["symbols"] == 3 and summary["tick_rows"] > 0
    assert tree_snapshot(a.url) == tree_snapshot(b.url)  # byte-identical stores
    listed = a.list()
    assert {(s.symbol, s.bar_size) for s in listed} == {(f"SYN000{i}", k) for i in range(3) for k in ("1d", "tick")}
    assert a.get_meta("SYN0000").exchange == "XNYS"


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        SyntheticConfig(symbols=0)
    with pytest.raises(ValueError):
        SyntheticConfig(years=-1)
    with pytest.raises(ValueError):
        SyntheticConfig(colour="red")  # type: ignore[call-arg]
