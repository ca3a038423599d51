"""The sequential fill loop: a numba kernel and the plain-Python reference it must agree with.

Inputs are contiguous float64 arrays of one symbol: ``open``, ``close`` and ``target``
(NaN = keep the last target; otherwise the signed fraction of cash to hold, in [-1, 1]).
Outputs: equity and position per bar, and the trade table as parallel arrays
(entry bar, exit bar or -1 while open, signed units, entry price, exit price, commission).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Column order of the trade table returned by both loops.
TRADE_FIELDS = ("entry_bar", "exit_bar", "size", "entry_price", "exit_price", "commission")


@njit(cache=True, nogil=True)
def simulate(open_, close, target, cash0, commission, fraction, whole_units, close_at_end):  # pragma: no cover - compiled
    n = open_.shape[0]
    equity = np.empty(n)
    position = np.zeros(n)
    trades = np.full((n + 1, 6), np.nan)
    n_trades = 0
    cash = cash0
    units = 0.0
    entry_price = 0.0
    entry_comm = 0.0
    held = 0.0  # the target that the open position (or flat book) implements
    for i in range(n):
        if i > 0:
            want = target[i - 1]
            if not math.isnan(want) and want != held:
                px = open_[i]
                if units != 0.0:
                    exit_comm = abs(units) * px * commission
                    cash += units * (px - entry_price) - exit_comm
                    trades[n_trades - 1, 1] = i
                    trades[n_trades - 1, 4] = px
                    trades[n_trades - 1, 5] = entry_comm + exit_comm
                    units = 0.0
                held = want
                if want != 0.0:
                    qty = cash * fraction * abs(want) / (px * (1.0 + commission))
                    if whole_units:
                        qty = math.floor(qty)
                    if qty > 0.0:
                        units = qty if want > 0 else -qty
                        entry_price = px
                        entry_comm = qty * px * commission
                        cash -= entry_comm
                        trades[n_trades, 0] = i
                        trades[n_trades, 1] = -1
                        trades[n_trades, 2] = units
                        trades[n_trades, 3] = px
                        trades[n_trades, 5] = entry_comm
                        n_trades += 1
        if close_at_end and i == n - 1 and units != 0.0:
            px = close[i]
            exit_comm = abs(units) * px * commission
            cash += units * (px - entry_price) - exit_comm
            trades[n_trades - 1, 1] = i
            trades[n_trades - 1, 4] = px
            trades[n_trades - 1, 5] = entry_comm + exit_comm
            units = 0.0
        position[i] = units
        equity[i] = cash + units * (close[i] - entry_price)
    return equity, position, trades[:n_trades].copy()


def simulate_reference(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    cash0: float,
    commission: float,
    fraction: float,
    whole_units: bool,
    close_at_end: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same rules written as plain Python over lists of trades (the kernel's oracle)."""
    n = len(open_)
    equity: list[float] = []
    position: list[float] = []
    rows: list[list[float]] = []
    cash = float(cash0)
    held = 0.0
    book: dict[str, float] | None = None  # the open trade, if any

    def close_trade(bar: int, price: float) -> None:
        nonlocal cash, book
        assert book is not None
        fee = abs(book["units"]) * price * commission
        cash += book["units"] * (price - book["price"]) - fee
        rows.append([book["bar"], bar, book["units"], book["price"], price, book["fee"] + fee])
        book = None

    for i in range(n):
        if i > 0 and not math.isnan(target[i - 1]) and target[i - 1] != held:
            want = float(target[i - 1])
            price = float(open_[i])
            if book is not None:
                close_trade(i, price)
            held = want
            if want != 0:
                qty = cash * fraction * abs(want) / (price * (1 + commission))
                qty = float(math.floor(qty)) if whole_units else qty
                if qty > 0:
                    fee = qty * price * commission
                    cash -= fee
                    book = {"bar": i, "units": math.copysign(qty, want), "price": price, "fee": fee}
        if close_at_end and i == n - 1 and book is not None:
            close_trade(i, float(close[i]))
        units = book["units"] if book is not None else 0.0
        position.append(units)
        equity.append(cash + (units * (close[i] - book["price"]) if book is not None else 0.0))
    if book is not None:
        rows.append([book["bar"], -1, book["units"], book["price"], math.nan, book["fee"]])
    rows.sort(key=lambda r: r[0])
    table = np.array(rows, dtype=np.float64).reshape(len(rows), 6)
    return np.array(equity), np.array(position), table


def warm() -> None:
    """Compile (or load from cache) the kernel so that no job pays the first-call cost."""
    a = np.array([1.0, 1.0, 1.0])
    simulate(a, a, np.array([1.0, 0.0, np.nan]), 100.0, 0.0, 1.0, True, False)
