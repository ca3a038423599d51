"""Load the repository's sample files (``samples/manifest.json``) and a synthetic universe into a store."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quantq.finance.data.importers import ImportFileError, ImportOptions, ImportReport, import_file
from quantq.finance.data.store import MarketStore

_KINDS = {"historical_prices": "bars", "bars": "bars", "ticks": "ticks", "close_prices": "closes"}


def default_samples_dir() -> Path | None:
    """``samples/`` of a source checkout (it is not shipped inside the wheel), if present."""
    here = Path(__file__).resolve().parents[3] / "samples"
    return here if (here / "manifest.json").is_file() else None


def load_samples(
    store: MarketStore, folder: str | os.PathLike[str], progress: Callable[[str], None] | None = None
) -> list[ImportReport]:
    """Import every file listed in ``folder/manifest.json``; raise ImportFileError if one is rejected."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        entries: list[dict[str, Any]] = manifest["files"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ImportFileError(f"{folder}: cannot read manifest.json: {exc}") from None
    reports = []
    for entry in entries:
        opts = ImportOptions(
            kind=_KINDS[entry.get("import_type", "historical_prices")],  # type: ignore[arg-type]
            symbol=entry.get("symbol"),
            bar_size=entry.get("bar_size", "1d"),
            exclude_symbols=tuple(entry.get("exclude_symbols", ())),
            bar_mode="replace",
        )
        report = import_file(store, folder / entry["file"], opts)
        if report.status != "imported":
            raise ImportFileError(f"sample {entry['file']} was rejected: {report.rejects[:3]}")
        if entry.get("symbol") and entry.get("exchange"):
            store.set_meta(entry["symbol"], exchange=entry["exchange"])
        reports.append(report)
        if progress is not None:
            progress(f"{entry['file']}: {report.rows_written:,} rows, {len(report.symbols)} symbol(s)")
    return reports
