"""Bars and ticks: column names, dtypes, time rules and validation that fails fast.

Time rule (one for the whole finance layer):

* Every ``ts`` is a UTC instant stored as ``timestamp[ns, UTC]``; in NumPy it is
  ``datetime64[ns]`` and means UTC.  Naive times are never guessed at the edges.
* Intraday bars (``1m``, ``5m``, ``1h`` ...) are labelled by the instant their interval
  **starts** (left label): the 09:30 New York 1-minute bar covers [09:30, 09:31).
* Daily and longer bars (``1d``, ``1w``, ``1mo``) carry their **session date** at 00:00 UTC:
  the 2024-03-15 session is ``2024-03-15T00:00:00Z`` whatever the exchange's time zone.
  A daily ``ts`` with a time of day is an error.
* Ticks are labelled by the print's execution instant; equal times are allowed and ``seq``
  (the print's position in the store's order within its UTC day) keeps sorts stable.

Prices must be finite and > 0, volumes finite and >= 0, ``low <= open, close <= high``,
bar times strictly increasing, tick times non-decreasing.  Anything else is rejected with an
error naming the rows, never repaired.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pydantic

BAR_COLUMNS = ("ts", "open", "high", "low", "close", "volume")
TICK_COLUMNS = ("ts", "price", "size", "venue", "seq")
PRICE_COLUMNS = ("open", "high", "low", "close")

TS_TYPE = pa.timestamp("ns", tz="UTC")
BAR_SCHEMA = pa.schema([("ts", TS_TYPE)] + [(c, pa.float64()) for c in ("open", "high", "low", "close", "volume")])
TICK_SCHEMA = pa.schema(
    [("ts", TS_TYPE), ("price", pa.float64()), ("size", pa.float64()), ("venue", pa.string()), ("seq", pa.int64())]
)

_BAR_SIZE_RE = re.compile(r"^([1-9][0-9]{0,3})(s|m|h|d|w|mo)$")
_SYMBOL_RE = re.compile(r"^\^?[A-Z0-9][A-Z0-9._=\-]{0,31}$")
_NS_PER_DAY = 86_400 * 1_000_000_000
MAX_REPORTED_ROWS = 20  # rows named in an exception message; reports keep more


class SchemaError(ValueError):
    """Data that breaks the schema; ``problems`` holds ``(row, reason)`` pairs (0-based rows)."""

    def __init__(self, what: str, problems: list[tuple[int, str]], total: int | None = None) -> None:
        self.what = what
        self.problems = problems
        self.total = len(problems) if total is None else total
        shown = "; ".join(f"row {row}: {reason}" for row, reason in problems[:MAX_REPORTED_ROWS])
        more = f" (and {self.total - MAX_REPORTED_ROWS} more)" if self.total > MAX_REPORTED_ROWS else ""
        super().__init__(f"{what}: {self.total} invalid row(s): {shown}{more}")


def check_symbol(symbol: str) -> str:
    """Return ``symbol`` upper-cased, or raise ValueError if it is not a safe symbol name."""
    if not isinstance(symbol, str):
        raise ValueError(f"symbol must be a string, got {type(symbol).__name__}")
    sym = symbol.strip().upper()
    if not _SYMBOL_RE.match(sym):
        raise ValueError(
            f"invalid symbol {symbol!r}: use 1-32 characters A-Z 0-9 . _ = - starting with a letter or digit (or ^ for an index)"
        )
    return sym


def check_bar_size(bar_size: str) -> str:
    """Return a valid bar size (``1m``, ``5m``, ``1h``, ``1d``, ``1w``, ``1mo`` ...) or raise ValueError."""
    if not isinstance(bar_size, str) or not _BAR_SIZE_RE.match(bar_size):
        raise ValueError(
            f"invalid bar size {bar_size!r}: expected a number and a unit s, m, h, d, w or mo (e.g. 1d, 5m)"
        )
    return bar_size


def is_daily(bar_size: str) -> bool:
    """True for bar sizes labelled by session date (days, weeks, months)."""
    m = _BAR_SIZE_RE.match(check_bar_size(bar_size))
    assert m is not None
    return m.group(2) in ("d", "w", "mo")


def _problem_rows(masks: list[tuple[np.ndarray, str]], n: int) -> list[tuple[int, str]]:
    reasons: dict[int, list[str]] = {}
    for mask, reason in masks:
        for row in np.flatnonzero(mask)[:100_000]:
            reasons.setdefault(int(row), []).append(reason)
    return [(row, "; ".join(reasons[row])) for row in sorted(reasons)]


def _bars_look_valid(
    t: np.ndarray, o: Any, h: Any, lo: Any, c: Any, v: Any, daily: bool, prev_ts: int | None, order: bool = True
) -> bool:
    # a few whole-array reductions (NaN fails every comparison); the detailed pass runs only on failure
    if len(t) == 0:
        return True
    o, h, lo, c, v = (np.asarray(x, dtype=np.float64) for x in (o, h, lo, c, v))
    first_ok = t[0] != np.iinfo(np.int64).min and (prev_ts is None or t[0] > prev_ts)
    with np.errstate(invalid="ignore"):
        return bool(
            first_ok
            and (not order or len(t) < 2 or np.diff(t).min() > 0)
            and lo.min() > 0
            and np.isfinite(h).all()
            and (h >= lo).all()
            and ((o >= lo) & (o <= h)).all()
            and ((c >= lo) & (c <= h)).all()
            and v.min() >= 0
            and np.isfinite(v).all()
            and (not daily or not (t % _NS_PER_DAY).any())
        )


def check_bar_rows(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    *,
    daily: bool = False,
    prev_ts: int | None = None,
    order: bool = True,
) -> list[tuple[int, str]]:
    """Every invalid row of a bar block as ``(row, reason)``, vectorised; ``ts`` in int64 ns (NaT allowed).

    ``prev_ts`` is the last accepted time of the block before (streaming imports); ``order=False``
    leaves out the duplicate/unsorted checks (an importer that orders against accepted rows only).
    """
    t = np.asarray(ts).astype("datetime64[ns]", copy=False).view(np.int64)
    nat = np.iinfo(np.int64).min
    if _bars_look_valid(t, open_, high, low, close, volume, daily, prev_ts if order else None, order):
        return []
    masks: list[tuple[np.ndarray, str]] = [(t == nat, "missing timestamp")]
    for name, arr in (("open", open_), ("high", high), ("low", low), ("close", close)):
        a = np.asarray(arr, dtype=np.float64)
        masks.append((~np.isfinite(a), f"missing or non-finite {name}"))
        with np.errstate(invalid="ignore"):
            masks.append((a <= 0, f"non-positive {name}"))
    v = np.asarray(volume, dtype=np.float64)
    masks.append((~np.isfinite(v), "missing or non-finite volume"))
    with np.errstate(invalid="ignore"):
        masks.append((v < 0, "negative volume"))
        h, lo = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
        masks.append((h < lo, "high < low"))
        for name, arr in (("open", open_), ("close", close)):
            a = np.asarray(arr, dtype=np.float64)
            masks.append((((a > h) | (a < lo)) & (h >= lo), f"{name} outside low..high"))
    if daily:
        masks.append(((t != nat) & (t % _NS_PER_DAY != 0), "daily bar ts must be its session date at 00:00 UTC"))
    if not order:
        return _problem_rows(masks, len(t))
    prev = np.empty_like(t)
    if len(t):
        prev[0] = nat if prev_ts is None else prev_ts
        prev[1:] = t[:-1]
    ok = (t != nat) & (prev != nat)
    masks.append((ok & (t == prev), "duplicate timestamp"))
    masks.append((ok & (t < prev), "timestamp earlier than the previous row (unsorted input)"))
    return _problem_rows(masks, len(t))


def check_tick_rows(
    ts: np.ndarray, price: np.ndarray, size: np.ndarray, *, prev_ts: int | None = None, order: bool = True
) -> list[tuple[int, str]]:
    """Every invalid row of a tick block as ``(row, reason)``; equal times are allowed, decreasing are not."""
    t = np.asarray(ts).astype("datetime64[ns]").view(np.int64)
    nat = np.iinfo(np.int64).min
    masks: list[tuple[np.ndarray, str]] = [(t == nat, "missing timestamp")]
    for name, arr in (("price", price), ("size", size)):
        a = np.asarray(arr, dtype=np.float64)
        masks.append((~np.isfinite(a), f"missing or non-finite {name}"))
        with np.errstate(invalid="ignore"):
            masks.append((a <= 0, f"non-positive {name}"))
    if not order:
        return _problem_rows(masks, len(t))
    prev = np.empty_like(t)
    if len(t):
        prev[0] = nat if prev_ts is None else prev_ts
        prev[1:] = t[:-1]
    masks.append(((t != nat) & (prev != nat) & (t < prev), "timestamp earlier than the previous row (unsorted input)"))
    return _problem_rows(masks, len(t))


def _readonly(a: np.ndarray) -> np.ndarray:
    # copy writeable input so that neither the caller's array nor ours can change later
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.copy()
        a.flags.writeable = False
    return a


def _ts_from_arrow(col: pa.ChunkedArray | pa.Array, what: str) -> np.ndarray:
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            raise SchemaError(what, [(0, "naive timestamps (no time zone): convert to UTC first")])
        col = col.cast(TS_TYPE)
    elif pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("s")).cast(pa.timestamp("ns")).cast(TS_TYPE)  # date → its 00:00 UTC
    else:
        raise SchemaError(what, [(0, f"ts column has type {col.type}, expected a UTC timestamp")])
    return col.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64).view("datetime64[ns]")


def _to_arrow_table(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # polars
        return frame.to_arrow()
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return pa.Table.from_pandas(frame, preserve_index=False)
    raise TypeError(f"expected a pyarrow, polars or pandas table, got {type(frame).__name__}")


@dataclasses.dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV bars of one symbol: read-only contiguous arrays, validated on construction.

    ``ts`` is ``datetime64[ns]`` meaning UTC; prices and volume are float64.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    daily: bool = False

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts)
        if ts.dtype.kind != "M":
            raise SchemaError("bars", [(0, f"ts must be datetime64, got {ts.dtype}")])
        object.__setattr__(self, "ts", _readonly(ts.astype("datetime64[ns]", copy=False)))
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.ndim != 1 or len(arr) != n:
                raise SchemaError("bars", [(0, f"{name} has shape {arr.shape}, expected ({n},)")])
            object.__setattr__(self, name, _readonly(arr))
        problems = check_bar_rows(self.ts, self.open, self.high, self.low, self.close, self.volume, daily=self.daily)
        if problems:
            raise SchemaError("bars", problems)

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_frame(cls, frame: Any, *, daily: bool = False) -> Bars:
        """Build from a pyarrow/polars/pandas table with the bar columns; ``ts`` must carry a time zone."""
        table = _to_arrow_table(frame)
        missing = [c for c in BAR_COLUMNS if c not in table.column_names]
        if missing:
            raise SchemaError("bars", [(0, f"missing column(s) {missing}")])
        ts = _ts_from_arrow(table.column("ts"), "bars")
        cols = {c: table.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False) for c in BAR_COLUMNS[1:]}
        return cls(ts=ts, daily=daily, **cols)

    @classmethod
    def trusted(
        cls,
        *,
        ts: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray,
        daily: bool = False,
    ) -> Bars:
        """Wrap read-only arrays the caller has already validated (the store's bulk read); no checks, no copies."""
        self = object.__new__(cls)
        for name, arr in (
            ("ts", ts),
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
            ("volume", volume),
        ):
            object.__setattr__(self, name, _readonly(arr))
        object.__setattr__(self, "daily", daily)
        return self

    @classmethod
    def empty(cls, *, daily: bool = False) -> Bars:
        z = np.empty(0)
        return cls(np.empty(0, "datetime64[ns]"), z, z, z, z, z, daily=daily)

    def to_arrow(self) -> pa.Table:
        ts = pa.array(self.ts.view(np.int64), pa.int64()).cast(TS_TYPE)
        return pa.Table.from_arrays([ts, *(pa.array(getattr(self, c)) for c in BAR_COLUMNS[1:])], schema=BAR_SCHEMA)

    def to_pandas(self) -> Any:
        """A pandas DataFrame with a tz-aware UTC ``ts`` column."""
        return self.to_arrow().to_pandas()

    def slice(self, start: int, stop: int) -> Bars:
        """Rows ``start:stop`` as read-only views. Every row of a ``Bars`` was validated when it
        was built (or by the store's bulk check), and a contiguous run of valid, strictly
        increasing rows is itself valid, so the slice is not checked again."""
        cut = {c: getattr(self, c)[start:stop] for c in BAR_COLUMNS}
        return Bars.trusted(**cut, daily=self.daily)


@dataclasses.dataclass(frozen=True, eq=False)
class Ticks:
    """Tick prints of one symbol: read-only arrays, times non-decreasing, ``seq`` the store order."""

    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    venue: np.ndarray
    seq: np.ndarray

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts)
        if ts.dtype.kind != "M":
            raise SchemaError("ticks", [(0, f"ts must be datetime64, got {ts.dtype}")])
        object.__setattr__(self, "ts", _readonly(ts.astype("datetime64[ns]", copy=False)))
        n = len(self.ts)
        for name, dtype in (("price", np.float64), ("size", np.float64), ("seq", np.int64)):
            arr = np.asarray(getattr(self, name), dtype=dtype)
            if arr.ndim != 1 or len(arr) != n:
                raise SchemaError("ticks", [(0, f"{name} has shape {arr.shape}, expected ({n},)")])
            object.__setattr__(self, name, _readonly(arr))
        venue = np.asarray(self.venue, dtype=object)
        if not all(type(v) is str for v in venue):  # rare slow path; a missing venue is "" (deeper-analysis.md)
            venue = np.array(["" if v is None else str(v) for v in venue], dtype=object)
        if len(venue) != n:
            raise SchemaError("ticks", [(0, f"venue has {len(venue)} rows, expected {n}")])
        object.__setattr__(self, "venue", _readonly(venue))
        problems = check_tick_rows(self.ts, self.price, self.size)
        if problems:
            raise SchemaError("ticks", problems)

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_frame(cls, frame: Any) -> Ticks:
        """Build from a table with ``ts price size`` (``venue`` and ``seq`` optional); ``ts`` tz-aware."""
        table = _to_arrow_table(frame)
        missing = [c for c in ("ts", "price", "size") if c not in table.column_names]
        if missing:
            raise SchemaError("ticks", [(0, f"missing column(s) {missing}")])
        n = table.num_rows
        ts = _ts_from_arrow(table.column("ts"), "ticks")
        venue = (
            np.asarray(table.column("venue").cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
            if "venue" in table.column_names
            else np.full(n, "", dtype=object)
        )
        seq = table.column("seq").to_numpy() if "seq" in table.column_names else np.arange(n, dtype=np.int64)
        return cls(
            ts=ts,
            price=table.column("price").cast(pa.float64()).to_numpy(zero_copy_only=False),
            size=table.column("size").cast(pa.float64()).to_numpy(zero_copy_only=False),
            venue=venue,
            seq=seq,
        )

    @classmethod
    def empty(cls) -> Ticks:
        z = np.empty(0)
        return cls(np.empty(0, "datetime64[ns]"), z, z, np.empty(0, dtype=object), np.empty(0, np.int64))

    def to_arrow(self) -> pa.Table:
        ts = pa.array(self.ts.view(np.int64), pa.int64()).cast(TS_TYPE)
        return pa.Table.from_arrays(
            [
                ts,
                pa.array(self.price),
                pa.array(self.size),
                pa.array(self.venue, pa.string()),
                pa.array(self.seq),
            ],
            schema=TICK_SCHEMA,
        )

    def to_pandas(self) -> Any:
        return self.to_arrow().to_pandas()


class SymbolMeta(pydantic.BaseModel):
    """What the store knows about a symbol besides its prices."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    symbol: str
    exchange: str | None = None
    average_daily_volume: float | None = pydantic.Field(default=None, ge=0)
    currency: str | None = None
    name: str | None = None

    @pydantic.field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        return check_symbol(v)

    @pydantic.field_validator("average_daily_volume")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not np.isfinite(v):
            raise ValueError("average_daily_volume must be finite")
        return v

    def merged(self, changes: Mapping[str, Any]) -> SymbolMeta:
        return SymbolMeta.model_validate(self.model_dump() | dict(changes))
