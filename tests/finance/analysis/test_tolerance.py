from __future__ import annotations

import math

import numpy as np
import pytest

from .tolerance import assert_close, assert_json_close


def test_assert_close_accepts_equal_and_within_tolerance() -> None:
    assert_close(1.0, 1.0)
    assert_close(1.0 + 1e-12, 1.0)
    assert_close([1.0, math.nan], [1.0, math.nan])
    assert_close(None, math.nan)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (1.0, 1.0 + 1e-6),  # outside rel 1e-9
        (0.0, 1e-300),  # zero against a tiny number: relative tolerance of a tiny number
        (math.nan, 1.0),
        (1.0, math.nan),
        (math.inf, 1.0),
        ([1.0, 2.0], [1.0, 2.0, 3.0]),
        ([1.0, 2.0], [1.0, 2.1]),
        (-1.0, 1.0),
    ],
)
def test_assert_close_rejects_unequal_numbers(actual: object, expected: object) -> None:
    with pytest.raises(AssertionError):
        assert_close(actual, expected)


def test_assert_json_close_rejects_unequal_trees() -> None:
    good = {"a": 1.0, "b": [1, None, "x"], "c": {"d": True}}
    assert_json_close({"a": 1.0 + 1e-13, "b": [1, None, "x"], "c": {"d": True}}, good)
    for bad in (
        {"a": 1.1, "b": [1, None, "x"], "c": {"d": True}},
        {"a": 1.0, "b": [1, 0.0, "x"], "c": {"d": True}},
        {"a": 1.0, "b": [1, None, "y"], "c": {"d": True}},
        {"a": 1.0, "b": [1, None], "c": {"d": True}},
        {"a": 1.0, "b": [1, None, "x"], "c": {"d": False}},
        {"a": 1.0, "b": [1, None, "x"], "c": {"d": True}, "e": 1},
        {"a": 1.0, "b": [1, None, "x"], "c": {"d": 1}},
    ):
        with pytest.raises(AssertionError):
            assert_json_close(bad, good)


def test_assert_close_reports_where() -> None:
    with pytest.raises(AssertionError, match="sharpe"):
        assert_close(np.float64(2.0), 3.0, what="sharpe")
