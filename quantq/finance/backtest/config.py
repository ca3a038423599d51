"""Execution conventions as data: one frozen config, one field per rule."""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

# backtesting.py sizes "all-in" orders with 1 - epsilon so float rounding never buys one unit
# more than the cash covers; we keep the same factor so unit counts agree bar for bar.
ALL_IN = 1.0 - sys.float_info.epsilon


class ConfigError(ValueError):
    """An execution config field is missing, unknown or out of range."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    """How target positions become fills, cash and equity (defaults = backtesting.py's)."""

    # Starting cash of each symbol's account; symbols never share cash.
    cash: float = 10_000.0
    # Relative commission, charged on the notional at entry AND again at exit
    # (0.002 = 0.2 % per side): entry costs |units|·open·c, exit |units|·exit_price·c.
    commission: float = 0.0
    # A target set on bar t is filled at the OPEN of bar t+1; a target on the last bar never fills.
    fill_at: str = "next_open"
    # Fraction of cash committed by a full (|target| = 1) order: units = floor(cash·fraction·|target|
    # / (open·(1+commission))); an order too small for one unit is dropped (position stays flat).
    size_fraction: float = ALL_IN
    # Units are whole numbers (floor); False allows fractional units (crypto, FX).
    whole_units: bool = True
    # Exclusive orders: one position per symbol. Any change of target closes the open trade at the
    # open and, if the new target is not 0, reopens in the new direction at that same open
    # (a reversal is a close plus an open at one price, each paying commission).
    exclusive_orders: bool = True
    # Open trades at the end stay open: left out of trade statistics but marked to market in
    # equity. True closes them at the last close and counts them.
    close_at_end: bool = False
    # Periods per year used by every annualised figure (252 equity sessions, 365 crypto, 52, 12).
    periods_per_year: float = 252.0
    # Annual risk-free rate; per period (1 + rf)^(1/N) - 1.
    risk_free_rate: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (math.isfinite(self.cash) and self.cash > 0, "cash must be a positive number"),
            (math.isfinite(self.commission) and 0 <= self.commission < 0.1, "commission must be in [0, 0.1)"),
            (self.fill_at == "next_open", "fill_at: only 'next_open' is supported"),
            (0 < self.size_fraction <= 1, "size_fraction must be in (0, 1]"),
            (self.exclusive_orders is True, "exclusive_orders: only True is supported"),
            (self.periods_per_year > 0, "periods_per_year must be positive"),
            (math.isfinite(self.risk_free_rate) and self.risk_free_rate > -1, "risk_free_rate must be > -1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ExecutionConfig:
        """Build from JSON data; unknown fields are rejected by name."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown execution config field(s): {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
