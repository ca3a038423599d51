"""Live updates: Server-Sent Events and their WebSocket equivalents."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from quantq.api import schemas
from quantq.api.events import JobEvent
from quantq.api.problems import ApiError
from quantq.api.routes.jobs import JobId, errs
from quantq.api.state import Caller, authenticate, check_job_id, get_state, require

router = APIRouter(tags=["events"])

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A text/event-stream of `status` and `progress` events (data: the job's JSON snapshot); "
                       "`gone` if the job disappears, `timeout` when the stream's time limit is reached.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
_Timeout = Query(None, gt=0, le=86400, description="End the stream after this many seconds.")


def _sse(seq: int, event: str, data: dict[str, Any]) -> bytes:
    return f"id: {seq}\nevent: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _stream(source: AsyncIterator[JobEvent | None], keepalive: float, timeout: float | None) -> AsyncIterator[bytes]:
    seq = 0
    started = last_sent = time.monotonic()
    yield b"retry: 2000\n\n"
    try:
        async for event in source:
            now = time.monotonic()
            if event is not None:
                seq += 1
                last_sent = now
                yield _sse(seq, event.kind, event.data)
            elif now - last_sent >= keepalive:
                last_sent = now
                yield b": keep-alive\n\n"
            if timeout is not None and now - started >= timeout:
                seq += 1
                yield _sse(seq, "timeout", {"after_seconds": timeout})
                return
    finally:
        await source.aclose()  # type: ignore[attr-defined]


def _sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/jobs/{job_id}/events", response_class=StreamingResponse, responses={**_SSE_DOC, **errs(404)},
            summary="Stream one job's status and progress (SSE)")
def job_events(request: Request, job_id: str = JobId, timeout: float | None = _Timeout,
               _: Caller = Depends(require("read", allow_query=True))) -> StreamingResponse:
    """Starts with the job's current state and ends after its terminal state (completed, failed, cancelled)."""
    state = get_state(request)
    state.get_job(job_id)  # 404 before the stream starts
    return _sse_response(_stream(state.events.job_events(job_id), state.config.stream_keepalive, timeout))


@router.get("/api/events", response_class=StreamingResponse, responses={**_SSE_DOC, **errs()},
            summary="Stream every job's changes (SSE)")
def all_events(request: Request, queue: str | None = Query(None, pattern=schemas.QUEUE_PATTERN),
               task: str | None = Query(None, pattern=schemas.TASK_PATTERN), timeout: float | None = _Timeout,
               _: Caller = Depends(require("read", allow_query=True))) -> StreamingResponse:
    """Starts with the active jobs, then every change; runs until the client leaves or ``timeout``."""
    state = get_state(request)
    return _sse_response(_stream(state.events.all_events(queue=queue, task=task), state.config.stream_keepalive, timeout))


async def _ws_auth(websocket: WebSocket) -> bool:
    state = websocket.app.state.quantq
    presented = (websocket.headers.get("x-api-key") or _bearer(websocket.headers.get("authorization"))
                 or websocket.query_params.get("api_key"))
    try:
        authenticate(state, presented, websocket.client.host if websocket.client else "?", "read")
    except ApiError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return False
    return True


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


async def _ws_pump(websocket: WebSocket, source: AsyncIterator[JobEvent | None]) -> None:
    await websocket.accept()
    async with anyio.create_task_group() as tg:

        async def watch_for_disconnect() -> None:
            # a quiet stream sends nothing, so only reading tells us the client has gone
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
            tg.cancel_scope.cancel()

        tg.start_soon(watch_for_disconnect)
        try:
            async for event in source:
                if event is not None:
                    await websocket.send_json({"event": event.kind, "data": event.data})
            await websocket.close(code=1000)
        except WebSocketDisconnect:
            pass
        finally:
            tg.cancel_scope.cancel()
            with anyio.CancelScope(shield=True):
                await source.aclose()  # type: ignore[attr-defined]


@router.websocket("/api/jobs/{job_id}/ws")
async def job_ws(websocket: WebSocket, job_id: str) -> None:
    """The WebSocket twin of ``/api/jobs/{id}/events``: JSON messages ``{event, data}``, closed (1000) at the end."""
    if not await _ws_auth(websocket):
        return
    state = websocket.app.state.quantq
    try:
        check_job_id(job_id)
    except ApiError as exc:
        await websocket.close(code=1008, reason=exc.message[:120])
        return
    await _ws_pump(websocket, state.events.job_events(job_id))


@router.websocket("/api/ws")
async def all_ws(websocket: WebSocket) -> None:
    """The WebSocket twin of ``/api/events`` (query: queue, task)."""
    if not await _ws_auth(websocket):
        return
    state = websocket.app.state.quantq
    q = websocket.query_params
    for name, pattern in (("queue", schemas.QUEUE_PATTERN), ("task", schemas.TASK_PATTERN)):
        if q.get(name) is not None and not re.match(pattern, q[name]):
            await websocket.close(code=1008, reason=f"query.{name}: not a valid {name} name")
            return
    await _ws_pump(websocket, state.events.all_events(queue=q.get("queue"), task=q.get("task")))
