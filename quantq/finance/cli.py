"""``quantq data …``: import files, generate a synthetic universe, list the store, load samples.

The store is ``--data URL`` (a folder, ``file://…``, or a pyarrow/fsspec URL such as
``s3://bucket/quantq``), else ``$QUANTQ_DATA``, else the per-user default.  Bad input ends
with a one-line error and exit status 2 (1 when an import was rejected), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    name="data",
    help="Market data: import CSV/Parquet, generate a synthetic universe, list what the store holds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_META_KEY = "quantq.data.url"


def _out() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def _err() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    _err().print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


@app.callback()
def _main(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option("--data", envvar="QUANTQ_DATA", help="Store location: folder, file:// or object-store URL."),
    ] = None,
) -> None:
    """Market data: import CSV/Parquet, generate a synthetic universe, list what the store holds."""
    ctx.meta[_META_KEY] = data  # meta, not obj: the parent CLI may own ctx.obj


def _store(ctx: typer.Context, create: bool = True) -> Any:
    from quantq.finance.data.fs import StoreError
    from quantq.finance.data.store import MarketStore

    try:
        return MarketStore.open(ctx.meta.get(_META_KEY), create=create)
    except StoreError as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[float, str], None]]:
    if quiet:
        yield lambda pct, msg: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[msg]}"),
        console=_err(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=100.0, msg="")
        yield lambda pct, msg: bar.update(task, completed=pct, msg=msg)


def _parse_maps(maps: list[str]) -> dict[str, str]:
    out = {}
    for item in maps:
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source:
            raise _fail(f"--map {item!r}: expected TARGET=COLUMN, e.g. --map ts=Date --map close='Adj Close'")
        out[target.strip().lower()] = source
    return out


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file.")],
    symbol: Annotated[
        str | None, typer.Option(help="Symbol (default: a symbol column, else the file name up to '_').")
    ] = None,
    bar_size: Annotated[str, typer.Option("--bar-size", help="1m, 5m, 1h, 1d, 1w ...")] = "1d",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="TARGET=COLUMN, repeatable (targets: ts open high low close volume price size venue symbol)."
        ),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strftime format of the time column, e.g. %d/%m/%Y.")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="Zone of naive intraday times, e.g. America/New_York.")] = None,
    ticks: Annotated[bool, typer.Option("--ticks", help="The file holds tick prints (ts price size [venue]).")] = False,
    closes: Annotated[
        bool, typer.Option("--closes", help="A wide file: a date column and one close column per symbol.")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows and report the rest.")
    ] = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="With --closes: symbol columns to skip.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import bars (or --ticks, or --closes) from a file, with a report of rejected rows."""
    from pydantic import ValidationError

    from quantq.finance.data.fs import StoreError
    from quantq.finance.data.importers import ImportFileError, ImportOptions, import_file
    from quantq.finance.schema import SchemaError

    if ticks and closes:
        raise _fail("--ticks and --closes cannot be combined")
    try:
        opts = ImportOptions(
            kind="ticks" if ticks else "closes" if closes else "bars",
            symbol=symbol,
            bar_size=bar_size,
            column_map=_parse_maps(map_ or []),
            date_format=date_format,
            timezone=timezone,
            skip_invalid=skip_invalid,
            exclude_symbols=tuple(exclude or ()),
        )
    except ValidationError as exc:
        raise _fail("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    store = _store(ctx)
    try:
        with _progress(f"import {file.name}", as_json) as report_progress:
            report = import_file(store, file, opts, progress=report_progress)
    except (ImportFileError, SchemaError, StoreError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    else:
        _print_report(report)
    if report.status == "rejected":
        raise typer.Exit(1)


def _print_report(report: Any) -> None:
    out = _out()
    if report.rejects:
        table = Table(title=f"{report.rejected_rows:,} rejected row(s)", title_justify="left")
        table.add_column("row", justify="right")
        table.add_column("symbol")
        table.add_column("reason")
        for r in report.rejects[:50]:
            table.add_row(str(r.row), r.symbol or "", r.reason)
        out.print(table)
        if report.rejected_rows > 50:
            out.print(f"... and {report.rejected_rows - 50:,} more (use --json for up to {len(report.rejects):,})")
    if report.status == "rejected":
        out.print(
            f"[red]rejected:[/red] nothing written; {report.rows_read:,} rows read. Fix the rows above or pass --skip-invalid."
        )
        return
    syms = ", ".join(f"{s} ({n:,})" for s, n in list(report.symbols.items())[:10])
    more = f" and {len(report.symbols) - 10} more" if len(report.symbols) > 10 else ""
    out.print(
        f"[green]{report.status}:[/green] {report.rows_written:,} rows for {len(report.symbols)} symbol(s): {syms}{more}"
    )
    if report.empty_cells:
        out.print(f"{report.empty_cells:,} empty cell(s) skipped (no price that day)")


@app.command()
def generate(
    ctx: typer.Context,
    symbols: Annotated[int, typer.Option(min=1, max=20_000, help="Number of symbols.")] = 500,
    years: Annotated[float, typer.Option(min=0.01, max=40, help="Years of daily bars (252 sessions each).")] = 10.0,
    ticks: Annotated[bool, typer.Option("--ticks", help="Also tick prints for the last --tick-days sessions.")] = False,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same data.")] = 42,
    tick_days: Annotated[int, typer.Option(min=1, max=60)] = 5,
    prints_per_day: Annotated[int, typer.Option(min=1, max=200_000)] = 2000,
    end: Annotated[
        str, typer.Option(help="Last session on or before this date (fixed for reproducibility).")
    ] = "2025-12-31",
    prefix: Annotated[str, typer.Option(help="Symbol prefix: SYN0000, SYN0001 ...")] = "SYN",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Generate a deterministic synthetic universe (XNYS sessions) into the store."""
    from pydantic import ValidationError

    from quantq.finance.data.synthetic import SyntheticConfig
    from quantq.finance.data.update import write_synthetic

    try:
        cfg = SyntheticConfig(
            symbols=symbols,
            years=years,
            seed=seed,
            ticks=ticks,
            tick_days=tick_days,
            prints_per_day=prints_per_day,
            end=dt.date.fromisoformat(end),
            prefix=prefix,
        )
    except (ValidationError, ValueError) as exc:
        msg = "; ".join(e["msg"] for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        raise _fail(f"bad option: {msg}") from None
    store = _store(ctx)
    with _progress("generate", as_json) as report_progress:
        summary = write_synthetic(store, cfg, report_progress)
    summary["store"] = store.url
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        _out().print(
            f"generated {summary['symbols']} symbols ({summary['first_symbol']}..{summary['last_symbol']}): "
            f"{summary['bar_rows']:,} bars, {summary['tick_rows']:,} tick prints, seed {seed}, in {store.url}"
        )


@app.command("list")
def list_(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each stored series: symbol, bar size (or tick), rows and date span."""
    # listing a location named with --data/QUANTQ_DATA must not create a store there by accident
    store = _store(ctx, create=ctx.meta.get(_META_KEY) is None)
    series = store.list()
    if as_json:
        typer.echo(json.dumps({"store": store.url, "series": [s.to_json() for s in series]}, indent=1))
        return
    if not series:
        _out().print(f"the store at {store.url} is empty; try `quantq data load-samples` or `quantq data generate`")
        return
    table = Table(title=f"{store.url}", title_justify="left")
    for col, just in (("symbol", "left"), ("bar size", "left"), ("rows", "right"), ("first", "left"), ("last", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for s in series:
        table.add_row(s.symbol, s.bar_size, f"{s.rows:,}", s.first or "", s.last or "")
    _out().print(table)


@app.command("load-samples")
def load_samples_(
    ctx: typer.Context,
    samples: Annotated[
        Path | None, typer.Option(help="Folder with manifest.json (default: the checkout's samples/).")
    ] = None,
    synthetic: Annotated[
        int, typer.Option(min=0, max=5000, help="Synthetic symbols with tick prints to add (0: none).")
    ] = 20,
    seed: Annotated[int, typer.Option(min=0)] = 42,
) -> None:
    """Load the sample histories (samples/) and a small synthetic universe with ticks."""
    from quantq.finance.data.importers import ImportFileError
    from quantq.finance.data.samples import default_samples_dir, load_samples
    from quantq.finance.data.synthetic import SyntheticConfig
    from quantq.finance.data.update import write_synthetic

    folder = samples or default_samples_dir()
    if folder is None:
        raise _fail("no samples folder found; pass --samples DIR (a folder with manifest.json)")
    store = _store(ctx)
    out = _out()
    try:
        load_samples(store, folder, progress=lambda msg: out.print(f"loaded {msg}"))
    except (ImportFileError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    if synthetic:
        cfg = SyntheticConfig(symbols=synthetic, years=2, seed=seed, ticks=True)
        with _progress("synthetic", False) as report_progress:
            summary = write_synthetic(store, cfg, report_progress)
        out.print(f"generated {summary['symbols']} synthetic symbols with {summary['tick_rows']:,} tick prints")
    out.print(f"store: {store.url}")


@app.command()
def update(
    ctx: typer.Context,
    symbols: Annotated[list[str], typer.Argument(help="Symbols to fetch.")],
    source: Annotated[str, typer.Option(help="yahoo_finance, drop_folder or synthetic.")] = "yahoo_finance",
    folder: Annotated[Path | None, typer.Option(help="Drop folder (source drop_folder).")] = None,
    start: Annotated[str | None, typer.Option(help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD).")] = None,
    bar_size: Annotated[str, typer.Option("--bar-size")] = "1d",
    seed: Annotated[int, typer.Option(min=0)] = 42,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fetch prices for symbols from a source and merge them into the store (like the price_update job)."""
    from quantq.finance.data.providers import ProviderError, get_provider
    from quantq.finance.data.update import update_prices

    try:
        first = dt.date.fromisoformat(start) if start else None
        last = dt.date.fromisoformat(end) if end else None
        provider = get_provider(source, folder=folder, seed=seed)
    except (ValueError, ProviderError) as exc:
        raise _fail(str(exc)) from None
    store = _store(ctx)
    try:
        with _progress("update", as_json) as report_progress:
            report = update_prices(
                store, provider, symbols, start=first, end=last, bar_size=bar_size, progress=report_progress
            )
    except (ProviderError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=1))
    else:
        for r in report.results:
            if r.status == "ok":
                _out().print(f"[green]ok[/green]     {r.symbol}: {r.rows:,} bars {r.first}..{r.last}")
            else:
                _out().print(f"[red]failed[/red] {r.symbol}: {r.error}", highlight=False)
    if report.failed:
        raise typer.Exit(1)
