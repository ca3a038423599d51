"""Backtest and screening speed: the fill kernel against vectorbt and backtesting.py, the store
read with and without the bars cache, and the seed 001 tasks in-process (store -> sandbox ->
engine -> JSON) on a warm process, back to back. Through a real worker and a backend, submit ->
result visible: bench/bench_strategy_e2e.py.

    .venv/bin/python bench/bench_backtest.py [--symbols 500] [--bars 2520] [--quick]

vectorbt and backtesting.py are bench-only extras (skipped when missing). backtesting.py is
timed on a few symbols and scaled to the universe (it runs one symbol per Backtest).
Prints one table; figures are wall-clock seconds on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quantq.finance.backtest import ExecutionConfig, kernel, run_backtest  # noqa: E402
from quantq.finance.strategy import helpers  # noqa: E402

SMA_CROSS = '''
from quantq.finance.strategy import helpers

def strategy(df):
    def one(g):
        fast = helpers.sma(g["close"], 10)
        slow = helpers.sma(g["close"], 20)
        return helpers.entries_to_target(helpers.crossover(fast, slow), helpers.crossunder(fast, slow))
    return helpers.per_ticker(df, one)
'''
GAP_UP = '''
def gap_up_strategy(df):
    hits = df[(df['gap_pct'] > 2.0) & (df['volume_ratio'] > 1.5)]
    return [{'ticker': t, 'date': str(d), 'signal': True, 'gap_percent': g}
            for t, d, g in zip(hits['ticker'], hits['date'], hits['gap_pct'])]
'''
MOMENTUM = '''
def screen(df):
    last = df.groupby("ticker")["close"].agg(["first", "last"])
    score = last["last"] / last["first"] - 1
    return [{"ticker": t, "score": float(s), "signal": bool(s > 0)} for t, s in score.items()]
'''


def timeit(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def universe(n_sym: int, n_bars: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n_bars, n_sym)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    return np.ascontiguousarray(open_), np.ascontiguousarray(close)


def sma_targets(close: np.ndarray) -> np.ndarray:
    out = np.empty_like(close)
    for j in range(close.shape[1]):
        f, s = helpers.sma(close[:, j], 10), helpers.sma(close[:, j], 20)
        out[:, j] = helpers.entries_to_target(helpers.crossover(f, s), helpers.crossunder(f, s))
    return out


def bench_engines(n_sym: int, n_bars: int, rows: list[tuple[str, str, str]]) -> None:
    o, c = universe(n_sym, n_bars)
    cfg = ExecutionConfig(cash=10_000, commission=0.002)
    kernel.warm()
    tgt = sma_targets(c)
    med, _ = timeit(lambda: sma_targets(c), 3)
    rows.append((f"SMA(10/20) targets, TA-Lib, {n_sym}x{n_bars}", f"{med:.3f}", "signals only"))

    def fills_only() -> None:
        for j in range(n_sym):
            kernel.simulate(o[:, j].copy(), c[:, j].copy(), tgt[:, j].copy(), 10_000.0, 0.002, cfg.size_fraction, True, False)

    med, _ = timeit(fills_only, 3)
    rows.append((f"quantq numba fill kernel, {n_sym}x{n_bars}", f"{med:.3f}", "fills + equity"))
    def same_as_vectorbt() -> None:  # what the vectorbt row computes: signals, fills, total return
        t2 = sma_targets(c)
        for j in range(n_sym):
            e, _, _ = kernel.simulate(o[:, j].copy(), c[:, j].copy(), t2[:, j].copy(), 10_000.0, 0.002, cfg.size_fraction, True, False)
            e[-1] / e[0] - 1.0

    med, _ = timeit(same_as_vectorbt, 3)
    rows.append((f"quantq SMA pair, signals + fills + total return, {n_sym}x{n_bars}", f"{med:.3f}", "like the vectorbt row"))
    med, _ = timeit(lambda: run_backtest(o, c, tgt, cfg), 3)
    rows.append((f"quantq run_backtest (fills, trades, stats), {n_sym}x{n_bars}", f"{med:.3f}", "warm"))
    med, _ = timeit(lambda: run_backtest(o, c, sma_targets(c), cfg), 3)
    rows.append((f"quantq SMA pair end to end, {n_sym}x{n_bars}", f"{med:.3f}", "signals + fills + stats"))
    try:
        import pandas as pd
        import vectorbt as vbt
    except ImportError:
        rows.append(("vectorbt", "-", "not installed (bench extra)"))
    else:
        cdf, odf = pd.DataFrame(c), pd.DataFrame(o)

        def run_vbt() -> None:
            f = vbt.MA.run(cdf, 10).ma.to_numpy()
            s = vbt.MA.run(cdf, 20).ma.to_numpy()
            up = np.zeros_like(c, dtype=bool)
            dn = np.zeros_like(c, dtype=bool)
            up[1:] = (f[:-1] < s[:-1]) & (f[1:] > s[1:])
            dn[1:] = (f[:-1] > s[:-1]) & (f[1:] < s[1:])
            pf = vbt.Portfolio.from_signals(cdf, entries=up, exits=dn, short_entries=dn, short_exits=up,
                                            price=odf.shift(-1), init_cash=10_000, fees=0.002, freq="1D")
            pf.total_return()

        run_vbt()  # warm: numba compilation
        med, _ = timeit(run_vbt, 3)
        rows.append((f"vectorbt {vbt.__version__} SMA pair end to end, {n_sym}x{n_bars}", f"{med:.3f}", "warm"))
    try:
        import pandas as pd
        from backtesting import Backtest, Strategy
        from backtesting.lib import crossover
        from backtesting.test import SMA
    except ImportError:
        rows.append(("backtesting.py", "-", "not installed (test oracle)"))
    else:

        class SmaCross(Strategy):
            def init(self) -> None:
                self.f = self.I(SMA, self.data.Close, 10)
                self.s = self.I(SMA, self.data.Close, 20)

            def next(self) -> None:
                if crossover(self.f, self.s):
                    self.buy()
                elif crossover(self.s, self.f):
                    self.sell()

        k = 3
        idx = pd.bdate_range("2010-01-01", periods=n_bars)
        frames = [pd.DataFrame({"Open": o[:, j], "High": np.maximum(o[:, j], c[:, j]), "Low": np.minimum(o[:, j], c[:, j]),
                                "Close": c[:, j], "Volume": 1e6}, index=idx) for j in range(k)]
        import warnings

        def run_bt() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for df in frames:
                    Backtest(df, SmaCross, cash=10_000, commission=0.002, exclusive_orders=True).run()

        med, _ = timeit(run_bt, 1)
        rows.append((f"backtesting.py SMA pair, {k} symbols scaled to {n_sym}", f"{med / k * n_sym:.1f}", f"{med / k:.2f} s per symbol"))


def build_store(path: str, n_sym: int, n_bars: int) -> list[str]:
    from quantq.finance.data.store import MarketStore
    from quantq.finance.data.synthetic import generate_bars

    days = np.arange(np.datetime64("2015-01-05"), np.datetime64("2015-01-05") + int(n_bars * 1.45))
    days = days[(days.view("int64") - 4) % 7 < 5][:n_bars].astype("datetime64[ns]")
    store = MarketStore.open(path)
    names = [f"S{i:04d}" for i in range(n_sym)]
    with store.batch() as batch:
        for i, sym in enumerate(names):
            batch.write_bars(sym, generate_bars(i, days, 5)[0], "1d")
    return names


def bench_tasks(n_sym: int, n_bars: int, quick: bool, rows: list[tuple[str, str, str]]) -> None:
    from quantq.context import TaskContext
    from quantq.finance.data.store import MarketStore
    from quantq.tasks import default_registry

    tmp = tempfile.mkdtemp(prefix="quantq-bench-")
    t = time.perf_counter()
    names = build_store(tmp, n_sym, n_bars)
    rows.append((f"build synthetic store {n_sym}x{n_bars}", f"{time.perf_counter() - t:.2f}", "temp dir, removed at the end"))
    os.environ["QUANTQ_DATA"] = tmp
    reg = default_registry()
    ctx = TaskContext(job_id="bench", task="backtest", queue="default", attempt=1, worker_id="bench")
    bt, sc = reg.get("backtest"), reg.get("screening")
    last = MarketStore.open(tmp).read_bars(names[0]).ts[-1].astype("datetime64[D]")
    one_year = str(last - 365)
    two_years = str(last - 730)
    small = {"strategy_code": GAP_UP, "symbols": names[:10], "start_date": one_year, "end_date": str(last)}
    small_pos = {"strategy_code": SMA_CROSS, "symbols": names[:10], "start_date": one_year, "end_date": str(last)}
    large = {"strategy_code": SMA_CROSS, "symbols": names[:100], "start_date": two_years, "end_date": str(last)}
    screen = {"strategy_code": MOMENTUM, "universe": names[:500], "limit": 10}
    from quantq.finance.data.cache import BarsCache
    from quantq.finance.tasks.strategy import read_panel

    store = MarketStore.open(tmp)
    reps_read = 5 if quick else 10
    med, best = timeit(lambda: store.read_bars_many(names[:500], "1d"), reps_read)
    rows.append(("store read 500 symbols, whole files, no cache (decode + validate)", f"{med:.3f}", f"best {best:.3f}"))
    cache = BarsCache()
    store.read_bars_many(names[:500], "1d", cache=cache)
    med, best = timeit(lambda: store.read_bars_many(names[:500], "1d", cache=cache), reps_read)
    rows.append(("store read 500 symbols, warm bars cache (stat + lookup)", f"{med:.3f}", f"best {best:.3f}"))
    read_panel(names[:500], None, None, tail=260)
    med, best = timeit(lambda: read_panel(names[:500], None, None, tail=260), reps_read)
    rows.append(("screening input: 500 x latest 260 bars -> panel, warm cache", f"{med:.3f}", f"best {best:.3f}"))
    bt.run(small, ctx)  # start the sandbox runner: a warm worker
    n = 10 if quick else 30
    for label, task, args, reps in (
        ("task backtest, signal mode, 10 symbols x 1 year (seed: 1-5 s)", bt, small, n),
        ("task backtest, position SMA, 10 symbols x 1 year", bt, small_pos, n),
        ("task backtest, position SMA, 100 symbols x 2 years (seed: 10-30 s)", bt, large, max(3, n // 5)),
        ("task screening, 500 symbols, 260-bar window (seed: 100-500 ms)", sc, screen, max(3, n // 3)),
    ):
        med, best = timeit(lambda t=task, a=args: t.run(a, ctx), reps)
        rows.append((label, f"{med:.3f}", f"p50 of {reps}, best {best:.3f}"))
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < (5 if quick else 15):
        bt.run(small, ctx)
        count += 1
    rate = count / (time.perf_counter() - t0) * 60
    rows.append(("small backtests per minute, one process (seed: 10-50)", f"{rate:.0f}", f"{count} runs"))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--skip-tasks", action="store_true")
    a = ap.parse_args()
    rows: list[tuple[str, str, str]] = []
    bench_engines(a.symbols, a.bars, rows)
    if not a.skip_tasks:
        bench_tasks(a.symbols, a.bars, a.quick, rows)
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'seconds':>8}  note")
    for name, value, note in rows:
        print(f"{name:<{w}}  {value:>8}  {note}")


if __name__ == "__main__":
    main()
