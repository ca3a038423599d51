"""Comparison helpers for the analysis tests: relative tolerance, NaN equal only to NaN, JSON trees field by field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

REL = 1e-9


def assert_close(actual: Any, expected: Any, rel: float = REL, abs_tol: float = 0.0, what: str = "value") -> None:
    """Equal within ``rel`` (relative) or ``abs_tol``; NaN/None only match NaN/None; shapes must agree."""
    a = np.asarray(np.nan if actual is None else actual, dtype=np.float64)
    e = np.asarray(np.nan if expected is None else expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected {e.shape}")
    a_nan, e_nan = np.isnan(a), np.isnan(e)
    if not np.array_equal(a_nan, e_nan):
        raise AssertionError(f"{what}: NaN positions differ: {actual!r} vs expected {expected!r}")
    ok = ~a_nan
    diff = np.abs(a[ok] - e[ok])
    allowed = np.maximum(rel * np.abs(e[ok]), abs_tol)
    bad = diff > allowed
    if np.any(bad) or not np.array_equal(np.isinf(a[ok]), np.isinf(e[ok])):
        i = int(np.argmax(bad)) if np.any(bad) else 0
        raise AssertionError(
            f"{what}: {a[ok][i]!r} != expected {e[ok][i]!r} (diff {diff[i]:.3g} > allowed {allowed[i]:.3g}, rel={rel:g})"
        )


def assert_json_close(actual: Any, expected: Any, rel: float = REL, path: str = "$") -> None:
    """Walk two JSON trees: same keys, same list lengths, numbers within ``rel``, everything else equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            raise AssertionError(f"{path}: keys {sorted(actual) if isinstance(actual, dict) else actual!r} != {sorted(expected)}")
        for k in expected:
            assert_json_close(actual[k], expected[k], rel, f"{path}.{k}")
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            raise AssertionError(f"{path}: list of {len(actual) if isinstance(actual, list) else actual!r} != {len(expected)}")
        for i, (x, y) in enumerate(zip(actual, expected, strict=True)):
            assert_json_close(x, y, rel, f"{path}[{i}]")
    elif isinstance(expected, bool) or isinstance(actual, bool) or isinstance(expected, str) or expected is None and not isinstance(actual, float):
        if actual != expected or type(actual) is not type(expected):
            raise AssertionError(f"{path}: {actual!r} != expected {expected!r}")
    elif isinstance(expected, (int, float)):
        if not isinstance(actual, (int, float)) or (isinstance(actual, float) and math.isnan(actual) != math.isnan(float(expected))):
            raise AssertionError(f"{path}: {actual!r} != expected {expected!r}")
        assert_close(actual, expected, rel, what=path)
    else:
        raise AssertionError(f"{path}: cannot compare {type(expected).__name__}")
