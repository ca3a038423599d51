from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quantq.finance.data import store as store_mod
from quantq.finance.data.importers import ImportFileError, ImportOptions, import_file, symbol_from_filename
from quantq.finance.data.store import MarketStore

from .conftest import SAMPLES, daily_bars, tree_snapshot

HEADER = "Date,Open,High,Low,Close,Volume\n"


def _count_rows(path: Path) -> int:
    with open(path) as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.mark.parametrize(("name", "symbol"), [("MSFT_daily.csv", "MSFT"), ("SP500_index_daily.csv", "SP500")])
def test_import_real_samples(store: MarketStore, name: str, symbol: str) -> None:
    path = SAMPLES / name
    report = import_file(store, path, ImportOptions(symbol=symbol))
    expected = _count_rows(path)
    assert (report.status, report.rows_read, report.rows_written, report.rejected_rows) == (
        "imported",
        expected,
        expected,
        0,
    )
    bars = store.read_bars(symbol)
    assert len(bars) == expected
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    first, last = rows[0], rows[-1]
    assert str(bars.ts[0])[:10] == first["date"] and str(bars.ts[-1])[:10] == last["date"]
    assert bars.open[0] == float(first["open"]) and bars.close[-1] == float(last["close"])
    assert bars.volume[-1] == float(last["volume"])


def test_symbol_defaults_to_file_name(store: MarketStore) -> None:
    assert symbol_from_filename("MSFT_daily.csv") == "MSFT"
    assert symbol_from_filename("brk.b.parquet") == "BRK.B"
    report = import_file(store, SAMPLES / "MSFT_daily.csv")
    assert list(report.symbols) == ["MSFT"]


def test_wide_close_prices_import(store: MarketStore) -> None:
    path = SAMPLES / "SP500_20stocks_adjclose_daily.csv"
    report = import_file(store, path, ImportOptions(kind="closes", exclude_symbols=("MSFT",)))
    n = _count_rows(path)
    assert report.status == "imported" and len(report.symbols) == 19 and "MSFT" not in report.symbols
    assert report.rows_written == 19 * n
    aapl = store.read_bars("AAPL")
    with open(path) as fh:
        first = next(csv.DictReader(fh))
    assert aapl.close[0] == float(first["AAPL"]) == aapl.open[0] == aapl.high[0] == aapl.low[0]
    assert aapl.volume[0] == 0.0


BAD_ROWS = [
    "2020-01-02,10,11,9,10.5,100",  # 1 ok
    "2020-01-03,10,11,9,,100",  # 2 missing close
    "2020-01-06,-1,11,9,10,100",  # 3 negative open
    "2020-01-07,10,9,11,10,100",  # 4 high < low
    "2020-01-08,10,11,9,10,100",  # 5 ok
    "2020-01-08,10,11,9,10,100",  # 6 duplicate
    "2020-01-03,10,11,9,10,100",  # 7 unsorted
    "2020-01-09,abc,11,9,10,100",  # 8 unparseable
    "2020-01-10,10,11,9",  # 9 short line
    "2020-01-13,10,11,9,10,100",  # 10 ok
]
EXPECTED = {
    2: "missing or non-finite close",
    3: "non-positive open",
    4: "high < low",
    6: "duplicate timestamp",
    7: "unsorted input",
    8: "cannot read open 'abc'",
    9: "expected 6 fields, got 4",
}


def _write(tmp_path: Path, rows: list[str], name: str = "BAD_daily.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_malformed_file_rejected_row_by_row_nothing_written(store: MarketStore, tmp_path: Path) -> None:
    store.write_bars("BAD", daily_bars(3, start="2019-01-02"))  # existing data must survive
    before = tree_snapshot(store.url)
    report = import_file(store, _write(tmp_path, BAD_ROWS))
    assert report.status == "rejected" and not report.committed and report.rows_written == 0
    assert report.rows_read == 10 and report.rejected_rows == len(EXPECTED)
    got = {r.row: r.reason for r in report.rejects}
    assert sorted(got) == sorted(EXPECTED)
    for row, reason in EXPECTED.items():
        assert reason in got[row], (row, got[row])
    assert tree_snapshot(store.url) == before


def test_skip_invalid_writes_only_good_rows(store: MarketStore, tmp_path: Path) -> None:
    report = import_file(store, _write(tmp_path, BAD_ROWS), ImportOptions(skip_invalid=True))
    assert report.status == "imported_with_rejects" and report.rows_written == 3
    assert [str(t)[:10] for t in store.read_bars("BAD").ts] == ["2020-01-02", "2020-01-08", "2020-01-13"]


def test_rows_numbered_across_chunks(store: MarketStore, tmp_path: Path) -> None:
    good = [
        f"{d},10,11,9,10,100" for d in np.arange(np.datetime64("2000-01-01"), np.datetime64("2001-12-31")).astype(str)
    ]
    rows = good[:150] + ["2000-05-31,10,11,9"] + good[150:300] + ["2000-12-31,10,9,11,10,1"] + good[366:]
    calls: list[float] = []
    report = import_file(
        store, _write(tmp_path, rows), ImportOptions(chunk_rows=100), progress=lambda p, m: calls.append(p)
    )
    assert {r.row: r.reason for r in report.rejects} == {151: "expected 6 fields, got 4", 302: "high < low"}
    assert report.rows_read == len(rows) and report.rows_written == 0
    assert len(calls) > 3 and calls == sorted(calls) and calls[-1] <= 100  # several chunks, monotone progress


def test_chunked_import_equals_single_chunk(tmp_path: Path) -> None:
    a, b = MarketStore.open(tmp_path / "a"), MarketStore.open(tmp_path / "b")
    import_file(a, SAMPLES / "MSFT_daily.csv", ImportOptions(chunk_rows=100))
    import_file(b, SAMPLES / "MSFT_daily.csv", ImportOptions(chunk_rows=1_000_000))
    x, y = a.read_bars("MSFT"), b.read_bars("MSFT")
    assert all(np.array_equal(getattr(x, c), getattr(y, c)) for c in ("ts", "open", "high", "low", "close", "volume"))


def test_failure_midway_leaves_store_unchanged(store: MarketStore, tmp_path: Path) -> None:
    store.write_bars("MSFT", daily_bars(4, start="2019-01-02"))
    before = tree_snapshot(store.url)

    def cancel(pct: float, msg: str) -> None:
        if pct > 20:
            raise KeyboardInterrupt("cancelled midway")

    with pytest.raises(KeyboardInterrupt):
        import_file(store, SAMPLES / "MSFT_daily.csv", ImportOptions(chunk_rows=500), progress=cancel)
    assert tree_snapshot(store.url) == before


def test_failure_while_writing_second_symbol_leaves_store_unchanged(
    store: MarketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_bars("AAPL", daily_bars(4, start="2019-01-02"))
    before = tree_snapshot(store.url)
    real = store_mod.Batch.write_bars
    calls = {"n": 0}

    def flaky(self: store_mod.Batch, *args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_mod.Batch, "write_bars", flaky)
    with pytest.raises(OSError, match="disk full"):
        import_file(store, SAMPLES / "SP500_20stocks_adjclose_daily.csv", ImportOptions(kind="closes"))
    assert calls["n"] == 2
    assert tree_snapshot(store.url) == before


def test_column_map_and_date_format(store: MarketStore, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "Day,Px Open,Px High,Px Low,Adj Close,Shares\n02/01/2024,10,11,9,10.5,100\n03/01/2024,10,12,9,11,200\n"
    )
    opts = ImportOptions(
        symbol="X",
        date_format="%d/%m/%Y",
        column_map={
            "ts": "Day",
            "open": "Px Open",
            "high": "Px High",
            "low": "Px Low",
            "close": "Adj Close",
            "volume": "Shares",
        },
    )
    report = import_file(store, path, opts)
    assert report.status == "imported"
    bars = store.read_bars("X")
    assert [str(t)[:10] for t in bars.ts] == ["2024-01-02", "2024-01-03"] and list(bars.close) == [10.5, 11.0]


def test_missing_column_and_bad_map_are_file_errors(store: MarketStore, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("date,open,high,low,close\n2024-01-02,1,1,1,1\n")
    with pytest.raises(ImportFileError, match=r"no column for \['volume'\]"):
        import_file(store, path, ImportOptions(symbol="X"))
    with pytest.raises(ImportFileError, match="no column 'nope'"):
        import_file(store, path, ImportOptions(symbol="X", column_map={"volume": "nope"}))
    with pytest.raises(ImportFileError, match="no such file"):
        import_file(store, tmp_path / "missing.csv")
    assert store.list() == []


def test_parquet_import_and_multi_symbol_column(store: MarketStore, tmp_path: Path) -> None:
    a, b = daily_bars(5, seed=1).to_arrow(), daily_bars(5, seed=2).to_arrow()
    table = pa.concat_tables(
        [a.append_column("symbol", pa.array(["AAA"] * 5)), b.append_column("symbol", pa.array(["bbb"] * 5))]
    )
    pq.write_table(table, tmp_path / "two.parquet")
    report = import_file(store, tmp_path / "two.parquet", ImportOptions(chunk_rows=100))
    assert report.status == "imported" and report.symbols == {"AAA": 5, "BBB": 5}
    assert np.array_equal(store.read_bars("BBB").close, daily_bars(5, seed=2).close)


def test_parquet_naive_intraday_times_need_timezone(store: MarketStore, tmp_path: Path) -> None:
    ts = pa.array(np.array(["2024-01-02T09:30", "2024-01-02T09:31"], dtype="datetime64[ns]"))
    table = pa.table(
        {"ts": ts, "open": [1.0, 1.0], "high": [1.0, 1.0], "low": [1.0, 1.0], "close": [1.0, 1.0], "volume": [1.0, 1.0]}
    )
    pq.write_table(table, tmp_path / "m.parquet")
    with pytest.raises(ImportFileError, match="no UTC offset"):
        import_file(store, tmp_path / "m.parquet", ImportOptions(symbol="M", bar_size="1m"))
    import_file(store, tmp_path / "m.parquet", ImportOptions(symbol="M", bar_size="1m", timezone="America/New_York"))
    assert str(store.read_bars("M", "1m").ts[0]) == "2024-01-02T14:30:00.000000000"


def test_tick_import_with_timezone_dst_and_venues(store: MarketStore, tmp_path: Path) -> None:
    path = tmp_path / "T_ticks.csv"
    path.write_text(
        "time,price,size,venue\n"
        "2024-03-08 15:59:59,10,100,N\n"  # EST: 20:59:59Z
        "2024-03-10 02:30:00,10,100,N\n"  # does not exist in New York (spring forward)
        "2024-03-11 09:30:00,10.1,50,D\n"  # EDT: 13:30Z
        "2024-03-11 09:30:00,10.2,30,\n"  # same time, missing venue
        "2024-03-11 09:29:00,10.2,0,Q\n"  # size 0 and earlier
    )
    with pytest.raises(ImportFileError, match="no UTC offset"):
        import_file(store, path, ImportOptions(kind="ticks"))
    report = import_file(store, path, ImportOptions(kind="ticks", timezone="America/New_York"))
    got = {r.row: r.reason for r in report.rejects}
    assert set(got) == {2, 5} and "does not exist" in got[2] and "non-positive size" in got[5]
    assert report.status == "rejected" and store.list() == []
    report = import_file(store, path, ImportOptions(kind="ticks", timezone="America/New_York", skip_invalid=True))
    ticks = store.read_ticks("T")
    assert [str(t) for t in ticks.ts] == [
        "2024-03-08T20:59:59.000000000",
        "2024-03-11T13:30:00.000000000",
        "2024-03-11T13:30:00.000000000",
    ]
    assert list(ticks.venue) == ["N", "D", ""] and list(ticks.size) == [100, 50, 30]


def test_tick_import_with_offsets_needs_no_timezone(store: MarketStore, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("ts,price,size\n2024-01-02T14:30:00Z,5,10\n2024-01-02T09:30:01-05:00,5.5,20\n")
    report = import_file(store, path, ImportOptions(kind="ticks", symbol="U"))
    assert report.status == "imported"
    assert [str(t) for t in store.read_ticks("U").ts] == [
        "2024-01-02T14:30:00.000000000",
        "2024-01-02T14:30:01.000000000",
    ]


def test_daily_time_of_day_rejected(store: MarketStore, tmp_path: Path) -> None:
    report = import_file(
        store,
        _write(
            tmp_path,
            ["2020-01-02,10,11,9,10,1", "2020-01-03 15:00,10,11,9,10,1", "2020-01-06T00:00:00-05:00,10,11,9,10,1"],
        ),
    )
    assert [(r.row, "time of day" in r.reason) for r in report.rejects] == [(2, True)]


def test_chunked_tick_import_writes_whole_days(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    base = np.datetime64("2024-01-02T14:30", "ns")
    ts = np.sort(base + (rng.integers(0, 5 * 86_400, 1500) * 1_000_000_000).astype("timedelta64[ns]"))
    lines = [
        f"{np.datetime_as_string(t, unit='ms')}Z,{p:.2f},{s},{v}"
        for t, p, s, v in zip(
            ts, rng.uniform(10, 11, 1500), rng.integers(1, 500, 1500), rng.choice(["N", "D", ""], 1500), strict=True
        )
    ]
    path = tmp_path / "TK_ticks.csv"
    path.write_text("ts,price,size,venue\n" + "\n".join(lines) + "\n")
    small, big = MarketStore.open(tmp_path / "small"), MarketStore.open(tmp_path / "big")
    import_file(small, path, ImportOptions(kind="ticks", chunk_rows=100))
    import_file(big, path, ImportOptions(kind="ticks", chunk_rows=1_000_000))
    a, b = small.read_ticks("TK"), big.read_ticks("TK")
    assert len(a) == 1500 and np.array_equal(a.ts, ts)
    for col in ("ts", "price", "size", "venue", "seq"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert tree_snapshot(small.url).keys() == tree_snapshot(big.url).keys()


def test_parquet_daily_aware_midnights_keep_their_session_date(store: MarketStore, tmp_path: Path) -> None:
    ny = pa.array(np.array(["2024-01-02T05:00", "2024-01-03T05:00"], dtype="datetime64[ns]")).cast(
        pa.timestamp("ns", tz="America/New_York")
    )
    one = [1.0, 1.0]
    pq.write_table(
        pa.table({"date": ny, "open": one, "high": one, "low": one, "close": one, "volume": one}),
        tmp_path / "NY.parquet",
    )
    assert import_file(store, tmp_path / "NY.parquet").status == "imported"
    assert [str(t)[:19] for t in store.read_bars("NY").ts] == ["2024-01-02T00:00:00", "2024-01-03T00:00:00"]
