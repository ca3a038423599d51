"""The deeper_analysis job: arguments, per-symbol failures, progress, the seed's result shape, the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantq import App, errors
from quantq.context import TaskContext
from quantq.finance import ticks
from quantq.finance.data.store import MarketStore
from quantq.finance.schema import Ticks
from quantq.finance.tasks import ticks as job

from .helpers import SCENARIO, prints, session_table

SIMPLE = [(f"2024-03-08T10:00:0{i}-05:00", 20.0 + i / 100, 100, "NSDQ") for i in range(6)]


class FakeSource:
    """Stands in for the store: symbol -> rows, or an exception to raise on read."""

    def __init__(self, data: dict[str, Any], adv: dict[str, float] | None = None) -> None:
        self.data, self.adv, self.reads = data, adv or {}, []

    def symbols(self) -> list[str]:
        return sorted(self.data)

    def read(self, symbol: str) -> tuple[ticks.TickPrints, float | None]:
        self.reads.append(symbol)
        if symbol not in self.data:
            raise LookupError(f"no ticks for {symbol}")
        return prints(self.data[symbol], symbol), self.adv.get(symbol)


def _run(source: FakeSource, symbols: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    return job.run_deeper_analysis(
        symbols,
        ticks.DeeperAnalysisConfig(),
        source,
        job_id="job-1",
        clock=lambda: "2026-01-01T00:00:00+00:00",
        **kw,  # type: ignore[arg-type]
    )


def test_result_has_the_seed_shape_and_pure_values() -> None:
    out = _run(FakeSource({"AAA": SCENARIO, "BBB": SIMPLE}, adv={"AAA": 400.0}))
    assert set(out) == {"success", "job_id", "processed_count", "total_symbols", "data", "timestamp"}
    assert (out["success"], out["job_id"], out["processed_count"], out["total_symbols"]) == (True, "job-1", 2, 2)
    assert out["timestamp"] == "2026-01-01T00:00:00+00:00"
    assert list(out["data"]) == ["AAA", "BBB"]  # null symbols: every symbol with prints, sorted
    direct = ticks.analyze(prints(SCENARIO, "AAA"), session_table(), 400.0, ticks.DeeperAnalysisConfig()).to_json()
    assert out["data"]["AAA"] == direct
    assert out["data"]["AAA"]["rwvap"]["3d"]["excluded_print_count"] == 1  # the ADV reached the analysis
    json.dumps(out, allow_nan=False)


def test_a_failing_symbol_is_reported_and_the_others_complete() -> None:
    bad = SIMPLE[:2] + [("2024-03-08T10:00:09-05:00", 20.1234567, 100, "NSDQ")]
    source = FakeSource({"AAA": SIMPLE, "BAD": bad, "CCC": SCENARIO})
    out = _run(source, ["AAA", "BAD", "NONE", "CCC"])
    assert (out["success"], out["processed_count"], out["total_symbols"]) == (True, 2, 4)
    assert out["data"]["BAD"] == {"symbol": "BAD", "error": "print 2: price 20.1234567 has more than 6 decimals"}
    assert out["data"]["NONE"]["symbol"] == "NONE" and "no ticks for NONE" in out["data"]["NONE"]["error"]
    assert out["data"]["CCC"]["last_price"] == 55.5  # after the failures
    assert list(out["data"]) == ["AAA", "BAD", "NONE", "CCC"]  # the requested order


def test_symbols_are_deduplicated_keeping_the_first_occurrence() -> None:
    source = FakeSource({"AAA": SIMPLE, "BBB": SIMPLE})
    out = _run(source, ["bbb", "AAA", "BBB", " aaa"])
    assert list(out["data"]) == ["BBB", "AAA"] and out["total_symbols"] == 2
    assert source.reads == ["BBB", "AAA"]


def test_empty_list_means_every_symbol_and_an_empty_store_fails_the_job() -> None:
    assert list(_run(FakeSource({"B": SIMPLE, "A": SIMPLE}), [])["data"]) == ["A", "B"]
    with pytest.raises(job.NothingToProcess, match="no symbol in the store has tick prints"):
        _run(FakeSource({}), None)


def test_progress_per_symbol_and_cancellation() -> None:
    seen: list[tuple[float, str]] = []
    _run(
        FakeSource({"A": SIMPLE, "B": SIMPLE, "C": SIMPLE, "D": SIMPLE}),
        None,
        progress=lambda p, m: seen.append((p, m)),
    )
    assert [p for p, _ in seen] == [25.0, 50.0, 75.0, 100.0]
    assert seen[0][1] == "A: ok (1/4)"

    calls = {"n": 0}

    def cancel_after_two() -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise errors.JobCancelled()

    source = FakeSource({"A": SIMPLE, "B": SIMPLE, "C": SIMPLE})
    with pytest.raises(errors.JobCancelled):
        _run(source, None, check_cancelled=cancel_after_two)
    assert source.reads == ["A", "B"]


def test_failure_result_shape_for_the_api() -> None:
    out = job.failure_result("j", "bad args", timestamp="t")
    assert out == {
        "success": False,
        "job_id": "j",
        "error": "bad args",
        "processed_count": 0,
        "total_symbols": 0,
        "data": {},
        "timestamp": "t",
    }


@pytest.mark.parametrize(
    "args",
    [
        {"unknown": 1},
        {"min_lot": -1},
        {"band": "wide"},
        {"latest_prints": 0},
        {"top_n": 1001},
        {"extreme_multiplier": 0},
        {"srpan_min_gap": 0},
        {"symbols": "AAA"},
        {"dark_venues": [1, 2]},
    ],
)
def test_bad_arguments_fail_the_job_before_it_runs(args: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidArguments):
        job.deeper_analysis.validate_args(args)


@pytest.mark.parametrize(
    ("args", "field"), [({"srpan_min_prints": 31}, "srpan_min_prints"), ({"band": 0.0400001}, "band")]
)
def test_cross_field_and_decimal_checks_fail_the_job(args: dict[str, Any], field: str) -> None:
    ctx = TaskContext(job_id="j", task="deeper_analysis", queue="default", attempt=1)
    with pytest.raises(errors.InvalidArguments, match=field):
        job.deeper_analysis.run(args, ctx)


def _write(store: MarketStore, symbol: str, rows: list[tuple[str, float, float, str | None]]) -> None:
    ts = pd.to_datetime([r[0] for r in rows], utc=True).as_unit("ns").asi8.view("datetime64[ns]")
    store.write_ticks(
        symbol,
        Ticks(
            ts=ts,
            price=np.array([r[1] for r in rows]),
            size=np.array([r[2] for r in rows], dtype=float),
            venue=np.array([r[3] for r in rows], dtype=object),
            seq=np.arange(len(rows), dtype=np.int64),
        ),
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MarketStore:
    monkeypatch.setenv("QUANTQ_DATA", str(tmp_path / "store"))
    s = MarketStore.open(str(tmp_path / "store"))
    _write(s, "AAA", SCENARIO)
    s.set_meta("AAA", average_daily_volume=400.0)
    _write(s, "BAD", SIMPLE[:2] + [("2024-03-08T10:00:09-05:00", 20.1234567, 100, "NSDQ")])
    _write(s, "BBB", SIMPLE)
    s.set_meta("ONLYMETA", average_daily_volume=1.0)  # metadata but no prints: not picked by null symbols
    return s


def test_task_reads_the_store_end_to_end(store: MarketStore) -> None:
    app = App(immediate=True)
    app.registry.add(job.deeper_analysis)
    handle = app.enqueue("deeper_analysis", symbols=None)
    assert handle.status.value == "completed"
    out = handle.result
    assert (out["success"], out["processed_count"], out["total_symbols"]) == (True, 2, 3)
    assert list(out["data"]) == ["AAA", "BAD", "BBB"]
    assert out["job_id"] == handle.id
    direct = ticks.analyze(prints(SCENARIO, "AAA"), session_table(), 400.0, ticks.DeeperAnalysisConfig()).to_json()
    assert out["data"]["AAA"] == direct  # ADV from the metadata, every print from the store
    assert "more than 6 decimals" in out["data"]["BAD"]["error"]
    # a requested symbol without prints fails alone
    out2 = app.enqueue("deeper_analysis", symbols=["ONLYMETA", "BBB"]).result
    assert "no ticks for ONLYMETA" in out2["data"]["ONLYMETA"]["error"]
    assert out2["processed_count"] == 1
    # bad arguments are refused at enqueue
    with pytest.raises(errors.InvalidArguments):
        app.enqueue("deeper_analysis", min_lot=-5)


def test_task_with_an_empty_store_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTQ_DATA", str(tmp_path / "empty"))
    MarketStore.open(str(tmp_path / "empty"))
    app = App(immediate=True)
    app.registry.add(job.deeper_analysis)
    handle = app.enqueue("deeper_analysis")
    assert handle.status.value == "failed"
    assert handle.fetch().error is not None and "no symbol in the store has tick prints" in handle.fetch().error.message


def test_session_table_widens_for_symbols_far_apart() -> None:
    old = [("2023-06-15T11:00:00-04:00", 30.0, 100, "NSDQ")] * 5
    out = _run(FakeSource({"NEW": SIMPLE, "OLD": old}), ["NEW", "OLD"])
    assert out["data"]["NEW"]["rwvap"]["1d"]["sessions"] == ["2024-03-08"]
    assert out["data"]["OLD"]["rwvap"]["1d"]["sessions"] == ["2023-06-15"]
    # 3d of 2023-06-15 skips the weekend: Tue 13, Wed 14, Thu 15
    assert out["data"]["OLD"]["rwvap"]["3d"]["sessions"] == ["2023-06-13", "2023-06-14", "2023-06-15"]
    assert out["data"]["OLD"]["rwvap"]["1d"]["rwvap"] == 30.0


def test_task_defaults_follow_the_seed_worker() -> None:
    assert job.deeper_analysis.name == "deeper_analysis"
    assert (job.deeper_analysis.options.timeout, job.deeper_analysis.options.result_ttl) == (300.0, 7200)
    schema = job.deeper_analysis.args_schema()
    assert set(schema["properties"]) == {
        "symbols", "min_lot", "band", "latest_prints", "top_n", "dark_venues", "extreme_multiplier",
        "rwvap_min_prints", "srpan_prints", "srpan_min_size", "srpan_min_prints", "srpan_band", "srpan_min_gap",
    }  # fmt: skip
    assert schema["additionalProperties"] is False
