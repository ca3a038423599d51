"""The market-data store: partitioned Parquet files of bars and ticks per symbol.

Layout under the store's root (a folder or a URL)::

    FORMAT.json                        {"format": "quantq-market-store", "version": 1}
    bars/<bar_size>/<SYMBOL>.parquet   one file per symbol and bar size (ts-sorted)
    ticks/<SYMBOL>/<YYYY-MM-DD>.parquet one file per symbol and UTC day (ts, then seq)
    meta/<SYMBOL>.json                 symbol metadata (exchange, average daily volume ...)
    indicators/<bar_size>/<SYMBOL>.parquet  derived series written by analysis jobs

Every write goes to a dot-prefixed temporary sibling first and is renamed over its target only
when all files of the write are staged (:meth:`MarketStore.batch`); a failure before that
leaves the store exactly as it was.  Readers never see temporary files.
See docs/market-data.md for why Parquet (and not ArcticDB) and the measured speeds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from quantq.finance.data.cache import BarsCache, FileIdentity
from quantq.finance.data.fs import Files, StoreError, open_files
from quantq.finance.schema import (
    BAR_SCHEMA,
    TICK_SCHEMA,
    Bars,
    SymbolMeta,
    Ticks,
    check_bar_size,
    check_symbol,
    is_daily,
)

ENV_VAR = "QUANTQ_DATA"
FORMAT = {"format": "quantq-market-store", "version": 1}
_NS_PER_DAY = 86_400 * 1_000_000_000
_COLUMN_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")

__all__ = ["MarketStore", "SeriesInfo", "StoreError", "default_location", "resolve_location"]


def default_location() -> str:
    """The per-user default: ``<user data dir>/quantq/data`` (platformdirs)."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("quantq", appauthor=False), "data")


def resolve_location(url: str | os.PathLike[str] | None = None) -> str:
    """An explicit URL/path, else ``$QUANTQ_DATA``, else :func:`default_location`."""
    if url is not None and str(url).strip():
        return str(url)
    env = os.environ.get(ENV_VAR, "").strip()
    return env or default_location()


def _to_ns(t: Any, *, end: bool = False) -> int | None:
    """A bound (str, date, datetime, numpy or pandas time) as int ns UTC.

    A bare date means that whole UTC day: its first instant as a start, its last as an end, so
    ``end="2024-01-05"`` keeps that day's intraday bars and ticks.  A time needs a time zone.
    """
    if t is None:
        return None
    import datetime as _dt

    import pandas as pd

    date_only = (
        (isinstance(t, _dt.date) and not isinstance(t, _dt.datetime))
        or (isinstance(t, str) and len(t.strip()) <= 10)
        or (isinstance(t, np.datetime64) and np.datetime_data(t.dtype)[0] in ("D", "W", "M", "Y"))
    )
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        if not date_only and ts != ts.normalize():
            raise ValueError(f"time bound {t!r} has no time zone; give an offset (e.g. 'Z') or a date")
        ts = ts.tz_localize("UTC")
    ns = int(ts.tz_convert("UTC").value)
    return ns + _NS_PER_DAY - 1 if (end and date_only) else ns


@dataclasses.dataclass(frozen=True)
class SeriesInfo:
    """One stored series: a symbol's bars of one size, or its ticks (``bar_size == "tick"``)."""

    symbol: str
    bar_size: str
    rows: int
    first: str | None
    last: str | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _iso(ns: int | None, daily: bool) -> str | None:
    if ns is None:
        return None
    t = np.datetime64(int(ns), "ns")
    return str(t.astype("datetime64[D]")) if daily else str(t.astype("datetime64[us]")) + "Z"


def _bars_from_table(table: pa.Table, daily: bool) -> Bars:
    cols = [table.column(c) for c in ("ts", "open", "high", "low", "close", "volume")]
    ts = cols[0].cast(pa.int64()).to_numpy().view("datetime64[ns]")
    o, h, lo, c, v = (col.to_numpy() for col in cols[1:])
    return Bars(ts=ts, open=o, high=h, low=lo, close=c, volume=v, daily=daily)


def _slice_bars(bars: Bars, start: int | None, end: int | None) -> Bars:
    if start is None and end is None:
        return bars
    t = bars.ts.view(np.int64)
    lo = 0 if start is None else int(np.searchsorted(t, start, "left"))
    hi = len(t) if end is None else int(np.searchsorted(t, end, "right"))
    return bars.slice(lo, hi)


class Batch:
    """Files staged for one atomic-as-possible write; see :meth:`MarketStore.batch`."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store
        self._staged: dict[str, str] = {}  # final -> temp

    def _temp_for(self, final: str) -> str:
        files = self.store.files
        old = self._staged.pop(final, None)
        if old is not None:
            files.remove(old)
        files.makedirs(final.rpartition("/")[0])
        tmp = files.temp_name(final)
        self._staged[final] = tmp
        return tmp

    def current(self, final: str) -> str | None:
        """Where ``final``'s content is as this batch sees it: its staged copy, the stored file, or None."""
        if final in self._staged:
            return self._staged[final]
        return final if self.store.files.exists(final) else None

    def stage_table(self, final: str, table: pa.Table) -> None:
        self.store.files.write_table(self._temp_for(final), table)

    def stage_bytes(self, final: str, data: bytes) -> None:
        self.store.files.write_bytes(self._temp_for(final), data)

    def write_bars(
        self, symbol: str, bars: Bars, bar_size: str = "1d", *, mode: Literal["merge", "replace"] = "merge"
    ) -> int:
        """Stage ``bars`` for ``symbol``; ``merge`` keeps stored bars at other times (new rows win)."""
        sym, size = check_symbol(symbol), check_bar_size(bar_size)
        if len(bars) == 0:
            raise ValueError(f"no bars to write for {sym}")
        daily = is_daily(size)
        if bars.daily != daily:
            bars = Bars(bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, daily=daily)
        table = bars.to_arrow()
        path = self.store._bars_path(sym, size)
        source = self.current(path)
        if mode == "merge" and source is not None:
            old = self.store.files.read_table(source).cast(BAR_SCHEMA)
            old_t = old.column("ts").cast(pa.int64()).to_numpy()
            keep = ~np.isin(old_t, bars.ts.view(np.int64))
            merged = pa.concat_tables([old.filter(pa.array(keep)), table])
            table = merged.take(pa.array(np.argsort(merged.column("ts").cast(pa.int64()).to_numpy(), kind="stable")))
            _bars_from_table(table, daily)  # re-validate the merged whole
        elif mode not in ("merge", "replace"):
            raise ValueError(f"mode must be 'merge' or 'replace', got {mode!r}")
        self.stage_table(path, table)
        return bars.__len__()

    def write_ticks(self, symbol: str, ticks: Ticks, *, mode: Literal["append", "replace_days"] = "append") -> int:
        """Stage ``ticks``: per UTC day, ``append`` after the stored prints or ``replace_days`` them."""
        if mode not in ("append", "replace_days"):
            raise ValueError(f"mode must be 'append' or 'replace_days', got {mode!r}")
        sym = check_symbol(symbol)
        t = ticks.ts.view(np.int64)
        days = t // _NS_PER_DAY
        table = ticks.to_arrow()
        bounds = np.flatnonzero(np.diff(days)) + 1
        starts = np.concatenate([[0], bounds]) if len(t) else np.empty(0, np.int64)
        ends = np.concatenate([bounds, [len(t)]]) if len(t) else np.empty(0, np.int64)
        for a, b in zip(starts, ends, strict=True):
            day = str(np.datetime64(int(days[a]), "D"))
            path = self.store._tick_path(sym, day)
            part = table.slice(int(a), int(b - a))
            # replace_days replaces what was stored before this batch; within a batch it appends
            source = self.current(path) if (mode == "append" or path in self._staged) else None
            if source is not None:
                old = self.store.files.read_table(source).cast(TICK_SCHEMA)
                part = pa.concat_tables([old, part])
                order = np.argsort(part.column("ts").cast(pa.int64()).to_numpy(), kind="stable")
                part = part.take(pa.array(order))
            # seq = position in the store's order within the day, so (ts, seq) sorts reproduce it
            part = part.set_column(4, "seq", pa.array(np.arange(part.num_rows, dtype=np.int64)))
            self.stage_table(path, part)
        return len(ticks)

    def set_meta(self, meta: SymbolMeta) -> None:
        self.stage_bytes(self.store._meta_path(meta.symbol), json.dumps(meta.model_dump(), indent=1).encode())

    def commit(self) -> None:
        # only renames are left: the failure window is a crash between two renames of one batch
        files = self.store.files
        for final, tmp in self._staged.items():
            files.replace(tmp, final)
        self._staged.clear()

    def abort(self) -> None:
        for tmp in self._staged.values():
            self.store.files.remove(tmp)
        self._staged.clear()


class MarketStore:
    """Bars, ticks and symbol metadata under one root (local folder or URL)."""

    def __init__(self, files: Files) -> None:
        self.files = files

    @property
    def url(self) -> str:
        return self.files.url

    @classmethod
    def open(cls, url: str | os.PathLike[str] | None = None, *, create: bool = True) -> MarketStore:
        """Open (and by default create) the store at ``url``, ``$QUANTQ_DATA`` or the per-user default."""
        location = resolve_location(url)
        files = open_files(location)
        marker = files.join("FORMAT.json")
        try:
            if files.exists(marker):
                found = json.loads(files.read_bytes(marker))
                if found.get("format") != FORMAT["format"] or found.get("version") != FORMAT["version"]:
                    raise StoreError(f"{location} holds {found}, not a version-{FORMAT['version']} quantq market store")
            elif create:
                files.makedirs(files.join("bars"))
                files.write_bytes(marker, json.dumps(FORMAT).encode())
            else:
                raise StoreError(f"no quantq market store at {location}")
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot open store {location}: {exc}") from None
        return cls(files)

    # paths ----------------------------------------------------------------
    def _bars_path(self, sym: str, size: str) -> str:
        return self.files.join("bars", size, f"{sym}.parquet")

    def _tick_path(self, sym: str, day: str) -> str:
        return self.files.join("ticks", sym, f"{day}.parquet")

    def _meta_path(self, sym: str) -> str:
        return self.files.join("meta", f"{sym}.json")

    # writes ---------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self) -> Iterator[Batch]:
        """Stage several writes and commit them together; an exception inside discards all of them."""
        b = Batch(self)
        try:
            yield b
        except BaseException:
            b.abort()
            raise
        b.commit()

    def write_bars(
        self, symbol: str, bars: Bars, bar_size: str = "1d", *, mode: Literal["merge", "replace"] = "merge"
    ) -> int:
        """Write one symbol's bars atomically; returns the rows written."""
        with self.batch() as b:
            return b.write_bars(symbol, bars, bar_size, mode=mode)

    def write_ticks(self, symbol: str, ticks: Ticks, *, mode: Literal["append", "replace_days"] = "append") -> int:
        """Write one symbol's ticks (all days staged, then renamed); returns the prints written."""
        with self.batch() as b:
            return b.write_ticks(symbol, ticks, mode=mode)

    def write_indicator_series(self, symbol: str, bar_size: str, ts: np.ndarray, columns: dict[str, np.ndarray]) -> int:
        """Store derived series (indicators) for a symbol's bars, one float64 column each (NaN allowed).

        Columns already stored on the same ``ts`` are kept unless named again; a different ``ts``
        replaces the file.  Lives in ``indicators/<bar_size>/<SYMBOL>.parquet``.
        """
        sym, size = check_symbol(symbol), check_bar_size(bar_size)
        t = np.asarray(ts).astype("datetime64[ns]").view(np.int64)
        if len(t) > 1 and not (np.diff(t) > 0).all():
            raise ValueError("indicator ts must be strictly increasing")
        if not columns:
            raise ValueError("no indicator columns given")
        data: dict[str, Any] = {}
        for name, values in columns.items():
            if not _COLUMN_RE.match(name) or name == "ts":
                raise ValueError(f"invalid indicator column name {name!r}")
            arr = np.asarray(values, dtype=np.float64)
            if arr.shape != t.shape:
                raise ValueError(f"indicator {name!r} has shape {arr.shape}, expected {t.shape}")
            data[name] = pa.array(arr, pa.float64(), from_pandas=False)
        path = self.files.join("indicators", size, f"{sym}.parquet")
        if self.files.exists(path):
            old = self.files.read_table(path)
            if np.array_equal(old.column("ts").cast(pa.int64()).to_numpy(), t):
                data = {n: old.column(n) for n in old.column_names if n != "ts" and n not in data} | data
        table = pa.table(
            {"ts": pa.array(t, pa.int64()).cast(TICK_SCHEMA.field("ts").type), **dict(sorted(data.items()))}
        )
        with self.batch() as b:
            b.stage_table(path, table)
        return len(t)

    def read_indicator_series(self, symbol: str, bar_size: str = "1d") -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(ts, {name: values})`` written by :meth:`write_indicator_series`."""
        sym, size = check_symbol(symbol), check_bar_size(bar_size)
        try:
            table = self.files.read_table(self.files.join("indicators", size, f"{sym}.parquet"))
        except FileNotFoundError:
            raise StoreError(f"no {size} indicators for {sym} in store {self.url}") from None
        ts = table.column("ts").cast(pa.int64()).to_numpy().view("datetime64[ns]")
        return ts, {n: table.column(n).to_numpy() for n in table.column_names if n != "ts"}

    def set_meta(self, symbol: str, **fields: Any) -> SymbolMeta:
        """Create or update a symbol's metadata (fields of :class:`SymbolMeta`)."""
        sym = check_symbol(symbol)
        current = self.get_meta(sym) or SymbolMeta(symbol=sym)
        meta = current.merged(fields)
        with self.batch() as b:
            b.set_meta(meta)
        return meta

    # reads ----------------------------------------------------------------
    def get_meta(self, symbol: str) -> SymbolMeta | None:
        path = self._meta_path(check_symbol(symbol))
        if not self.files.exists(path):
            return None
        return SymbolMeta.model_validate_json(self.files.read_bytes(path))

    def bar_sizes(self) -> list[str]:
        return self.files.listdir(self.files.join("bars"))

    def symbols(self, bar_size: str | None = None) -> list[str]:
        """Every symbol with bars (of ``bar_size`` if given), ticks or metadata."""
        names: set[str] = set()
        sizes = [check_bar_size(bar_size)] if bar_size else self.bar_sizes()
        for size in sizes:
            names.update(
                n[: -len(".parquet")]
                for n in self.files.listdir(self.files.join("bars", size))
                if n.endswith(".parquet")
            )
        if bar_size is None:
            names.update(self.files.listdir(self.files.join("ticks")))
            names.update(n[: -len(".json")] for n in self.files.listdir(self.files.join("meta")) if n.endswith(".json"))
        return sorted(names)

    def read_bars(self, symbol: str, bar_size: str = "1d", start: Any = None, end: Any = None) -> Bars:
        """One symbol's bars in ``[start, end]`` (inclusive; dates or tz-aware times)."""
        sym, size = check_symbol(symbol), check_bar_size(bar_size)
        path = self._bars_path(sym, size)
        try:
            table = self.files.read_table(path)
        except FileNotFoundError:
            raise StoreError(f"no {size} bars for {sym} in store {self.url}") from None
        return _slice_bars(_bars_from_table(table, is_daily(size)), _to_ns(start), _to_ns(end, end=True))

    def read_bars_many(
        self,
        symbols: Sequence[str] | None = None,
        bar_size: str = "1d",
        start: Any = None,
        end: Any = None,
        *,
        missing: Literal["error", "skip"] = "error",
        threads: int = 8,
        cache: BarsCache | None = None,
    ) -> dict[str, Bars]:
        """Bars of many symbols (all of ``bar_size`` when ``symbols`` is None), read in parallel.

        With ``cache`` (local stores only), files unchanged since they were last read are served
        from it without decoding or validating them again (see :mod:`quantq.finance.data.cache`).
        """
        size = check_bar_size(bar_size)
        syms = self.symbols(size) if symbols is None else [check_symbol(s) for s in symbols]
        lo, hi, daily = _to_ns(start), _to_ns(end, end=True), is_daily(size)

        if self.files.local:
            return self._read_many_local(syms, size, lo, hi, missing, cache)

        def one(sym: str) -> tuple[str, Bars | None]:
            try:
                table = self.files.read_table(self._bars_path(sym, size))
            except FileNotFoundError:
                if missing == "skip":
                    return sym, None
                raise StoreError(f"no {size} bars for {sym} in store {self.url}") from None
            return sym, _slice_bars(_bars_from_table(table, daily), lo, hi)

        # parquet decoding releases the GIL, so threads overlap file reads and decoding
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            found = list(pool.map(one, syms))
        return {sym: bars for sym, bars in found if bars is not None}

    def _read_many_local(
        self, syms: list[str], size: str, lo: int | None, hi: int | None, missing: str, cache: BarsCache | None = None
    ) -> dict[str, Bars]:
        daily = is_daily(size)
        whole: dict[str, Bars] = {}
        to_read: list[tuple[str, str, FileIdentity]] = []  # (symbol, path, identity stat-ed before the read)
        for sym in syms:
            path = self._bars_path(sym, size)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                if missing != "skip":
                    raise StoreError(f"no {size} bars for {sym} in store {self.url}") from None
                continue
            ident = FileIdentity.of(st)
            hit = cache.get(path, ident) if cache is not None else None
            if hit is not None:
                whole[sym] = hit
            else:
                to_read.append((sym, path, ident))
        if to_read:
            fresh = self._decode_local([p for _, p, _ in to_read], daily)
            for (sym, path, ident), bars in zip(to_read, fresh, strict=True):
                whole[sym] = cache.put(path, ident, bars) if cache is not None else bars
        # keep the caller's symbol order
        return {sym: _slice_bars(whole[sym], lo, hi) for sym in syms if sym in whole}

    def _decode_local(self, paths: list[str], daily: bool) -> list[Bars]:
        """Read and validate many local bar files, one ``Bars`` per path (views of shared arrays)."""
        # one multi-file Polars scan (Rust, parallel) beats 500 pyarrow opens ~2x; see bench_store.py
        import polars as pl

        df = pl.read_parquet(paths, include_file_paths="__path")
        lengths = df["ts"].chunk_lengths()
        if not _chunks_match_files(df["__path"], lengths, paths):
            # a file with several row groups: label rows by file the slow way
            counts = df.group_by("__path", maintain_order=True).len()
            by_path = dict(zip(counts["__path"].to_list(), counts["len"].to_list(), strict=True))
            lengths = [by_path.get(p, 0) for p in paths]
        ts = df["ts"].to_physical().to_numpy()
        cols = [df[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
        for a in (ts, *cols):
            a.flags.writeable = False  # slices become read-only views: Bars keeps them without copying
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # one whole-universe validation pass; per-symbol checks only if it fails (to name the rows)
        trusted = _universe_valid(ts, cols[0], cols[1], cols[2], cols[3], cols[4], starts, daily)
        out = []
        for at, n in zip(starts.tolist(), lengths, strict=True):
            part = {"open": cols[0], "high": cols[1], "low": cols[2], "close": cols[3], "volume": cols[4]}
            fields = {k: v[at : at + n] for k, v in part.items()}
            view = ts[at : at + n].view("datetime64[ns]")
            out.append(Bars.trusted(ts=view, daily=daily, **fields) if trusted else Bars(ts=view, daily=daily, **fields))
        return out

    def read_bars_table(
        self, symbols: Sequence[str] | None = None, bar_size: str = "1d", start: Any = None, end: Any = None
    ) -> pa.Table:
        """Many symbols' bars as one long Arrow table (``symbol`` first), for pandas/Polars users at the edges."""
        many = self.read_bars_many(symbols, bar_size, start, end)
        parts = [b.to_arrow().add_column(0, "symbol", pa.array([s] * len(b), pa.string())) for s, b in many.items()]
        if not parts:
            return BAR_SCHEMA.insert(0, pa.field("symbol", pa.string())).empty_table()
        return pa.concat_tables(parts)

    def read_ticks(self, symbol: str, start: Any = None, end: Any = None) -> Ticks:
        """One symbol's prints in ``[start, end]``, sorted by (ts, seq)."""
        sym = check_symbol(symbol)
        lo, hi = _to_ns(start), _to_ns(end, end=True)
        days = [n[:-8] for n in self.files.listdir(self.files.join("ticks", sym)) if n.endswith(".parquet")]
        if not days:
            raise StoreError(f"no ticks for {sym} in store {self.url}")
        if lo is not None:
            days = [
                d for d in days if np.datetime64(d, "D").astype("datetime64[ns]").astype(np.int64) + _NS_PER_DAY > lo
            ]
        if hi is not None:
            days = [d for d in days if np.datetime64(d, "D").astype("datetime64[ns]").astype(np.int64) <= hi]
        if not days:
            return Ticks.empty()
        table = pa.concat_tables([self.files.read_table(self._tick_path(sym, d)).cast(TICK_SCHEMA) for d in days])
        t = table.column("ts").cast(pa.int64()).to_numpy()
        keep = np.ones(len(t), bool)
        if lo is not None:
            keep &= t >= lo
        if hi is not None:
            keep &= t <= hi
        if not keep.all():
            table = table.filter(pa.array(keep))
        return Ticks.from_frame(table)

    def list(self) -> list[SeriesInfo]:
        """Every stored series with its row count and first/last time, from Parquet footers only."""
        jobs: list[tuple[str, str, list[str]]] = []  # (symbol, bar size or "tick", files)
        for size in self.bar_sizes():
            for name in self.files.listdir(self.files.join("bars", size)):
                if name.endswith(".parquet"):
                    jobs.append((name[:-8], size, [self.files.join("bars", size, name)]))
        for sym in self.files.listdir(self.files.join("ticks")):
            folder = self.files.join("ticks", sym)
            paths = [self.files.join("ticks", sym, n) for n in self.files.listdir(folder) if n.endswith(".parquet")]
            if paths:
                jobs.append((sym, "tick", paths))
        # footer reads are small I/O-bound requests: overlap them (matters most on object stores)
        with ThreadPoolExecutor(max_workers=8) as pool:
            spans = list(pool.map(lambda job: self._footer_span(job[2]), jobs))
        out = []
        for (sym, size, _), (rows, first, last) in zip(jobs, spans, strict=True):
            daily = size != "tick" and is_daily(size)
            out.append(SeriesInfo(sym, size, rows, _iso(first, daily), _iso(last, daily)))
        return sorted(out, key=lambda s: (s.symbol, s.bar_size))

    def _footer_span(self, paths: Iterable[str]) -> tuple[int, int | None, int | None]:
        rows, first, last = 0, None, None
        for path in paths:
            md = self.files.parquet_metadata(path)
            rows += md.num_rows
            for rg in range(md.num_row_groups):
                col = md.row_group(rg).column(0)  # ts is always column 0
                st = col.statistics
                if st is None or not st.has_min_max or md.row_group(rg).num_rows == 0:
                    continue
                lo, hi = _stat_ns(st.min), _stat_ns(st.max)
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
        return rows, first, last


def _chunks_match_files(path_col: Any, lengths: list[int], paths: list[str]) -> bool:
    """Polars reads each single-row-group file as one chunk; check that before trusting it."""
    if len(lengths) != len(paths) or min(lengths, default=1) == 0:
        return False
    ends = np.cumsum(lengths)
    probe = np.concatenate([ends - np.asarray(lengths), ends - 1])
    got = path_col.gather(probe).to_list()
    return got == paths + paths


def _universe_valid(
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    starts: np.ndarray,
    daily: bool,
) -> bool:
    """True when every bar of every symbol (concatenated, symbol i from ``starts[i]``) is valid."""
    if len(ts) == 0:
        return True
    steps = np.diff(ts)
    first = np.zeros(len(ts), dtype=bool)
    first[starts[starts < len(ts)]] = True
    with np.errstate(invalid="ignore"):
        return bool(
            (steps[~first[1:]] > 0).all()
            and lo.min() > 0
            and np.isfinite(h).all()
            and (h >= lo).all()
            and ((o >= lo) & (o <= h)).all()
            and ((c >= lo) & (c <= h)).all()
            and v.min() >= 0
            and np.isfinite(v).all()
            and (not daily or not (ts % _NS_PER_DAY).any())
        )


def _stat_ns(v: Any) -> int:
    if isinstance(v, (int, np.integer)):
        return int(v)
    if hasattr(v, "value"):  # pandas Timestamp keeps nanoseconds
        return int(v.value)
    import pandas as pd

    return int(pd.Timestamp(v).value)
