from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from quantq.finance.data.fs import StoreError
from quantq.finance.data.store import MarketStore, default_location, resolve_location
from quantq.finance.schema import Bars, SchemaError, Ticks

from .conftest import daily_bars, require, tree_snapshot


def test_roundtrip_and_range(store: MarketStore) -> None:
    bars = daily_bars(30)
    assert store.write_bars("msft", bars) == 30
    back = store.read_bars("MSFT")
    for col in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(back, col), getattr(bars, col)), col
    part = store.read_bars("MSFT", "1d", "2024-01-05", "2024-01-07")
    assert [str(t)[:10] for t in part.ts] == ["2024-01-05", "2024-01-06", "2024-01-07"]
    with pytest.raises(ValueError, match="no time zone"):
        store.read_bars("MSFT", "1d", "2024-01-05 10:00")


def test_missing_symbol_is_a_clear_error(store: MarketStore) -> None:
    with pytest.raises(StoreError, match="no 1d bars for NOPE"):
        store.read_bars("NOPE")


def test_merge_replaces_overlap_and_keeps_the_rest(store: MarketStore) -> None:
    store.write_bars("A", daily_bars(10, seed=1))
    newer = daily_bars(10, start="2024-01-07", seed=2)  # overlaps 2024-01-07..11
    store.write_bars("A", newer)
    got = store.read_bars("A")
    assert len(got) == 15
    i = int(np.flatnonzero(got.ts == np.datetime64("2024-01-08", "ns"))[0])
    assert got.close[i] == newer.close[1]
    store.write_bars("A", daily_bars(3, seed=3), mode="replace")
    assert len(store.read_bars("A")) == 3


def test_bar_sizes_are_separate_series(store: MarketStore) -> None:
    store.write_bars("A", daily_bars(5))
    ts = np.datetime64("2024-01-02T14:30", "ns") + np.arange(4) * np.timedelta64(1, "m")
    one = np.ones(4)
    store.write_bars("A", Bars(ts, one * 10, one * 11, one * 9, one * 10, one), "1m")
    assert store.bar_sizes() == ["1d", "1m"]
    assert len(store.read_bars("A", "1m")) == 4 and len(store.read_bars("A", "1d")) == 5
    with pytest.raises(SchemaError, match="session date"):
        store.write_bars("A", Bars(ts, one * 10, one * 11, one * 9, one * 10, one), "1d")


def test_read_many_local_and_url_paths_agree(store: MarketStore, tmp_path: Path) -> None:
    for i in range(5):
        store.write_bars(f"S{i}", daily_bars(20 + i, seed=i))
    many = store.read_bars_many(None, "1d")
    assert sorted(many) == [f"S{i}" for i in range(5)]
    assert [len(many[f"S{i}"]) for i in range(5)] == [20, 21, 22, 23, 24]
    some = store.read_bars_many(["S1", "S3"], "1d", start="2024-01-10")
    assert all(str(b.ts[0])[:10] == "2024-01-10" for b in some.values())
    with pytest.raises(StoreError, match="no 1d bars for ZZ"):
        store.read_bars_many(["S1", "ZZ"])
    assert sorted(store.read_bars_many(["S1", "ZZ"], missing="skip")) == ["S1"]
    # the same files through the URL (pyarrow filesystem) code path
    url_store = MarketStore.open(f"file://{store.url}")
    assert url_store.files.local  # file:// is the embedded default
    import pyarrow.fs as pafs

    from quantq.finance.data.fs import ArrowFiles

    remote = MarketStore(ArrowFiles("test", pafs.LocalFileSystem(), store.url))
    got = remote.read_bars_many(None, "1d")
    assert all(np.array_equal(got[s].close, many[s].close) for s in many)


def test_list_reports_rows_and_span(store: MarketStore) -> None:
    store.write_bars("B", daily_bars(10))
    ts = np.array(["2024-03-08T20:59:59", "2024-03-11T13:30", "2024-03-11T13:30"], dtype="datetime64[ns]")
    store.write_ticks("T", Ticks(ts, [10, 10.1, 10.2], [100, 5, 300], ["N", "D", ""], [0, 1, 2]))
    listed = {(s.symbol, s.bar_size): s for s in store.list()}
    assert listed[("B", "1d")].rows == 10
    assert (listed[("B", "1d")].first, listed[("B", "1d")].last) == ("2024-01-02", "2024-01-11")
    assert listed[("T", "tick")].rows == 3
    assert listed[("T", "tick")].first == "2024-03-08T20:59:59.000000Z"
    assert listed[("T", "tick")].last == "2024-03-11T13:30:00.000000Z"
    assert store.symbols() == ["B", "T"]


def test_ticks_partitioned_by_day_with_stable_seq(store: MarketStore) -> None:
    ts = np.array(["2024-03-08T20:00", "2024-03-11T13:30", "2024-03-11T13:30"], dtype="datetime64[ns]")
    store.write_ticks("T", Ticks(ts, [10, 11, 12], [100, 5, 300], ["N", "D", "Q"], [0, 1, 2]))
    assert sorted(os.listdir(Path(store.url) / "ticks" / "T")) == ["2024-03-08.parquet", "2024-03-11.parquet"]
    # an append with an equal time goes after the stored prints of that time
    store.write_ticks("T", Ticks(ts[2:], [13.0], [7], ["P"], [0]))
    got = store.read_ticks("T")
    assert list(got.price) == [10, 11, 12, 13]
    assert list(got.seq) == [0, 0, 1, 2]
    # replace_days replaces only the days the new prints touch
    store.write_ticks("T", Ticks(ts[1:2], [99.0], [1], ["Z"], [0]), mode="replace_days")
    assert list(store.read_ticks("T").price) == [10, 99]
    assert list(store.read_ticks("T", start="2024-03-09").price) == [99]


def test_meta_get_set(store: MarketStore) -> None:
    assert store.get_meta("X") is None
    store.set_meta("x", exchange="XNYS")
    meta = store.set_meta("X", average_daily_volume=2.5e6)
    assert (meta.exchange, meta.average_daily_volume) == ("XNYS", 2.5e6)
    assert store.get_meta("X") == meta
    with pytest.raises(ValueError):
        store.set_meta("X", average_daily_volume=-1)
    assert "X" in store.symbols()


def test_failed_batch_leaves_store_unchanged(store: MarketStore) -> None:
    store.write_bars("A", daily_bars(5))
    before = tree_snapshot(store.url)
    with pytest.raises(RuntimeError, match="boom"):
        with store.batch() as b:
            b.write_bars("A", daily_bars(8, seed=9))
            b.write_bars("B", daily_bars(8, seed=9))
            raise RuntimeError("boom")
    assert tree_snapshot(store.url) == before  # no temp files left either


def test_batch_sees_its_own_staged_writes(store: MarketStore) -> None:
    with store.batch() as b:
        b.write_bars("A", daily_bars(5))
        b.write_bars("A", daily_bars(5, start="2024-02-01"))
    assert len(store.read_bars("A")) == 10


def test_location_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QUANTQ_DATA", raising=False)
    assert resolve_location(None) == default_location()
    assert default_location().endswith(os.path.join("quantq", "data"))
    monkeypatch.setenv("QUANTQ_DATA", str(tmp_path / "env"))
    assert resolve_location(None) == str(tmp_path / "env")
    assert resolve_location(tmp_path / "arg") == str(tmp_path / "arg")


def test_open_refuses_foreign_folder_and_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no quantq market store"):
        MarketStore.open(tmp_path / "none", create=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "FORMAT.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(StoreError, match="not a version-1 quantq market store"):
        MarketStore.open(tmp_path / "other")


def test_fsspec_memory_url_store() -> None:
    require("fsspec")
    store = MarketStore.open("memory://quantq-test-store")
    assert not store.files.local
    store.write_bars("A", daily_bars(7))
    store.set_meta("A", exchange="XNYS")
    again = MarketStore.open("memory://quantq-test-store", create=False)
    assert np.array_equal(again.read_bars("A").close, daily_bars(7).close)
    assert [(s.symbol, s.rows) for s in again.list()] == [("A", 7)]
    assert again.get_meta("A").exchange == "XNYS"
    assert again.read_bars_many(["A"])["A"].close[0] == daily_bars(7).close[0]


def test_indicator_series_roundtrip(store: MarketStore) -> None:
    bars = daily_bars(6)
    rsi = np.array([np.nan, np.nan, 40.0, 55.5, 61.0, 70.25])
    store.write_indicator_series("A", "1d", bars.ts, {"RSI_14": rsi})
    store.write_indicator_series("A", "1d", bars.ts, {"SMA_3": np.arange(6.0)})  # same ts: columns accumulate
    ts, cols = store.read_indicator_series("A", "1d")
    assert np.array_equal(ts, bars.ts) and sorted(cols) == ["RSI_14", "SMA_3"]
    assert np.array_equal(cols["RSI_14"], rsi, equal_nan=True)
    store.write_indicator_series("A", "1d", bars.ts[:3], {"SMA_3": np.ones(3)})  # new ts: replaces
    assert sorted(store.read_indicator_series("A", "1d")[1]) == ["SMA_3"]
    with pytest.raises(ValueError, match="shape"):
        store.write_indicator_series("A", "1d", bars.ts, {"X": np.ones(2)})
    with pytest.raises(ValueError, match="invalid indicator column"):
        store.write_indicator_series("A", "1d", bars.ts, {"bad name/": np.ones(6)})
    with pytest.raises(ValueError, match="strictly increasing"):
        store.write_indicator_series("A", "1d", bars.ts[::-1], {"X": np.ones(6)})
    with pytest.raises(StoreError, match="no 1d indicators for B"):
        store.read_indicator_series("B")


def test_bulk_read_names_bad_rows_in_a_corrupted_file(store: MarketStore) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    store.write_bars("A", daily_bars(5))
    store.write_bars("B", daily_bars(5))
    bad = daily_bars(5).to_arrow()
    bad = bad.set_column(2, "high", pa.array([1.0] * 5))  # high < low: written behind the store's back
    pq.write_table(bad, store._bars_path("B", "1d"))
    with pytest.raises(SchemaError, match="high < low"):
        store.read_bars_many(["A", "B"])
    assert len(store.read_bars_many(["A"])["A"]) == 5


def test_bulk_read_with_multi_row_group_files(store: MarketStore) -> None:
    import pyarrow.parquet as pq

    store.write_bars("A", daily_bars(50, seed=1))
    store.write_bars("B", daily_bars(30, seed=2))
    pq.write_table(daily_bars(50, seed=1).to_arrow(), store._bars_path("A", "1d"), row_group_size=7)
    got = store.read_bars_many(["A", "B"])
    assert len(got["A"]) == 50 and len(got["B"]) == 30
    assert np.array_equal(got["B"].close, daily_bars(30, seed=2).close)


def test_read_bars_table_long_format(store: MarketStore) -> None:
    store.write_bars("A", daily_bars(3, seed=1))
    store.write_bars("B", daily_bars(2, seed=2))
    table = store.read_bars_table(["B", "A"])
    assert table.column_names == ["symbol", "ts", "open", "high", "low", "close", "volume"]
    assert table.column("symbol").to_pylist() == ["B", "B", "A", "A", "A"]
    frame = table.to_pandas()
    assert str(frame["ts"].dt.tz) == "UTC" and frame.loc[frame.symbol == "A", "close"].tolist() == list(
        daily_bars(3, seed=1).close
    )
    assert store.read_bars_table(["A"], start="2030-01-01").num_rows == 0


def test_date_bounds_cover_whole_days(store: MarketStore) -> None:
    ts = np.datetime64("2024-01-02T14:30", "ns") + np.arange(3) * np.timedelta64(1, "D")
    one = np.ones(3)
    store.write_bars("I", Bars(ts, one, one, one, one, one), "1h")
    assert len(store.read_bars("I", "1h", end="2024-01-03")) == 2  # the whole of Jan 3
    assert len(store.read_bars("I", "1h", start="2024-01-03", end="2024-01-03")) == 1
    assert len(store.read_bars("I", "1h", end="2024-01-03T14:30Z")) == 2
    assert len(store.read_bars("I", "1h", end="2024-01-03T14:29:59Z")) == 1
    ticks = Ticks(ts, one, one, ["N"] * 3, [0, 1, 2])
    store.write_ticks("I", ticks)
    assert len(store.read_ticks("I", end="2024-01-03")) == 2
