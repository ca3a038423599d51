"""Shared input handling for the metrics: 1-D/2-D shapes, the NaN rules, time arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NS_PER_DAY = 86_400 * 1_000_000_000
DAYS_PER_YEAR = 365.25


def as_2d(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """Return ``x`` as a float64 (T, K) array and whether it was 1-D; time runs along axis 0."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from None
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim == 2:
        # column-major, so each column is contiguous and reduces exactly like the 1-D call on it
        return np.asfortranarray(a), False
    raise ValueError(f"{name} must be 1-D (T,) or 2-D (T, K), got shape {a.shape}")


def finish(values: np.ndarray, was_1d: bool) -> float | np.ndarray:
    """Map every non-finite value to NaN (the rule: never inf) and unwrap 1-D results to a float."""
    out = np.asarray(values, dtype=np.float64)
    out = np.where(np.isfinite(out), out, np.nan)
    return float(out[0]) if was_1d else out


def check_periods(periods_per_year: float) -> float:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, (int, float, np.integer, np.floating)):
        raise TypeError(f"periods_per_year must be a number, got {periods_per_year!r}")
    n = float(periods_per_year)
    if not math.isfinite(n) or n <= 0:
        raise ValueError(f"periods_per_year must be a positive number (252, 365, 52, 12...), got {periods_per_year!r}")
    return n


def check_rate(risk_free_rate: float) -> float:
    rf = float(risk_free_rate)
    if not math.isfinite(rf) or rf <= -1:
        raise ValueError(f"risk_free_rate is an annual fraction greater than -1, got {risk_free_rate!r}")
    return rf


def check_confidence(confidence: float) -> float:
    c = float(confidence)
    if not (0.0 < c < 1.0):
        raise ValueError(f"confidence must be a fraction strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")
    return c


def per_period_rate(risk_free_rate: float, periods_per_year: float) -> float:
    """The annual rate ``rf`` as a per-period rate: ``(1 + rf)^(1/N) - 1``."""
    return (1.0 + check_rate(risk_free_rate)) ** (1.0 / check_periods(periods_per_year)) - 1.0


def all_equal(a: np.ndarray) -> np.ndarray:
    """Per column: every observation equal to the first (an exactly zero spread, NaN never equal)."""
    if a.shape[0] == 0:
        return np.ones(a.shape[1], dtype=bool)
    return np.all(a == a[:1], axis=0)


def times_ns(times: Any, length: int) -> np.ndarray:
    """Times as int64 nanoseconds since the epoch (only differences are used, so the zone is immaterial)."""
    import pandas as pd

    try:
        idx = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"times must be datetimes: {exc}") from None
    if len(idx) != length:
        raise ValueError(f"times has {len(idx)} entries but the series has {length}")
    if idx.hasnans:
        raise ValueError("times contains missing values")
    return np.asarray(idx.as_unit("ns").asi8, dtype=np.int64)
