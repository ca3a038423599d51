"""Candlestick patterns on hand-made bars, and the signals read from indicator series."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from quantq.finance import indicators as ind
from quantq.finance import technical as ta

# Ordinary candles: body 1, range 2, alternating up and down around 100, so TA-Lib's averages
# (body length, shadow length, high-low range) are known: body 1.0, range 2.0.
UP = (100.0, 101.5, 99.5, 101.0)
DN = (101.0, 101.5, 99.5, 100.0)
LONG_DOWN = (102.0, 102.2, 97.8, 98.0)  # body 4, four times the average
LONG_UP = (98.0, 102.2, 97.8, 102.0)

# (alias, candles appended after 20 ordinary ones, expected TA-Lib value on the last candle)
PATTERNS = [
    # open 100.5, close 100.52: body 0.02, at most 10 % of the average range 2.0
    ("DOJI", [UP, (100.5, 101.5, 99.5, 100.52)], 100),
    # after a down candle (low 98.5): body 0.3 < 1, lower shadow 1.6 > 1, upper 0.05 < 0.2, body near the prior low
    ("HAMMER", [DN, (100.0, 100.5, 98.5, 99.0), (98.6, 98.95, 97.0, 98.9)], 100),
    # the same shape after an up candle, body at its high (101.3 >= 101.5 - 0.4)
    ("HANGING_MAN", [UP, (101.6, 101.65, 99.8, 101.3)], -100),
    # small body gapping above the prior body (101.1 > 101.0), long upper shadow 1.7, lower 0.05
    ("SHOOTING_STAR", [UP, (101.3, 103.0, 101.05, 101.1)], -100),
    # a white body 99.8 -> 101.3 engulfing the prior black body 101 -> 100
    ("ENGULFING", [DN, (99.8, 101.5, 99.6, 101.3)], 100),
    # a black body 101.2 -> 99.7 engulfing the prior white body 100 -> 101
    ("ENGULFING", [UP, (101.2, 101.4, 99.5, 99.7)], -100),
    # a small white body 99.5 -> 100.2 inside the prior long black body 102 -> 98
    ("HARAMI", [LONG_DOWN, (99.5, 100.4, 99.3, 100.2)], 100),
    # long black, a small star gapping below it (97.5/97.3 < 98), then white closing at 100.5 > 98 + 0.3 * 4
    ("MORNING_STAR", [LONG_DOWN, (97.5, 97.7, 97.0, 97.3), (97.9, 100.7, 97.8, 100.5)], 100),
    # long white, a small star gapping above it (> 102), then black closing at 99.5 < 102 - 0.3 * 4
    ("EVENING_STAR", [LONG_UP, (102.5, 103.0, 102.3, 102.7), (102.3, 102.4, 99.3, 99.5)], -100),
]


def _bars(candles: list[tuple[float, float, float, float]]) -> dict[str, np.ndarray]:
    o, h, lo, c = (np.array(x, dtype=np.float64) for x in zip(*candles, strict=True))
    return {"open": o, "high": h, "low": lo, "close": c, "volume": np.full(len(c), 1000.0)}


def _ordinary(n: int = 20) -> list[tuple[float, float, float, float]]:
    return [UP if i % 2 == 0 else DN for i in range(n)]


@pytest.mark.parametrize(("alias", "extra", "value"), PATTERNS, ids=[f"{p[0]}{p[2]:+d}" for p in PATTERNS])
def test_pattern_found_on_the_last_bar_only(alias: str, extra: list[Any], value: int) -> None:
    bars = _bars(_ordinary() + extra)
    spec = ind.parse_spec(alias)
    out = ind.compute(spec, bars)["integer"]
    assert out[-1] == value
    assert np.count_nonzero(out[:-1]) == 0  # nothing on the ordinary candles or the set-up candles
    result = ta.analyze(bars, [spec])
    assert [(p.pattern, p.bars_ago, p.value) for p in result.patterns] == [(spec.name, 0, value)]
    expected_bias = "neutral" if alias == "DOJI" else "bullish" if value > 0 else "bearish"
    assert result.patterns[0].bias == expected_bias


def test_ordinary_candles_show_no_pattern() -> None:
    result = ta.analyze(_bars(_ordinary(30)), ind.parse_specs(["PATTERNS"]), ta.SignalConfig(pattern_bars=10))
    assert [p.pattern for p in result.patterns] == []


def test_pattern_bars_reaches_back() -> None:
    bars = _bars(_ordinary() + [DN, (99.8, 101.5, 99.6, 101.3), UP, DN])
    spec = ind.parse_spec("ENGULFING")
    assert ta.analyze(bars, [spec]).patterns == ()
    hits = ta.analyze(bars, [spec], ta.SignalConfig(pattern_bars=3)).patterns
    assert [(h.bar, h.bars_ago, h.value) for h in hits] == [(21, 2, 100)]
    times = np.arange("2024-01-01", "2024-01-25", dtype="datetime64[D]")
    hits = ta.analyze(bars, [spec], ta.SignalConfig(pattern_bars=3), times=times).patterns
    assert hits[0].time == "2024-01-22"


def _trend(n: int, step: float) -> dict[str, np.ndarray]:
    c = 100.0 + step * np.arange(n) + 0.3 * np.sin(np.arange(n))
    return {"open": c - 0.1, "high": c + 0.5, "low": c - 0.5, "close": c, "volume": np.full(n, 1e6)}


def _signal(result: ta.TechnicalResult, label: str) -> ta.Signal:
    return next(s for s in result.signals if s.indicator == label)


def test_rising_series_reads_overbought_and_above_averages() -> None:
    res = ta.analyze(_trend(120, 1.0), ind.parse_specs(["RSI", "SMA_20", "EMA_50", "STOCH", "ADX", "BBANDS"]))
    rsi = _signal(res, "RSI")
    assert rsi.state == "overbought" and rsi.bias == "bearish" and rsi.value is not None and rsi.value >= 70
    assert _signal(res, "SMA_20").state == "price_above" and _signal(res, "SMA_20").bias == "bullish"
    assert _signal(res, "EMA_50").state == "price_above"
    assert _signal(res, "ADX").state == "trending"
    assert res.summary()["bullish"] >= 2


def test_falling_series_reads_oversold_and_below_averages() -> None:
    res = ta.analyze(_trend(120, -0.5), ind.parse_specs(["RSI", "SMA_20"]))
    assert _signal(res, "RSI").state == "oversold" and _signal(res, "RSI").bias == "bullish"
    assert _signal(res, "SMA_20").state == "price_below"


def test_thresholds_come_from_the_config() -> None:
    bars = _trend(120, 1.0)
    value = _signal(ta.analyze(bars, ind.parse_specs(["RSI"])), "RSI").value
    assert value is not None
    cfg = ta.SignalConfig(rsi_overbought=value + 0.1)
    assert _signal(ta.analyze(bars, ind.parse_specs(["RSI"]), cfg), "RSI").state == "neutral"
    with pytest.raises(ValueError, match="extra"):
        ta.SignalConfig(rsi_high=80)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="below"):
        ta.SignalConfig(rsi_oversold=80, rsi_overbought=70)


def test_macd_cross_is_read_on_the_bar_it_happens(goog_bars: dict[str, np.ndarray]) -> None:
    spec = ind.parse_spec("MACD")
    full = ind.compute(spec, goog_bars)
    diff = full["macd"] - full["macdsignal"]
    # crosses not followed by another cross on the next bar
    ups = [i for i in range(40, len(diff) - 1) if diff[i - 1] <= 0 < diff[i] and diff[i + 1] > 0]
    downs = [i for i in range(40, len(diff) - 1) if diff[i - 1] >= 0 > diff[i] and diff[i + 1] < 0]
    assert ups and downs

    def state_at(i: int) -> str:
        bars = {k: v[: i + 1] for k, v in goog_bars.items()}
        return _signal(ta.analyze(bars, [spec]), "MACD").state

    assert state_at(ups[0]) == "bullish_cross"
    assert state_at(downs[0]) == "bearish_cross"
    assert state_at(ups[0] + 1) == "above_signal"  # the bar after a cross is not a cross
    assert state_at(downs[0] + 1) == "below_signal"


def test_price_crossing_its_average(goog_bars: dict[str, np.ndarray]) -> None:
    spec = ind.parse_spec("SMA_20")
    sma = ind.compute(spec, goog_bars)["real"]
    c = goog_bars["close"]
    i = next(i for i in range(25, len(c)) if c[i - 1] <= sma[i - 1] and c[i] > sma[i])
    bars = {k: v[: i + 1] for k, v in goog_bars.items()}
    sig = _signal(ta.analyze(bars, [spec]), "SMA_20")
    assert sig.state == "price_crossed_above" and sig.value == pytest.approx(sma[i], rel=1e-12)


def test_bollinger_position(goog_bars: dict[str, np.ndarray]) -> None:
    spec = ind.parse_spec("BBANDS")
    bands = ind.compute(spec, goog_bars)
    c = goog_bars["close"]
    i = next(i for i in range(30, len(c)) if c[i] > bands["upperband"][i])
    sig = _signal(ta.analyze({k: v[: i + 1] for k, v in goog_bars.items()}, [spec]), "BBANDS")
    up, lo = bands["upperband"][i], bands["lowerband"][i]
    assert sig.state == "above_upper" and sig.value == pytest.approx((c[i] - lo) / (up - lo), rel=1e-12)


def test_latest_values_are_the_last_bar_and_warm_up_is_insufficient_data(goog_bars: dict[str, np.ndarray]) -> None:
    specs = ind.parse_specs(["RSI", "MACD", "SMA_20", "OBV", "ATR"])
    res = ta.analyze(goog_bars, specs)
    j = res.to_json()
    for spec in specs:
        for name, series in ind.compute(spec, goog_bars).items():
            assert j["latest"][spec.label][name] == pytest.approx(float(series[-1]), rel=1e-15)
    assert "series" not in j["indicators"][0]
    short = ta.analyze({k: v[:15] for k, v in goog_bars.items()}, specs)
    states = {s.indicator: s.state for s in short.signals}
    # 15 bars: RSI (lookback 14) has its first value on the last bar; MACD (33) and SMA_20 (19) have none
    assert states["MACD"] == "insufficient_data" and states["SMA_20"] == "insufficient_data"
    assert states["RSI"] != "insufficient_data"
    assert short.to_json()["latest"]["SMA_20"]["real"] is None


def test_to_json_with_series_is_strict_json(goog_bars: dict[str, np.ndarray]) -> None:
    bars = {k: v[:100] for k, v in goog_bars.items()}
    res = ta.analyze(bars, ind.parse_specs(["SMA_20", "DOJI"]), times=np.arange(100).astype("datetime64[D]"))
    j = res.to_json(include_series=True)
    text = json.dumps(j, allow_nan=False)
    series = json.loads(text)["indicators"][0]["series"]["real"]
    assert len(series) == 100 and series[:19] == [None] * 19 and series[19] == pytest.approx(float(np.mean(bars["close"][:20])))
    assert j["last_time"] == "1970-04-10"


def test_missing_or_bad_columns_fail_fast() -> None:
    with pytest.raises(ind.IndicatorError, match="lack the 'high'"):
        ta.analyze({"close": np.ones(50)}, ind.parse_specs(["ATR"]))
    bars = _trend(50, 1.0)
    bars["close"] = bars["close"].copy()
    bars["close"][-1] = np.inf
    with pytest.raises(ind.IndicatorError, match="NaN or infinite"):
        ta.analyze(bars, ind.parse_specs(["RSI"]))
    with pytest.raises(ind.IndicatorError, match="times has 3"):
        ta.analyze(_trend(50, 1.0), ind.parse_specs(["RSI"]), times=np.zeros(3, dtype="datetime64[D]"))


def test_result_series_are_read_only(goog_bars: dict[str, np.ndarray]) -> None:
    res = ta.analyze({k: v[:50] for k, v in goog_bars.items()}, ind.parse_specs(["SMA_5"]))
    with pytest.raises(ValueError, match="read-only"):
        res.indicators[0].series["real"][10] = 0.0
