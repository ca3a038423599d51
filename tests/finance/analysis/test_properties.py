"""Properties: indicators never look ahead; portfolio contributions always add up."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quantq.finance import indicators as ind
from quantq.finance import metrics as m
from quantq.finance import portfolio as pf


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(40, 2100))
def test_indicators_do_not_look_ahead(goog_bars: dict[str, np.ndarray], cut: int) -> None:
    # every value up to bar t is the same whether or not the bars after t exist
    short = {k: v[:cut] for k, v in goog_bars.items()}
    for spec in ind.parse_specs(["RSI", "MACD", "SMA_20", "EMA_50", "BBANDS", "ATR", "STOCH", "OBV", "ADX", "ENGULFING", "MORNING_STAR"]):
        full = ind.compute(spec, goog_bars)
        part = ind.compute(spec, short)
        for name in full:
            np.testing.assert_array_equal(part[name], full[name][:cut], err_msg=f"{spec.label}.{name}")


_prices = st.integers(2, 12).flatmap(
    lambda t: st.integers(1, 4).flatmap(lambda k: arrays(np.float64, (t, k), elements=st.floats(1.0, 500.0, width=64)))
)


@settings(max_examples=80, deadline=None)
@given(prices=_prices, data=st.data())
def test_contributions_add_up(prices: np.ndarray, data: st.DataObject) -> None:
    k = prices.shape[1]
    raw = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k)))
    weights = raw / raw.sum()
    weights[-1] = 1.0 - weights[:-1].sum()  # exactly 1 in floating point, near enough
    rebalance = data.draw(st.sampled_from(["none", "every_period"]))
    h = pf.Holdings.build({f"S{i}": float(w) for i, w in enumerate(weights)}, "weights")
    res = pf.analyze_portfolio(prices, h, pf.PortfolioConfig(periods_per_year=252, rebalance=rebalance))
    total = sum(x.return_contribution for x in res.holdings)
    assert np.isclose(total, res.total_return, rtol=1e-9, atol=1e-12)
    assert np.isclose(res.total_return, m.total_return(res.values), rtol=1e-12, atol=1e-15)
    if not np.isnan(res.holdings[0].risk_contribution):
        assert np.isclose(sum(x.risk_contribution for x in res.holdings), 1.0, rtol=1e-6)
    assert np.isclose(sum(x.start_weight for x in res.holdings), 1.0)
    assert np.isclose(sum(x.end_weight for x in res.holdings), 1.0)


@settings(max_examples=40, deadline=None)
@given(prices=arrays(np.float64, st.integers(2, 15).map(lambda t: (t, 1)), elements=st.floats(1.0, 500.0, width=64)))
def test_a_single_holding_is_the_asset_itself(prices: np.ndarray) -> None:
    h = pf.Holdings.build({"A": 1.0}, "weights")
    for rebalance in ("none", "every_period"):
        res = pf.analyze_portfolio(prices, h, pf.PortfolioConfig(periods_per_year=252, rebalance=rebalance))
        np.testing.assert_allclose(res.returns, m.returns(prices[:, 0]), rtol=1e-12, atol=1e-15)
