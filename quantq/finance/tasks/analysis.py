"""The ``technical_analysis`` and ``portfolio_analysis`` jobs (seed 002).

Each job validates its arguments, reads bars through :class:`BarSource` (the market-data
store at ``$QUANTQ_DATA``), calls the pure functions of :mod:`quantq.finance.technical` and
:mod:`quantq.finance.portfolio`, and returns JSON.  ``run_*`` functions hold the job bodies
without the queue so tests can call them with another source.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pydantic

from quantq import errors
from quantq.context import TaskContext
from quantq.finance import indicators as ind
from quantq.finance import portfolio as pf
from quantq.finance import technical as ta
from quantq.tasks import task

TECHNICAL_TASK = "technical_analysis"
PORTFOLIO_TASK = "portfolio_analysis"
DEFAULT_INDICATORS: tuple[str, ...] = ("RSI", "MACD", "SMA_20", "SMA_50", "EMA_20", "BBANDS", "ATR", "STOCH", "OBV", "ADX", "PATTERNS")
DAILY_PERIODS_PER_YEAR = 252  # equity sessions; only used when bar_size is "1d" and none is given


class NothingToProcess(errors.QuantqError):
    """The store holds no bars of this size, so there is no symbol to analyse."""


class SeriesNotStored(errors.QuantqError):
    """The market-data store cannot hold indicator series yet."""


class BarSource:
    """Where the jobs read bars: the market-data store (``$QUANTQ_DATA`` or ``url``).

    The only store-aware piece of these jobs; tests substitute it.
    """

    def __init__(self, url: str | None = None) -> None:
        from quantq.finance.data.store import MarketStore

        self._store = MarketStore.open(url, create=False)

    def symbols(self, bar_size: str) -> list[str]:
        """Every symbol with bars of ``bar_size``, sorted."""
        return self._store.symbols(bar_size)

    def read(self, symbol: str, bar_size: str, start: str | None, end: str | None) -> Any:
        """One symbol's bars (a :class:`quantq.finance.schema.Bars`) in ``[start, end]``."""
        return self._store.read_bars(symbol, bar_size, start, end)

    def write_series(self, symbol: str, bar_size: str, ts: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        """Store indicator series next to the bars, if the store supports it."""
        writer = getattr(self._store, "write_indicator_series", None)
        if writer is None:
            raise SeriesNotStored()
        writer(symbol, bar_size, ts, columns)


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (ValueError, LookupError, errors.QuantqError)) or type(exc).__name__ in ("StoreError", "SchemaError"):
        return text
    return f"{type(exc).__name__}: {text}"


def _unknown(symbols: Sequence[str], known: Sequence[str], bar_size: str) -> str:
    shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
    return f"unknown symbol(s) {', '.join(symbols)}: no {bar_size} bars in the store (it has {len(known)} symbols with {bar_size} bars: {shown or 'none'})"


def _bar_times(bars: Any) -> np.ndarray:
    ts = np.asarray(bars.ts)
    return ts.astype("datetime64[D]") if getattr(bars, "daily", False) else ts


def _iso_times(times: np.ndarray, last: int | None) -> list[str]:
    """Session dates for daily bars, ISO UTC times (second precision) otherwise."""
    t = times[-last:] if last else times
    if np.datetime_data(t.dtype)[0] == "D":
        return [str(x) for x in np.datetime_as_string(t)]
    return [str(x) + "Z" for x in np.datetime_as_string(t, unit="s")]


# ---------------------------------------------------------------------------------------------
# technical_analysis


def resolve_technical_symbols(
    stock_id: int | str | None, symbol: str | None, symbols: list[str] | None
) -> list[str] | None:
    """The requested symbols (upper-case, de-duplicated), or None for every symbol in the store."""
    if isinstance(stock_id, int):
        raise ValueError(
            f"stockId {stock_id}: this store names stocks by symbol; pass 'symbol' (or stockId as a symbol string)"
        )
    given = [s for s in ([stock_id] if stock_id else []) + ([symbol] if symbol else []) + list(symbols or [])]
    if not given:
        return None
    seen: dict[str, None] = {}
    for raw in given:
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(f"a symbol must be a non-empty string, got {raw!r}")
        seen.setdefault(raw.strip().upper(), None)
    return list(seen)


def run_technical_analysis(
    symbols: list[str] | None,
    specs: list[ind.IndicatorSpec],
    config: ta.SignalConfig,
    source: BarSource,
    *,
    bar_size: str = "1d",
    start: str | None = None,
    end: str | None = None,
    include_series: bool = False,
    store_series: bool = False,
    series_bars: int | None = None,
    job_id: str = "",
    progress: Callable[[float, str], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
    clock: Callable[[], str] = _now_utc,
) -> dict[str, Any]:
    """The job body: analyse each symbol; a failing symbol becomes ``{symbol, error}``."""
    known = source.symbols(bar_size)
    if symbols is None:
        names = list(known)
        if not names:
            raise NothingToProcess(f"the store holds no {bar_size} bars, so there is no symbol to analyse")
    else:
        names = symbols
    known_set = set(known)
    data: dict[str, Any] = {}
    processed = 0
    for i, sym in enumerate(names):
        if check_cancelled is not None:
            check_cancelled()
        try:
            if sym not in known_set:
                raise LookupError(_unknown([sym], known, bar_size))
            bars = source.read(sym, bar_size, start, end)
            if len(bars) == 0:
                raise LookupError(f"no {bar_size} bars for {sym} between {start or 'the start'} and {end or 'the end'}")
            arrays = {c: getattr(bars, c) for c in ind.BAR_COLUMNS}
            result = ta.analyze(arrays, specs, config, times=_bar_times(bars))
            with_series, stored = include_series, None
            if store_series:
                columns = {f"{r.label}.{k}": np.asarray(v, dtype=np.float64) for r in result.indicators for k, v in r.series.items()}
                try:
                    source.write_series(sym, bar_size, np.asarray(bars.ts), columns)
                    stored = True
                except SeriesNotStored:
                    stored, with_series = False, True  # promised series go back in the result instead
            out = {"symbol": sym, "bar_size": bar_size, **result.to_json(with_series, series_bars)}
            if with_series:
                out["series_times"] = _iso_times(_bar_times(bars), series_bars)
            if stored is not None:
                out["series_stored"] = stored
            data[sym] = out
            processed += 1
            outcome = "ok"
        except Exception as exc:  # one symbol's failure must not stop the others
            data[sym] = {"symbol": sym, "error": _describe(exc)}
            outcome = "error"
        if progress is not None:
            progress(100.0 * (i + 1) / len(names), f"{sym}: {outcome} ({i + 1}/{len(names)})")
    return {
        "success": True,
        "job_id": job_id,
        "bar_size": bar_size,
        "indicators": [s.label for s in specs],
        "processed_count": processed,
        "failed_count": len(names) - processed,
        "total_symbols": len(names),
        "data": data,
        "timestamp": clock(),
    }


_IndicatorItem = str | dict[str, Any]


@task(TECHNICAL_TASK)
def technical_analysis(
    ctx: TaskContext,
    stockId: Annotated[int | str | None, pydantic.Field(description="the seed's stock: a symbol string; null with symbol/symbols null = every symbol")] = None,  # noqa: N803
    symbol: Annotated[str | None, pydantic.Field(description="one symbol")] = None,
    symbols: Annotated[list[str] | None, pydantic.Field(description="several symbols")] = None,
    indicators: Annotated[
        list[_IndicatorItem],
        pydantic.Field(min_length=1, max_length=200, description='"SMA_20", "MACD_12_26_9", "PATTERNS" or {"name": "RSI", "timeperiod": 14}'),
    ] = list(DEFAULT_INDICATORS),  # noqa: B006
    bar_size: Annotated[str, pydantic.Field(description="bar size in the store, e.g. 1d, 1h, 5m")] = "1d",
    start: Annotated[str | None, pydantic.Field(description="first bar: a date or a time with offset (inclusive)")] = None,
    end: Annotated[str | None, pydantic.Field(description="last bar: a date or a time with offset (inclusive)")] = None,
    signals: Annotated[dict[str, float] | None, pydantic.Field(description="signal thresholds, e.g. {\"rsi_overbought\": 75}")] = None,
    pattern_bars: Annotated[int, pydantic.Field(ge=1, le=50, description="report candlestick patterns on this many last bars")] = 1,
    include_series: Annotated[bool, pydantic.Field(description="return every indicator's full series")] = False,
    store_series: Annotated[bool, pydantic.Field(description="write the series to the store (returned instead while it cannot)")] = False,
    series_bars: Annotated[int | None, pydantic.Field(ge=1, description="return only the last N bars of each series")] = None,
) -> dict[str, Any]:
    """TA-Lib indicators, signals and candlestick patterns for one symbol or every symbol.

    ``stockId``/``symbol``/``symbols`` null means every symbol with ``bar_size`` bars.
    ``indicators`` items are ``"SMA_20"``-style strings, ``"PATTERNS"`` (every candlestick
    pattern) or ``{"name": "RSI", "timeperiod": 14}``.  ``signals`` overrides thresholds
    (e.g. ``{"rsi_overbought": 75}``).  Latest values and a signals summary are always in the
    result; full series with ``include_series`` (or written to the store with ``store_series``).
    Progress is per symbol; a failing symbol is ``{symbol, error}`` and the others complete.
    """
    problems: list[tuple[str, str]] = []
    try:
        wanted = resolve_technical_symbols(stockId, symbol, symbols)
    except ValueError as exc:
        problems.append(("stockId", str(exc)))
    bad_items = []
    for i, item in enumerate(indicators):  # report every bad item, not only the first
        try:
            ind.parse_specs([item])
        except ind.IndicatorError as exc:
            bad_items.append((f"indicators.{i}", str(exc)))
    problems.extend(bad_items)
    if not bad_items:
        try:
            specs = ind.parse_specs(list(indicators))
        except ind.IndicatorError as exc:  # e.g. repeated labels
            problems.append(("indicators", str(exc)))
    try:
        config = ta.SignalConfig(**(signals or {}), pattern_bars=pattern_bars)
    except (pydantic.ValidationError, TypeError) as exc:
        problems.append(("signals", str(exc)))
    if problems:
        raise errors.InvalidArguments(TECHNICAL_TASK, problems)
    return run_technical_analysis(
        wanted,
        specs,
        config,
        BarSource(),
        bar_size=bar_size,
        start=start,
        end=end,
        include_series=include_series,
        store_series=store_series,
        series_bars=series_bars,
        job_id=ctx.job_id,
        progress=ctx.progress,
        check_cancelled=ctx.check_cancelled,
    )


# ---------------------------------------------------------------------------------------------
# portfolio_analysis


def _align(frames: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Closes on the timestamps every series shares (inner join) and how many bars each one lost."""
    common: np.ndarray | None = None
    for bars in frames.values():
        ts = np.asarray(bars.ts).view(np.int64)
        common = ts if common is None else np.intersect1d(common, ts, assume_unique=True)
    assert common is not None
    closes = []
    dropped: dict[str, int] = {}
    for sym, bars in frames.items():
        ts = np.asarray(bars.ts).view(np.int64)
        idx = np.searchsorted(ts, common)
        closes.append(np.asarray(bars.close, dtype=np.float64)[idx])
        dropped[sym] = int(len(ts) - len(common))
    return common.view("datetime64[ns]"), np.column_stack(closes), dropped


def run_portfolio_analysis(
    holdings: pf.Holdings,
    config: pf.PortfolioConfig,
    source: BarSource,
    *,
    benchmark: str | None = None,
    bar_size: str = "1d",
    start: str | None = None,
    end: str | None = None,
    include_series: bool = False,
    job_id: str = "",
    progress: Callable[[float, str], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
    clock: Callable[[], str] = _now_utc,
) -> dict[str, Any]:
    """The job body: read every holding (and the benchmark), align on shared bars, analyse."""
    upper = [s.upper() for s in holdings.symbols]  # the store's symbols are upper case
    if len(set(upper)) != len(upper):
        raise LookupError(f"symbols held twice (ignoring case): {', '.join(sorted({s for s in upper if upper.count(s) > 1}))}")
    known = source.symbols(bar_size)
    wanted = upper + ([benchmark.upper()] if benchmark else [])
    missing = [s for s in dict.fromkeys(wanted) if s not in set(known)]
    if missing:
        raise LookupError(_unknown(missing, known, bar_size))
    frames: dict[str, Any] = {}
    for i, sym in enumerate(dict.fromkeys(wanted)):
        if check_cancelled is not None:
            check_cancelled()
        bars = source.read(sym, bar_size, start, end)
        if len(bars) == 0:
            raise LookupError(f"no {bar_size} bars for {sym} between {start or 'the start'} and {end or 'the end'}")
        frames[sym] = bars
        if progress is not None:
            progress(90.0 * (i + 1) / len(set(wanted)), f"read {sym} ({i + 1}/{len(set(wanted))})")
    ts, closes, dropped = _align(frames)
    if len(ts) < 2:
        raise LookupError(f"the holdings share {len(ts)} {bar_size} bar(s); at least 2 are needed")
    syms = list(frames)
    holding_cols = [syms.index(s) for s in upper]
    bench = closes[:, syms.index(benchmark.upper())] if benchmark else None
    renamed = pf.Holdings(tuple(upper), holdings.amounts, holdings.kind)
    result = pf.analyze_portfolio(closes[:, holding_cols], renamed, config, benchmark=bench, times=ts)
    if progress is not None:
        progress(100.0, "analysed")
    day = bar_size == "1d"
    fmt = (lambda t: str(t.astype("datetime64[D]"))) if day else (lambda t: str(t.astype("datetime64[s]")) + "Z")
    out = result.to_json(include_series)
    if include_series:
        out["times"] = [fmt(t) for t in ts]
    return {
        "success": True,
        "job_id": job_id,
        "bar_size": bar_size,
        "benchmark": benchmark.upper() if benchmark else None,
        "first_time": fmt(ts[0]),
        "last_time": fmt(ts[-1]),
        "bars": int(len(ts)),
        "bars_dropped_by_alignment": dropped,
        **out,
        "timestamp": clock(),
    }


@task(PORTFOLIO_TASK)
def portfolio_analysis(
    ctx: TaskContext,
    holdings: Annotated[
        dict[str, float] | list[dict[str, Any]],
        pydantic.Field(description='{"AAPL": 0.6, "MSFT": 0.4} with kind, or [{"symbol": "AAPL", "weight": 0.6 | "quantity": 10}]'),
    ],
    kind: Annotated[Literal["weights", "quantities"] | None, pydantic.Field(description="what the holdings mapping gives")] = None,
    benchmark: Annotated[str | None, pydantic.Field(description="symbol for beta and correlation")] = None,
    periods_per_year: Annotated[
        float | None, pydantic.Field(gt=0, le=1e6, description="bars per year for annualised figures; 252 by default for 1d bars only")
    ] = None,
    risk_free_rate: Annotated[float, pydantic.Field(gt=-1, lt=10, description="annual, as a fraction")] = 0.0,
    confidence: Annotated[float, pydantic.Field(gt=0, lt=1, description="VaR/CVaR confidence")] = 0.95,
    rebalance: Annotated[Literal["none", "every_period"], pydantic.Field(description="buy and hold, or back to the weights every bar")] = "none",
    bar_size: Annotated[str, pydantic.Field(description="bar size in the store")] = "1d",
    start: Annotated[str | None, pydantic.Field(description="first bar (inclusive)")] = None,
    end: Annotated[str | None, pydantic.Field(description="last bar (inclusive)")] = None,
    include_series: Annotated[bool, pydantic.Field(description="also return values, returns and times")] = False,
) -> dict[str, Any]:
    """Returns, volatility, Sharpe, Sortino, drawdown, Calmar, VaR/CVaR, beta and contributions of a portfolio.

    ``holdings`` is ``{"AAPL": 0.6, "MSFT": 0.4}`` with ``kind`` ("weights" summing to 1, or
    "quantities"), or ``[{"symbol": "AAPL", "weight": 0.6}, ...]`` / ``[{"symbol": ..., "quantity": ...}]``.
    ``periods_per_year`` defaults to 252 for daily bars and is required for other bar sizes.
    Histories are aligned on the bars all holdings (and the benchmark) share.
    """
    problems: list[tuple[str, str]] = []
    if periods_per_year is None:
        if bar_size == "1d":
            periods_per_year = DAILY_PERIODS_PER_YEAR
        else:
            problems.append(("periods_per_year", f"required for bar size {bar_size!r} (e.g. 252 x bars per session)"))
    try:
        parsed = pf.Holdings.build(holdings, kind)
    except pf.PortfolioError as exc:
        problems.append(("holdings", str(exc)))
    if problems:
        raise errors.InvalidArguments(PORTFOLIO_TASK, problems)
    assert periods_per_year is not None
    config = pf.PortfolioConfig(
        periods_per_year=float(periods_per_year), risk_free_rate=risk_free_rate, confidence=confidence, rebalance=rebalance
    )
    try:
        return run_portfolio_analysis(
            parsed,
            config,
            BarSource(),
            benchmark=benchmark,
            bar_size=bar_size,
            start=start,
            end=end,
            include_series=include_series,
            job_id=ctx.job_id,
            progress=ctx.progress,
            check_cancelled=ctx.check_cancelled,
        )
    except LookupError as exc:
        raise errors.InvalidArguments(PORTFOLIO_TASK, [("holdings", str(exc))]) from None
