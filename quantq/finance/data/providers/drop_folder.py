"""A folder of files named after symbols (``AAPL.csv``, ``MSFT_daily.parquet`` ...), read with the importer."""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from quantq.finance.data.importers import ImportFileError, ImportOptions, import_file, symbol_from_filename
from quantq.finance.data.providers import ProviderError
from quantq.finance.data.store import MarketStore
from quantq.finance.schema import Bars, SchemaError, check_symbol

EXTENSIONS = (".csv", ".parquet", ".pq")


class DropFolderProvider:
    name = "drop_folder"

    def __init__(self, folder: str | os.PathLike[str] | None) -> None:
        if not folder:
            raise ProviderError("source drop_folder needs a folder")
        self.folder = os.fspath(folder)
        if not os.path.isdir(self.folder):
            raise ProviderError(f"drop folder {self.folder} does not exist")

    def find(self, symbol: str) -> str:
        sym = check_symbol(symbol)
        matches = []
        for name in sorted(os.listdir(self.folder)):
            if name.lower().endswith(EXTENSIONS):
                try:
                    if symbol_from_filename(name) == sym:
                        matches.append(os.path.join(self.folder, name))
                except ImportFileError:
                    continue
        if not matches:
            raise ProviderError(f"no file for {sym} in {self.folder} (expected {sym}.csv, {sym}_*.csv or .parquet)")
        if len(matches) > 1:
            raise ProviderError(f"several files for {sym} in {self.folder}: {[os.path.basename(m) for m in matches]}")
        return matches[0]

    def fetch(self, symbol: str, start: dt.date | None, end: dt.date | None, bar_size: str) -> Bars:
        path = self.find(symbol)
        sym = check_symbol(symbol)
        # the importer's full validation, into a throwaway store, so the real store sees only good bars
        with tempfile.TemporaryDirectory(prefix="quantq-drop-") as tmp:
            scratch = MarketStore.open(tmp)
            try:
                report = import_file(scratch, path, ImportOptions(symbol=sym, bar_size=bar_size))
            except (ImportFileError, SchemaError, ValueError) as exc:
                raise ProviderError(f"{os.path.basename(path)}: {exc}") from None
            if report.status != "imported":
                first = "; ".join(f"row {r.row}: {r.reason}" for r in report.rejects[:5])
                raise ProviderError(f"{os.path.basename(path)}: {report.rejected_rows} invalid row(s): {first}")
            return scratch.read_bars(sym, bar_size, start, end)
