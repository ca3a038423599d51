"""Store benchmark: write and read 500 symbols x 2,520 daily bars, side by side.

    .venv/bin/python bench/bench_store.py [--symbols 500] [--bars 2520] [--repeat 3]
        [--arctic-python /path/to/venv/bin/python]

Candidates: quantq's store (partitioned Parquet, pyarrow reads in a thread pool, validated
Bars out), the same files read in one Polars scan or one DuckDB query and split per symbol,
and ArcticDB (LMDB backend).  ArcticDB needs pandas < 3, so it cannot share the project venv;
give ``--arctic-python`` a venv that has ``arcticdb`` and this script runs that part there.
Then CSV imports (the universe as one long file with a symbol column, and ``--import-ticks``
prints of one symbol over 20 days), each in a fresh process so that its peak RSS is its own.
Prints best and median seconds of ``--repeat`` runs; read the numbers, not a verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

COLS = ("open", "high", "low", "close", "volume")


def make_universe(n_symbols: int, n_bars: int) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(7)
    ts = (np.datetime64("2015-01-02") + np.arange(n_bars)).astype("datetime64[ns]")
    data = {}
    for i in range(n_symbols):
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.015, n_bars)))
        open_ = close * np.exp(rng.normal(0, 0.003, n_bars))
        high = np.maximum(open_, close) * 1.005
        low = np.minimum(open_, close) * 0.995
        data[f"S{i:04d}"] = {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(1e5, 1e7, n_bars).astype(float),
        }
    return ts, data


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), out


def bench_parquet(ts: np.ndarray, data: dict, repeat: int) -> list[tuple[str, str, float, float, str]]:
    import duckdb
    import polars as pl
    import pyarrow.fs as pafs

    from quantq.finance.data.fs import ArrowFiles
    from quantq.finance.data.store import MarketStore
    from quantq.finance.schema import Bars

    rows = []
    with tempfile.TemporaryDirectory() as d:
        store = MarketStore.open(d)
        bars = {s: Bars(ts, *(v[c] for c in COLS), daily=True) for s, v in data.items()}

        def write() -> None:
            for s, b in bars.items():
                store.write_bars(s, b, "1d", mode="replace")

        best, med, _ = timed(write, repeat)
        rows.append(("write", "parquet store (staged + rename)", best, med, f"{len(bars)} files"))
        best, med, out = timed(lambda: store.read_bars_many(bar_size="1d"), repeat)
        assert len(out) == len(data) and all(len(b) == len(ts) for b in out.values())
        rows.append(
            ("read all", "store.read_bars_many (local: one polars scan)", best, med, "validated Bars per symbol")
        )
        # the URL code path (pyarrow filesystem, file per symbol in threads), here over local disk
        url_store = MarketStore(ArrowFiles("file-as-url", pafs.LocalFileSystem(), d))
        for threads in (1, 4):
            best, med, out = timed(lambda t=threads: url_store.read_bars_many(bar_size="1d", threads=t), repeat)
            assert len(out) == len(data)
            rows.append(
                (
                    "read all",
                    f"store via URL path: pyarrow, {threads} thread(s)",
                    best,
                    med,
                    "validated Bars per symbol",
                )
            )
        paths = [store._bars_path(s, "1d") for s in sorted(data)]

        def polars_read() -> dict:
            df = pl.read_parquet(paths, include_file_paths="path")
            ids = df["path"].rle_id().to_numpy()
            cuts = np.flatnonzero(np.diff(ids)) + 1
            arrays = {c: np.split(df[c].to_numpy(), cuts) for c in COLS}
            return {i: {c: arrays[c][i] for c in COLS} for i in range(len(cuts) + 1)}

        best, med, out = timed(polars_read, repeat)
        assert len(out) == len(data)
        rows.append(("read all", "polars read_parquet(list) + split", best, med, "raw arrays, no validation"))

        con = duckdb.connect()

        def duck_read() -> dict:
            tbl = con.sql(f"SELECT filename, * EXCLUDE (filename) FROM read_parquet({paths!r}, filename=true)").arrow()
            if hasattr(tbl, "read_all"):
                tbl = tbl.read_all()
            names = tbl.column("filename").to_numpy(zero_copy_only=False)
            cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
            return {c: np.split(tbl.column(c).to_numpy(), cuts) for c in COLS}

        best, med, out = timed(duck_read, repeat)
        assert len(out["close"]) == len(data)
        rows.append(("read all", "duckdb read_parquet(list) + split", best, med, "raw arrays, no validation"))

        best, med, _ = timed(lambda: store.read_bars("S0001", "1d"), max(repeat, 20))
        rows.append(("read one", "parquet store: one symbol", best, med, ""))
        best, med, out = timed(store.list, repeat)
        rows.append(("list", "parquet store: footers only", best, med, f"{len(out)} series"))
        size = sum(os.path.getsize(p) for p in paths)
        rows.append(("disk", "parquet store", size / 1e6, size / 1e6, "MB (not seconds)"))
    return rows


def bench_arctic(n_symbols: int, n_bars: int, repeat: int) -> list[tuple[str, str, float, float, str]]:
    import arcticdb
    import pandas as pd

    ts, data = make_universe(n_symbols, n_bars)
    frames = {s: pd.DataFrame(v, index=pd.DatetimeIndex(ts, tz="UTC", name="ts")) for s, v in data.items()}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        ac = arcticdb.Arctic(f"lmdb://{d}")
        lib = ac.get_library("bars", create_if_missing=True)

        def write() -> None:
            for s, f in frames.items():
                lib.write(s, f)

        best, med, _ = timed(write, repeat)
        rows.append(("write", f"arcticdb {arcticdb.__version__} lmdb, write per symbol", best, med, ""))
        syms = sorted(frames)
        best, med, out = timed(lambda: lib.read_batch(syms), repeat)
        assert len(out) == len(syms)
        rows.append(("read all", "arcticdb read_batch -> pandas", best, med, "DataFrames, no validation"))
        best, med, _ = timed(lambda: lib.read("S0001"), max(repeat, 20))
        rows.append(("read one", "arcticdb one symbol", best, med, ""))
    return rows


def write_import_files(folder: str, n_symbols: int, n_bars: int, tick_rows: int) -> dict[str, tuple[str, int]]:
    """A long bars CSV (symbol column) for the universe and a one-symbol tick CSV over 20 days."""
    ts, data = make_universe(n_symbols, n_bars)
    dates = np.datetime_as_string(ts, unit="D")
    bars_path = os.path.join(folder, "universe_bars.csv")
    with open(bars_path, "w") as fh:
        fh.write("symbol,date,open,high,low,close,volume\n")
        for sym, v in data.items():
            cols = np.column_stack([v[c] for c in COLS])
            fh.writelines(
                f"{sym},{d},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},{vol:.0f}\n"
                for d, (o, h, lo, c, vol) in zip(dates, cols, strict=True)
            )
    rng = np.random.default_rng(3)
    start = np.datetime64("2024-01-02T14:30", "ns")
    offsets = np.sort(rng.integers(0, 20 * 86_400_000, tick_rows)).astype("timedelta64[ms]")
    tick_path = os.path.join(folder, "TICKS_prints.csv")
    with open(tick_path, "w") as fh:
        fh.write("ts,price,size,venue\n")
        times = np.datetime_as_string(start + offsets, unit="ms")
        prices = np.round(rng.uniform(10, 11, tick_rows), 2)
        sizes = rng.integers(1, 1000, tick_rows)
        venues = rng.choice(["N", "Q", "D"], tick_rows)
        fh.writelines(f"{t}Z,{p},{z},{v}\n" for t, p, z, v in zip(times, prices, sizes, venues, strict=True))
    return {"bars": (bars_path, n_symbols * n_bars), "ticks": (tick_path, tick_rows)}


def _vm_hwm_mb() -> float:
    # VmHWM (peak resident set) is per process and, unlike ru_maxrss, not inherited across fork+exec
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_import_child(path: str, kind: str, chunk_rows: int) -> None:
    """Child process: import one file into a fresh store, print seconds and peak RSS as JSON."""
    from quantq.finance.data.importers import ImportOptions, import_file
    from quantq.finance.data.store import MarketStore

    with tempfile.TemporaryDirectory() as d:
        store = MarketStore.open(d)
        import_file(
            store,
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "SP500_index_daily.csv"),
            ImportOptions(symbol="WARM"),
        )
        base = _vm_hwm_mb()  # after imports and a warm-up import: what the libraries cost
        t = time.perf_counter()
        report = import_file(store, path, ImportOptions(kind=kind, chunk_rows=chunk_rows))
        elapsed = time.perf_counter() - t
        assert report.status == "imported", report.rejects[:3]
    print(json.dumps({"seconds": elapsed, "rows": report.rows_written, "peak_mb": _vm_hwm_mb(), "base_mb": base}))


def bench_import(n_symbols: int, n_bars: int, tick_rows: int) -> list[tuple[str, str, float, float, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        files = write_import_files(d, n_symbols, n_bars, tick_rows)
        for kind, (path, n) in files.items():
            size_mb = os.path.getsize(path) / 1e6
            for chunk in (50_000, 500_000):
                cmd = [sys.executable, __file__, "--only-import", path, f"--kind={kind}", f"--chunk-rows={chunk}"]
                done = subprocess.run(cmd, capture_output=True, text=True, check=True)
                got = json.loads(done.stdout.strip().splitlines()[-1])
                assert got["rows"] == n
                note = f"{n / got['seconds']:,.0f} rows/s; {size_mb:.0f} MB file; peak RSS {got['peak_mb']:.0f} MB (after warm-up {got['base_mb']:.0f})"
                rows.append(("import", f"{kind} CSV, chunk_rows={chunk:,}", got["seconds"], got["seconds"], note))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--arctic-python", default=os.environ.get("ARCTIC_PYTHON"))
    ap.add_argument(
        "--import-ticks", type=int, default=2_000_000, help="tick rows in the import test (0: skip imports)"
    )
    ap.add_argument("--only-arctic", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only-import", help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="bars", help=argparse.SUPPRESS)
    ap.add_argument("--chunk-rows", type=int, default=200_000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only_import:
        run_import_child(args.only_import, args.kind, args.chunk_rows)
        return
    if args.only_arctic:
        print(json.dumps(bench_arctic(args.symbols, args.bars, args.repeat)))
        return
    ts, data = make_universe(args.symbols, args.bars)
    rows = bench_parquet(ts, data, args.repeat)
    note = ""
    try:
        import arcticdb  # noqa: F401

        rows += bench_arctic(args.symbols, args.bars, args.repeat)
    except ImportError:
        if args.arctic_python:
            cmd = [
                args.arctic_python,
                __file__,
                "--only-arctic",
                f"--symbols={args.symbols}",
                f"--bars={args.bars}",
                f"--repeat={args.repeat}",
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode == 0:
                rows += [tuple(r) for r in json.loads(done.stdout.strip().splitlines()[-1])]
            else:
                note = f"arcticdb run failed: {done.stderr.strip().splitlines()[-1:]}"
        else:
            note = "arcticdb not importable here (it needs pandas<3); pass --arctic-python VENV/bin/python"
    if args.import_ticks:
        rows += bench_import(args.symbols, args.bars, args.import_ticks)
    print(f"\n{args.symbols} symbols x {args.bars} daily bars, best/median of {args.repeat}, {os.cpu_count()} CPUs\n")
    print(f"{'op':<9} {'candidate':<44} {'best s':>8} {'median s':>9}  note")
    print("-" * 100)
    for op, name, best, med, extra in rows:
        print(f"{op:<9} {name:<44} {best:>8.3f} {med:>9.3f}  {extra}")
    if note:
        print("\n" + note)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    main()
