"""The registry wraps TA-Lib faithfully: values, parameters and warm-up (lookback) on real GOOG bars."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import talib
from talib import abstract

from quantq.finance import indicators as ind


def _leading_nans(a: np.ndarray) -> int:
    finite = ~np.isnan(a)
    return int(np.argmax(finite)) if finite.any() else len(a)


# (request, direct TA-Lib call on o/h/l/c/v): the registry must give exactly the same arrays
CASES: list[tuple[Any, Any]] = [
    ("RSI", lambda o, h, lo, c, v: [talib.RSI(c, timeperiod=14)]),
    ("RSI_7", lambda o, h, lo, c, v: [talib.RSI(c, timeperiod=7)]),
    ({"name": "rsi", "timeperiod": 21}, lambda o, h, lo, c, v: [talib.RSI(c, timeperiod=21)]),
    ("MACD", lambda o, h, lo, c, v: list(talib.MACD(c, 12, 26, 9))),
    ("MACD_5_35_5", lambda o, h, lo, c, v: list(talib.MACD(c, fastperiod=5, slowperiod=35, signalperiod=5))),
    ("SMA_20", lambda o, h, lo, c, v: [talib.SMA(c, 20)]),
    ("SMA_200", lambda o, h, lo, c, v: [talib.SMA(c, 200)]),
    ("EMA_50", lambda o, h, lo, c, v: [talib.EMA(c, 50)]),
    ("BBANDS", lambda o, h, lo, c, v: list(talib.BBANDS(c, 20, 2.0, 2.0, 0))),
    ("BOLLINGER_10_1.5_2.5_1", lambda o, h, lo, c, v: list(talib.BBANDS(c, 10, 1.5, 2.5, 1))),
    ("ATR", lambda o, h, lo, c, v: [talib.ATR(h, lo, c, 14)]),
    ("ATR_5", lambda o, h, lo, c, v: [talib.ATR(h, lo, c, 5)]),
    ("STOCH", lambda o, h, lo, c, v: list(talib.STOCH(h, lo, c))),
    (
        {"name": "STOCHASTIC", "params": {"fastk_period": 14, "slowd_period": 5}},
        lambda o, h, lo, c, v: list(talib.STOCH(h, lo, c, fastk_period=14, slowk_period=3, slowd_period=5)),
    ),
    ("OBV", lambda o, h, lo, c, v: [talib.OBV(c, v)]),
    ("ADX", lambda o, h, lo, c, v: [talib.ADX(h, lo, c, 14)]),
    ("ADX_20", lambda o, h, lo, c, v: [talib.ADX(h, lo, c, 20)]),
    ("DOJI", lambda o, h, lo, c, v: [talib.CDLDOJI(o, h, lo, c)]),
    ("HAMMER", lambda o, h, lo, c, v: [talib.CDLHAMMER(o, h, lo, c)]),
    ("MORNING_STAR_0.5", lambda o, h, lo, c, v: [talib.CDLMORNINGSTAR(o, h, lo, c, penetration=0.5)]),
]


@pytest.mark.parametrize(("request_", "direct"), CASES, ids=[str(c[0]) for c in CASES])
def test_registry_equals_direct_talib_call(goog_bars: dict[str, np.ndarray], request_: Any, direct: Any) -> None:
    spec = ind.parse_spec(request_)
    got = ind.compute(spec, goog_bars)
    b = goog_bars
    want = direct(b["open"], b["high"], b["low"], b["close"], b["volume"])
    assert list(got) == list(spec.definition.outputs)
    assert len(got) == len(want)
    for (name, g), w in zip(got.items(), want, strict=True):
        assert g.shape == (len(b["close"]),)
        np.testing.assert_array_equal(g, w, err_msg=f"{spec.label}.{name}")
        if g.dtype.kind == "f":
            # the warm-up is exactly TA-Lib's lookback for these parameters, and nothing after it is NaN
            assert _leading_nans(g) == spec.lookback, name
            assert not np.isnan(g[spec.lookback :]).any()
        assert np.count_nonzero(np.nan_to_num(g)) > 0  # something was computed


def test_every_registered_function_matches_the_abstract_api(goog_bars: dict[str, np.ndarray]) -> None:
    assert len(ind.REGISTRY) >= 150
    for name in ind.REGISTRY:
        spec = ind.make_spec(name)
        got = ind.compute(spec, goog_bars)
        ref = abstract.Function(name)(dict(goog_bars))
        ref = ref if isinstance(ref, list) else [ref]
        assert len(got) == len(ref), name
        for (out, g), r in zip(got.items(), ref, strict=True):
            np.testing.assert_array_equal(g, np.asarray(r), err_msg=f"{name}.{out}")
            if g.dtype.kind == "f":
                assert _leading_nans(g) == spec.lookback, f"{name}.{out}"


def test_lookback_follows_parameters() -> None:
    assert ind.parse_spec("SMA_20").lookback == 19
    assert ind.parse_spec("SMA_50").lookback == 49
    assert ind.parse_spec("RSI").lookback == 14
    assert ind.parse_spec("MACD").lookback == 33  # 26 - 1 + 9 - 1
    assert ind.parse_spec("MACD_5_35_5").lookback == 38  # 35 - 1 + 5 - 1


def test_short_history_is_all_warm_up(goog_bars: dict[str, np.ndarray]) -> None:
    short = {k: v[:10] for k, v in goog_bars.items()}
    out = ind.compute(ind.parse_spec("SMA_20"), short)
    assert np.isnan(out["real"]).all()


def test_registry_lists_the_required_indicators_and_patterns() -> None:
    for name in ("RSI", "MACD", "SMA", "EMA", "BBANDS", "ATR", "STOCH", "OBV", "ADX"):
        assert name in ind.REGISTRY and not ind.REGISTRY[name].is_pattern
    for alias, name in [("DOJI", "CDLDOJI"), ("HAMMER", "CDLHAMMER"), ("ENGULFING", "CDLENGULFING"),
                        ("SHOOTING_STAR", "CDLSHOOTINGSTAR"), ("MORNING_STAR", "CDLMORNINGSTAR"),
                        ("EVENING_STAR", "CDLEVENINGSTAR"), ("HANGING_MAN", "CDLHANGINGMAN"), ("HARAMI", "CDLHARAMI")]:
        assert ind.resolve(alias).name == name and ind.REGISTRY[name].is_pattern
    assert len(ind.names(patterns=True)) == 61
    assert "ADD" not in ind.REGISTRY and "MAVP" not in ind.REGISTRY  # arithmetic / non-bar inputs left out
    macd = ind.REGISTRY["MACD"].to_json()
    assert macd["inputs"] == ["close"] and macd["outputs"] == ["macd", "macdsignal", "macdhist"]
    assert macd["params"] == {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9} and macd["lookback"] == 33
    assert ind.REGISTRY["OBV"].inputs == ("close", "volume")


def test_labels_are_canonical_and_parseable() -> None:
    assert ind.parse_spec("sma_20").label == "SMA_20"
    assert ind.parse_spec({"name": "SMA", "timeperiod": 20}).label == "SMA_20"
    assert ind.parse_spec({"name": "SMA", "timeperiod": 30}).label == "SMA"  # the default
    assert ind.parse_spec({"name": "MACD", "slowperiod": 30}).label == "MACD_12_30"
    assert ind.parse_spec("MACD_12_30") == ind.parse_spec({"name": "MACD", "slowperiod": 30})
    assert ind.parse_spec({"name": "RSI", "label": "rsi fast", "timeperiod": 5}).label == "rsi fast"
    assert ind.parse_spec("LINEARREG_SLOPE_5").params == {"timeperiod": 5}
    assert ind.parse_spec({"name": "BBANDS", "nbdevup": 3}).params["nbdevup"] == 3.0
    expanded = ind.parse_specs(["RSI", "PATTERNS"])
    assert len(expanded) == 62 and expanded[1].name.startswith("CDL")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ("FOO", r"unknown indicator 'FOO'; known indicators: .*RSI.*CDLHAMMER.*HAMMER"),
        ("", "non-empty"),
        ({"timeperiod": 3}, "needs a 'name'"),
        (42, "a string like 'SMA_20'"),
        ({"name": "RSI", "period": 3}, r"unknown parameter\(s\) period; valid parameters \(defaults\): timeperiod=14"),
        ("RSI_1", "TA-Lib rejects parameters timeperiod=1"),
        ("RSI_100001", "TA-Lib rejects"),
        ({"name": "BBANDS", "matype": 99}, "TA-Lib rejects"),
        ("SMA_20_3", r"SMA takes at most 1 parameter\(s\) \(timeperiod\), got 2"),
        ("SMA_2.5", "whole number"),
        ("SMA_X", "must be a number"),
        ({"name": "RSI", "timeperiod": True}, "must be a number"),
        ({"name": "RSI", "timeperiod": float("nan")}, "finite"),
        ({"name": "RSI", "params": [1]}, "'params' must be a mapping"),
        ({"name": "RSI", "label": ""}, "label"),
    ],
)
def test_bad_requests_give_clear_errors(request_: Any, message: str) -> None:
    with pytest.raises(ind.IndicatorError, match=message):
        ind.parse_spec(request_)


def test_duplicate_labels_are_rejected() -> None:
    with pytest.raises(ind.IndicatorError, match="repeated: SMA_20"):
        ind.parse_specs(["SMA_20", {"name": "SMA", "timeperiod": 20}])


def test_bad_bars_are_rejected_not_repaired(goog_bars: dict[str, np.ndarray]) -> None:
    bars = {k: v[:50].copy() for k, v in goog_bars.items()}
    bars["close"][10] = np.nan
    with pytest.raises(ind.IndicatorError, match="'close' contains NaN"):
        ind.prepare_bars(bars)
    with pytest.raises(ind.IndicatorError, match="lack the 'volume'"):
        ind.prepare_bars({"close": np.ones(3)}, ("close", "volume"))
    with pytest.raises(ind.IndicatorError, match="differ in length"):
        ind.prepare_bars({"close": np.ones(3), "high": np.ones(4)}, ("high", "close"))
    with pytest.raises(ind.IndicatorError, match="needs bar column 'high'"):
        ind.compute(ind.parse_spec("ATR"), {"close": np.ones(30)})


def test_inputs_are_not_mutated(goog_bars: dict[str, np.ndarray]) -> None:
    before = {k: v.copy() for k, v in goog_bars.items()}
    prepared = ind.prepare_bars(goog_bars)
    for spec in ind.parse_specs(["RSI", "MACD", "BBANDS", "ATR", "STOCH", "OBV", "ADX", "PATTERNS"]):
        ind.compute(spec, prepared)
    for k, v in before.items():
        np.testing.assert_array_equal(goog_bars[k], v)
