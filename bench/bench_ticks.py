"""Deeper analysis speed: 500 symbols x 10,000 tick prints (target: compute under 1 s of CPU).

    .venv/bin/python bench/bench_ticks.py [--symbols 500] [--prints 10000] [--store]

Prints a table: validation of raw columns, the analysis itself (prints already in memory, one
process), and with ``--store`` the end-to-end figure (store read + validation + compute).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from quantq.finance import ticks

VENUES = np.array(["NSDQ", "ARCA", "NYSE", "BATS", "EDGX", "IEX", "D", "FINRA", "TRF", ""], dtype=object)


def synthetic(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """n prints over the week of 2024-03-04 (04:00-20:00 New York), a random walk in cents with sub-pennies."""
    day_starts = [pd.Timestamp(f"2024-03-0{d}T04:00:00-05:00").value for d in range(4, 9)]
    day = rng.integers(0, 5, n)
    ts = np.sort(np.asarray(day_starts)[day] + rng.integers(0, 16 * 3600 * 10**9, n))
    cents = 5000 + np.cumsum(rng.integers(-2, 3, n))
    price = cents / 100 + np.where(rng.random(n) < 0.05, rng.integers(1, 100, n) / 10_000, 0.0)
    size = np.where(
        rng.random(n) < 0.6, rng.choice([100, 200, 300, 400, 500, 1000], n), rng.integers(1, 999, n)
    ).astype(float)
    return {"ts": ts, "price": np.round(price, 6), "size": size, "venue": rng.choice(VENUES, n), "seq": np.arange(n)}


def cpu(fn: Callable[[], object]) -> tuple[float, float, object]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.process_time() - c0, time.perf_counter() - w0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--prints", type=int, default=10_000)
    ap.add_argument("--store", action="store_true", help="also write a temporary store and time read + compute")
    args = ap.parse_args()
    rng = np.random.default_rng(20240308)
    raw = {f"S{i:04d}": synthetic(rng, args.prints) for i in range(args.symbols)}
    adv = {sym: float(rng.integers(100_000, 5_000_000)) for sym in raw}
    config = ticks.DeeperAnalysisConfig()
    s_cpu, s_wall, table = cpu(lambda: ticks.SessionTable.xnys(dt.date(2024, 2, 1), dt.date(2024, 3, 31)))
    sessions: ticks.SessionTable = table  # type: ignore[assignment]

    v_cpu, v_wall, built = cpu(lambda: {s: ticks.TickPrints.from_columns(s, **c) for s, c in raw.items()})
    prints: dict[str, ticks.TickPrints] = built  # type: ignore[assignment]
    ticks.analyze(next(iter(prints.values())), sessions, None, config)  # warm imports and caches
    a_cpu, a_wall, results = cpu(lambda: [ticks.analyze(p, sessions, adv[s], config) for s, p in prints.items()])
    j_cpu, j_wall, _ = cpu(lambda: [r.to_json() for r in results])  # type: ignore[attr-defined]
    total = args.symbols * args.prints
    rows = [
        ("XNYS session table (import + build, once per job)", s_cpu, s_wall),
        ("validate raw columns -> TickPrints", v_cpu, v_wall),
        ("analyze (prints in memory)", a_cpu, a_wall),
        ("to_json", j_cpu, j_wall),
    ]
    if args.store:
        from quantq.finance.data.store import MarketStore
        from quantq.finance.schema import Ticks
        from quantq.finance.tasks import ticks as job

        with tempfile.TemporaryDirectory() as tmp:
            store = MarketStore.open(tmp)
            with store.batch() as b:
                for s, c in raw.items():
                    b.write_ticks(
                        s,
                        Ticks(
                            ts=c["ts"].view("datetime64[ns]"),
                            price=c["price"],
                            size=c["size"],
                            venue=c["venue"],
                            seq=c["seq"],
                        ),
                    )
            for s in raw:
                store.set_meta(s, average_daily_volume=adv[s])
            source = job.TickSource(tmp)
            e_cpu, e_wall, out = cpu(lambda: job.run_deeper_analysis(None, config, source, job_id="bench"))
            assert out["processed_count"] == args.symbols, out["processed_count"]  # type: ignore[index]
            rows.append(("job end to end (store read + sessions + validate + analyze)", e_cpu, e_wall))
    print(
        f"deeper analysis: {args.symbols} symbols x {args.prints:,} prints = {total:,} prints, numpy {np.__version__}"
    )
    print(f"{'stage':<58} {'CPU s':>8} {'wall s':>8} {'prints/s (CPU)':>16}")
    for name, c, w in rows:
        rate = "" if name.startswith("XNYS") else f"{total / c if c else float('inf'):,.0f}"
        print(f"{name:<58} {c:>8.3f} {w:>8.3f} {rate:>16}")
    verdict = "PASS" if a_cpu < 1.0 else "MISS"
    print(f"target: analyze under 1.0 s CPU -> {verdict} ({a_cpu:.3f} s)")


if __name__ == "__main__":
    main()
