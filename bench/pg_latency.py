"""quantq's PostgreSQL latency alone: p50/p99 of single no-op jobs through an idle worker,
measured as bench_sql.py measures it, in a throw-away schema.

    .venv/bin/python bench/pg_latency.py [--samples 200] [--rounds 3] [--mode thread|process]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sql  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=["thread", "process"], default="thread")
    args = parser.parse_args()
    scratch = bench_sql.Scratch()
    try:
        for i in range(args.rounds):
            p50, p99 = bench_sql.quantq_latency(scratch.pg(), args.samples, args.mode)
            print(f"round {i + 1}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    finally:
        scratch.cleanup()


if __name__ == "__main__":
    main()
