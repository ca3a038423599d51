"""Market data: the store, importers, the synthetic generator and price providers."""

from __future__ import annotations
