"""Builders for hand-written tick fixtures: rows of (ISO time with offset, price, size, venue)."""

from __future__ import annotations

import datetime
import functools
from typing import Any, Sequence

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
