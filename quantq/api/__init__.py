"""The HTTP API (FastAPI): submit, track, stream, cancel and retry jobs.  See ``docs/api.md``.

``create_app`` builds the ASGI app; ``serve`` runs it (``quantq api``); ``serve_in_thread``
runs it beside the workers (``quantq up``).
"""

from __future__ import annotations

from quantq.api.app import create_app
from quantq.api.config import ApiConfig
from quantq.api.server import ApiServer, serve, serve_in_thread

__all__ = ["ApiConfig", "ApiServer", "create_app", "serve", "serve_in_thread"]
