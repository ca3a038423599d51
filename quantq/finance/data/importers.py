"""CSV and Parquet import: column mapping, date formats, row-by-row validation, atomic commit.

A file streams in chunks (bounded memory): each chunk is parsed (times, numbers), every row is
checked against the schema, good rows go to a per-symbol staging file outside the store, and
rejected rows go to the report with their row number (1-based, header not counted: data row
``n`` is line ``n + 1`` of a CSV without quoted newlines).  Only when the whole file has been
read is anything written to the store, in one staged batch.  By default a single rejected row
rejects the file and nothing is written; ``skip_invalid=True`` writes the good rows and reports
the rest.  Nothing is repaired silently: unsorted input, duplicates and naive times are errors.

Kinds: ``bars`` (ts open high low close volume, optional symbol column), ``ticks`` (ts price
size, optional venue and symbol), ``closes`` (a wide table: a date column and one close-price
column per symbol; each becomes a close-only bar with open = high = low = close and volume 0,
and an empty cell means "no price that day" and is counted, not imported).
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pydantic

from quantq.finance.data.store import MarketStore
from quantq.finance.schema import (
    Bars,
    Ticks,
    check_bar_rows,
    check_bar_size,
    check_symbol,
    check_tick_rows,
    is_daily,
)

Progress = Callable[[float, str], None]
NAT = np.iinfo(np.int64).min
_NS_PER_DAY = 86_400 * 1_000_000_000

ALIASES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "date", "datetime", "time", "timestamp", "trade_date", "session"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last"),
    "volume": ("volume", "vol", "v"),
    "price": ("price", "px", "trade_price", "last"),
    "size": ("size", "qty", "quantity", "shares", "volume"),
    "venue": ("venue", "exchange", "mkt", "market_center"),
    "symbol": ("symbol", "ticker", "sym"),
}
REQUIRED = {
    "bars": ("ts", "open", "high", "low", "close", "volume"),
    "ticks": ("ts", "price", "size"),
    "closes": ("ts",),
}
OPTIONAL = {"bars": ("symbol",), "ticks": ("venue", "symbol"), "closes": ()}
_MIDNIGHT_TAIL = re.compile(r"^([ T]00:00(:00(\.0*)?)?)?\s*(Z|UTC|[+-]\d\d:?\d\d)?$")


class ImportFileError(ValueError):
    """A file that cannot be imported at all (unreadable, columns missing, naive times ...)."""


class ImportOptions(pydantic.BaseModel):
    """How to read one file; unknown fields are rejected."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bars", "ticks", "closes"] = "bars"
    symbol: str | None = None
    bar_size: str = "1d"
    column_map: dict[str, str] = pydantic.Field(default_factory=dict, description="target column -> column in the file")
    date_format: str | None = pydantic.Field(
        default=None, description="strftime format of the time column, e.g. %d/%m/%Y"
    )
    timezone: str | None = pydantic.Field(
        default=None, description="zone of naive intraday times, e.g. America/New_York"
    )
    skip_invalid: bool = False
    chunk_rows: int = pydantic.Field(default=100_000, ge=100, le=10_000_000)
    max_reported: int = pydantic.Field(default=1000, ge=0, le=1_000_000)
    bar_mode: Literal["merge", "replace"] = "merge"
    tick_mode: Literal["append", "replace_days"] = "replace_days"
    exclude_symbols: tuple[str, ...] = ()

    @pydantic.field_validator("symbol")
    @classmethod
    def _sym(cls, v: str | None) -> str | None:
        return None if v is None else check_symbol(v)

    @pydantic.field_validator("bar_size")
    @classmethod
    def _size(cls, v: str) -> str:
        return check_bar_size(v)

    @pydantic.field_validator("column_map")
    @classmethod
    def _map(cls, v: dict[str, str]) -> dict[str, str]:
        known = set(ALIASES)
        bad = sorted(set(v) - known)
        if bad:
            raise ValueError(f"unknown target column(s) {bad}; targets are {sorted(known)}")
        return v


@dataclasses.dataclass(frozen=True)
class Rejected:
    row: int
    reason: str
    symbol: str | None = None


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What an import did; ``committed`` is False when nothing was written."""

    file: str
    kind: str
    bar_size: str | None
    status: Literal["imported", "imported_with_rejects", "rejected"]
    committed: bool
    rows_read: int
    rows_written: int
    rejected_rows: int
    rejects: tuple[Rejected, ...]
    symbols: dict[str, int]
    empty_cells: int = 0

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["rejects"] = [dataclasses.asdict(r) for r in self.rejects]
        out["rejects_truncated"] = self.rejected_rows > len(self.rejects)
        return out


def symbol_from_filename(path: str) -> str:
    """``MSFT_daily.csv`` → ``MSFT``: the file name up to the first underscore."""
    stem = os.path.basename(path)
    for ext in (".csv.gz", ".csv", ".parquet", ".pq", ".txt"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    try:
        return check_symbol(stem.split("_")[0])
    except ValueError:
        raise ImportFileError(f"cannot take a symbol from file name {os.path.basename(path)!r}; pass symbol") from None


# ---------------------------------------------------------------------------------- reading
def _csv_chunks(
    path: str, opts: ImportOptions, bad_rows: list[tuple[int, str]]
) -> Iterator[tuple[pa.RecordBatch, float]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise ImportFileError(f"{path} is empty") from None
    if len(set(header)) != len(header):
        raise ImportFileError(f"{path}: duplicate column names in header {header}")
    size = os.path.getsize(path)
    with open(path, "rb") as raw:
        head = raw.read(1 << 20)
    line_bytes = max(8.0, len(head) / max(1, head.count(b"\n")))
    est_rows = max(1.0, size / line_bytes)

    def on_invalid(row: Any) -> str:
        line = int(row.number) if row.number is not None else 0
        bad_rows.append((line - 1, f"expected {row.expected_columns} fields, got {row.actual_columns}"))
        return "skip"

    read = pacsv.ReadOptions(use_threads=False, block_size=int(max(1024, min(64 << 20, opts.chunk_rows * line_bytes))))
    conv = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True, quoted_strings_can_be_null=True
    )
    parse = pacsv.ParseOptions(invalid_row_handler=on_invalid)
    try:
        reader = pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=conv)
        rows = 0
        for batch in reader:
            rows += batch.num_rows
            yield batch, min(0.99, rows / est_rows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{path}: cannot parse CSV: {exc}") from None


def _parquet_chunks(path: str, opts: ImportOptions) -> Iterator[tuple[pa.RecordBatch, float]]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFileError(f"{path}: cannot read Parquet: {exc}") from None
    total, done = max(1, pf.metadata.num_rows), 0
    for batch in pf.iter_batches(batch_size=opts.chunk_rows):
        done += batch.num_rows
        yield batch, min(0.99, done / total)


def _resolve_columns(names: list[str], opts: ImportOptions) -> dict[str, str]:
    lower = {n.strip().lower(): n for n in names}
    out: dict[str, str] = {}
    for target, source in opts.column_map.items():
        if source not in names:
            raise ImportFileError(f"column map {target}={source}: the file has no column {source!r} (columns: {names})")
        out[target] = source
    wanted = REQUIRED[opts.kind] + OPTIONAL[opts.kind]
    for target in wanted:
        if target in out:
            continue
        for alias in ALIASES[target]:
            if alias in lower and lower[alias] not in out.values():
                out[target] = lower[alias]
                break
    missing = [t for t in REQUIRED[opts.kind] if t not in out]
    if missing:
        raise ImportFileError(
            f"no column for {missing} (file columns: {names}); map them with column_map / --map TARGET=COLUMN"
        )
    return out


# ---------------------------------------------------------------------------------- parsing
def _parse_times(col: pl.Series, opts: ImportOptions, daily: bool) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """int64 ns UTC (NAT where bad) and per-row problems (0-based within the chunk)."""
    problems: list[tuple[int, str]] = []
    raw_null = col.is_null().to_numpy()
    if col.dtype == pl.String:
        if daily and opts.date_format is None:
            tail_ok = col.str.slice(10).str.contains(_MIDNIGHT_TAIL.pattern).fill_null(True).to_numpy()
            parsed = col.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("ns"))
            for i in np.flatnonzero(~tail_ok & ~raw_null):
                problems.append(
                    (int(i), f"daily bar time {col[int(i)]!r} has a time of day; daily bars carry their session date")
                )
        else:
            try:
                parsed = col.str.to_datetime(opts.date_format, strict=False, time_unit="ns")
            except pl.exceptions.PolarsError as exc:
                raise ImportFileError(
                    f"cannot read times like {col.drop_nulls().head(1).to_list()}: {exc}; pass date_format"
                ) from None
    elif isinstance(col.dtype, pl.Date):
        parsed = col.cast(pl.Datetime("ns"))
    elif isinstance(col.dtype, pl.Datetime):
        parsed = col.dt.cast_time_unit("ns")
    else:
        raise ImportFileError(f"time column has type {col.dtype}; expected text, date or datetime")
    tz = getattr(parsed.dtype, "time_zone", None)
    if tz is None and not (daily and isinstance(col.dtype, (pl.String, pl.Date))):
        if daily:
            pass  # naive daily datetimes: their wall date is the session date, checked below
        elif opts.timezone is None:
            raise ImportFileError(
                "times have no UTC offset; pass timezone (e.g. America/New_York) or write offsets in the file"
            )
        else:
            before = parsed.is_null()
            try:
                parsed = parsed.dt.replace_time_zone(opts.timezone, ambiguous="null", non_existent="null")
            except pl.exceptions.PolarsError as exc:
                raise ImportFileError(f"bad timezone {opts.timezone!r}: {exc}") from None
            for i in np.flatnonzero((parsed.is_null() & ~before).to_numpy()):
                problems.append(
                    (int(i), f"local time {col[int(i)]!s} is ambiguous or does not exist in {opts.timezone}")
                )
    if tz is not None:
        # daily: the wall date where the time was written is the session date; intraday: the UTC instant
        parsed = parsed.dt.replace_time_zone(None) if daily else parsed.dt.convert_time_zone("UTC")
    ns = parsed.to_physical().fill_null(NAT).to_numpy().astype(np.int64)
    unparsed = (ns == NAT) & ~raw_null
    for i in np.flatnonzero(unparsed):
        problems.append((int(i), f"cannot read time {col[int(i)]!s}"))
    return ns, problems


def _parse_numbers(col: pl.Series, name: str) -> tuple[np.ndarray, list[tuple[int, str]]]:
    parsed = col.cast(pl.Float64, strict=False) if col.dtype == pl.String else col.cast(pl.Float64)
    vals = parsed.fill_null(np.nan).to_numpy()
    bad = parsed.is_null().to_numpy() & ~col.is_null().to_numpy()
    return vals, [(int(i), f"cannot read {name} {col[int(i)]!r}") for i in np.flatnonzero(bad)]


# ---------------------------------------------------------------------------------- staging
class _Stage:
    """Accepted rows per symbol, in local temporary Arrow IPC files (outside the store; cheap to write)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.writers: dict[str, Any] = {}
        self.sinks: dict[str, Any] = {}
        self.rows: dict[str, int] = {}
        self.last: dict[str, int] = {}

    def add(self, sym: str, table: pa.Table) -> None:
        if sym not in self.writers:
            self.sinks[sym] = pa.OSFile(self.path(sym), "wb")
            self.writers[sym] = pa.ipc.new_file(self.sinks[sym], table.schema)
        self.writers[sym].write_table(table)
        self.rows[sym] = self.rows.get(sym, 0) + table.num_rows

    def close(self) -> None:
        for sym, w in self.writers.items():
            w.close()
            self.sinks[sym].close()

    def path(self, sym: str) -> str:
        return os.path.join(self.folder, f"{sym}.arrow")

    def read(self, sym: str) -> pa.Table:
        with pa.memory_map(self.path(sym)) as source:
            return pa.ipc.open_file(source).read_all()

    def batches(self, sym: str) -> Iterator[pa.RecordBatch]:
        with pa.memory_map(self.path(sym)) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)


def _order_problems(
    ts: np.ndarray, accepted: np.ndarray, prev: int | None, bars: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(duplicates, out-of-order) among rows that pass their own checks, against earlier *accepted* rows.

    Rejecting such a row never lowers the running maximum, so one vectorised pass is exact.
    """
    marks = np.where(accepted, ts, NAT)
    run = np.maximum.accumulate(marks) if len(marks) else marks
    before = np.concatenate([[NAT if prev is None else prev], run[:-1]]) if len(run) else run
    known = accepted & (before != NAT)
    same = known & (ts == before) if bars else np.zeros_like(accepted)
    return same, known & (ts < before)


class _Importer:
    def __init__(self, path: str, opts: ImportOptions, stage: _Stage) -> None:
        self.path, self.opts, self.stage = path, opts, stage
        self.daily = opts.kind != "ticks" and is_daily(opts.bar_size)
        self.rejects: list[Rejected] = []
        self.rejected_rows = 0
        self.rows_read = 0
        self.empty_cells = 0
        self.columns: dict[str, str] | None = None
        self.excluded = {check_symbol(s) for s in opts.exclude_symbols}

    def reject(self, row: int, reason: str, sym: str | None = None) -> None:
        self.rejected_rows += 1
        if len(self.rejects) < self.opts.max_reported:
            self.rejects.append(Rejected(row, reason, sym))

    @property
    def staging_on(self) -> bool:
        return self.opts.skip_invalid or self.rejected_rows == 0

    def chunk(self, batch: pa.RecordBatch, row_numbers: np.ndarray) -> None:
        df = pl.from_arrow(pa.Table.from_batches([batch]))
        assert isinstance(df, pl.DataFrame)
        if self.columns is None:
            self.columns = _resolve_columns(df.columns, self.opts)
        cols = self.columns
        n = df.height
        self.rows_read += n
        problems: list[tuple[int, str]] = []
        ts, p = _parse_times(df[cols["ts"]], self.opts, self.daily)
        problems += p
        if self.opts.kind == "closes":
            self._closes(df, ts, problems, row_numbers)
            return
        fields = ("open", "high", "low", "close", "volume") if self.opts.kind == "bars" else ("price", "size")
        values = {}
        for f in fields:
            values[f], p = _parse_numbers(df[cols[f]], f)
            problems += p
        if "symbol" in cols:
            syms = df[cols["symbol"]].str.strip_chars().str.to_uppercase().fill_null("").to_numpy()
        else:
            syms = np.full(n, self.opts.symbol or symbol_from_filename(self.path), dtype=object)
        bad_reason: dict[int, list[str]] = {}
        for i, r in problems:
            bad_reason.setdefault(i, []).append(r)
        # group rows by symbol in one sort (a file may hold thousands of symbols)
        names, inverse = np.unique(syms.astype(str), return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        cuts = np.flatnonzero(np.diff(inverse[order])) + 1
        for idx in np.split(order, cuts) if len(order) else []:
            name = str(names[inverse[idx[0]]])
            try:
                sym_ok = check_symbol(name)
            except ValueError as exc:
                for row in idx.tolist():
                    bad_reason.setdefault(row, []).append(str(exc))
                continue
            self._symbol_rows(sym_ok, idx, ts, values, bad_reason, df, row_numbers)
        # what is left belongs to rows whose symbol itself was invalid
        for row, reasons in sorted(bad_reason.items()):
            self.reject(int(row_numbers[row]), "; ".join(reasons))

    def _symbol_rows(
        self,
        sym: str,
        idx: np.ndarray,
        ts: np.ndarray,
        values: dict[str, np.ndarray],
        bad_reason: dict[int, list[str]],
        df: pl.DataFrame,
        row_numbers: np.ndarray,
    ) -> None:
        t = ts[idx]
        prev = self.stage.last.get(sym)
        if self.opts.kind != "ticks":
            checks = check_bar_rows(
                t, *(values[f][idx] for f in ("open", "high", "low", "close", "volume")), daily=self.daily, order=False
            )
        else:
            checks = check_tick_rows(t, values["price"][idx], values["size"][idx], order=False)
        for j, reason in checks:
            bad_reason.setdefault(int(idx[j]), []).append(reason)
        ok = ~np.isin(idx, np.fromiter(bad_reason.keys(), dtype=np.int64, count=len(bad_reason)))
        same, late = _order_problems(t, ok, prev, bars=self.opts.kind != "ticks")
        for row in idx[same].tolist():
            bad_reason.setdefault(row, []).append("duplicate timestamp")
        for row in idx[late].tolist():
            bad_reason.setdefault(row, []).append("timestamp earlier than a previous row (unsorted input)")
        late |= same
        ok &= ~late
        for bad_row in idx[~ok].tolist():
            self.reject(int(row_numbers[bad_row]), "; ".join(bad_reason.pop(bad_row)), sym)
        if not ok.any():
            return
        self.stage.last[sym] = int(t[ok].max())
        if not self.staging_on:
            return
        keep = idx[ok]
        tcol = pa.array(ts[keep], pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
        if self.opts.kind != "ticks":
            table = pa.table(
                {"ts": tcol, **{f: pa.array(values[f][keep]) for f in ("open", "high", "low", "close", "volume")}}
            )
        else:
            venue = (
                df[self.columns["venue"]].cast(pl.String).fill_null("").str.strip_chars().to_numpy()[keep]  # type: ignore[index]
                if self.columns and "venue" in self.columns
                else np.full(len(keep), "", dtype=object)
            )
            table = pa.table(
                {
                    "ts": tcol,
                    "price": pa.array(values["price"][keep]),
                    "size": pa.array(values["size"][keep]),
                    "venue": pa.array(venue.astype(str).tolist(), pa.string()),
                }
            )
        self.stage.add(sym, table)

    def _closes(
        self, df: pl.DataFrame, ts: np.ndarray, problems: list[tuple[int, str]], row_numbers: np.ndarray
    ) -> None:
        assert self.columns is not None
        tcol_name = self.columns["ts"]
        bad_time = {i for i, _ in problems}
        for i, reason in problems:
            self.reject(int(row_numbers[i]), reason)
        good = np.array([i not in bad_time for i in range(df.height)], dtype=bool)
        for name in df.columns:
            if name == tcol_name:
                continue
            try:
                sym = check_symbol(name)
            except ValueError:
                raise ImportFileError(f"column {name!r} is not a valid symbol name") from None
            if sym in self.excluded:
                continue
            vals, p = _parse_numbers(df[name], sym)
            empty = df[name].is_null().to_numpy() & good
            self.empty_cells += int(empty.sum())
            idx = np.flatnonzero(good & ~empty)
            bad_reason: dict[int, list[str]] = {}
            for i, r in p:
                bad_reason.setdefault(i, []).append(r)
            self._symbol_rows(
                sym,
                idx,
                ts,
                {"open": vals, "high": vals, "low": vals, "close": vals, "volume": np.zeros_like(vals)},
                bad_reason,
                df,
                row_numbers,
            )


def import_file(
    store: MarketStore,
    path: str | os.PathLike[str],
    options: ImportOptions | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one CSV or Parquet file into ``store``; see the module docstring for the rules."""
    opts = options or ImportOptions()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImportFileError(f"no such file: {path}")
    is_parquet = path.lower().endswith((".parquet", ".pq"))
    bad_lines: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory(prefix="quantq-import-") as folder:
        stage = _Stage(folder)
        imp = _Importer(path, opts, stage)
        chunks = _parquet_chunks(path, opts) if is_parquet else _csv_chunks(path, opts, bad_lines)
        skipped: list[int] = []  # data rows the CSV reader dropped, so later row numbers stay right
        next_row = 1
        try:
            for batch, frac in chunks:
                for row, reason in bad_lines:
                    imp.reject(row, reason)
                    bisect.insort(skipped, row)
                imp.rows_read += len(bad_lines)
                bad_lines.clear()
                numbers, next_row = _row_numbers(batch.num_rows, next_row, skipped)
                imp.chunk(batch, numbers)
                if progress is not None:
                    progress(frac * 90.0, f"read {imp.rows_read:,} rows, {imp.rejected_rows:,} rejected")
            for row, reason in bad_lines:
                imp.reject(row, reason)
            imp.rows_read += len(bad_lines)
        finally:
            stage.close()
        if imp.columns is None and imp.rows_read == 0:
            raise ImportFileError(f"{path} has no data rows")
        rejected = imp.rejected_rows > 0
        kind = "bars" if opts.kind in ("bars", "closes") else "ticks"
        written: dict[str, int] = {}
        if not rejected or opts.skip_invalid:
            syms = sorted(stage.rows)
            with store.batch() as b:
                for k, sym in enumerate(syms):
                    if kind == "bars":
                        table = stage.read(sym)
                        written[sym] = b.write_bars(
                            sym, Bars.from_frame(table, daily=imp.daily), opts.bar_size, mode=opts.bar_mode
                        )
                    else:
                        written[sym] = _commit_ticks(b, sym, stage.batches(sym), opts)
                    if progress is not None:
                        progress(90.0 + 10.0 * (k + 1) / max(1, len(syms)), f"staged {sym}")
        status: Literal["imported", "imported_with_rejects", "rejected"] = (
            "rejected" if rejected and not opts.skip_invalid else ("imported_with_rejects" if rejected else "imported")
        )
        return ImportReport(
            file=path,
            kind=opts.kind,
            bar_size=opts.bar_size if kind == "bars" else None,
            status=status,
            committed=bool(written),
            rows_read=imp.rows_read,
            rows_written=sum(written.values()),
            rejected_rows=imp.rejected_rows,
            rejects=tuple(sorted(imp.rejects, key=lambda r: r.row)),
            symbols=written,
            empty_cells=imp.empty_cells,
        )


def _commit_ticks(batch: Any, sym: str, staged: Iterator[pa.RecordBatch], opts: ImportOptions) -> int:
    """Write a symbol's staged prints one UTC day at a time: memory holds one day plus one chunk."""
    pending: pa.Table | None = None
    written = 0
    for chunk in staged:
        table = (
            pa.Table.from_batches([chunk])
            if pending is None
            else pa.concat_tables([pending, pa.Table.from_batches([chunk])])
        )
        days = table.column("ts").cast(pa.int64()).to_numpy() // _NS_PER_DAY
        done = int(np.searchsorted(days, days[-1], "left"))  # rows before the last (maybe unfinished) day
        if done:
            written += batch.write_ticks(sym, Ticks.from_frame(table.slice(0, done)), mode=opts.tick_mode)
        pending = table.slice(done)
    if pending is not None and pending.num_rows:
        written += batch.write_ticks(sym, Ticks.from_frame(pending), mode=opts.tick_mode)
    return written


def _row_numbers(n: int, start: int, skipped: list[int]) -> tuple[np.ndarray, int]:
    """The next ``n`` data-row numbers from ``start``, leaving out rows the reader skipped."""
    k = bisect.bisect_left(skipped, start)
    if k == len(skipped):
        return np.arange(start, start + n, dtype=np.int64), start + n
    out = np.empty(n, dtype=np.int64)
    row: int = start
    for i in range(n):
        while k < len(skipped) and skipped[k] == row:
            row += 1
            k += 1
        out[i] = row
        row += 1
    return out, row
