"""Every error quantq raises derives from :class:`QuantqError`.

Families: configuration, backend (connection, stale claims), envelope and task
validation, and the errors a job can end with.  A class docstring is its default
message, so ``raise NotFound()`` still says something useful.
"""

from __future__ import annotations


class QuantqError(Exception):
    """A quantq error."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(QuantqError):
    """The configuration is not valid."""


class MissingDependency(ConfigError):
    """A driver this backend needs is not installed."""


class BackendError(QuantqError):
    """The backend failed to carry out an operation."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached."""


class StaleClaim(BackendError):
    """The claim is no longer held: its lease ran out, or the job was cancelled or re-claimed."""


class JobNotFound(QuantqError):
    """No job has this id."""


class InvalidTransition(QuantqError):
    """The job is not in a state that allows this operation."""


class EnvelopeError(QuantqError):
    """The job envelope is not valid."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid job envelope: field {field!r}: {problem}")


class UnknownTask(QuantqError):
    """No task is registered under this name."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        self.name = name
        self.known = sorted(known or [])
        hint = f"; known tasks: {', '.join(self.known)}" if self.known else ""
        super().__init__(f"unknown task {name!r}{hint}")


class InvalidArguments(QuantqError):
    """The job's arguments do not match the task's signature."""

    def __init__(self, task: str, problems: list[tuple[str, str]]) -> None:
        self.task = task
        self.problems = problems
        detail = "; ".join(f"{field}: {msg}" for field, msg in problems)
        super().__init__(f"invalid arguments for task {task!r}: {detail}")


class JobTimeout(QuantqError):
    """The job ran past its timeout and was killed."""


class WorkerLost(QuantqError):
    """The worker running the job stopped renewing its lease (crashed or cut off)."""


class ChildDied(QuantqError):
    """The process running the job died before it reported an outcome."""


class JobFailed(QuantqError):
    """The job failed."""


class JobCancelled(QuantqError):
    """The job was cancelled."""


class WaitTimeout(QuantqError):
    """The job did not finish within the time waited."""
