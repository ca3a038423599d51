"""Store benchmark: write and read 500 symbols x 2,520 daily bars, side by side.

    .venv/bin/python bench/bench_store.py [--symbols 500] [--bars 2520] [--repeat 3]
        [--arctic-python /path/to/venv/bin/python]

Candidates: quantq's store (partitioned Parquet, pyarrow reads in a thread pool, validated
Bars out), the same files read in one Polars scan or one DuckDB query and split per symbol,
and ArcticDB (LMDB backend).  ArcticDB needs pandas < 3, so it cannot share the project venv;
give ``--arctic-python`` a venv that has ``arcticdb`` and this script runs that part there.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--arctic-python", default=os.environ.get("ARCTIC_PYTHON"))
    ap.add_argument("--only-arctic", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
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
