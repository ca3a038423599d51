"""The ``deeper_analysis`` job (seed 000): GRPAN, GOD, RWVAP, ROD and SRPAN per symbol.

Arguments are those of deeper-analysis.md "Job arguments"; the result has the seed's shape
``{success, job_id, processed_count, total_symbols, data, timestamp}``.  A symbol without prints
or with an invalid print becomes ``{symbol, error}`` and the others still complete.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Annotated, Any

import pydantic

from quantq import errors
from quantq.context import TaskContext
from quantq.finance import ticks
from quantq.tasks import task

TASK_NAME = "deeper_analysis"

_Amount = Annotated[float, pydantic.Field(ge=0, le=1e12, allow_inf_nan=False)]
_Count = Annotated[int, pydantic.Field(ge=1, le=1_000_000)]


class NothingToProcess(errors.InvalidArguments):
    """``symbols`` was empty and the store holds no tick prints: a job-level failure, never retried."""

    def __init__(self) -> None:
        super().__init__(TASK_NAME, [("symbols", "null or empty, and no symbol in the store has tick prints")])


class TickSource:
    """Where the job reads prints and metadata: the market-data store (``$QUANTQ_DATA``).

    The only store-aware piece of the job; tests substitute it.
    """

    def __init__(self, url: str | None = None) -> None:
        from quantq.finance.data.store import MarketStore

        self._store = MarketStore.open(url, create=False)

    def symbols(self) -> list[str]:
        """Every symbol with tick prints, sorted."""
        return sorted({info.symbol for info in self._store.list() if info.bar_size == "tick"})

    def read(self, symbol: str) -> tuple[ticks.TickPrints, float | None]:
        """The symbol's prints (all of them) and its average daily volume (None when unknown)."""
        from quantq.finance.schema import check_symbol

        sym = check_symbol(symbol)
        prints = ticks.TickPrints.from_ticks(sym, self._store.read_ticks(sym))
        meta = self._store.get_meta(sym)
        return prints, (meta.average_daily_volume if meta is not None else None)


def _now_utc() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def failure_result(job_id: str, error: str, timestamp: str | None = None) -> dict[str, Any]:
    """The seed's job-level failure shape (bad arguments, nothing to process), for the API layer."""
    return {
        "success": False,
        "job_id": job_id,
        "error": error,
        "processed_count": 0,
        "total_symbols": 0,
        "data": {},
        "timestamp": timestamp or _now_utc(),
    }


def _resolve_symbols(requested: list[str] | None, source: TickSource) -> list[str]:
    if not requested:
        found = source.symbols()
        if not found:
            raise NothingToProcess()
        return found
    seen: dict[str, None] = {}
    for raw in requested:
        key = raw.strip().upper()  # the store's symbols are upper case
        seen.setdefault(key, None)
    return list(seen)


class _Sessions:
    """One XNYS session table per job, widened when a symbol's prints fall outside it."""

    def __init__(self) -> None:
        self.table: ticks.SessionTable | None = None

    def covering(self, prints: ticks.TickPrints) -> ticks.SessionTable:
        first, last = int(prints.ts_ns[0]), int(prints.ts_ns[-1])
        if self.table is None:
            self.table = ticks.SessionTable.xnys_for_span(first, last)
        elif not self.table.covers(first, last):
            pad = 14 * 86_400 * 1_000_000_000
            self.table = ticks.SessionTable.xnys_for_span(
                min(first, self.table.start_ns + pad), max(last, self.table.end_ns - 1)
            )
        return self.table


def run_deeper_analysis(
    symbols: list[str] | None,
    config: ticks.DeeperAnalysisConfig,
    source: TickSource,
    *,
    job_id: str,
    progress: Callable[[float, str], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
    clock: Callable[[], str] = _now_utc,
) -> dict[str, Any]:
    """The job body without the queue: resolve symbols, analyse each, build the seed's result."""
    names = _resolve_symbols(symbols, source)
    sessions = _Sessions()
    data: dict[str, Any] = {}
    processed = 0
    for i, sym in enumerate(names):
        if check_cancelled is not None:
            check_cancelled()
        try:
            prints, adv = source.read(sym)
            if len(prints) == 0:
                raise ticks.InvalidTicks("no prints")
            data[sym] = ticks.analyze(prints, sessions.covering(prints), adv, config).to_json()
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
        "processed_count": processed,
        "total_symbols": len(names),
        "data": data,
        "timestamp": clock(),
    }


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (ticks.InvalidTicks, ValueError)) or type(exc).__name__ == "StoreError":
        return text
    return f"{type(exc).__name__}: {text}"


# seed 000's worker: MAX_JOB_TIME 300 s, results kept 2 hours
@task(TASK_NAME, timeout=300.0, result_ttl=2 * 3600)
def deeper_analysis(
    ctx: TaskContext,
    symbols: list[str] | None = None,
    min_lot: _Amount = 20,
    band: _Amount = 0.04,
    latest_prints: _Count = 15,
    top_n: Annotated[int, pydantic.Field(ge=1, le=1000)] = 5,
    dark_venues: tuple[str, ...] = ticks.DEFAULT_DARK_VENUES,
    extreme_multiplier: Annotated[float, pydantic.Field(gt=0, le=1e12, allow_inf_nan=False)] = 1.0,
    rwvap_min_prints: _Count = 5,
    srpan_prints: _Count = 30,
    srpan_min_size: _Amount = 10,
    srpan_min_prints: _Count = 8,
    srpan_band: _Amount = 0.03,
    srpan_min_gap: Annotated[float, pydantic.Field(gt=0, le=1e12, allow_inf_nan=False)] = 0.06,
) -> dict[str, Any]:
    """GRPAN, GOD, RWVAP, ROD and SRPAN from each symbol's tick prints (docs/deeper-analysis.md).

    ``symbols`` null or empty means every symbol with prints.  Progress is reported per symbol;
    a symbol that fails is ``{symbol, error}`` in ``data`` and the others complete.
    """
    try:
        config = ticks.DeeperAnalysisConfig(
            min_lot=min_lot,
            band=band,
            latest_prints=latest_prints,
            top_n=top_n,
            dark_venues=tuple(dark_venues),
            extreme_multiplier=extreme_multiplier,
            rwvap_min_prints=rwvap_min_prints,
            srpan_prints=srpan_prints,
            srpan_min_size=srpan_min_size,
            srpan_min_prints=srpan_min_prints,
            srpan_band=srpan_band,
            srpan_min_gap=srpan_min_gap,
        )
    except ticks.InvalidConfig as exc:
        raise errors.InvalidArguments(TASK_NAME, [("(args)", str(exc))]) from None
    return run_deeper_analysis(
        symbols,
        config,
        TickSource(),
        job_id=ctx.job_id,
        progress=ctx.progress,
        check_cancelled=ctx.check_cancelled,
    )
