"""Tasks: named functions with job defaults and an argument schema from their signature.

``@task(...)`` makes a :class:`Task` that no app owns (built-in and library tasks);
``@app.task(...)`` makes one bound to an app, so ``.enqueue(**kwargs)`` works.
Workers find tasks in a :class:`Registry`, filled from modules (``--import``) and
from the ``quantq.tasks`` entry-point group (how the finance layer plugs in without
the core importing it).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib
import inspect
import math
import typing
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pydantic

from quantq import errors, jobs
from quantq.context import TaskContext

if TYPE_CHECKING:
    from quantq.app import App, JobHandle

ENTRY_POINT_GROUP = "quantq.tasks"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """Defaults a task gives the jobs enqueued for it; an enqueue call may override each."""

    queue: str = jobs.DEFAULT_QUEUE
    priority: int = jobs.DEFAULT_PRIORITY
    timeout: float | None = None
    max_attempts: int = jobs.DEFAULT_MAX_ATTEMPTS
    result_ttl: int | None = jobs.DEFAULT_RESULT_TTL
    failure_ttl: int | None = jobs.DEFAULT_FAILURE_TTL

    def as_envelope_defaults(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Task:
    """A registered function.  Calling it runs it directly; ``enqueue`` makes a job."""

    def __init__(self, fn: Callable[..., Any], *, name: str, options: TaskOptions, app: App | None = None) -> None:
        self.fn = fn
        self.name = name
        self.options = options
        self.app = app
        self.description = inspect.getdoc(fn) or ""
        self.context_param, self.args_model = _signature_model(fn, name)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def enqueue(self, **kwargs: Any) -> JobHandle:
        """Enqueue a job for this task on its app; keyword arguments are the task's."""
        if self.app is None:
            raise errors.ConfigError(f"task {self.name!r} belongs to no app; use app.enqueue({self.name!r}, ...)")
        return self.app.enqueue(self.name, **kwargs)

    def validate_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check ``args`` against the signature; raise :class:`InvalidArguments` naming each bad field."""
        try:
            model = self.args_model.model_validate(args)
        except pydantic.ValidationError as exc:
            problems = [(".".join(str(p) for p in e["loc"]) or "(args)", e["msg"]) for e in exc.errors()]
            raise errors.InvalidArguments(self.name, problems) from None
        return {name: getattr(model, name) for name in type(model).model_fields} | dict(model.model_extra or {})

    def run(self, args: dict[str, Any], ctx: TaskContext) -> Any:
        """Validate ``args``, call the function (with the context if it asks for one), return JSON data."""
        kwargs = self.validate_args(args)
        if self.context_param:
            kwargs[self.context_param] = ctx
        return to_json_value(self.fn(**kwargs))

    def args_schema(self) -> dict[str, Any]:
        return self.args_model.model_json_schema()

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "defaults": self.options.as_envelope_defaults(),
            "args_schema": self.args_schema(),
        }


def _signature_model(fn: Callable[..., Any], name: str) -> tuple[str | None, type[pydantic.BaseModel]]:
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        hints = {}
    fields: dict[str, Any] = {}
    context_param = None
    extra = "forbid"
    for param in inspect.signature(fn).parameters.values():
        annotation = hints.get(param.name, param.annotation)
        if annotation is TaskContext or annotation == "TaskContext" or (param.name == "ctx" and annotation is inspect.Parameter.empty):
            context_param = param.name
            continue
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            extra = "allow"
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise errors.ConfigError(f"task {name!r}: parameter {param.name!r} must be passable by keyword")
        if annotation is inspect.Parameter.empty:
            annotation = Any
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model_name = "Args_" + "".join(ch if ch.isalnum() else "_" for ch in name)
    model = pydantic.create_model(model_name, __config__=pydantic.ConfigDict(extra=extra), **fields)  # type: ignore[call-overload]
    return context_param, model


def task(
    name: str | None = None,
    *,
    queue: str = jobs.DEFAULT_QUEUE,
    priority: int | str = jobs.DEFAULT_PRIORITY,
    timeout: float | None = None,
    max_attempts: int = jobs.DEFAULT_MAX_ATTEMPTS,
    result_ttl: int | None = jobs.DEFAULT_RESULT_TTL,
    failure_ttl: int | None = jobs.DEFAULT_FAILURE_TTL,
    app: App | None = None,
) -> Callable[[Callable[..., Any]], Task]:
    """Declare a task.  ``name`` defaults to ``module.function``."""
    from quantq import envelope

    options = TaskOptions(
        queue=envelope.check_queue(queue),
        priority=envelope.check_priority(priority),
        timeout=timeout,
        max_attempts=max_attempts,
        result_ttl=result_ttl,
        failure_ttl=failure_ttl,
    )

    def decorate(fn: Callable[..., Any]) -> Task:
        task_name = envelope.check_task_name(name or f"{fn.__module__}.{fn.__qualname__}")
        made = Task(fn, name=task_name, options=options, app=app)
        if app is not None:
            app.registry.add(made)
        return made

    return decorate


class Registry:
    """Tasks by name."""

    def __init__(self, tasks: Iterable[Task] = (), *, plugins: bool = False) -> None:
        self._tasks: dict[str, Task] = {}
        #: installed plugins are imported on the first lookup that needs them: a CLI call
        #: for a built-in task does not pay for importing the finance libraries
        self._plugins_pending = plugins
        for t in tasks:
            self.add(t)

    def load_plugins(self) -> list[str]:
        """Import the installed plugins now (workers do, so no job pays for the imports)."""
        if not self._plugins_pending:
            return []
        self._plugins_pending = False
        return self.load_entry_points()

    def add(self, t: Task) -> None:
        existing = self._tasks.get(t.name)
        if existing is not None and existing.fn is not t.fn:
            raise errors.ConfigError(f"two different functions are registered as task {t.name!r}")
        self._tasks[t.name] = t

    def get(self, name: str) -> Task:
        if name not in self._tasks:
            self.load_plugins()
        try:
            return self._tasks[name]
        except KeyError:
            raise errors.UnknownTask(name, list(self._tasks)) from None

    def __contains__(self, name: object) -> bool:
        if name not in self._tasks:
            self.load_plugins()
        return name in self._tasks

    def __iter__(self) -> typing.Iterator[Task]:
        self.load_plugins()
        return iter(sorted(self._tasks.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        self.load_plugins()
        return len(self._tasks)

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._tasks)

    def update(self, other: Iterable[Task]) -> None:
        for t in other:
            self.add(t)

    def load_module(self, module_name: str) -> int:
        """Import a module and register every task it defines (directly or on an app)."""
        from quantq.app import App

        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise errors.ConfigError(f"cannot import task module {module_name!r}: {exc}") from exc
        found = 0
        for value in list(vars(module).values()):
            if isinstance(value, Task):
                self.add(value)
                found += 1
            elif isinstance(value, App):
                for t in value.registry:
                    self.add(t)
                    found += 1
        return found

    def load_entry_points(self) -> list[str]:
        """Register tasks from installed plugins; a plugin whose dependencies are missing is skipped."""
        loaded = []
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                self.load_module(ep.value)
            except errors.ConfigError:
                continue
            loaded.append(ep.value)
        return loaded


def default_registry(imports: Iterable[str] = (), *, eager: bool = False) -> Registry:
    """Built-in tasks, installed plugins (imported when first needed, or now if ``eager``),
    then the user's modules."""
    from quantq import builtin_tasks

    registry = Registry(builtin_tasks.TASKS, plugins=True)
    if eager:
        registry.load_plugins()
    for module_name in imports:
        registry.load_module(module_name)
    return registry


def to_json_value(value: Any) -> Any:
    """Turn a task's return value into plain JSON data; NaN and infinities become null."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(v) for v in value]
    if isinstance(value, pydantic.BaseModel):
        return to_json_value(value.model_dump(mode="json"))
    if hasattr(value, "to_json") and callable(value.to_json):
        return to_json_value(value.to_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json_value(dataclasses.asdict(value))
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy
        return to_json_value(value.tolist())
    raise TypeError(f"task result of type {type(value).__name__} cannot be stored as JSON")
