"""Errors as JSON ``{code, message, details}`` with the right status, never a stack trace."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from quantq import errors

log = logging.getLogger("quantq.api")


class ApiError(Exception):
    """Raised by routes: becomes a JSON error response."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "details": details or {}}, status_code=status, headers=headers)


def from_quantq(exc: errors.QuantqError) -> ApiError:
    """Map a core error to its HTTP meaning."""
    if isinstance(exc, errors.UnknownTask):
        return ApiError(404, "unknown_task", str(exc), {"task": exc.name, "known_tasks": exc.known})
    if isinstance(exc, errors.InvalidArguments):
        fields = [{"field": f"args.{f}" if f != "(args)" else "args", "problem": p} for f, p in exc.problems]
        first = fields[0]["field"] if fields else "args"
        return ApiError(422, "invalid_arguments", f"{first}: {exc.problems[0][1] if exc.problems else 'invalid'}",
                        {"task": exc.task, "fields": fields})
    if isinstance(exc, errors.EnvelopeError):
        return ApiError(422, "invalid_field", f"{exc.field}: {exc.problem}", {"fields": [{"field": exc.field, "problem": exc.problem}]})
    if isinstance(exc, errors.JobNotFound):
        return ApiError(404, "job_not_found", str(exc))
    if isinstance(exc, errors.InvalidTransition):
        return ApiError(409, "invalid_transition", str(exc))
    if isinstance(exc, errors.BackendUnavailable):
        return ApiError(503, "backend_unavailable", "the job backend cannot be reached", {"reason": str(exc)})
    if isinstance(exc, errors.BackendError):
        return ApiError(503, "backend_error", "the job backend failed to carry out the operation", {"reason": str(exc)})
    return ApiError(500, "internal_error", str(exc))


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        return ".".join(parts[1:]) or "body"
    return ".".join(parts) or "(request)"


_SLUGS = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          406: "not_acceptable", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
          429: "rate_limited", 503: "unavailable"}


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(errors.QuantqError)
    async def _quantq_error(request: Request, exc: errors.QuantqError) -> JSONResponse:
        mapped = from_quantq(exc)
        if mapped.status >= 500:
            log.error("api.error %s %s: %r", request.method, request.url.path, exc)
        return error_response(mapped.status, mapped.code, mapped.message, mapped.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        if any(p.get("type") == "json_invalid" for p in problems):
            ctx = next(p for p in problems if p.get("type") == "json_invalid").get("ctx") or {}
            return error_response(400, "malformed_json", f"the request body is not valid JSON: {ctx.get('error', 'parse error')}")
        fields = [{"field": _field_name(p.get("loc", ())), "problem": str(p.get("msg", "invalid"))} for p in problems]
        first = fields[0] if fields else {"field": "(request)", "problem": "invalid"}
        return error_response(422, "invalid_request", f"{first['field']}: {first['problem']}", {"fields": fields})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _SLUGS.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("api.unexpected %s %s ref=%s", request.method, request.url.path, ref)
        return error_response(500, "internal_error", f"internal error (reference {ref}; see the server log)", {"reference": ref})
