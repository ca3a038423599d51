"""``data_import`` and ``price_update`` (seed 002): arguments → store → data functions → JSON.

The store is the one named by ``data`` (a path or URL), else ``$QUANTQ_DATA``, else the
per-user default.  Progress goes to the job; a cancelled job stops at the next chunk or symbol
and writes nothing more (an import that stops writes nothing at all).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pydantic

from quantq.context import TaskContext
from quantq.tasks import task

ImportType = Literal["historical_prices", "bars", "ticks", "close_prices"]
Source = Literal["yahoo_finance", "yahoo", "drop_folder", "synthetic"]
_KINDS = {"historical_prices": "bars", "bars": "bars", "ticks": "ticks", "close_prices": "closes"}


class DataTaskError(Exception):
    """A data job that cannot run as asked (bad file, bad store, bad options)."""


def _reporter(ctx: TaskContext | None) -> Any:
    if ctx is None:
        return None

    def report(percent: float, message: str) -> None:
        ctx.check_cancelled()
        ctx.progress(percent, message)

    return report


@task("data_import", max_attempts=1, timeout=6 * 3600)
def data_import(
    ctx: TaskContext,
    file_path: Annotated[str, pydantic.Field(min_length=1)],
    import_type: ImportType = "historical_prices",
    symbol: str | None = None,
    bar_size: str = "1d",
    column_map: dict[str, str] | None = None,
    date_format: str | None = None,
    timezone: str | None = None,
    skip_invalid: bool = False,
    exclude_symbols: list[str] | None = None,
    chunk_rows: Annotated[int, pydantic.Field(ge=100, le=10_000_000)] = 100_000,
    data: str | None = None,
) -> dict[str, Any]:
    """Import a CSV or Parquet file of bars, ticks or wide close prices into the market store.

    Every row is validated; by default one invalid row rejects the whole file and nothing is
    written (``status: rejected`` with a per-row report); ``skip_invalid`` imports the good rows.
    """
    from quantq.finance.data.fs import StoreError
    from quantq.finance.data.importers import ImportFileError, ImportOptions, import_file
    from quantq.finance.data.store import MarketStore
    from quantq.finance.schema import SchemaError

    try:
        options = ImportOptions(
            kind=_KINDS[import_type],  # type: ignore[arg-type]
            symbol=symbol,
            bar_size=bar_size,
            column_map=column_map or {},
            date_format=date_format,
            timezone=timezone,
            skip_invalid=skip_invalid,
            chunk_rows=chunk_rows,
            exclude_symbols=tuple(exclude_symbols or ()),
        )
        store = MarketStore.open(data)
        report = import_file(store, file_path, options, progress=_reporter(ctx))
    except pydantic.ValidationError as exc:
        raise DataTaskError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except (ImportFileError, SchemaError, StoreError) as exc:
        raise DataTaskError(str(exc)) from None
    out = report.to_json()
    out["import_type"] = import_type
    out["store"] = store.url
    return out


@task("price_update", max_attempts=3, timeout=3600)
def price_update(
    ctx: TaskContext,
    symbols: Annotated[list[str], pydantic.Field(min_length=1, max_length=20_000)],
    source: Source = "yahoo_finance",
    start: dt.date | None = None,
    end: dt.date | None = None,
    bar_size: str = "1d",
    folder: str | None = None,
    seed: int = 42,
    data: str | None = None,
) -> dict[str, Any]:
    """Fetch bars for ``symbols`` from ``source`` and merge them into the market store.

    A symbol that fails is listed under ``failed`` with its error; the others still complete.
    """
    from quantq.finance.data.fs import StoreError
    from quantq.finance.data.providers import ProviderError, get_provider
    from quantq.finance.data.store import MarketStore
    from quantq.finance.data.update import update_prices

    if start and end and start > end:
        raise DataTaskError(f"start {start} is after end {end}")
    try:
        provider = get_provider(source, folder=folder, seed=seed)
        store = MarketStore.open(data)
        report = update_prices(
            store, provider, symbols, start=start, end=end, bar_size=bar_size, progress=_reporter(ctx)
        )
    except (ProviderError, StoreError, ValueError) as exc:
        raise DataTaskError(str(exc)) from None
    out = report.to_json()
    out["store"] = store.url
    return out
