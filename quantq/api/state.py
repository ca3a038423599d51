"""What the app carries in ``app.state.quantq``: backend, tasks, config, limits and the event
source; plus the auth dependency the routes declare."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from quantq import envelope, errors, jobs, tasks
from quantq.api import security
from quantq.api.config import ApiConfig
from quantq.api.problems import ApiError
from quantq.backends.base import Backend


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who made a request: a key's label (or the client address when no key is configured)."""

    label: str
    scopes: frozenset[str]


class ApiState:
    def __init__(self, backend: Backend, registry: tasks.Registry, config: ApiConfig, events: Any,
                 *, owns_backend: bool, immediate: bool = False, metrics: Any = None) -> None:
        self.backend = backend
        self.registry = registry
        self.config = config
        self.events = events
        self.owns_backend = owns_backend
        self.immediate = immediate
        self.metrics = metrics
        self.limiter = security.RateLimiter(config.submit_rate, config.submit_burst)

    # ---- submission ----------------------------------------------------------------------------

    def build(self, submission: dict[str, Any], now: Any) -> jobs.Job:
        """Validate one submission against its task and the envelope rules; raise core errors."""
        name = submission.get("task")
        defaults = None
        if isinstance(name, str) and name in self.registry:
            known = self.registry.get(name)
            known.validate_args(submission.get("args") or {})
            defaults = known.options.as_envelope_defaults()
        elif self.config.strict_tasks:
            raise errors.UnknownTask(str(name), self.registry.names())
        return envelope.parse_submission(submission, now=now, defaults=defaults)

    def submit(self, submissions: list[dict[str, Any]], *, prefix: Callable[[int], str] | None = None) -> list[tuple[jobs.Job, bool]]:
        """Validate every submission, then store them; return (stored job, newly created) pairs."""
        now = self.backend.now()
        built = []
        for i, submission in enumerate(submissions):
            try:
                built.append(self.build(submission, now))
            except errors.EnvelopeError as exc:
                if prefix is None:
                    raise
                raise errors.EnvelopeError(f"{prefix(i)}.{exc.field}", exc.problem) from None
            except (errors.InvalidArguments, errors.UnknownTask) as exc:
                if prefix is None:
                    raise
                raise ApiError(422 if isinstance(exc, errors.InvalidArguments) else 404,
                               "invalid_arguments" if isinstance(exc, errors.InvalidArguments) else "unknown_task",
                               f"{prefix(i)}: {exc}", {"index": i, **_details(exc)}) from None
        existed: set[str] = set()
        for i, (submission, new) in enumerate(zip(submissions, built, strict=True)):
            if submission.get("id") is not None:  # refuse before storing anything, so a batch stays all-or-nothing
                existing = self.backend.get(new.id)
                if existing is not None:
                    if existing.task != new.task:
                        raise self._conflict(existing, i if prefix else None)
                    existed.add(new.id)
        stored = self.backend.enqueue(built)
        out = []
        for new, kept in zip(built, stored, strict=True):
            if kept.task != new.task:  # another submission took the id in the meantime
                raise self._conflict(kept, None)
            out.append((kept, kept.id not in existed))
        if self.immediate:
            from quantq.worker.inline import run_pending

            run_pending(self.backend, self.registry, {job.queue for job in stored})
        return out

    @staticmethod
    def _conflict(existing: jobs.Job, index: int | None) -> ApiError:
        where = f"jobs[{index}]: " if index is not None else ""
        details: dict[str, Any] = {"id": existing.id, "existing_task": existing.task}
        if index is not None:
            details["index"] = index
        return ApiError(409, "id_conflict", f"{where}job id {existing.id!r} already names a {existing.task!r} job", details)

    def rate_limit(self, caller: Caller, cost: int) -> None:
        wait = self.limiter.take(caller.label, cost)
        if wait > 0:
            retry = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
            raise ApiError(429, "rate_limited", f"too many submissions: retry in {retry}s",
                           {"rate_per_second": self.config.submit_rate, "burst": self.config.submit_burst},
                           headers={"Retry-After": retry})

    def get_job(self, job_id: str) -> jobs.Job:
        check_job_id(job_id)
        job = self.backend.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no job has id {job_id!r} (it may have expired)", {"id": job_id})
        return job

    def close(self) -> None:
        if self.owns_backend:
            self.backend.close()


def _details(exc: errors.QuantqError) -> dict[str, Any]:
    if isinstance(exc, errors.UnknownTask):
        return {"task": exc.name, "known_tasks": exc.known}
    if isinstance(exc, errors.InvalidArguments):
        return {"task": exc.task, "fields": [{"field": f"args.{f}", "problem": p} for f, p in exc.problems]}
    return {}


def check_job_id(job_id: str) -> str:
    try:
        return envelope.check_id(job_id, "job_id")
    except errors.EnvelopeError as exc:
        raise ApiError(422, "invalid_id", f"job_id: {exc.problem}", {"fields": [{"field": "job_id", "problem": exc.problem}]}) from None


def get_state(request: Request) -> ApiState:
    return request.app.state.quantq  # type: ignore[no-any-return]


# ---- authentication --------------------------------------------------------------------------

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (QUANTQ_API_KEYS).")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")
_query = APIKeyQuery(name="api_key", auto_error=False, description="For browsers' EventSource, which cannot set headers.")


def authenticate(state: ApiState, presented: str | None, client: str, scope: str) -> Caller:
    """Check a presented key for ``scope``; raise 401/403 as ApiError."""
    if not state.config.keys:
        return Caller(label=f"addr:{client}", scopes=frozenset(security.SCOPES))
    if not presented:
        raise ApiError(401, "unauthenticated", "an API key is required: send it as X-API-Key or Authorization: Bearer",
                       headers={"WWW-Authenticate": "Bearer"})
    key = security.find_key(state.config.keys, presented)
    if key is None:
        raise ApiError(401, "invalid_key", "the API key is not valid", headers={"WWW-Authenticate": "Bearer"})
    if not key.grants(scope):
        raise ApiError(403, "forbidden", f"this API key lacks the {scope!r} scope", {"needed": scope, "granted": sorted(key.scopes)})
    return Caller(label=key.label, scopes=key.scopes)


def require(scope: str, *, allow_query: bool = False) -> Callable[..., Caller]:
    """A dependency that admits callers holding ``scope``."""
    if allow_query:
        def dependency_q(request: Request, header: str | None = Security(_header),
                         bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
                         query: str | None = Security(_query)) -> Caller:
            presented = header or (bearer.credentials if bearer else None) or query
            return authenticate(get_state(request), presented, request.client.host if request.client else "?", scope)

        return dependency_q

    def dependency(request: Request, header: str | None = Security(_header),
                   bearer: HTTPAuthorizationCredentials | None = Security(_bearer)) -> Caller:
        presented = header or (bearer.credentials if bearer else None)
        return authenticate(get_state(request), presented, request.client.host if request.client else "?", scope)

    return dependency
