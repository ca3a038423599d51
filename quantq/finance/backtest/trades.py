"""The trade record: one closed (or still open) position of one symbol."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trade:
    """One trade. Prices are fill prices; ``commission`` sums both sides; ``return_pct`` is a
    fraction net of commission: side·(exit/entry − 1) − commission/(|size|·entry)."""

    symbol: str
    entry_bar: int
    exit_bar: int | None  # None while the trade is open
    entry_time: str | None
    exit_time: str | None
    side: str  # "long" | "short"
    size: float  # signed units
    entry_price: float
    exit_price: float | None
    commission: float
    pnl: float | None  # net of commission; None while open
    return_pct: float | None

    @property
    def is_closed(self) -> bool:
        return self.exit_bar is not None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in _FIELDS}


_FIELDS = dataclasses.fields(Trade)


def trades_from_table(table: np.ndarray, symbol: str, times: Sequence[str] | None) -> tuple[Trade, ...]:
    """Turn the kernel's trade table (see ``kernel.TRADE_FIELDS``) into records."""
    out = []
    for entry_bar, exit_bar, size, entry_price, exit_price, commission in table.tolist():
        closed = exit_bar >= 0
        pnl = size * (exit_price - entry_price) - commission if closed else None
        ret = (
            math.copysign(1.0, size) * (exit_price / entry_price - 1.0) - commission / (abs(size) * entry_price)
            if closed
            else None
        )
        out.append(
            Trade(
                symbol=symbol,
                entry_bar=int(entry_bar),
                exit_bar=int(exit_bar) if closed else None,
                entry_time=times[int(entry_bar)] if times else None,
                exit_time=times[int(exit_bar)] if times and closed else None,
                side="long" if size > 0 else "short",
                size=size,
                entry_price=entry_price,
                exit_price=exit_price if closed else None,
                commission=commission,
                pnl=pnl,
                return_pct=ret,
            )
        )
    return tuple(out)
