"""Position-mode backtests: execution config, the fill kernel, trade records, the stats report."""

from __future__ import annotations

from quantq.finance.backtest.config import ExecutionConfig
from quantq.finance.backtest.engine import BacktestInputError, BacktestResult, SymbolResult, run_backtest
from quantq.finance.backtest.trades import Trade

__all__ = ["BacktestInputError", "BacktestResult", "ExecutionConfig", "SymbolResult", "Trade", "run_backtest"]
