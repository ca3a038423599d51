"""Builders for hand-written tick fixtures: rows of (ISO time with offset, price, size, venue)."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Sequence
from typing import Any

from quantq.finance import ticks

Row = tuple[str, float, float, str | None]


def prints(rows: Sequence[Row], symbol: str = "TEST") -> ticks.TickPrints:
    return ticks.TickPrints.from_columns(
        symbol,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )


def analyze(rows: Sequence[Row], adv: float | None = None, **config: Any) -> dict[str, Any]:
    """Analyse ``rows`` with XNYS sessions and the given config overrides; returns the JSON result."""
    p = prints(rows)
    table = session_table()
    if not table.covers(int(p.ts_ns[0]), int(p.ts_ns[-1])):
        table = ticks.SessionTable.xnys_for_span(int(p.ts_ns[0]), int(p.ts_ns[-1]))
    return ticks.analyze(p, table, adv, ticks.DeeperAnalysisConfig(**config)).to_json()


def window(result: dict[str, Any], name: str) -> dict[str, Any]:
    return result["grpan"]["windows"][name]


def top(result: dict[str, Any], name: str) -> list[tuple[float, float]]:
    return [(t["price"], t["weight"]) for t in window(result, name)["top_prices"]]


@functools.cache
def session_table() -> ticks.SessionTable:
    """One XNYS table for every 2024 fixture (building a calendar takes ~0.1 s)."""
    return ticks.SessionTable.xnys(datetime.date(2023, 11, 1), datetime.date(2025, 1, 31))


# Every window at once.  t_last = Fri 2024-03-08 15:00 EST.
#   P1 Tue 03-05 11:00  49.00 x100  (outside 3d, inside RWVAP 5d)
#   P2 Wed 03-06 10:00  50.00 x500
#   P3 Thu 03-07 12:00  50.00 x100
#   P4 Fri 09:45  51.00 x100        1d
#   P5 Fri 10:30  51.00 x100        1d
#   P6 Fri 12:30  52.00 x100        3h = [12:00, 15:00]
#   P7 Fri 14:10  53.00 x100        1h = [14:00, 15:00]
#   P8 Fri 14:40  54.00 x100        30m = [14:30, 15:00]
#   P9 Fri 14:50  55.00 x100        10m = [14:50, 15:00], exactly at its start: in
#   P10 Fri 15:00 55.50 x10         odd lot, last print
SCENARIO = [
    ("2024-03-05T11:00:00-05:00", 49.00, 100, "NSDQ"),
    ("2024-03-06T10:00:00-05:00", 50.00, 500, "NSDQ"),
    ("2024-03-07T12:00:00-05:00", 50.00, 100, "NSDQ"),
    ("2024-03-08T09:45:00-05:00", 51.00, 100, "NSDQ"),
    ("2024-03-08T10:30:00-05:00", 51.00, 100, "NSDQ"),
    ("2024-03-08T12:30:00-05:00", 52.00, 100, "ARCA"),
    ("2024-03-08T14:10:00-05:00", 53.00, 100, "ARCA"),
    ("2024-03-08T14:40:00-05:00", 54.00, 100, "ARCA"),
    ("2024-03-08T14:50:00-05:00", 55.00, 100, "ARCA"),
    ("2024-03-08T15:00:00-05:00", 55.50, 10, "ARCA"),
]
