"""Technical analysis of one symbol's bars: indicator series, latest values, a signals summary.

Pure: arrays in, a frozen :class:`TechnicalResult` out.  Every number comes from TA-Lib
through :mod:`quantq.finance.indicators`; this module only reads the finished series
(thresholds, crosses on the last bar, patterns seen on the last bars).

Signal conventions (each signal carries a ``bias``):
- RSI / MFI / Stochastic / Williams %R / CCI above the upper threshold: ``overbought``
  (bias bearish); below the lower one: ``oversold`` (bias bullish); else ``neutral``.
- MACD line crossing its signal line on the last bar: ``bullish_cross`` / ``bearish_cross``,
  otherwise ``above_signal`` / ``below_signal`` (bias bullish / bearish).
- Moving averages: close ``above`` / ``below`` the average, ``crossed_above`` / ``crossed_below``
  when that changed on the last bar.
- Bollinger Bands: close ``above_upper`` (bearish), ``below_lower`` (bullish) or ``inside``.
- ADX at or above ``adx_trend``: ``trending``, else ``ranging`` (no bias: ADX has no direction).
- Candlestick patterns: every non-zero output on the last ``pattern_bars`` bars; a positive
  value is bullish, a negative one bearish, except the doji family (TA-Lib always reports +100
  for those), which is neutral.
An indicator still inside its warm-up on the last bar gives ``insufficient_data``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pydantic

from quantq.finance import indicators as ind

_MOVING_AVERAGES = frozenset({"SMA", "EMA", "WMA", "DEMA", "TEMA", "TRIMA", "KAMA", "MA", "T3", "MAMA", "HT_TRENDLINE", "MIDPOINT", "MIDPRICE"})
_MACDS = frozenset({"MACD", "MACDEXT", "MACDFIX"})
# TA-Lib reports these with +100 whatever the direction: indecision candles, no bias
_NEUTRAL_PATTERNS = frozenset({"CDLDOJI", "CDLDRAGONFLYDOJI", "CDLGRAVESTONEDOJI", "CDLLONGLEGGEDDOJI", "CDLRICKSHAWMAN"})


class SignalConfig(pydantic.BaseModel):
    """Thresholds for the signals summary; unknown fields are rejected."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    rsi_overbought: float = 70.0
    rsi_oversold: float = 30.0
    stoch_overbought: float = 80.0
    stoch_oversold: float = 20.0
    mfi_overbought: float = 80.0
    mfi_oversold: float = 20.0
    willr_overbought: float = -20.0
    willr_oversold: float = -80.0
    cci_overbought: float = 100.0
    cci_oversold: float = -100.0
    adx_trend: float = 25.0
    pattern_bars: int = pydantic.Field(default=1, ge=1, le=50)  #: how many last bars to report patterns on

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> SignalConfig:
        for low, high in (
            ("rsi_oversold", "rsi_overbought"),
            ("stoch_oversold", "stoch_overbought"),
            ("mfi_oversold", "mfi_overbought"),
            ("willr_oversold", "willr_overbought"),
            ("cci_oversold", "cci_overbought"),
        ):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"{low} must be below {high}")
        return self


def _num(x: Any) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


@dataclasses.dataclass(frozen=True)
class IndicatorResult:
    """One computed indicator: its full series per output and the value on the last bar."""

    label: str
    name: str
    params: Mapping[str, int | float]
    lookback: int
    series: Mapping[str, np.ndarray]

    @property
    def latest(self) -> dict[str, float | None]:
        return {k: (_num(v[-1]) if len(v) else None) for k, v in self.series.items()}

    def to_json(self, include_series: bool = False, series_bars: int | None = None) -> dict[str, Any]:
        """``series_bars`` keeps only the last N values of each series (all when None)."""
        out: dict[str, Any] = {
            "label": self.label,
            "name": self.name,
            "params": dict(self.params),
            "lookback": self.lookback,
            "latest": self.latest,
        }
        if include_series:
            cut = slice(-series_bars, None) if series_bars else slice(None)
            out["series"] = {k: [_num(x) for x in v[cut].tolist()] for k, v in self.series.items()}
        return out


@dataclasses.dataclass(frozen=True)
class Signal:
    """A reading of one indicator on the last bar."""

    indicator: str  #: the indicator's label
    kind: str  #: oscillator, macd, moving_average, bollinger, trend_strength
    state: str
    bias: str  #: bullish, bearish or neutral
    value: float | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PatternHit:
    """A candlestick pattern TA-Lib reports on one of the last bars."""

    indicator: str
    pattern: str  #: TA-Lib name, e.g. CDLHAMMER
    display_name: str
    bar: int  #: bar index from the start of the series
    bars_ago: int  #: 0 = the last bar
    time: str | None  #: ISO time of that bar, when times were given
    value: int  #: TA-Lib's output: +100/+200 bullish, -100/-200 bearish
    bias: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TechnicalResult:
    """Indicators, signals and pattern hits for one symbol's bars."""

    bars: int
    last_close: float | None
    last_time: str | None
    indicators: tuple[IndicatorResult, ...]
    signals: tuple[Signal, ...]
    patterns: tuple[PatternHit, ...]

    def summary(self) -> dict[str, Any]:
        biases = [s.bias for s in self.signals] + [p.bias for p in self.patterns]
        return {
            "bullish": biases.count("bullish"),
            "bearish": biases.count("bearish"),
            "neutral": biases.count("neutral"),
        }

    def to_json(self, include_series: bool = False, series_bars: int | None = None) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "last_close": self.last_close,
            "last_time": self.last_time,
            "latest": {r.label: r.latest for r in self.indicators if not ind.REGISTRY[r.name].is_pattern},
            "indicators": [r.to_json(include_series, series_bars) for r in self.indicators],
            "signals": [s.to_json() for s in self.signals],
            "patterns": [p.to_json() for p in self.patterns],
            "summary": self.summary(),
        }


def _threshold_signal(label: str, value: float, low: float, high: float) -> Signal:
    if not math.isfinite(value):
        return Signal(label, "oscillator", "insufficient_data", "neutral", None)
    if value >= high:
        return Signal(label, "oscillator", "overbought", "bearish", value)
    if value <= low:
        return Signal(label, "oscillator", "oversold", "bullish", value)
    return Signal(label, "oscillator", "neutral", "neutral", value)


def _cross_state(a: np.ndarray, b: np.ndarray) -> tuple[str, float] | None:
    """Position of ``a`` against ``b`` on the last bar, and whether it changed from the bar before."""
    if len(a) == 0 or not (math.isfinite(a[-1]) and math.isfinite(b[-1])):
        return None
    now = a[-1] - b[-1]
    before = a[-2] - b[-2] if len(a) >= 2 and math.isfinite(a[-2]) and math.isfinite(b[-2]) else None
    if before is not None and before <= 0 < now:
        return "crossed_above", now
    if before is not None and before >= 0 > now:
        return "crossed_below", now
    return ("above" if now > 0 else "below" if now < 0 else "equal"), now


def _signals_for(res: IndicatorResult, close: np.ndarray, cfg: SignalConfig) -> list[Signal]:
    s = res.series
    name = res.name
    last = {k: (float(v[-1]) if len(v) else math.nan) for k, v in s.items()}
    if name == "RSI":
        return [_threshold_signal(res.label, last["real"], cfg.rsi_oversold, cfg.rsi_overbought)]
    if name == "MFI":
        return [_threshold_signal(res.label, last["real"], cfg.mfi_oversold, cfg.mfi_overbought)]
    if name == "WILLR":
        return [_threshold_signal(res.label, last["real"], cfg.willr_oversold, cfg.willr_overbought)]
    if name == "CCI":
        return [_threshold_signal(res.label, last["real"], cfg.cci_oversold, cfg.cci_overbought)]
    if name in ("STOCH", "STOCHF", "STOCHRSI"):
        k_name = "slowk" if name == "STOCH" else "fastk"
        return [_threshold_signal(res.label, last[k_name], cfg.stoch_oversold, cfg.stoch_overbought)]
    if name in _MACDS:
        cross = _cross_state(s["macd"], s["macdsignal"])
        if cross is None:
            return [Signal(res.label, "macd", "insufficient_data", "neutral", None)]
        state, diff = cross
        mapped = {"crossed_above": ("bullish_cross", "bullish"), "crossed_below": ("bearish_cross", "bearish"),
                  "above": ("above_signal", "bullish"), "below": ("below_signal", "bearish"), "equal": ("at_signal", "neutral")}
        st, bias = mapped[state]
        return [Signal(res.label, "macd", st, bias, diff)]
    if name in _MOVING_AVERAGES:
        line = next(iter(s.values()))  # first output: the average (MAMA: mama)
        cross = _cross_state(close, line)
        if cross is None:
            return [Signal(res.label, "moving_average", "insufficient_data", "neutral", None)]
        state, _ = cross
        bias = "bullish" if state in ("above", "crossed_above") else "bearish" if state in ("below", "crossed_below") else "neutral"
        return [Signal(res.label, "moving_average", f"price_{state}", bias, _num(line[-1]))]
    if name == "BBANDS":
        up, low = last["upperband"], last["lowerband"]
        if not (math.isfinite(up) and math.isfinite(low)) or len(close) == 0:
            return [Signal(res.label, "bollinger", "insufficient_data", "neutral", None)]
        c = float(close[-1])
        pct_b = (c - low) / (up - low) if up != low else None  # %B, position inside the bands
        if c > up:
            return [Signal(res.label, "bollinger", "above_upper", "bearish", pct_b)]
        if c < low:
            return [Signal(res.label, "bollinger", "below_lower", "bullish", pct_b)]
        return [Signal(res.label, "bollinger", "inside", "neutral", pct_b)]
    if name == "ADX":
        v = last["real"]
        if not math.isfinite(v):
            return [Signal(res.label, "trend_strength", "insufficient_data", "neutral", None)]
        return [Signal(res.label, "trend_strength", "trending" if v >= cfg.adx_trend else "ranging", "neutral", v)]
    return []


def _iso(times: Sequence[Any] | np.ndarray | None, i: int) -> str | None:
    if times is None:
        return None
    t = times[i]
    if isinstance(t, np.datetime64):
        if np.datetime_data(t.dtype)[0] == "D":  # daily bars carry their session date
            return str(t)
        return str(np.datetime_as_string(t, unit="s")) + "Z"
    return t.isoformat() if hasattr(t, "isoformat") else str(t)


def analyze(
    bars: Mapping[str, Any],
    specs: Sequence[ind.IndicatorSpec],
    config: SignalConfig | None = None,
    times: Sequence[Any] | np.ndarray | None = None,
) -> TechnicalResult:
    """Compute ``specs`` on ``bars`` (columns open/high/low/close/volume as needed) and read the signals.

    ``times`` (optional, one per bar, UTC) only labels the last bar and the pattern hits.
    Raises :class:`~quantq.finance.indicators.IndicatorError` for missing or non-finite columns.
    """
    cfg = config or SignalConfig()
    needed = {"close"} | {c for s in specs for c in s.definition.inputs}
    cols = tuple(c for c in ind.BAR_COLUMNS if c in needed)
    prepared = ind.prepare_bars(bars, cols)
    n = len(prepared["close"])
    if times is not None and len(times) != n:
        raise ind.IndicatorError(f"times has {len(times)} entries but the bars have {n}")
    close = prepared["close"]
    results: list[IndicatorResult] = []
    signals: list[Signal] = []
    hits: list[PatternHit] = []
    for spec in specs:
        series = ind.compute(spec, prepared)
        for arr in series.values():
            arr.setflags(write=False)  # the result is frozen, its arrays too
        res = IndicatorResult(label=spec.label, name=spec.name, params=dict(spec.params), lookback=spec.lookback, series=series)
        results.append(res)
        defn = spec.definition
        if defn.is_pattern:
            out = next(iter(series.values()))
            for i in range(max(0, n - cfg.pattern_bars), n):
                v = int(out[i])
                if v != 0:
                    bias = "neutral" if defn.name in _NEUTRAL_PATTERNS else "bullish" if v > 0 else "bearish"
                    hits.append(PatternHit(spec.label, defn.name, defn.display_name, i, n - 1 - i, _iso(times, i), v, bias))
        else:
            signals.extend(_signals_for(res, close, cfg))
    return TechnicalResult(
        bars=n,
        last_close=_num(close[-1]) if n else None,
        last_time=_iso(times, n - 1) if n else None,
        indicators=tuple(results),
        signals=tuple(signals),
        patterns=tuple(hits),
    )
