"""A registry over TA-Lib: indicator name -> inputs, outputs, parameters with defaults, lookback.

Nothing here computes an indicator by hand; every value comes from the TA-Lib function of the
same name.  The registry is built once, read-only, from TA-Lib's own metadata
(``talib.abstract``), so it lists every TA-Lib function whose inputs are bar columns
(open, high, low, close, volume): overlap studies (SMA, EMA, BBANDS...), momentum (RSI, MACD,
STOCH, ADX...), volatility (ATR...), volume (OBV...), cycles, statistics and all 61 candlestick
patterns (CDL*).  Friendly aliases (``BOLLINGER``, ``STOCHASTIC``, ``DOJI``, ``HAMMER``,
``MORNING_STAR``...) map onto TA-Lib names.

A request is an :class:`IndicatorSpec`, parsed from ``"SMA_20"`` (positional parameters after
the name, in TA-Lib's order) or ``{"name": "RSI", "timeperiod": 14}``.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic
import talib
from talib import abstract

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
PATTERN_GROUP = "Pattern Recognition"
# Groups of TA-Lib functions that are indicators on bars; "Math Operators/Transform" are arithmetic
# helpers (ADD, SIN...) and are left out.
_GROUPS = (
    "Overlap Studies",
    "Momentum Indicators",
    "Volatility Indicators",
    "Volume Indicators",
    "Cycle Indicators",
    "Price Transform",
    "Statistic Functions",
    PATTERN_GROUP,
)

ALIASES: Mapping[str, str] = types.MappingProxyType(
    {
        "BOLLINGER": "BBANDS",
        "BB": "BBANDS",
        "STOCHASTIC": "STOCH",
        "STOCHASTIC_FAST": "STOCHF",
        "DOJI": "CDLDOJI",
        "DRAGONFLY_DOJI": "CDLDRAGONFLYDOJI",
        "GRAVESTONE_DOJI": "CDLGRAVESTONEDOJI",
        "HAMMER": "CDLHAMMER",
        "INVERTED_HAMMER": "CDLINVERTEDHAMMER",
        "HANGING_MAN": "CDLHANGINGMAN",
        "ENGULFING": "CDLENGULFING",
        "SHOOTING_STAR": "CDLSHOOTINGSTAR",
        "MORNING_STAR": "CDLMORNINGSTAR",
        "EVENING_STAR": "CDLEVENINGSTAR",
        "MORNING_DOJI_STAR": "CDLMORNINGDOJISTAR",
        "EVENING_DOJI_STAR": "CDLEVENINGDOJISTAR",
        "HARAMI": "CDLHARAMI",
        "HARAMI_CROSS": "CDLHARAMICROSS",
        "PIERCING": "CDLPIERCING",
        "DARK_CLOUD_COVER": "CDLDARKCLOUDCOVER",
        "THREE_WHITE_SOLDIERS": "CDL3WHITESOLDIERS",
        "THREE_BLACK_CROWS": "CDL3BLACKCROWS",
        "MARUBOZU": "CDLMARUBOZU",
        "SPINNING_TOP": "CDLSPINNINGTOP",
    }
)


class IndicatorError(ValueError):
    """A bad indicator request: unknown name, unknown or invalid parameters, bad bars."""


@dataclasses.dataclass(frozen=True)
class IndicatorDef:
    """One TA-Lib function as the registry describes it."""

    name: str  #: TA-Lib function name, e.g. "RSI"
    display_name: str
    group: str
    inputs: tuple[str, ...]  #: bar columns in TA-Lib's argument order
    outputs: tuple[str, ...]  #: output names in TA-Lib's order
    params: tuple[tuple[str, int | float], ...]  #: (name, default) in TA-Lib's order

    @property
    def is_pattern(self) -> bool:
        return self.group == PATTERN_GROUP

    @property
    def defaults(self) -> dict[str, int | float]:
        return dict(self.params)

    def lookback(self, params: Mapping[str, int | float] | None = None) -> int:
        """Bars TA-Lib consumes before the first output value; -1 if TA-Lib rejects ``params``."""
        fn = abstract.Function(self.name)  # type: ignore[attr-defined]
        if params:
            fn.set_parameters(dict(params))
        return int(fn.lookback)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "group": self.group,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "params": dict(self.params),
            "lookback": self.lookback(),
            "pattern": self.is_pattern,
        }


def _flatten_inputs(input_names: Mapping[str, Any]) -> tuple[str, ...]:
    cols: list[str] = []
    for value in input_names.values():
        cols.extend([value] if isinstance(value, str) else list(value))
    return tuple(cols)


def _build_registry() -> Mapping[str, IndicatorDef]:
    found: dict[str, IndicatorDef] = {}
    for group in _GROUPS:
        for name in talib.get_function_groups()[group]:
            info = abstract.Function(name).info  # type: ignore[attr-defined]
            inputs = _flatten_inputs(info["input_names"])
            if not set(inputs) <= set(BAR_COLUMNS):
                continue  # e.g. MAVP needs a "periods" series, not a bar column
            found[name] = IndicatorDef(
                name=name,
                display_name=info["display_name"],
                group=group,
                inputs=inputs,
                outputs=tuple(info["output_names"]),
                params=tuple(info["parameters"].items()),
            )
    return types.MappingProxyType(dict(sorted(found.items())))


REGISTRY: Mapping[str, IndicatorDef] = _build_registry()


def names(*, patterns: bool | None = None) -> list[str]:
    """TA-Lib names in the registry; ``patterns=True`` only CDL*, ``False`` only the others."""
    return [n for n, d in REGISTRY.items() if patterns is None or d.is_pattern == patterns]


def resolve(name: str) -> IndicatorDef:
    """The definition for a TA-Lib name or alias (case-insensitive); a clear error listing the known names."""
    if not isinstance(name, str) or not name.strip():
        raise IndicatorError(f"an indicator name must be a non-empty string, got {name!r}")
    key = name.strip().upper()
    key = ALIASES.get(key, key)
    try:
        return REGISTRY[key]
    except KeyError:
        known = ", ".join(list(REGISTRY) + sorted(ALIASES))
        raise IndicatorError(f"unknown indicator {name!r}; known indicators: {known}") from None


def _coerce_param(defn: IndicatorDef, pname: str, value: Any) -> int | float:
    default = defn.defaults[pname]
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise IndicatorError(f"{defn.name}: parameter {pname!r} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise IndicatorError(f"{defn.name}: parameter {pname!r} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise IndicatorError(f"{defn.name}: parameter {pname!r} must be finite, got {value!r}")
    if isinstance(default, int):
        if float(value) != int(value):
            raise IndicatorError(f"{defn.name}: parameter {pname!r} must be a whole number, got {value!r}")
        return int(value)
    return float(value)


def _fmt(value: int | float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


class IndicatorSpec(pydantic.BaseModel):
    """One requested indicator: TA-Lib name, full parameters (defaults filled in), result label."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    params: dict[str, int | float]
    label: str
    lookback: int  #: TA-Lib's warm-up for these parameters, computed once by make_spec

    @property
    def definition(self) -> IndicatorDef:
        return REGISTRY[self.name]


def make_spec(name: str, params: Mapping[str, Any] | None = None, label: str | None = None) -> IndicatorSpec:
    """Validate a request against TA-Lib's metadata and its own parameter check."""
    defn = resolve(name)
    given = dict(params or {})
    unknown = sorted(set(given) - set(defn.defaults))
    if unknown:
        valid = ", ".join(f"{k}={_fmt(v)}" for k, v in defn.params) or "none"
        raise IndicatorError(f"{defn.name}: unknown parameter(s) {', '.join(unknown)}; valid parameters (defaults): {valid}")
    full = {p: _coerce_param(defn, p, given[p]) if p in given else d for p, d in defn.params}
    lookback = defn.lookback(full)
    if lookback < 0:  # TA-Lib's own range check (TA_BAD_PARAM)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in full.items())
        defaults = ", ".join(f"{k}={_fmt(v)}" for k, v in defn.params)
        raise IndicatorError(f"{defn.name}: TA-Lib rejects parameters {shown} (out of range); defaults are {defaults}")
    if label is None:
        # canonical: name plus parameter values up to the last one that differs from its default,
        # so "SMA_20" and {"name": "SMA", "timeperiod": 20} get the same label
        values = list(full.values())
        changed = [i for i, (p, d) in enumerate(defn.params) if full[p] != d]
        label = defn.name + "".join("_" + _fmt(v) for v in values[: changed[-1] + 1]) if changed else defn.name
    return IndicatorSpec(name=defn.name, params=full, label=label, lookback=lookback)


def parse_spec(item: str | Mapping[str, Any]) -> IndicatorSpec:
    """Parse ``"SMA_20"``, ``"MACD_12_26_9"``, ``"RSI"`` or ``{"name": "RSI", "timeperiod": 14, "label": ...}``.

    In the string form the longest leading run of ``_``-separated words that names an
    indicator is the name; the rest are parameter values in TA-Lib's order.  The label is the
    string as given (upper-cased).  In the mapping form, parameters are keys (or a ``params``
    mapping) and ``label`` is optional.
    """
    if isinstance(item, str):
        words = item.strip().upper().split("_")
        for cut in range(len(words), 0, -1):
            head = "_".join(words[:cut])
            if head in REGISTRY or head in ALIASES:
                break
        else:
            resolve(item)  # raises with the list of known names
            raise AssertionError("unreachable")
        defn = resolve(head)
        values = words[cut:]
        if len(values) > len(defn.params):
            order = ", ".join(p for p, _ in defn.params) or "none"
            raise IndicatorError(f"{item!r}: {defn.name} takes at most {len(defn.params)} parameter(s) ({order}), got {len(values)}")
        params = {p: v for (p, _), v in zip(defn.params, values, strict=False)}
        return make_spec(defn.name, params, label="_".join(words))
    if isinstance(item, Mapping):
        data = dict(item)
        name = data.pop("name", None)
        if name is None:
            raise IndicatorError(f"an indicator mapping needs a 'name', got {item!r}")
        label = data.pop("label", None)
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise IndicatorError(f"label must be a non-empty string, got {label!r}")
        params = data.pop("params", None)
        if params is not None:
            if not isinstance(params, Mapping):
                raise IndicatorError(f"'params' must be a mapping, got {params!r}")
            params = {**params, **data}
        else:
            params = data
        return make_spec(name, params, label=label)
    raise IndicatorError(f"an indicator is a string like 'SMA_20' or a mapping with a 'name', got {item!r}")


def parse_specs(items: list[str | Mapping[str, Any]]) -> list[IndicatorSpec]:
    """Parse a list of requests; ``"PATTERNS"`` expands to every candlestick pattern; labels must be unique."""
    specs: list[IndicatorSpec] = []
    for item in items:
        if isinstance(item, str) and item.strip().upper() in ("PATTERNS", "CDL_ALL"):
            specs.extend(make_spec(n) for n in names(patterns=True))
        else:
            specs.append(parse_spec(item))
    labels = [s.label for s in specs]
    dupes = sorted({lbl for lbl in labels if labels.count(lbl) > 1})
    if dupes:
        raise IndicatorError(f"indicator labels must be unique; repeated: {', '.join(dupes)} (give a 'label')")
    return specs


def prepare_bars(bars: Mapping[str, Any], columns: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Bar columns as contiguous float64 arrays of one length; NaN or inf is rejected, not repaired."""
    wanted = columns if columns is not None else tuple(c for c in BAR_COLUMNS if c in bars)
    out: dict[str, np.ndarray] = {}
    length = None
    for col in wanted:
        if col not in bars:
            raise IndicatorError(f"bars lack the {col!r} column (have: {', '.join(sorted(bars))})")
        a = np.ascontiguousarray(bars[col], dtype=np.float64)
        if a.ndim != 1:
            raise IndicatorError(f"bar column {col!r} must be 1-D, got shape {a.shape}")
        if length is not None and a.shape[0] != length:
            raise IndicatorError(f"bar columns differ in length: {col!r} has {a.shape[0]}, expected {length}")
        length = a.shape[0]
        if not np.all(np.isfinite(a)):
            raise IndicatorError(f"bar column {col!r} contains NaN or infinite values")
        out[col] = a
    return out


def compute(spec: IndicatorSpec, bars: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the TA-Lib function for ``spec`` on ``bars``: output name -> array as long as the bars.

    The first ``spec.lookback`` values are NaN (TA-Lib's warm-up); candlestick patterns are
    integer arrays (+100 bullish, -100 bearish, 0 none; some patterns use ±200 for confirmation).
    ``bars`` should come from :func:`prepare_bars`.
    """
    defn = spec.definition
    fn = getattr(talib, defn.name)
    args = []
    for col in defn.inputs:
        if col not in bars:
            raise IndicatorError(f"{defn.name} needs bar column {col!r}")
        args.append(bars[col])
    result = fn(*args, **spec.params)
    if not isinstance(result, tuple):
        result = (result,)
    return dict(zip(defn.outputs, result, strict=True))
