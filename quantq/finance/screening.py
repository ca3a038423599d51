"""Screening: rank what a strategy scored over the latest window of each symbol."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def rank(rows: Sequence[dict[str, Any]], universe: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """Best score first, one row per ticker (its best), only tickers of ``universe``, at most ``limit``.

    Rows whose score is null/NaN are dropped; ties keep universe order (then row order),
    so the ranking is deterministic. Each row keeps its extra keys and gains ``rank`` (1-based).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    order = {sym: i for i, sym in enumerate(universe)}
    best: dict[str, tuple[float, int, dict[str, Any]]] = {}
    for i, row in enumerate(rows):
        ticker, score = row.get("ticker"), row.get("score")
        if ticker not in order or score is None or isinstance(score, bool):
            continue
        score = float(score)
        if not math.isfinite(score):
            continue
        if ticker not in best or score > best[ticker][0]:
            best[ticker] = (score, i, row)
    ranked = sorted(best.values(), key=lambda t: (-t[0], order[t[2]["ticker"]], t[1]))[:limit]
    return [{**row, "score": score, "rank": k + 1} for k, (score, _, row) in enumerate(ranked)]
