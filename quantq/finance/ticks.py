"""Deeper analysis of tick prints: GRPAN, GOD, RWVAP, ROD and SRPAN.

The definitions are those of ``deeper-analysis.md`` (see ``docs/deeper-analysis.md``). Everything
here is pure: validated arrays, a session table, the symbol's average daily volume and a frozen
config go in, a frozen :class:`SymbolAnalysis` comes out.  No I/O, clock or globals.

Prices and sizes are carried as int64 millionths ("micros") once validated, so every equality,
band and gap test is exact on the six decimals the spec allows; GRPAN weights are counted in
fifths and SRPAN weights in quarters, so weight ties are exact too.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import numbers
import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

EXCHANGE_TZ = "America/New_York"
DEFAULT_DARK_VENUES: tuple[str, ...] = ("", "UNKNOWN", "FNRA", "FINRA", "ADF", "ADFN", "TRF", "D")
GRPAN_WINDOWS: tuple[str, ...] = ("latest", "10m", "30m", "1h", "3h", "1d", "3d")
# read-only: window spans in seconds, session windows in sessions
TIME_WINDOWS: Mapping[str, int] = MappingProxyType({"10m": 600, "30m": 1800, "1h": 3600, "3h": 10800})
GRPAN_SESSION_WINDOWS: Mapping[str, int] = MappingProxyType({"1d": 1, "3d": 3})
RWVAP_WINDOWS: Mapping[str, int] = MappingProxyType({"1d": 1, "3d": 3, "5d": 5})
GOD_WINDOWS: tuple[str, ...] = ("10m", "30m", "1h", "3h", "1d", "3d")
SPREAD_SCORE_RANGE_MICROS = 240_000  # spread_score reaches 100 at srpan_min_gap + 0.24

MICRO = 1_000_000
_NS = 1_000_000_000
_DECIMAL_TOL = 1e-9  # the spec's float64 tolerance on 6-decimal values
_MAX_VALUE = 1e12  # keeps micros far inside int64
_OFFSET_RE = re.compile(r"(Z|[+-]\d\d(:?\d\d)?)$", re.IGNORECASE)


class InvalidTicks(ValueError):
    """A symbol's prints cannot be analysed (bad price, size, time or venue)."""


class InvalidConfig(ValueError):
    """A deeper-analysis parameter is out of range."""


# --------------------------------------------------------------------------- config


def _micros_of(name: str, value: float, *, minimum: float, strict: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidConfig(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum) or value > _MAX_VALUE:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise InvalidConfig(f"{name} must be {bound} and <= {_MAX_VALUE:g}, got {value!r}")
    micros = round(float(value) * MICRO)
    if abs(float(value) - micros / MICRO) > _DECIMAL_TOL:
        raise InvalidConfig(f"{name} has more than 6 decimals: {value!r}")
    return micros


def _check_int(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        raise InvalidConfig(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def normalise_venue(code: str) -> str:
    """Venue codes compare after trimming and upper-casing."""
    return code.strip().upper()


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeeperAnalysisConfig:
    """The overridable parameters of the deeper analysis (defaults from the spec)."""

    min_lot: float = 20
    band: float = 0.04
    latest_prints: int = 15
    top_n: int = 5
    dark_venues: tuple[str, ...] = DEFAULT_DARK_VENUES
    extreme_multiplier: float = 1.0
    rwvap_min_prints: int = 5
    srpan_prints: int = 30
    srpan_min_size: float = 10
    srpan_min_prints: int = 8
    srpan_band: float = 0.03
    srpan_min_gap: float = 0.06
    # thresholds as exact millionths, derived in __post_init__ (not an argument, not serialised)
    micros: dict[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        micros = {
            "min_lot": _micros_of("min_lot", self.min_lot, minimum=0),
            "band": _micros_of("band", self.band, minimum=0),
            "srpan_min_size": _micros_of("srpan_min_size", self.srpan_min_size, minimum=0),
            "srpan_band": _micros_of("srpan_band", self.srpan_band, minimum=0),
            "srpan_min_gap": _micros_of("srpan_min_gap", self.srpan_min_gap, minimum=0, strict=True),
        }
        _check_int("latest_prints", self.latest_prints, 1, 1_000_000)
        _check_int("top_n", self.top_n, 1, 1000)
        _micros_of("extreme_multiplier", self.extreme_multiplier, minimum=0, strict=True)
        _check_int("rwvap_min_prints", self.rwvap_min_prints, 1, 1_000_000)
        _check_int("srpan_prints", self.srpan_prints, 1, 1_000_000)
        _check_int("srpan_min_prints", self.srpan_min_prints, 1, 1_000_000)
        if self.srpan_min_prints > self.srpan_prints:
            raise InvalidConfig(
                f"srpan_min_prints ({self.srpan_min_prints}) cannot exceed srpan_prints ({self.srpan_prints})"
            )
        object.__setattr__(self, "micros", micros)
        venues = self.dark_venues
        if isinstance(venues, str) or not all(isinstance(v, str) for v in venues):
            raise InvalidConfig(f"dark_venues must be a list of strings, got {venues!r}")
        object.__setattr__(self, "dark_venues", tuple(dict.fromkeys(normalise_venue(v) for v in venues)))

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        out["dark_venues"] = list(self.dark_venues)
        return out


# --------------------------------------------------------------------------- inputs


def _numeric(name: str, values: Any, n: int) -> np.ndarray:
    # lists go element by element: np.asarray would silently turn True into 1.0 and 10 into "10"
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.shape != (n,):
        raise InvalidTicks(f"{name}: expected {n} values, got shape {arr.shape}")
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":
        out = np.empty(n, dtype=np.float64)
        for i, v in enumerate(arr):
            if isinstance(v, bool) or not isinstance(v, (numbers.Real, Decimal)):
                raise InvalidTicks(f"print {i}: {name} {v!r} is not numeric")
            out[i] = float(v)
        return out
    raise InvalidTicks(f"{name} is not numeric (dtype {arr.dtype})")


def _to_micros(name: str, x: np.ndarray) -> np.ndarray:
    micros = np.rint(x * MICRO)
    with np.errstate(invalid="ignore"):
        checks = (
            (~np.isfinite(x), "is not numeric"),
            (x <= 0, "is not positive"),
            (x > _MAX_VALUE, "is too large"),
            # 1e-9 absolute, widened by float64 resolution for large values
            (np.abs(x - micros / MICRO) > np.maximum(_DECIMAL_TOL, np.abs(x) * 4e-16), "has more than 6 decimals"),
        )
    for bad, problem in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidTicks(f"print {i}: {name} {float(x[i])!r} {problem}")
    return micros.astype(np.int64)


def to_utc_ns(values: Any) -> np.ndarray:
    """Times as int64 UTC nanoseconds; every time must carry its UTC offset.

    Accepts int64 (already UTC ns, by contract), tz-aware pandas values, aware ``datetime``
    objects, or ISO 8601 strings with an offset.  Naive times are rejected, never assumed UTC.
    """
    if isinstance(values, (pd.Series, pd.Index)) and isinstance(values.dtype, pd.DatetimeTZDtype):
        idx = pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns")
        return np.asarray(idx.asi8, dtype=np.int64)
    arr = np.asarray(values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "M":
        raise InvalidTicks("print 0: time has no UTC offset (naive datetime64)")
    if arr.dtype.kind not in "OU":
        raise InvalidTicks(f"times must be ISO 8601 strings with an offset, got dtype {arr.dtype}")
    strings: list[str] = []
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, _dt.datetime):
            if v.tzinfo is None or v.utcoffset() is None:
                raise InvalidTicks(f"print {i}: time {v.isoformat()} has no UTC offset")
            strings.append(v.isoformat())
        elif isinstance(v, str):
            if not _OFFSET_RE.search(v.strip()) or "T" not in v.upper() and " " not in v.strip():
                raise InvalidTicks(f"print {i}: time {v!r} is not ISO 8601 with a UTC offset")
            strings.append(v.strip())
        else:
            raise InvalidTicks(f"print {i}: time {v!r} is not ISO 8601 with a UTC offset")
    try:
        parsed = pd.to_datetime(pd.Series(strings, dtype=object), format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise InvalidTicks(f"unparseable time: {exc}") from None
    return np.asarray(pd.DatetimeIndex(parsed).as_unit("ns").asi8, dtype=np.int64)


def _venue_codes(venue: Any, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    if venue is None:
        return np.zeros(n, dtype=np.int32), ("",)
    if isinstance(venue, pd.Categorical) or (
        isinstance(venue, pd.Series) and isinstance(venue.dtype, pd.CategoricalDtype)
    ):
        cat = venue if isinstance(venue, pd.Categorical) else venue.array
        codes = np.asarray(cat.codes, dtype=np.int32)
        names = tuple(str(c) for c in cat.categories) + ("",)
        codes = np.where(codes < 0, len(names) - 1, codes).astype(np.int32)
    else:
        arr = np.asarray(venue, dtype=object)
        if arr.shape != (n,):
            raise InvalidTicks(f"venue: expected {n} values, got shape {arr.shape}")
        codes_i, uniques = pd.factorize(arr, use_na_sentinel=True)
        for u in uniques:
            if not isinstance(u, str):
                raise InvalidTicks(f"venue {u!r} is not a string")
        names = tuple(uniques) + ("",)  # missing venue is ""
        codes = np.where(codes_i < 0, len(names) - 1, codes_i).astype(np.int32)
    if codes.shape != (n,):
        raise InvalidTicks(f"venue: expected {n} values, got shape {codes.shape}")
    return codes, names


@dataclasses.dataclass(frozen=True, eq=False)
class TickPrints:
    """One symbol's validated prints in time order (stable on the store's ``seq``)."""

    symbol: str
    ts_ns: np.ndarray  # int64 UTC nanoseconds, non-decreasing
    price_micros: np.ndarray  # int64 millionths
    size_micros: np.ndarray  # int64 millionths of a share
    venue_codes: np.ndarray  # int32 index into venue_names
    venue_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @classmethod
    def from_columns(
        cls,
        symbol: str,
        ts: Any,
        price: Any,
        size: Any,
        venue: Any = None,
        seq: Any = None,
    ) -> TickPrints:
        """Validate raw columns (raises :class:`InvalidTicks`) and sort them by (ts, seq)."""
        ts_ns = to_utc_ns(ts)
        if ts_ns.ndim != 1:
            raise InvalidTicks("ts must be one-dimensional")
        n = int(ts_ns.shape[0])
        missing = ts_ns == np.iinfo(np.int64).min  # NaT
        if missing.any():
            raise InvalidTicks(f"print {int(np.flatnonzero(missing)[0])}: missing time")
        p = _to_micros("price", _numeric("price", price, n))
        s = _to_micros("size", _numeric("size", size, n))
        codes, names = _venue_codes(venue, n)
        step = np.diff(ts_ns)
        order = None
        if seq is not None:
            seq_arr = np.asarray(seq)
            if seq_arr.shape != (n,) or seq_arr.dtype.kind not in "iu":
                raise InvalidTicks("seq must be one integer per print")
            # the store's order is normally kept already: sort only when (ts, seq) is not ascending
            if bool(np.any(step < 0)) or bool(np.any(np.diff(seq_arr)[step == 0] < 0)):
                order = np.lexsort((seq_arr, ts_ns))
        elif bool(np.any(step < 0)):
            order = np.argsort(ts_ns, kind="stable")
        if order is not None:
            ts_ns, p, s, codes = ts_ns[order], p[order], s[order], codes[order]
        else:
            ts_ns = ts_ns.copy()  # never share (or freeze) the caller's array
        for a in (ts_ns, p, s, codes):
            a.flags.writeable = False
        return cls(symbol, ts_ns, p, s, codes, names)

    @classmethod
    def from_ticks(cls, symbol: str, ticks: Any) -> TickPrints:
        """From the store's :class:`quantq.finance.schema.Ticks` (``ts`` is datetime64[ns] meaning UTC)."""
        ts = np.asarray(ticks.ts).astype("datetime64[ns]", copy=False).view(np.int64)
        return cls.from_columns(symbol, ts, ticks.price, ticks.size, ticks.venue, ticks.seq)


@dataclasses.dataclass(frozen=True, eq=False)
class SessionTable:
    """Exchange sessions as closed [open, close] intervals, valid for times in [start_ns, end_ns)."""

    dates: tuple[str, ...]
    opens_ns: np.ndarray
    closes_ns: np.ndarray
    start_ns: int
    end_ns: int

    @classmethod
    def xnys(cls, first: _dt.date, last: _dt.date) -> SessionTable:
        """XNYS sessions (holidays, 13:00 early closes) from ``exchange_calendars``, dates inclusive."""
        import exchange_calendars

        if last < first:
            raise ValueError(f"empty date range {first} .. {last}")
        # exchange_calendars wants start < end: ask one day more and drop it
        end = (last + _dt.timedelta(days=1)).isoformat()
        sched = exchange_calendars.get_calendar("XNYS", start=first.isoformat(), end=end).schedule
        sched = sched[sched.index <= pd.Timestamp(last.isoformat())]
        tz = "America/New_York"
        start = pd.Timestamp(first.isoformat(), tz=tz).tz_convert("UTC").value
        end = pd.Timestamp((last + _dt.timedelta(days=1)).isoformat(), tz=tz).tz_convert("UTC").value
        return cls(
            dates=tuple(d.date().isoformat() for d in sched.index),
            opens_ns=np.asarray(pd.DatetimeIndex(sched["open"]).as_unit("ns").asi8, dtype=np.int64),
            closes_ns=np.asarray(pd.DatetimeIndex(sched["close"]).as_unit("ns").asi8, dtype=np.int64),
            start_ns=int(start),
            end_ns=int(end),
        )

    @classmethod
    def xnys_for_span(cls, first_ns: int, last_ns: int) -> SessionTable:
        """A table covering the prints' span plus two weeks before it (the 5-session lookback)."""
        first = pd.Timestamp(first_ns, tz="UTC").tz_convert(EXCHANGE_TZ).date()
        last = pd.Timestamp(last_ns, tz="UTC").tz_convert(EXCHANGE_TZ).date()
        return cls.xnys(first - _dt.timedelta(days=14), last)

    def covers(self, first_ns: int, last_ns: int) -> bool:
        return self.start_ns + 14 * 86400 * _NS <= first_ns and last_ns < self.end_ns


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class PriceWeight:
    price: float
    weight: float


@dataclasses.dataclass(frozen=True)
class GrpanWindow:
    grpan_price: float | None
    concentration_percent: float | None
    print_count: int
    volume: float
    deviation_vs_last: float | None
    deviation_vs_prev_window: float | None
    top_prices: tuple[PriceWeight, ...]
    reason: str | None
    sessions: tuple[str, ...] | None = None  # session windows only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "grpan_price": self.grpan_price,
            "concentration_percent": self.concentration_percent,
            "print_count": self.print_count,
            "volume": self.volume,
            "deviation_vs_last": self.deviation_vs_last,
            "deviation_vs_prev_window": self.deviation_vs_prev_window,
            "top_prices": [{"price": t.price, "weight": t.weight} for t in self.top_prices],
            "reason": self.reason,
        }
        if self.sessions is not None:
            out["sessions"] = list(self.sessions)
        return out


@dataclasses.dataclass(frozen=True)
class RwvapWindow:
    rwvap: float | None
    status: str
    print_count: int
    effective_print_count: int
    excluded_print_count: int
    total_volume: float
    effective_volume: float
    excluded_volume: float
    extreme_threshold: float | None
    deviation_vs_last: float | None
    sessions: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["sessions"] = list(self.sessions)
        return out


@dataclasses.dataclass(frozen=True)
class Srpan:
    status: str
    print_count: int
    total_weight: float | None = None
    g1: float | None = None
    c1: float | None = None
    g2: float | None = None
    c2: float | None = None
    spread: float | None = None
    direction: str | None = None
    balance_score: float = 0.0
    total_score: float = 0.0
    spread_score: float = 0.0
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SymbolAnalysis:
    symbol: str
    god: float | None
    rod: float | None
    grpan: dict[str, GrpanWindow]  # GRPAN_WINDOWS order
    rwvap: dict[str, RwvapWindow]
    srpan: Srpan
    tick_count: int
    last_price: float
    timestamp: str  # t_last in exchange time, ISO 8601 with offset

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "god": self.god,
            "rod": self.rod,
            "grpan": {
                "value": self.grpan["latest"].grpan_price,
                "windows": {name: self.grpan[name].to_json() for name in GRPAN_WINDOWS},
            },
            "rwvap": {name: self.rwvap[name].to_json() for name in RWVAP_WINDOWS},
            "srpan": self.srpan.to_json(),
            "tick_count": self.tick_count,
            "last_price": self.last_price,
            "timestamp": self.timestamp,
        }


# --------------------------------------------------------------------------- computation


def _rank(codes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct codes by total weight descending; ties go to the code whose last print comes first.

    ``codes``/``weights`` are in time order.  Returns (codes ranked, their integer totals).
    """
    totals = np.bincount(codes, weights=weights)
    last = np.full(totals.shape[0], -1, dtype=np.int64)
    np.maximum.at(last, codes, np.arange(codes.shape[0], dtype=np.int64))
    present = np.flatnonzero(last >= 0)
    tot = np.rint(totals[present]).astype(np.int64)  # integer weight units: exact
    order = np.lexsort((last[present], -tot))
    return present[order], tot[order]


class _Rows:
    """Compacted columns of a subset of prints (time order), so every window is a slice (a view)."""

    def __init__(self, sym: _Symbol, pos: np.ndarray) -> None:
        self.pos = pos  # positions in the symbol's prints
        self.codes = sym.codes[pos]
        self.w5 = sym.w5[pos]
        self.p = sym.p[pos]
        self.s = sym.s[pos]


class _Symbol:
    """Per-symbol arrays shared by every window (built once)."""

    def __init__(self, prints: TickPrints, sessions: SessionTable, config: DeeperAnalysisConfig) -> None:
        self.p = prints.price_micros
        self.s = prints.size_micros
        self.ts = prints.ts_ns
        n = self.ts.shape[0]
        # one code per exact price (hash-based: no sort needed, codes in order of first appearance)
        codes, uniq = pd.factorize(self.p)
        self.codes, self.uniq = np.asarray(codes, dtype=np.int64), np.asarray(uniq, dtype=np.int64)
        dark_set = set(config.dark_venues)
        dark_lut = np.array([normalise_venue(v) in dark_set for v in prints.venue_names], dtype=bool)
        dark = dark_lut[prints.venue_codes]
        s = self.s
        hundred = 100 * MICRO
        dark_w = np.where(
            (s == hundred) | (s == 2 * hundred), 5, np.where((s >= 3 * hundred) & (s % hundred == 0), 2, 1)
        )
        self.w5 = np.where(dark, dark_w, 5).astype(np.int64)  # GRPAN weights in fifths
        kept = s >= config.micros["min_lot"]
        # session of each print: the last open at or before it, if the print is not after its close
        op, cl = sessions.opens_ns, sessions.closes_ns
        idx = np.searchsorted(op, self.ts, side="right") - 1
        in_sess = (idx >= 0) & (self.ts <= cl[np.clip(idx, 0, None)]) if op.shape[0] else np.zeros(n, dtype=bool)
        self.kept = _Rows(self, np.flatnonzero(kept))
        sess_pos = np.flatnonzero(in_sess)
        self.anchor = int(idx[sess_pos[-1]]) if sess_pos.shape[0] else None
        if self.anchor is not None:
            self.kept_sess = _Rows(self, np.flatnonzero(kept & in_sess))
            self.sess_pos = sess_pos
            self.sess_s = s[sess_pos]
            sf = self.sess_s / MICRO
            self.sess_sf, self.sess_psf = sf, (self.p[sess_pos] / MICRO) * sf

    def session_range(self, sessions: SessionTable, n_sessions: int) -> tuple[int, int, tuple[str, ...]] | None:
        """(first print index, end index, session dates) of the N-session window, None without anchor."""
        if self.anchor is None:
            return None
        first = self.anchor - n_sessions + 1
        if first < 0:
            raise ValueError("the session table does not reach back far enough for the window")
        lo = int(np.searchsorted(self.ts, sessions.opens_ns[first], side="left"))
        hi = int(np.searchsorted(self.ts, sessions.closes_ns[self.anchor], side="right"))
        return lo, hi, sessions.dates[first : self.anchor + 1]


def _grpan_window(
    sym: _Symbol,
    rows: _Rows,
    sl: slice,
    last_micros: int,
    config: DeeperAnalysisConfig,
    reason_if_empty: str,
    sessions: tuple[str, ...] | None,
) -> tuple[GrpanWindow, int | None]:
    codes = rows.codes[sl]
    n = int(codes.shape[0])
    if n == 0:
        return GrpanWindow(None, None, 0, 0.0, None, None, (), reason_if_empty, sessions), None
    ranked, totals = _rank(codes, rows.w5[sl])
    g = int(sym.uniq[ranked[0]])
    near = int(np.count_nonzero(np.abs(rows.p[sl] - g) <= config.micros["band"]))
    top = tuple(
        PriceWeight(int(sym.uniq[c]) / MICRO, int(w) / 5)
        for c, w in zip(ranked[: config.top_n], totals[: config.top_n], strict=True)
    )
    window = GrpanWindow(
        grpan_price=g / MICRO,
        concentration_percent=100.0 * near / n,
        print_count=n,
        volume=int(rows.s[sl].sum()) / MICRO,
        deviation_vs_last=(last_micros - g) / MICRO,
        deviation_vs_prev_window=None,
        top_prices=top,
        reason=None,
        sessions=sessions,
    )
    return window, g


def _grpan(
    sym: _Symbol, sessions: SessionTable, config: DeeperAnalysisConfig, last_micros: int
) -> tuple[dict[str, GrpanWindow], dict[str, int | None]]:
    t_last = int(sym.ts[-1])
    kept = sym.kept
    n_kept = int(kept.pos.shape[0])
    windows: dict[str, GrpanWindow] = {}
    values: dict[str, int | None] = {}
    for name in GRPAN_WINDOWS:
        sess: tuple[str, ...] | None = None
        reason = "NO_KEPT_PRINTS"
        rows = kept
        if name == "latest":
            sl = slice(max(0, n_kept - config.latest_prints), n_kept)
        elif name in TIME_WINDOWS:
            lo = int(np.searchsorted(sym.ts, t_last - TIME_WINDOWS[name] * _NS, side="left"))
            sl = slice(int(np.searchsorted(kept.pos, lo)), n_kept)
        else:
            rng = sym.session_range(sessions, GRPAN_SESSION_WINDOWS[name])
            if rng is None:
                sl, sess, reason = slice(0, 0), (), "NO_SESSION"
            else:
                lo, hi, sess = rng
                rows = sym.kept_sess
                sl = slice(int(np.searchsorted(rows.pos, lo)), int(np.searchsorted(rows.pos, hi)))
        windows[name], values[name] = _grpan_window(sym, rows, sl, last_micros, config, reason, sess)
    # deviation against the nearest earlier window (in the fixed order) that has a value
    prev: int | None = None
    for name in GRPAN_WINDOWS:
        g = values[name]
        if g is not None and prev is not None and name != "latest":
            windows[name] = dataclasses.replace(windows[name], deviation_vs_prev_window=(g - prev) / MICRO)
        if g is not None:
            prev = g
    return windows, values


def _extreme_threshold_micros(adv: float | None, multiplier: float) -> tuple[float | None, int | None]:
    """(threshold in shares, floor of it in micros); a size in micros is extreme iff it exceeds the floor."""
    if adv is None or isinstance(adv, bool) or not isinstance(adv, numbers.Real) or not math.isfinite(adv) or adv <= 0:
        return None, None
    exact = Decimal(repr(float(multiplier))) * Decimal(repr(float(adv)))
    return float(exact), int((exact * MICRO).to_integral_value(rounding="ROUND_FLOOR"))


def _rwvap(
    sym: _Symbol, sessions: SessionTable, config: DeeperAnalysisConfig, adv: float | None, last_price: float
) -> dict[str, RwvapWindow]:
    threshold, thr_micros = _extreme_threshold_micros(adv, config.extreme_multiplier)
    out: dict[str, RwvapWindow] = {}
    for name, n_sessions in RWVAP_WINDOWS.items():
        rng = sym.session_range(sessions, n_sessions)
        if rng is None:
            out[name] = RwvapWindow(None, "INSUFFICIENT_DATA", 0, 0, 0, 0.0, 0.0, 0.0, threshold, None, ())
            continue
        lo, hi, dates = rng
        sl = slice(int(np.searchsorted(sym.sess_pos, lo)), int(np.searchsorted(sym.sess_pos, hi)))
        sizes, sf, psf = sym.sess_s[sl], sym.sess_sf[sl], sym.sess_psf[sl]
        count = int(sizes.shape[0])
        total_v = int(sizes.sum())
        extreme = sizes > thr_micros if thr_micros is not None else None
        n_excl = int(np.count_nonzero(extreme)) if extreme is not None else 0
        if n_excl:
            used = ~extreme  # type: ignore[operator]
            excl_v = int(sizes[extreme].sum())
            sf, psf = sf[used], psf[used]
        else:
            excl_v = 0
        n_used = count - n_excl
        if n_used >= config.rwvap_min_prints:
            status = "OK"
            vwap = float(psf.sum() / sf.sum())
            value: float | None = vwap
            deviation: float | None = last_price - vwap
        else:
            status = "COLLECTING" if n_used else "INSUFFICIENT_DATA"
            value = deviation = None
        out[name] = RwvapWindow(
            rwvap=value,
            status=status,
            print_count=count,
            effective_print_count=n_used,
            excluded_print_count=n_excl,
            total_volume=total_v / MICRO,
            effective_volume=(total_v - excl_v) / MICRO,
            excluded_volume=excl_v / MICRO,
            extreme_threshold=threshold,
            deviation_vs_last=deviation,
            sessions=dates,
        )
    return out


def _srpan(prints: TickPrints, config: DeeperAnalysisConfig) -> Srpan:
    s = prints.size_micros
    elig = np.flatnonzero(s >= config.micros["srpan_min_size"])[-config.srpan_prints :]
    if elig.shape[0] < config.srpan_min_prints:
        return Srpan("INSUFFICIENT_DATA", int(elig.shape[0]))
    cents = (prints.price_micros[elig] + 5_000) // 10_000  # half up on the decimal value (prices > 0)
    sizes = s[elig]
    hundred = 100 * MICRO
    q = np.where((sizes == hundred) | (sizes == 2 * hundred) | (sizes == 3 * hundred), 4, 1)  # quarters
    uc, inv = np.unique(cents, return_inverse=True)
    ranked, totals = _rank(inv, q)
    total_q = int(q.sum())
    weight_of = np.zeros(uc.shape[0], dtype=np.int64)
    weight_of[ranked] = totals
    band_c = config.micros["srpan_band"]  # compared as cents × 10,000
    gap_c = config.micros["srpan_min_gap"]
    g1 = int(uc[ranked[0]])
    dist1 = np.abs(uc - g1) * 10_000
    c1 = 100.0 * int(weight_of[dist1 <= band_c].sum()) / total_q
    candidate = dist1 >= gap_c
    cand_ranked = ranked[candidate[ranked]]  # keeps the GRPAN order: weight desc, earlier last print first
    if cand_ranked.shape[0] == 0:
        return Srpan("NO_G2", int(elig.shape[0]), total_weight=total_q / 4, g1=g1 / 100, c1=c1)
    g2 = int(uc[cand_ranked[0]])
    c2 = 100.0 * int(weight_of[candidate & (np.abs(uc - g2) * 10_000 <= band_c)].sum()) / total_q
    spread_cents = abs(g2 - g1)
    balance = max(0.0, 100.0 - abs(c1 - c2))
    total_score = min(100.0, c1 + c2)
    spread_score = min(100.0, max(0.0, 100.0 * (spread_cents * 10_000 - gap_c) / SPREAD_SCORE_RANGE_MICROS))
    return Srpan(
        "OK",
        int(elig.shape[0]),
        total_weight=total_q / 4,
        g1=g1 / 100,
        c1=c1,
        g2=g2 / 100,
        c2=c2,
        spread=spread_cents / 100,
        direction="UP" if g2 > g1 else "DOWN",
        balance_score=balance,
        total_score=total_score,
        spread_score=spread_score,
        score=0.60 * balance + 0.15 * total_score + 0.25 * spread_score,
    )


def exchange_time(ts_ns: int) -> str:
    """ISO 8601 in America/New_York with its offset (nanoseconds shown only when present)."""
    ts_ns = int(ts_ns)
    if ts_ns % 1000:
        return pd.Timestamp(ts_ns, tz="UTC").tz_convert(EXCHANGE_TZ).isoformat()
    seconds, micros = divmod(ts_ns // 1000, 1_000_000)
    local = _dt.datetime.fromtimestamp(seconds, tz=ZoneInfo(EXCHANGE_TZ)).replace(microsecond=micros)
    return local.isoformat()


def analyze(
    prints: TickPrints,
    sessions: SessionTable,
    adv: float | None,
    config: DeeperAnalysisConfig,
) -> SymbolAnalysis:
    """GRPAN, GOD, RWVAP, ROD and SRPAN for one symbol's prints.

    ``sessions`` must cover the prints (see :meth:`SessionTable.covers`); ``adv`` is the average
    daily volume in shares (None, or <= 0: no block exclusion).  Raises :class:`InvalidTicks` when
    there are no prints.
    """
    n = len(prints)
    if n == 0:
        raise InvalidTicks("no prints")
    t_first, t_last = int(prints.ts_ns[0]), int(prints.ts_ns[-1])
    if not (sessions.start_ns <= t_first and t_last < sessions.end_ns):
        raise ValueError("the session table does not cover the prints")
    sym = _Symbol(prints, sessions, config)
    last_micros = int(prints.price_micros[-1])
    last_price = last_micros / MICRO
    grpan, values = _grpan(sym, sessions, config, last_micros)
    god_inputs = [g for g in (values[w] for w in GOD_WINDOWS) if g is not None]
    god = None
    if god_inputs:
        k = len(god_inputs)
        god = (k * last_micros - sum(god_inputs)) / (k * MICRO)  # exact integers, one rounding
    rwvap = _rwvap(sym, sessions, config, adv, last_price)
    ok = [w.rwvap for w in rwvap.values() if w.status == "OK" and w.rwvap is not None]
    rod = last_price - math.fsum(ok) / len(ok) if ok else None
    return SymbolAnalysis(
        symbol=prints.symbol,
        god=god,
        rod=rod,
        grpan=grpan,
        rwvap=rwvap,
        srpan=_srpan(prints, config),
        tick_count=n,
        last_price=last_price,
        timestamp=exchange_time(t_last),
    )
