"""AST validation: each rule rejects with its line and name; honest strategies pass."""

from __future__ import annotations

import pytest

from quantq.finance.strategy import contract
from quantq.finance.strategy.validate import StrategyValidationError, validate

GOOD = '''
import numpy as np
import pandas as pd
import math, statistics
import talib
from talib import abstract
from quantq.finance.strategy import helpers

LOOKBACK = 20

def _score(g):
    return float(g["close"].iloc[-1] / g["close"].iloc[0] - 1)

def my_strategy(df):
    out = []
    for ticker, g in df.groupby("ticker"):
        sma = talib.SMA(g["close"].to_numpy(), timeperiod=LOOKBACK)
        if getattr(g, "empty"):
            continue
        out.append({"ticker": ticker, "date": str(g["date"].iloc[-1]), "signal": bool(sma[-1] > 0), "score": _score(g)})
    return out
'''


def test_good_strategy_passes_and_entry_is_found():
    assert validate(GOOD) == "my_strategy"
    assert validate("def helper(df):\n    return []\ndef gap_up(df):\n    return helper(df)\n") == "gap_up"
    assert validate("def strategy(df):\n    return []\ndef other(df):\n    return []\n") == "strategy"


@pytest.mark.parametrize(
    "source, line, rule",
    [
        ("import os\ndef f(df):\n    return []", 1, "import"),
        ("def f(df):\n    import subprocess\n    return []", 2, "import"),
        ("from ctypes import CDLL\ndef f(df):\n    return []", 1, "import"),
        ("from quantq.finance.strategy import sandbox\ndef f(df):\n    return []", 1, "import"),
        ("from numpy import *\ndef f(df):\n    return []", 1, "import"),
        ("from . import x\ndef f(df):\n    return []", 1, "import"),
        ("def f(df):\n    return df.__class__", 2, "dunder-attribute"),
        ("def f(df):\n    return df._mgr", 2, "dunder-attribute"),
        ("def f(df):\n    return getattr(df, name)", 2, "computed-getattr"),
        ("def f(df):\n    return getattr(df, '_mgr')", 2, "dunder-attribute"),
        ("def f(df):\n    x = 1\n    return eval('x')", 3, "forbidden-builtin"),
        ("def f(df):\n    return exec", 2, "forbidden-builtin"),
        ("def f(df):\n    return compile('1', 'f', 'eval')", 2, "forbidden-builtin"),
        ("def f(df):\n    return open('/etc/passwd').read()", 2, "forbidden-builtin"),
        ("def f(df):\n    return __import__('os')", 2, "forbidden-builtin"),
        ("def f(df):\n    return __builtins__", 2, "forbidden-builtin"),
        ("def f(df):\n    global X\n    return []", 2, "global"),
        ("def f(df):\n    return '{0.__class__}'", 2, "dunder-string"),
        ("def f(df):\n    return '{0._mgr}'", 2, "format-attribute"),
        ("def f(df):\n    return df.query('a > 1')", 2, "forbidden-attribute"),
        ("import pandas as pd\ndef f(df):\n    return pd.read_csv('x')", 3, "forbidden-attribute"),
        ("def f(df):\n    df.to_pickle('x')\n    return []", 2, "forbidden-attribute"),
        ("def f(df):\n    return '{}'.format(df)", 2, "forbidden-attribute"),
        ("def f(df):\n    g = (i for i in [])\n    return g.gi_frame", 3, "forbidden-attribute"),
        ("class A:\n    pass\ndef f(df):\n    return []", 1, "class"),
        ("def dec(x):\n    return x\n@dec\ndef f(df):\n    return []", 3, "decorator"),
        ("async def f(df):\n    return []", 1, "async"),
        ("def f(df):\n    return [\n", 2, "syntax"),
    ],
)
def test_rejection_names_line_and_rule(source, line, rule):
    with pytest.raises(StrategyValidationError) as info:
        validate(source)
    assert any(i.line == line and i.rule == rule for i in info.value.issues), info.value.issues
    assert str(info.value).startswith("Security validation failed: ")
    assert f"[{rule}]" in str(info.value)


def test_size_limits():
    with pytest.raises(StrategyValidationError, match="characters"):
        validate("x = 1\n" * (contract.MAX_SOURCE_CHARS // 5) + "def f(df):\n    return []")
    with pytest.raises(StrategyValidationError, match="lines"):
        validate("\n" * contract.MAX_SOURCE_LINES + "def f(df):\n    return []")
    with pytest.raises(StrategyValidationError, match="nested|syntax"):
        validate("def f(df):\n    return " + "(" * 500 + ")" * 500)


@pytest.mark.parametrize("source", ["", "   \n", "x = 1\n", "def _private(df):\n    return []\n"])
def test_no_entry_or_empty(source):
    with pytest.raises(StrategyValidationError):
        validate(source)


def test_several_issues_are_all_reported_in_line_order():
    with pytest.raises(StrategyValidationError) as info:
        validate("import os\nimport sys\ndef f(df):\n    return df.__dict__")
    assert [i.line for i in info.value.issues] == [1, 2, 4]
