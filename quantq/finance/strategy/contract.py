"""The strategy contract: what user code may import, which function runs, what it returns.

Shared by the validator (in the worker) and the sandbox child (which re-checks the
shape of what comes back); see docs/strategies.md for the user-facing version.
"""

from __future__ import annotations

# Modules a strategy may import (a submodule is allowed only when listed itself).
ALLOWED_MODULES: frozenset[str] = frozenset(
    {
        "numpy",
        "numpy.linalg",
        "numpy.random",
        "numpy.fft",
        "pandas",
        "math",
        "statistics",
        "talib",
        "talib.abstract",
        "quantq.finance.strategy.helpers",
    }
)

# Entry points by name, in order of preference; otherwise the last public top-level function.
ENTRY_NAMES: tuple[str, ...] = ("strategy", "my_strategy")

# Source limits, checked before parsing.
MAX_SOURCE_CHARS = 100_000
MAX_SOURCE_LINES = 2_000
MAX_AST_NODES = 50_000

# Result limits, checked in the sandbox child before anything leaves it.
MAX_RESULT_BYTES = 16 * 1024 * 1024
MAX_INSTANCES = 100_000
MAX_INSTANCE_KEYS = 50

# Columns of the frame a strategy receives (sorted by ticker, then date).
FRAME_COLUMNS: tuple[str, ...] = (
    "ticker",  # symbol, str
    "date",  # session date of a daily bar (datetime64, midnight, no time zone)
    "open",
    "high",
    "low",
    "close",
    "volume",
    "prev_close",  # previous bar's close of the same ticker (NaN on its first bar)
    "returns",  # close / prev_close - 1, a fraction
    "gap_pct",  # open / prev_close - 1, in PERCENT (seed 001: gap_pct > 3.0 means a 3 % gap)
    "change_pct",  # returns in percent
    "range_pct",  # (high - low) / prev_close, in percent
    "volume_avg_20",  # mean volume of the 20 previous bars (excludes today; NaN until 20 exist)
    "volume_ratio",  # volume / volume_avg_20
    "dollar_volume",  # close * volume
)
