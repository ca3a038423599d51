"""Fetch bars for symbols from a provider and merge them into the store, one symbol at a time.

Each symbol is fetched, validated and written atomically on its own: a symbol that fails is
reported with its error and the others still complete.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from quantq.finance.data.fs import StoreError
from quantq.finance.data.providers import Provider, ProviderError, SourceUnavailable
from quantq.finance.data.store import MarketStore
from quantq.finance.schema import SchemaError, check_bar_size, check_symbol

Progress = Callable[[float, str], None]


@dataclasses.dataclass(frozen=True)
class SymbolUpdate:
    symbol: str
    status: str  # "ok" or "failed"
    rows: int = 0
    first: str | None = None
    last: str | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class UpdateReport:
    source: str
    bar_size: str
    results: tuple[SymbolUpdate, ...]

    @property
    def failed(self) -> list[SymbolUpdate]:
        return [r for r in self.results if r.status != "ok"]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bar_size": self.bar_size,
            "updated": sum(r.status == "ok" for r in self.results),
            "failed": [{"symbol": r.symbol, "error": r.error} for r in self.failed],
            "symbols": [dataclasses.asdict(r) for r in self.results],
        }


def update_prices(
    store: MarketStore,
    provider: Provider,
    symbols: Sequence[str],
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    bar_size: str = "1d",
    progress: Progress | None = None,
) -> UpdateReport:
    """Fetch each symbol from ``provider`` and merge its bars into ``store``.

    A per-symbol problem is reported in the result; :class:`SourceUnavailable` (network down,
    extra missing) is raised at once, since no symbol could succeed.
    """
    size = check_bar_size(bar_size)
    results: list[SymbolUpdate] = []
    for k, raw in enumerate(symbols):
        try:
            sym = check_symbol(raw)
            bars = provider.fetch(sym, start, end, size)
            if len(bars) == 0:
                raise ProviderError(f"{provider.name} returned no bars for {sym}")
            store.write_bars(sym, bars, size, mode="merge")
            first, last = (str(bars.ts[i].astype("datetime64[D]" if bars.daily else "datetime64[s]")) for i in (0, -1))
            results.append(SymbolUpdate(sym, "ok", len(bars), first, last))
        except SourceUnavailable:
            raise
        except (ProviderError, SchemaError, StoreError, ValueError, OSError) as exc:
            results.append(SymbolUpdate(str(raw), "failed", error=str(exc)))
        if progress is not None:
            progress(100.0 * (k + 1) / len(symbols), f"{raw}: {results[-1].status}")
    return UpdateReport(provider.name, size, tuple(results))


def write_synthetic(store: MarketStore, cfg: Any, progress: Progress | None = None) -> dict[str, Any]:
    """Generate the universe of ``cfg`` (a SyntheticConfig) into ``store``, one atomic batch per symbol."""
    from quantq.finance.data.synthetic import generate_universe

    bars_rows = tick_rows = 0
    symbols: list[str] = []

    def step(done: int, total: int, sym: str) -> None:
        if progress is not None:
            progress(100.0 * done / total, sym)

    for sym, bars, ticks, meta in generate_universe(cfg, step):
        with store.batch() as b:
            bars_rows += b.write_bars(sym, bars, "1d", mode="replace")
            if ticks is not None:
                tick_rows += b.write_ticks(sym, ticks, mode="replace_days")
            b.set_meta(meta)
        symbols.append(sym)
    return {
        "symbols": len(symbols),
        "first_symbol": symbols[0],
        "last_symbol": symbols[-1],
        "bar_rows": bars_rows,
        "tick_rows": tick_rows,
        "seed": cfg.seed,
    }
