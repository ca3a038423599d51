"""Shape checks and JSON conversion of what a strategy returns (runs in the sandbox child)."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from quantq.finance.strategy import contract


class StrategyResultError(ValueError):
    """The strategy returned something outside the contract."""


def _plain(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        raise StrategyResultError("result is nested too deeply (more than 8 levels)")
    if value is None or isinstance(value, (bool, str, int)) and not isinstance(value, np.generic):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _plain(value.item(), depth)
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() and value.tzinfo is None else value.isoformat()
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k) if isinstance(k, (str, int, float, bool)) else _bad(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return _bad(value)


def _bad(value: Any) -> Any:
    raise StrategyResultError(f"result contains a value of type {type(value).__name__}, which is not JSON-serialisable")


def _records(value: Any, required: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    if isinstance(value, pd.DataFrame):
        value = value.to_dict(orient="records")
    if not isinstance(value, (list, tuple)):
        raise StrategyResultError(f"expected a list of {what} (dicts), got {type(value).__name__}")
    if len(value) > contract.MAX_INSTANCES:
        raise StrategyResultError(f"{len(value)} {what}; the limit is {contract.MAX_INSTANCES}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise StrategyResultError(f"{what} {i} is a {type(item).__name__}, not a dict")
        if len(item) > contract.MAX_INSTANCE_KEYS:
            raise StrategyResultError(f"{what} {i} has {len(item)} keys; the limit is {contract.MAX_INSTANCE_KEYS}")
        missing = [k for k in required if k not in item]
        if missing:
            raise StrategyResultError(f"{what} {i} lacks {', '.join(missing)}")
        out.append(_plain(item))
    return out


def encode_result(value: Any, mode: str, n_rows: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Check the result's shape for ``mode`` and turn it into a wire header and arrays."""
    if mode == "screening":
        rows = _records(value, ("ticker", "score"), "screening result")
        for i, row in enumerate(rows):
            score = row["score"]
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise StrategyResultError(f"screening result {i}: score must be a number, got {score!r}")
        header: dict[str, Any] = {"kind": "scores", "rows": rows}
        arrays: dict[str, np.ndarray] = {}
    elif isinstance(value, (pd.Series, np.ndarray, pd.DataFrame)):
        if isinstance(value, pd.DataFrame):
            if "target" not in value.columns:
                raise StrategyResultError("a DataFrame result needs a 'target' column (position mode)")
            value = value["target"]
        target = np.asarray(value, dtype=np.float64).ravel()
        if target.shape[0] != n_rows:
            raise StrategyResultError(f"targets have {target.shape[0]} rows; the frame has {n_rows}")
        header, arrays = {"kind": "targets"}, {"target": target}
    else:
        header, arrays = {"kind": "instances", "rows": _records(value, ("ticker", "date", "signal"), "instance")}, {}
    size = len(json.dumps(header, allow_nan=False))
    if size > contract.MAX_RESULT_BYTES:
        raise StrategyResultError(f"result is {size} bytes of JSON; the limit is {contract.MAX_RESULT_BYTES}")
    return header, arrays
