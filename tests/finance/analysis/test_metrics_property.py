"""Hypothesis: each column of a 2-D call equals the 1-D call on that column; inputs are never mutated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quantq.finance import metrics as m

RETURN_FUNCS: dict[str, Callable[[np.ndarray], Any]] = {
    "sharpe": lambda r: m.sharpe_ratio(r, 252, 0.02),
    "sortino": lambda r: m.sortino_ratio(r, 52, 0.01),
    "sharpe_geometric": lambda r: m.sharpe_ratio_geometric(r, 12),
    "volatility": lambda r: m.volatility(r, 365),
    "annual_return": lambda r: m.annual_return(r, 252),
    "var_historical": lambda r: m.var_historical(r, 0.9),
    "cvar_historical": lambda r: m.cvar_historical(r, 0.9),
    "var_parametric": lambda r: m.var_parametric(r),
    "cvar_parametric": lambda r: m.cvar_parametric(r),
    "win_rate": m.win_rate,
}
EQUITY_FUNCS: dict[str, Callable[[np.ndarray], Any]] = {
    "total_return": m.total_return,
    "max_drawdown": m.max_drawdown,
    "max_drawdown_duration": m.max_drawdown_duration,
    "calmar": lambda e: m.calmar_ratio(e, 252),
    "returns": m.returns,
    "drawdown": m.drawdown,
}

_rets = st.integers(0, 25).flatmap(
    lambda t: st.integers(1, 4).flatmap(
        lambda k: arrays(np.float64, (t, k), elements=st.floats(-0.5, 0.5, allow_nan=False, width=64))
    )
)
_equity = st.integers(0, 25).flatmap(
    lambda t: st.integers(1, 4).flatmap(lambda k: arrays(np.float64, (t, k), elements=st.floats(1.0, 1000.0, width=64)))
)


def _same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True))


@settings(max_examples=60, deadline=None)
@given(_rets)
def test_return_stats_2d_columns_equal_1d(r: np.ndarray) -> None:
    before = r.copy()
    for name, fn in RETURN_FUNCS.items():
        wide = fn(r)
        assert np.shape(wide) == (r.shape[1],), name
        for k in range(r.shape[1]):
            assert _same(wide[k], fn(r[:, k].copy())), name
        assert not np.any(np.isinf(wide)), name
    assert np.array_equal(r, before)


@settings(max_examples=60, deadline=None)
@given(_rets)
def test_paired_stats_2d_columns_equal_1d(r: np.ndarray) -> None:
    b = r[:, 0].copy() * 0.5 + np.linspace(-0.01, 0.01, r.shape[0])
    for fn in (m.beta, m.correlation):
        wide = fn(r, b)
        for k in range(r.shape[1]):
            assert _same(wide[k], fn(r[:, k].copy(), b))


@settings(max_examples=60, deadline=None)
@given(_equity)
def test_equity_stats_2d_columns_equal_1d(e: np.ndarray) -> None:
    before = e.copy()
    for name, fn in EQUITY_FUNCS.items():
        wide = fn(e)
        for k in range(e.shape[1]):
            one = fn(e[:, k].copy())
            col = wide[:, k] if np.ndim(wide) == 2 else wide[k]
            assert _same(col, one), name
    episodes = m.drawdown_episode(e)
    assert [ep.to_json() for ep in episodes] == [m.drawdown_episode(e[:, k]).to_json() for k in range(e.shape[1])]
    assert np.array_equal(e, before)


@settings(max_examples=60, deadline=None)
@given(_equity)
def test_drawdown_is_within_minus_one_and_zero(e: np.ndarray) -> None:
    mdd = np.atleast_1d(m.max_drawdown(e))
    ok = ~np.isnan(mdd)
    assert np.all((mdd[ok] >= -1) & (mdd[ok] <= 0))
