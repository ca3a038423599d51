"""The app factory: every piece of state lives in ``app.state.quantq``; nothing is global."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import quantq
from quantq import backends, tasks
from quantq.api import problems, security
from quantq.api.config import ApiConfig
from quantq.api.events import PollingEventSource
from quantq.api.routes import compat, events, jobs, system
from quantq.api.state import ApiState
from quantq.backends.base import Backend
from quantq.settings import Settings

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyGuard:
    """413 for bodies over the limit (declared or streamed), 415 for bodies that are not JSON."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(send, 413, "body_too_large", f"the request body is over {self.max_bytes} bytes",
                               {"max_bytes": self.max_bytes})
            return
        chunks: list[bytes] = []
        size = 0
        while True:  # read it all here (it is small by now), so the limit holds for chunked bodies too
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send, 413, "body_too_large", f"the request body is over {self.max_bytes} bytes",
                                   {"max_bytes": self.max_bytes})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if body and not (media == "application/json" or media.endswith("+json")):
            await self._reject(send, 415, "unsupported_media_type",
                               f"send the body as JSON with Content-Type: application/json (got {media or 'none'!r})")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        payload = json.dumps({"code": code, "message": message, "details": details or {}}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


class LoopbackHosts:
    """With no API keys, answer only requests addressed to a loopback name, so a web page
    cannot reach the open API through DNS rebinding."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = ""
            for key, value in scope["headers"]:
                if key == b"host":
                    host = value.decode("latin-1")
                    break
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name and not (security.is_loopback(name) or name == "testserver"):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                payload = json.dumps({"code": "bad_host", "message": f"host {name!r} is not served: with no API keys "
                                      "the API answers loopback names only", "details": {}}).encode()
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
                await send({"type": "http.response.body", "body": payload})
                return
        await self.app(scope, receive, send)


def _open(target: str | quantq.App | Backend | None, settings: Settings | None,
          registry: tasks.Registry | None) -> tuple[Backend, tasks.Registry, bool, bool]:
    """The backend, the tasks, whether the app owns (and closes) the backend, and immediate mode."""
    imports = settings.imports if settings else ()
    found = registry if registry is not None else tasks.default_registry(imports)
    if isinstance(target, quantq.App):
        if registry is None:
            found.update(target.registry)
        return target.backend, found, False, target.immediate
    if isinstance(target, Backend):
        return target, found, False, False
    url = target or (settings.url if settings else None)
    return backends.from_url(url), found, True, False


def create_app(target: str | quantq.App | Backend | None = None, *, settings: Settings | None = None,
               config: ApiConfig | None = None, registry: tasks.Registry | None = None, events_source: Any = None) -> FastAPI:
    """The HTTP API over a backend URL, an :class:`~quantq.App` or a backend.

    ``config`` defaults to :meth:`ApiConfig.from_env` (keys from ``QUANTQ_API_KEYS``).  A URL
    opens a backend that the app closes on shutdown; an App or backend stays the caller's.
    """
    config = config or ApiConfig.from_env()
    backend, found_registry, owns, immediate = _open(target, settings, registry)
    from quantq import metrics

    state = ApiState(
        backend, found_registry, config,
        events_source or PollingEventSource(backend, interval=config.stream_interval),
        owns_backend=owns, immediate=immediate,
        metrics=metrics.make_registry(backend, alive_after=config.worker_alive_after, lookback=config.metrics_lookback,
                                      scan_limit=config.metrics_scan_limit, min_interval=config.metrics_min_interval),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="quantq API", version=getattr(quantq, "__version__", "0"), lifespan=lifespan,
        description="Submit, track, stream, cancel and retry quantq jobs.  Errors are JSON "
                    "`{code, message, details}`.  With API keys configured, send one as `X-API-Key` "
                    "or `Authorization: Bearer`; scopes are read, submit and admin (admin grants all).",
    )
    app.state.quantq = state
    problems.install(app)
    app.include_router(jobs.router)
    app.include_router(events.router)
    app.include_router(system.router)
    app.include_router(compat.make_router(state.registry))
    # the last added is the outermost: CORS wraps everything (so a browser can read even a 413),
    # then the Host check, then the body guard, before anything parses a body
    app.add_middleware(BodyGuard, max_bytes=config.max_body_bytes)
    if not config.keys and not config.insecure:
        app.add_middleware(LoopbackHosts)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Content-Type", "X-API-Key", "Authorization"],
                           expose_headers=["Location", "Retry-After", "Idempotent-Replay"])
    return app
