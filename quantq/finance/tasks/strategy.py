"""The ``backtest`` and ``screening`` tasks (seed 001's task types and result shapes).

args → validate the source → read bars from the store → run the strategy in the sandbox →
engine (signals/positions/scores) → seed 001's JSON result. Strategy failures raise
:class:`StrategyFailed` with seed 001's error text; the tasks are not retried (a rerun of
the same code fails the same way).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import time
from typing import Any

from quantq.context import TaskContext
from quantq.finance.backtest.config import ConfigError, ExecutionConfig
from quantq.finance.backtest.panel import Panel, backtest_targets, signal_performance
from quantq.finance.data.cache import BarsCache
from quantq.finance.screening import rank
from quantq.finance.strategy.sandbox import REQUIRED_LAYERS, SandboxConfig, SandboxError, default_sandbox
from quantq.finance.strategy.validate import StrategyValidationError, validate
from quantq.tasks import task

MAX_SYMBOLS = 2_000
SCREEN_WINDOW_BARS = 260  # about one year of daily bars: the "latest window" a screening sees
STRICT_ENV = "QUANTQ_STRICT_SANDBOX"  # "0" allows runs when a required layer is missing


class StrategyFailed(Exception):
    """A strategy was rejected or failed in the sandbox; the message is for the user."""


def warm() -> tuple[str, str]:
    """Call once when a worker (pool child) process starts: loads the numba fill kernel from its
    cache and starts this process's sandbox runner, so no job pays either cold start.
    Returns the sandbox self-check as a line for the worker's log (a warning when a layer is
    missing); the worker logs it in its own format."""
    from quantq.finance.backtest import kernel

    kernel.warm()
    config = sandbox_config()
    report = default_sandbox().self_check(config)
    return ("warning" if missing_layers(report) else "info"), describe_self_check(report, config.strict)


def missing_layers(report: dict[str, Any]) -> list[str]:
    """The required sandbox layers a self-check found inactive."""
    return [name for name in REQUIRED_LAYERS if not report[name]]


def describe_self_check(report: dict[str, Any], strict: bool) -> str:
    """One line for the worker's log: which sandbox layers are active, and what strictness means here."""
    ns = [name for name, on in (report.get("namespaces") or {}).items() if on]
    parts = [
        "process layout" if report["process_layout"] else None,
        "limits" if report["limits"] else None,
        f"namespaces ({', '.join(ns)})" if ns else None,
        f"Landlock (ABI {report['landlock_abi']})" if report["landlock"] else None,
        "seccomp" if report["seccomp"] else None,
    ]
    active = ", ".join(p for p in parts if p) or "none"
    missing = missing_layers(report)
    line = f"quantq: strategy sandbox self-check (pid {os.getpid()}): active: {active}"
    if not missing:
        return line + (" (strict)" if strict else " (not strict)")
    names = ", ".join(missing)
    if strict:
        return line + f"; MISSING required layer(s): {names}; strict sandbox: backtest and screening jobs will be refused"
    return line + f"; MISSING layer(s): {names}; not strict: user code runs without them"


def sandbox_config() -> SandboxConfig:
    """Limits for user runs; strict unless ``QUANTQ_STRICT_SANDBOX=0``."""
    return SandboxConfig(strict=os.environ.get(STRICT_ENV, "1") != "0")


_BARS_CACHE: BarsCache | None = None


def bars_cache() -> BarsCache:
    """This process's cache of validated bars (``$QUANTQ_BARS_CACHE_MB``, default 256 MB):
    a warm worker decodes and checks a store file once, and again only when the file changes."""
    global _BARS_CACHE
    if _BARS_CACHE is None:
        _BARS_CACHE = BarsCache()
    return _BARS_CACHE


def read_panel(symbols: list[str], start: Any, end: Any, *, tail: int | None = None) -> Panel:
    """Daily bars of ``symbols`` in ``[start, end]`` from the market store (``$QUANTQ_DATA``);
    with ``tail``, only the latest ``tail`` bars of each symbol."""
    from quantq.finance.data.store import MarketStore

    store = MarketStore.open(None, create=False)
    found = store.read_bars_many(symbols, "1d", start, end, missing="skip", cache=bars_cache())
    return Panel.from_bars(found, tail=tail)


def _symbols(values: list[str], field: str) -> list[str]:
    cleaned = list(dict.fromkeys(s.strip().upper() for s in values if isinstance(s, str) and s.strip()))
    if not cleaned:
        raise StrategyFailed(f"{field} must name at least one symbol")
    if len(cleaned) > MAX_SYMBOLS:
        raise StrategyFailed(f"{field} has {len(cleaned)} symbols; the limit is {MAX_SYMBOLS}")
    return cleaned


def _date(value: str, field: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StrategyFailed(f"{field} must be an ISO date or time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _entry(code: str) -> str:
    try:
        return validate(code)
    except StrategyValidationError as exc:
        raise StrategyFailed(str(exc)) from None


def _run(code: str, entry: str, mode: str, panel: Panel) -> Any:
    try:
        return default_sandbox().run(code, entry, mode, panel, sandbox_config())
    except SandboxError as exc:
        raise StrategyFailed(f"Strategy {exc.kind.replace('_', ' ')}: {exc}") from None


def _stamp(started: float, ctx: TaskContext) -> dict[str, Any]:
    elapsed = time.perf_counter() - started
    return {
        "execution_time_ms": round(elapsed * 1000.0, 3),
        "execution_time_seconds": round(elapsed, 6),
        "worker_id": ctx.worker_id or socket.gethostname(),
        "completed_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _clean(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in stats.items()}


@task("backtest", max_attempts=1, timeout=300)
def backtest(
    strategy_code: str,
    symbols: list[str],
    start_date: str,
    end_date: str,
    horizon: int = 5,
    execution: dict[str, Any] | None = None,
    *,
    ctx: TaskContext,
) -> dict[str, Any]:
    """Seed 001 backtest: signal mode (a list of instances) or position mode (targets per row)."""
    started = time.perf_counter()
    entry = _entry(strategy_code)
    syms = _symbols(symbols, "symbols")
    start, end = _date(start_date, "start_date"), _date(end_date, "end_date")
    if end < start:
        raise StrategyFailed("end_date is before start_date")
    try:
        config = ExecutionConfig.from_dict(execution)
    except ConfigError as exc:
        raise StrategyFailed(f"execution: {exc}") from None
    if not 1 <= horizon <= 252:
        raise StrategyFailed("horizon must be between 1 and 252 bars")
    panel = read_panel(syms, start, end)
    if not len(panel):
        raise StrategyFailed(f"no daily bars for {', '.join(syms)} between {start_date} and {end_date}")
    ctx.progress(10, f"running the strategy on {len(panel)} bars")
    outcome = _run(strategy_code, entry, "backtest", panel)
    summary: dict[str, Any] = {
        "date_range": [start_date, end_date],
        "symbols_requested": len(syms),
        "symbols_processed": len(panel.segments()),
        "data_shape": [len(panel), 15],
    }
    result: dict[str, Any] = {"success": True, "execution_mode": "backtest"}
    if outcome.kind == "targets":
        assert outcome.targets is not None
        try:
            report = backtest_targets(panel, outcome.targets, config)
        except ValueError as exc:
            raise StrategyFailed(f"Strategy invalid result: {exc}") from None
        trades = [t.to_json() for r in report["symbols"] for t in r.trades]
        result["strategy_mode"] = "position"
        result["instances"] = [
            {"ticker": t["symbol"], "date": t["entry_time"], "signal": t["side"], "exit_date": t["exit_time"], "size": t["size"], "pnl": t["pnl"], "return": t["return_pct"]}
            for t in trades
        ]
        summary |= {"total_instances": len(trades), "positive_signals": sum(1 for t in trades if (t["pnl"] or 0) > 0)}
        result["performance_metrics"] = _clean(report["portfolio"])
        result["symbols"] = {r.symbol: _clean(r.stats) for r in report["symbols"]}
        result["trades"] = trades
        result["equity_curve"] = {"dates": report["equity_dates"], "equity": report["equity"].tolist()}
        result["execution_config"] = config.to_json()
    else:
        rows = outcome.rows or []
        result["strategy_mode"] = "signal"
        result["instances"] = rows
        summary |= {"total_instances": len(rows), "positive_signals": sum(1 for r in rows if r.get("signal") not in (False, 0, None, "", "false"))}
        result["performance_metrics"] = _clean(signal_performance(rows, panel, horizon, config.commission))
    result["summary"] = summary
    result["sandbox_usage"] = outcome.usage
    return result | _stamp(started, ctx)


@task("screening", max_attempts=1, timeout=120)
def screening(
    strategy_code: str,
    universe: list[str],
    limit: int = 10,
    window: int = SCREEN_WINDOW_BARS,
    *,
    ctx: TaskContext,
) -> dict[str, Any]:
    """Seed 001 screening: score the latest ``window`` bars of each symbol, rank, keep ``limit``."""
    started = time.perf_counter()
    entry = _entry(strategy_code)
    syms = _symbols(universe, "universe")
    if not 1 <= limit <= 10_000:
        raise StrategyFailed("limit must be between 1 and 10000")
    if not 2 <= window <= 5_000:
        raise StrategyFailed("window must be between 2 and 5000 bars")
    panel = read_panel(syms, None, None, tail=window)
    if not len(panel):
        raise StrategyFailed("no daily bars for any symbol of the universe")
    outcome = _run(strategy_code, entry, "screening", panel)
    ranked = rank(outcome.rows or [], list(panel.symbols), limit)
    return {
        "success": True,
        "execution_mode": "screening",
        "ranked_results": ranked,
        "universe_size": len(syms),
        "symbols_with_data": len(panel.segments()),
        "results_returned": len(ranked),
        "sandbox_usage": outcome.usage,
    } | _stamp(started, ctx)
