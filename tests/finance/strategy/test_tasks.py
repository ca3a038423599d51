"""The backtest and screening tasks end to end: seed 001's shapes, through the task, the
Python API (App) and the CLI; errors carry seed 001's text and are not retried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from quantq import jobs
from quantq.app import App
from quantq.context import TaskContext
from quantq.finance.data.store import MarketStore
from quantq.finance.data.synthetic import generate_bars
from quantq.finance.schema import Bars
from quantq.tasks import default_registry
from tests.finance.strategy.conftest import require_oracle

ROOT = Path(__file__).resolve().parents[3]
SMA_CROSS = '''
from quantq.finance.strategy import helpers

def strategy(df):
    def one(g):
        fast = helpers.sma(g["close"], 10)
        slow = helpers.sma(g["close"], 20)
        return helpers.entries_to_target(helpers.crossover(fast, slow), helpers.crossunder(fast, slow))
    return helpers.per_ticker(df, one)
'''
GAP_UP = '''
def gap_up_strategy(df):
    instances = []
    df_filtered = df[(df['gap_pct'] > 1.0) & (df['volume_ratio'] > 1.5)]
    for _, row in df_filtered.iterrows():
        instances.append({
            'ticker': row['ticker'],
            'date': str(row['date']),
            'signal': True,
            'gap_percent': row['gap_pct'],
            'message': f"{row['ticker']} gapped up {row['gap_pct']:.1f}%"
        })
    return instances
'''
MOMENTUM = '''
def screen(df):
    out = []
    for ticker, g in df.groupby("ticker"):
        mom = g["close"].iloc[-1] / g["close"].iloc[-20] - 1
        out.append({"ticker": ticker, "score": mom, "signal": bool(mom > 0), "message": f"{ticker} momentum {mom:.1%}"})
    return out
'''
SYMBOLS = [f"SYN{i}" for i in range(6)]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store")
    store = MarketStore.open(str(path))
    days = np.arange(np.datetime64("2023-01-02"), np.datetime64("2024-12-31"))
    days = days[(days.view("int64") - 4) % 7 < 5].astype("datetime64[ns]")  # Mon-Fri
    for i, sym in enumerate(SYMBOLS):
        bars, _ = generate_bars(i, days, 11)
        store.write_bars(sym, bars, "1d")
    bt = require_oracle("backtesting.test")
    goog = bt.GOOG
    store.write_bars("GOOG", Bars(goog.index.values.astype("datetime64[ns]"), goog.Open.values, goog.High.values,
                                  goog.Low.values, goog.Close.values, goog.Volume.values.astype(float), daily=True), "1d")
    return path


@pytest.fixture
def env(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUANTQ_DATA", str(store_dir))
    return store_dir


def _ctx(name: str) -> TaskContext:
    return TaskContext(job_id="job-1", task=name, queue="default", attempt=1, worker_id="worker-pod-test")


def _run(name: str, args: dict) -> dict:
    return default_registry().get(name).run(args, _ctx(name))


def _check_stamp(result: dict) -> None:
    assert result["success"] is True and result["worker_id"] == "worker-pod-test"
    assert result["execution_time_seconds"] > 0 and result["execution_time_ms"] == pytest.approx(result["execution_time_seconds"] * 1000, rel=1e-3)
    assert result["completed_at"].endswith("Z")
    json.dumps(result, allow_nan=False)


def test_backtest_signal_mode_seed_shape(env):
    args = {"strategy_code": GAP_UP, "symbols": ["SYN0", "SYN1", "SYN2"], "start_date": "2024-01-01T00:00:00", "end_date": "2024-12-31T23:59:59"}
    result = _run("backtest", args)
    _check_stamp(result)
    assert result["execution_mode"] == "backtest" and result["strategy_mode"] == "signal"
    inst = result["instances"]
    assert inst and {"ticker", "date", "signal", "gap_percent", "message"} <= set(inst[0])
    s = result["summary"]
    assert s["total_instances"] == len(inst) and s["positive_signals"] == len(inst)
    assert s["date_range"] == ["2024-01-01T00:00:00", "2024-12-31T23:59:59"] and s["symbols_processed"] == 3
    assert s["data_shape"][1] == 15 and s["data_shape"][0] > 700
    pm = result["performance_metrics"]
    assert {"total_return", "win_rate", "avg_return"} <= set(pm)
    assert pm["trades_evaluated"] + pm["instances_without_forward_data"] == len(inst)


def test_backtest_position_mode_matches_backtesting_py(env):
    args = {"strategy_code": SMA_CROSS, "symbols": ["GOOG"], "start_date": "2004-01-01", "end_date": "2014-01-01", "execution": {"commission": 0.002}}
    result = _run("backtest", args)
    _check_stamp(result)
    pm = result["performance_metrics"]
    assert result["strategy_mode"] == "position"
    assert round(pm["total_return"] * 100, 2) == 462.64 and pm["trade_count"] == 93
    assert len(result["trades"]) == 94 and result["trades"][0]["entry_time"] == "2004-11-17"
    assert result["instances"][0] == {"ticker": "GOOG", "date": "2004-11-17", "signal": "short", "exit_date": "2004-12-06",
                                      "size": -59.0, "pnl": pytest.approx(-637.5717), "return": pytest.approx(-0.063935, abs=1e-6)}
    assert len(result["equity_curve"]["dates"]) == len(result["equity_curve"]["equity"]) == 2148


def test_screening_seed_shape(env):
    result = _run("screening", {"strategy_code": MOMENTUM, "universe": SYMBOLS + ["GOOG", "MISSING"], "limit": 3})
    _check_stamp(result)
    assert result["execution_mode"] == "screening"
    assert result["universe_size"] == 8 and result["results_returned"] == 3 and result["symbols_with_data"] == 7
    ranked = result["ranked_results"]
    assert [r["rank"] for r in ranked] == [1, 2, 3]
    assert ranked[0]["score"] >= ranked[1]["score"] >= ranked[2]["score"]
    assert {"ticker", "score", "signal", "message"} <= set(ranked[0])


@pytest.mark.parametrize(
    "args, text",
    [
        ({"strategy_code": "import os\ndef f(df):\n    return []"}, "Security validation failed: line 1: import of 'os'"),
        ({"strategy_code": "def f(df):\n    return 1 / 0"}, "ZeroDivisionError"),
        ({"strategy_code": GAP_UP, "symbols": []}, "symbols must name at least one symbol"),
        ({"strategy_code": GAP_UP, "start_date": "yesterday"}, "start_date must be an ISO date"),
        ({"strategy_code": GAP_UP, "start_date": "2025-01-01", "end_date": "2024-01-01"}, "end_date is before start_date"),
        ({"strategy_code": GAP_UP, "execution": {"slippage": 1}}, "unknown execution config field"),
        ({"strategy_code": GAP_UP, "symbols": ["NOPE"]}, "no daily bars"),
    ],
)
def test_backtest_errors_are_clear(env, args, text):
    base = {"strategy_code": GAP_UP, "symbols": ["SYN0"], "start_date": "2024-01-01", "end_date": "2024-06-30"}
    with pytest.raises(Exception, match=text.replace("(", r"\(").replace(")", r"\)")):
        _run("backtest", base | args)


def test_python_api_error_shape_and_no_retry(env):
    with App(immediate=True) as app:
        app.registry = default_registry()
        ok = app.enqueue("backtest", strategy_code=GAP_UP, symbols=["SYN1"], start_date="2024-01-01", end_date="2024-12-31")
        assert ok.fetch().status == jobs.JobStatus.COMPLETED
        assert ok.result["execution_mode"] == "backtest"
        bad = app.enqueue("backtest", strategy_code="import socket\ndef f(df):\n    return []", symbols=["SYN1"], start_date="2024-01-01", end_date="2024-12-31")
        job = bad.fetch()
        assert job.status == jobs.JobStatus.FAILED
        assert job.attempts == 1 and job.max_attempts == 1
        assert job.error is not None and job.error.message.startswith("Security validation failed: line 1")


def test_cli_enqueue_backtest(env, tmp_path):
    job = tmp_path / "job.json"  # the form: quantq enqueue backtest --args @job.json
    job.write_text(json.dumps({"strategy_code": GAP_UP, "symbols": ["SYN2"], "start_date": "2024-01-01", "end_date": "2024-12-31"}))
    proc = subprocess.run(
        [sys.executable, "-m", "quantq.cli.main", "enqueue", "backtest", "--args", f"@{job}", "--immediate", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "QUANTQ_URL": "memory://", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    text = json.dumps(out)
    assert '"execution_mode": "backtest"' in text and '"instances"' in text
