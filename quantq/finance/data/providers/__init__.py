"""Price sources for ``price_update`` behind one small interface.

A provider turns ``(symbol, start, end, bar_size)`` into validated :class:`~quantq.finance.schema.Bars`
or raises :class:`ProviderError` with a message a user can act on.  Sources:
``drop_folder`` (CSV/Parquet files named after symbols), ``synthetic`` (the seeded generator)
and ``yahoo_finance`` (yfinance, an optional extra, imported only when used).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from quantq.finance.schema import Bars


class ProviderError(Exception):
    """A symbol (or the whole source) could not be fetched; the message says why."""


class SourceUnavailable(ProviderError):
    """The whole source is unusable (network down, extra not installed): no symbol can succeed."""


class Provider(Protocol):
    name: str

    def fetch(self, symbol: str, start: dt.date | None, end: dt.date | None, bar_size: str) -> Bars: ...


SOURCES = ("drop_folder", "synthetic", "yahoo_finance")
ALIASES = {"yahoo": "yahoo_finance", "folder": "drop_folder", "csv": "drop_folder"}


def get_provider(source: str, **options: Any) -> Provider:
    """The provider named ``source`` (see :data:`SOURCES`), built with its options."""
    name = ALIASES.get(source, source)
    if name == "drop_folder":
        from quantq.finance.data.providers.drop_folder import DropFolderProvider

        return DropFolderProvider(options.get("folder"))
    if name == "synthetic":
        from quantq.finance.data.providers.synthetic import SyntheticProvider

        return SyntheticProvider(seed=int(options.get("seed", 42)))
    if name == "yahoo_finance":
        from quantq.finance.data.providers.yahoo import YahooProvider

        return YahooProvider()
    raise ProviderError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
