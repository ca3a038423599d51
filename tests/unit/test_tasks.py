from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any

import pydantic
import pytest

from quantq import App, TaskContext, errors, tasks
from quantq.worker import backoff_delay


def test_signature_becomes_the_argument_schema() -> None:
    app = App(immediate=True)

    @app.task("demo.scale", queue="research", max_attempts=2)
    def scale(ctx: TaskContext, values: list[float], factor: Annotated[float, pydantic.Field(gt=0)] = 2.0) -> list[float]:
        ctx.progress(50, "half")
        return [v * factor for v in values]

    assert scale.context_param == "ctx"
    schema = scale.args_schema()
    assert set(schema["properties"]) == {"values", "factor"} and schema["required"] == ["values"]
    assert scale.validate_args({"values": [1, 2]}) == {"values": [1.0, 2.0], "factor": 2.0}
    with pytest.raises(errors.InvalidArguments) as caught:
        scale.validate_args({"values": "x", "factor": -1, "extra": 1})
    fields = {f for f, _ in caught.value.problems}
    assert fields == {"values", "factor", "extra"}
    handle = scale.enqueue(values=[1.5])
    assert handle.wait(timeout=5) == [3.0]
    assert handle.fetch().queue == "research" and handle.fetch().max_attempts == 2


def test_enqueue_rejects_bad_args_before_storing_anything() -> None:
    app = App(immediate=True)
    with pytest.raises(errors.InvalidArguments, match="seconds"):
        app.enqueue("quantq.sleep", seconds="long")
    assert app.backend.queue_stats() == []


def test_registry_reports_unknown_tasks_with_the_known_ones() -> None:
    registry = tasks.default_registry()
    with pytest.raises(errors.UnknownTask) as caught:
        registry.get("quantq.nope")
    assert {"quantq.echo", "quantq.noop", "quantq.sleep", "quantq.fail"} <= set(caught.value.known)
    assert "quantq.echo" in str(caught.value)


def test_registry_loads_user_modules_and_refuses_name_clashes() -> None:
    registry = tasks.Registry()
    assert registry.load_module("tests.fixtures.tasks") >= 5
    assert "fixtures.flaky" in registry
    with pytest.raises(errors.ConfigError, match="cannot import"):
        registry.load_module("tests.fixtures.no_such_module")

    @tasks.task("fixtures.flaky")
    def impostor() -> None: ...

    with pytest.raises(errors.ConfigError, match="two different functions"):
        registry.add(impostor)


def test_results_become_plain_json() -> None:
    @dataclasses.dataclass
    class Point:
        x: float

    class Model(pydantic.BaseModel):
        y: int

    class Array:
        def tolist(self) -> list[Any]:
            return [1, 2]

    value = {"nan": math.nan, "inf": -math.inf, "p": Point(1.5), "m": Model(y=2), "a": Array(), "t": (1, {2})}
    assert tasks.to_json_value(value) == {"nan": None, "inf": None, "p": {"x": 1.5}, "m": {"y": 2}, "a": [1, 2], "t": [1, [2]]}
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        tasks.to_json_value(object())


def test_non_json_result_fails_the_attempt_not_the_store() -> None:
    app = App(immediate=True)

    @app.task("demo.bad_result", max_attempts=1)
    def bad_result() -> object:
        return object()

    job = bad_result.enqueue().fetch()
    assert job.status.value == "failed" and job.error.type == "TypeError"


def test_context_rejects_bad_progress() -> None:
    ctx = TaskContext(job_id="j", task="t", queue="q", attempt=1)
    with pytest.raises(ValueError, match="finite"):
        ctx.progress(float("nan"))
    ctx.progress(250, "over")
    assert ctx.last_progress == (100.0, "over")


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    samples = {attempt: [backoff_delay(attempt, 2.0, 60.0) for _ in range(200)] for attempt in (1, 2, 3, 10)}
    assert all(1.0 <= d <= 2.0 for d in samples[1])
    assert all(2.0 <= d <= 4.0 for d in samples[2])
    assert all(4.0 <= d <= 8.0 for d in samples[3])
    assert all(30.0 <= d <= 60.0 for d in samples[10])
    assert len(set(samples[3])) > 100  # really jittered
