from __future__ import annotations

from pathlib import Path

import pytest

from quantq import errors
from quantq.context import TaskContext
from quantq.finance.data.store import MarketStore
from quantq.finance.tasks.data import DataTaskError, data_import

from .conftest import SAMPLES, tree_snapshot


class Reporter:
    def __init__(self, cancel_after: int | None = None) -> None:
        self.calls: list[tuple[float, str | None]] = []
        self.cancel_after = cancel_after

    def progress(self, percent: float, message: str | None) -> None:
        self.calls.append((percent, message))

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.calls) >= self.cancel_after


def _ctx(reporter: Reporter | None = None) -> TaskContext:
    return TaskContext(job_id="j1", task="data_import", queue="default", attempt=1, reporter=reporter)


def test_seed_002_parameters_are_accepted(tmp_path: Path) -> None:
    rep = Reporter()
    out = data_import.run(
        {"file_path": str(SAMPLES / "MSFT_daily.csv"), "import_type": "historical_prices", "data": str(tmp_path)},
        _ctx(rep),
    )
    assert out["status"] == "imported" and out["rows_written"] == 7983 and out["symbols"] == {"MSFT": 7983}
    assert out["import_type"] == "historical_prices" and out["rejects"] == []
    assert rep.calls[-1][0] == 100.0 and all(a[0] <= b[0] for a, b in zip(rep.calls, rep.calls[1:], strict=False))


def test_rejected_file_returns_the_report(tmp_path: Path) -> None:
    bad = tmp_path / "X.csv"
    bad.write_text("date,open,high,low,close,volume\n2020-01-02,10,11,9,10,5\n2020-01-02,10,11,9,10,5\n")
    out = data_import.run({"file_path": str(bad), "data": str(tmp_path / "s")}, _ctx())
    assert out["status"] == "rejected" and out["committed"] is False
    assert out["rejects"] == [{"row": 2, "reason": "duplicate timestamp", "symbol": "X"}]
    assert MarketStore.open(tmp_path / "s").list() == []


def test_cancel_midway_writes_nothing(tmp_path: Path) -> None:
    store = MarketStore.open(tmp_path / "s")
    before = tree_snapshot(store.url)
    with pytest.raises(errors.JobCancelled):
        data_import.run(
            {"file_path": str(SAMPLES / "MSFT_daily.csv"), "chunk_rows": 500, "data": store.url},
            _ctx(Reporter(cancel_after=3)),
        )
    assert tree_snapshot(store.url) == before


def test_bad_arguments_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidArguments):
        data_import.validate_args({"file_path": "x.csv", "import_type": "fundamentals"})
    with pytest.raises(errors.InvalidArguments):
        data_import.validate_args({"file_path": "x.csv", "surprise": 1})
    with pytest.raises(DataTaskError, match="no such file"):
        data_import.run({"file_path": str(tmp_path / "none.csv"), "data": str(tmp_path)}, _ctx())
    with pytest.raises(DataTaskError, match="invalid bar size"):
        data_import.run(
            {"file_path": str(SAMPLES / "MSFT_daily.csv"), "bar_size": "fortnight", "data": str(tmp_path)}, _ctx()
        )


def test_close_prices_and_ticks_import_types(tmp_path: Path) -> None:
    out = data_import.run(
        {
            "file_path": str(SAMPLES / "SP500_20stocks_adjclose_daily.csv"),
            "import_type": "close_prices",
            "exclude_symbols": ["MSFT"],
            "data": str(tmp_path),
        },
        _ctx(),
    )
    assert out["status"] == "imported" and len(out["symbols"]) == 19
    ticks = tmp_path / "T.csv"
    ticks.write_text("ts,price,size,venue\n2024-01-02 09:30:00,10,100,N\n2024-01-02 09:30:01,10.01,7,D\n")
    out = data_import.run(
        {"file_path": str(ticks), "import_type": "ticks", "timezone": "America/New_York", "data": str(tmp_path)}, _ctx()
    )
    assert out["status"] == "imported" and out["symbols"] == {"T": 2} and out["bar_size"] is None


def test_args_schema_is_typed() -> None:
    props = data_import.args_schema()["properties"]
    assert props["import_type"]["enum"] == ["historical_prices", "bars", "ticks", "close_prices"]
    assert data_import.args_schema()["required"] == ["file_path"]
