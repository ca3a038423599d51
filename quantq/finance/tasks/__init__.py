"""The finance layer's jobs: validate args, read the store, call a pure function, return JSON.

Each submodule defines its tasks with ``quantq.tasks.task``; importing them here is
what registers them in every worker (through the ``quantq.tasks`` entry point).
"""

from __future__ import annotations

from quantq.finance.tasks.analysis import portfolio_analysis as portfolio_analysis
from quantq.finance.tasks.analysis import technical_analysis as technical_analysis
from quantq.finance.tasks.data import data_import as data_import
from quantq.finance.tasks.data import price_update as price_update
from quantq.finance.tasks.strategy import backtest as backtest
from quantq.finance.tasks.strategy import screening as screening
from quantq.finance.tasks.ticks import deeper_analysis as deeper_analysis
