"""Seed 001's helpers, unchanged for its callers: ``from quantq.compat.seed001 import
add_backtest_task, add_screening_task, get_task_result``.  They speak the seed's keys
(``strategy_queue``, ``task_result:{id}``), which the ``seed001`` bridge serves."""

from __future__ import annotations

import json
from typing import Any

from quantq.bridges.seed001 import QUEUE_KEY, RESULT_KEY


def _push(redis_client: Any, task: dict[str, Any]) -> str:
    redis_client.lpush(QUEUE_KEY, json.dumps(task))
    return str(task["task_id"])


def add_backtest_task(redis_client: Any, task_id: str, strategy_code: str, symbols: list[str], start_date: str,
                      end_date: str) -> str:
    """Queue a backtest of ``strategy_code`` over ``symbols`` between two ISO dates."""
    args = {"strategy_code": strategy_code, "symbols": list(symbols), "start_date": start_date, "end_date": end_date}
    return _push(redis_client, {"task_id": task_id, "task_type": "backtest", "args": args})


def add_screening_task(redis_client: Any, task_id: str, strategy_code: str, universe: list[str], limit: int = 10) -> str:
    """Queue a screening of ``universe`` returning at most ``limit`` results."""
    args = {"strategy_code": strategy_code, "universe": list(universe), "limit": limit}
    return _push(redis_client, {"task_id": task_id, "task_type": "screening", "args": args})


def get_task_result(redis_client: Any, task_id: str) -> dict[str, Any] | None:
    """``{"status", "data", "updated_at"}`` for the task, or None when there is none (yet)."""
    raw = redis_client.get(RESULT_KEY.format(task_id=task_id))
    if raw is None:
        return None
    return json.loads(raw)
