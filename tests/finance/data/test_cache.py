"""The per-process bars cache: served only while the file is the same file, never stale data."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantq.finance.backtest.panel import Panel
from quantq.finance.data.cache import ENV_VAR, BarsCache, default_max_bytes
from quantq.finance.data.store import MarketStore
from quantq.finance.schema import BAR_SCHEMA, SchemaError

from .conftest import daily_bars


def _fill(store: MarketStore, n: int = 4, rows: int = 30) -> list[str]:
    names = [f"S{i}" for i in range(n)]
    with store.batch() as b:
        for i, sym in enumerate(names):
            b.write_bars(sym, daily_bars(rows + i, seed=i))
    return names


def test_hits_serve_the_same_validated_arrays(store: MarketStore) -> None:
    names = _fill(store)
    cache = BarsCache()
    first = store.read_bars_many(names, cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (4, 0, 4)
    again = store.read_bars_many(names, cache=cache)
    assert (cache.misses, cache.hits) == (4, 4)
    plain = store.read_bars_many(names)
    for sym in names:
        assert again[sym] is first[sym]  # no decode, no copy on a hit
        for col in ("ts", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(again[sym], col), getattr(plain[sym], col))
            with pytest.raises(ValueError, match="read-only"):
                getattr(again[sym], col)[0] = 0  # nobody can change what the next caller gets
    # start/end slices come from the cached whole file
    part = store.read_bars_many(["S1"], start="2024-01-05", end="2024-01-07", cache=cache)["S1"]
    assert [str(t)[:10] for t in part.ts] == ["2024-01-05", "2024-01-06", "2024-01-07"]


def test_a_rewritten_file_is_read_again(store: MarketStore) -> None:
    names = _fill(store)
    cache = BarsCache()
    before = store.read_bars_many(names, cache=cache)["S2"]
    store.write_bars("S2", daily_bars(5, start="2030-01-01", seed=99), mode="replace")  # rename: new inode
    after = store.read_bars_many(names, cache=cache)["S2"]
    assert len(after) == 5 and len(before) == 32
    assert str(after.ts[0])[:10] == "2030-01-01"
    assert np.array_equal(after.close, store.read_bars("S2").close)


def test_an_in_place_change_of_times_is_a_miss(store: MarketStore) -> None:
    names = _fill(store, n=1)
    cache = BarsCache()
    store.read_bars_many(names, cache=cache)
    path = store._bars_path("S0", "1d")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    store.read_bars_many(names, cache=cache)
    assert (cache.misses, cache.hits) == (2, 0)


def test_invalid_file_written_behind_the_stores_back_is_rejected_not_cached(store: MarketStore) -> None:
    names = _fill(store, n=2)
    cache = BarsCache()
    store.read_bars_many(names, cache=cache)
    good = store.read_bars("S1")
    bad_high = np.array(good.high)
    bad_high[3] = good.low[3] / 2  # high < low
    table = pa.Table.from_arrays(
        [pa.array(good.ts.view(np.int64)).cast(BAR_SCHEMA.field("ts").type), pa.array(good.open), pa.array(bad_high),
         pa.array(good.low), pa.array(good.close), pa.array(good.volume)],
        schema=BAR_SCHEMA,
    )
    path = store._bars_path("S1", "1d")
    pq.write_table(table, path)  # same path, rewritten in place
    with pytest.raises(SchemaError, match="row 3: .*high < low"):
        store.read_bars_many(names, cache=cache)
    with pytest.raises(SchemaError):  # and again: the old good copy is never served for the new file
        store.read_bars_many(names, cache=cache)


def test_the_cache_stays_within_its_byte_budget(store: MarketStore) -> None:
    names = _fill(store, n=6, rows=100)
    one = 6 * 8 * 100  # six float64/int64 columns of ~100 rows
    cache = BarsCache(max_bytes=3 * one + 500)
    store.read_bars_many(names, cache=cache)
    assert 0 < len(cache) <= 3 and cache.nbytes <= cache.max_bytes
    assert set(cache._entries) == {store._bars_path(s, "1d") for s in names[-len(cache):]}  # least recent out
    tiny = BarsCache(max_bytes=10)
    got = store.read_bars_many(names, cache=tiny)
    assert len(tiny) == 0 and len(got) == 6  # too big to keep, still served


def test_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "3")
    assert default_max_bytes() == 3 * 1024 * 1024
    monkeypatch.setenv(ENV_VAR, "lots")
    with pytest.raises(ValueError, match="whole number of megabytes"):
        default_max_bytes()
    monkeypatch.setenv(ENV_VAR, "-1")
    with pytest.raises(ValueError, match=">= 0"):
        BarsCache()


def test_panel_from_bars_matches_the_per_symbol_path(store: MarketStore) -> None:
    names = _fill(store, n=5, rows=40)
    found = store.read_bars_many(names, cache=BarsCache())
    per_symbol = {
        s: {"date": b.ts.astype("datetime64[D]").astype("datetime64[ns]").astype(np.int64), "open": b.open, "high": b.high,
            "low": b.low, "close": b.close, "volume": b.volume}
        for s, b in found.items()
    }
    for tail in (None, 1, 7, 10_000):
        got = Panel.from_bars(found, tail=tail)
        want = Panel.from_columns(per_symbol)
        want = want if tail is None else want.tail(tail)
        assert got.symbols == want.symbols
        for col in ("ticker", "date", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(got, col), getattr(want, col)), (tail, col)
    with pytest.raises(ValueError, match="at least 1"):
        Panel.from_bars(found, tail=0)
    assert len(Panel.from_bars({})) == 0
