"""Diagnostic tasks registered in every worker, for testing a deployment end to end."""

from __future__ import annotations

import time
from typing import Annotated, Any

import pydantic

from quantq.context import TaskContext
from quantq.tasks import task


class DiagnosticFailure(Exception):
    """Raised on purpose by ``quantq.fail``."""


@task("quantq.noop")
def noop() -> None:
    """Do nothing (for throughput measurements)."""


@task("quantq.echo")
def echo(**args: Any) -> dict[str, Any]:
    """Return the job's arguments unchanged."""
    return args


@task("quantq.sleep")
def sleep(ctx: TaskContext, seconds: Annotated[float, pydantic.Field(ge=0, le=86400)] = 1.0) -> dict[str, float]:
    """Sleep for ``seconds``, reporting progress as it goes; stops early if cancelled."""
    start = time.monotonic()
    deadline = start + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ctx.check_cancelled()
        time.sleep(min(left, 0.1))
        done = min(seconds, time.monotonic() - start)
        ctx.progress(100.0 * done / seconds if seconds else 100.0, f"slept {done:.1f}s of {seconds:g}s")
    return {"slept": seconds}


@task("quantq.fail", max_attempts=1)
def fail(message: str = "quantq.fail was asked to fail") -> None:
    """Raise an error with ``message``."""
    raise DiagnosticFailure(message)


TASKS = [noop, echo, sleep, fail]
