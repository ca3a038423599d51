"""Benchmark: TA-Lib indicators through quantq's registry on a synthetic universe.

    .venv/bin/python bench/bench_indicators.py                 # 500 symbols x 2,520 bars
    .venv/bin/python bench/bench_indicators.py --symbols 50 --bars 1000 --every-function
    .venv/bin/python bench/bench_indicators.py --job      # also the whole job body on a temporary store

Prints one row per indicator (total wall and CPU seconds over all symbols, microseconds per
symbol, bars per second), then the registry's whole set, the candlestick patterns, and the
full ``technical.analyze`` (indicators + signals + patterns) per symbol.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from quantq.finance import indicators as ind
from quantq.finance import technical as ta

CORE = ["RSI", "MACD", "SMA_20", "SMA_50", "EMA_20", "BBANDS", "ATR", "STOCH", "OBV", "ADX"]


def synthetic_universe(symbols: int, bars: int, seed: int = 7) -> list[dict[str, np.ndarray]]:
    """Seeded geometric random walks with consistent OHLC and positive volume."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(symbols):
        close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, bars)))
        open_ = close * np.exp(rng.normal(0, 0.005, bars))
        high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, bars)))
        low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, bars)))
        volume = rng.integers(100_000, 5_000_000, bars).astype(np.float64)
        out.append(ind.prepare_bars({"open": open_, "high": high, "low": low, "close": close, "volume": volume}))
    return out


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def job_row(universe: list[dict[str, np.ndarray]], specs: list[ind.IndicatorSpec], bars: int) -> tuple[str, float, float]:
    """Write the universe to a temporary store, then time the job body: read, analyse, build JSON."""
    import json
    import tempfile

    from quantq.finance.data.store import MarketStore
    from quantq.finance.schema import Bars
    from quantq.finance.tasks.analysis import BarSource, run_technical_analysis

    with tempfile.TemporaryDirectory() as root:
        store = MarketStore.open(root)
        ts = np.busday_offset("2015-01-02", np.arange(bars), roll="forward").astype("datetime64[ns]")
        with store.batch() as batch:
            for i, b in enumerate(universe):
                batch.write_bars(f"S{i:04d}", Bars(ts, b["open"], b["high"], b["low"], b["close"], b["volume"], daily=True), "1d")
        source = BarSource(root)
        wall, cpu = timed(lambda: json.dumps(run_technical_analysis(None, specs, ta.SignalConfig(), source)))
    return (f"job body: store read + analyze + JSON ({len(specs)})", wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--every-function", action="store_true", help="also one row per registered TA-Lib function")
    parser.add_argument("--job", action="store_true", help="also run the technical_analysis job body on a temporary store")
    args = parser.parse_args()

    t0 = time.perf_counter()
    universe = synthetic_universe(args.symbols, args.bars)
    print(f"synthetic universe: {args.symbols} symbols x {args.bars} bars, built in {time.perf_counter() - t0:.2f}s")
    n_bars = args.symbols * args.bars

    rows: list[tuple[str, float, float]] = []

    def bench(label: str, specs: list[ind.IndicatorSpec]) -> None:
        def run() -> None:
            for bars in universe:
                for spec in specs:
                    ind.compute(spec, bars)

        wall, cpu = timed(run)
        rows.append((label, wall, cpu))

    for item in CORE:
        bench(item, [ind.parse_spec(item)])
    if args.every_function:
        for name in ind.names():
            bench(name, [ind.make_spec(name)])
    core_specs = ind.parse_specs(CORE)
    bench(f"core set ({len(core_specs)})", core_specs)
    patterns = ind.parse_specs(["PATTERNS"])
    bench(f"all patterns ({len(patterns)})", patterns)
    everything = [ind.make_spec(n) for n in ind.names()]
    bench(f"whole registry ({len(everything)})", everything)

    job_specs = ind.parse_specs(CORE + ["PATTERNS"])
    cfg = ta.SignalConfig()
    wall, cpu = timed(lambda: [ta.analyze(b, job_specs, cfg) for b in universe])
    rows.append((f"technical.analyze, core + patterns ({len(job_specs)})", wall, cpu))

    if args.job:
        rows.append(job_row(universe, job_specs, args.bars))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'indicator'.ljust(width)}  {'wall s':>8}  {'cpu s':>8}  {'us/symbol':>10}  {'Mbars/s':>8}")
    print("-" * (width + 44))
    for label, wall, cpu in rows:
        print(f"{label.ljust(width)}  {wall:8.3f}  {cpu:8.3f}  {wall / args.symbols * 1e6:10.1f}  {n_bars / wall / 1e6:8.1f}")


if __name__ == "__main__":
    main()
