"""Running the API: in the foreground (``quantq api``) or in a thread beside the workers (``quantq up``)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import uvicorn

from quantq import errors
from quantq.api import security
from quantq.api.app import create_app
from quantq.api.config import ApiConfig
from quantq.settings import Settings


def _prepare(settings: Settings | None, host: str | None, port: int | None, insecure: bool,
             config: ApiConfig | None, target: Any) -> tuple[Any, str, int]:
    if settings is None:
        from quantq import settings as settings_mod

        settings = settings_mod.load()[0]
    host = host or settings.api_host
    port = settings.api_port if port is None else port
    if not 0 <= port <= 65535:
        raise errors.ConfigError(f"API port must be 0-65535, got {port}")
    config = config or ApiConfig.from_env(insecure=insecure or None)
    if insecure and not config.insecure:
        config = ApiConfig(**{**config.__dict__, "insecure": True})
    notice = security.check_bind(host, bool(config.keys), insecure)
    if notice:
        print(notice, file=sys.stderr, flush=True)
    else:
        print(f"quantq api: {len(config.keys)} API key(s) configured; listening on {host}:{port}", file=sys.stderr, flush=True)
    return create_app(target if target is not None else settings.url, settings=settings, config=config), host, port


def serve(settings: Settings | None = None, *, insecure: bool = False, host: str | None = None, port: int | None = None,
          config: ApiConfig | None = None, target: Any = None, log_level: str = "warning") -> None:
    """Serve the API in the foreground until SIGINT/SIGTERM.

    Refuses (ConfigError) to listen beyond loopback without API keys unless ``insecure``.
    """
    app, host, port = _prepare(settings, host, port, insecure, config, target)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, server_header=False,
                timeout_graceful_shutdown=5)


class ApiServer:
    """A uvicorn server on a daemon thread; ``port`` is the one actually bound (pass 0 for any free port)."""

    def __init__(self, app: Any, host: str, port: int, log_level: str = "warning") -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False, server_header=False,
                                timeout_graceful_shutdown=2, lifespan="on")
        self.server = uvicorn.Server(config)
        self.host = host
        self.port = port
        self.thread = threading.Thread(target=self.server.run, name="quantq-api", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ApiServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise errors.ConfigError(f"the API did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = [s for server in self.server.servers for s in server.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve_in_thread(settings: Settings | None = None, *, insecure: bool = False, host: str | None = None,
                    port: int | None = None, config: ApiConfig | None = None, target: Any = None) -> ApiServer:
    """Start the API on a daemon thread (``quantq up``); returns the running server."""
    app, host, port = _prepare(settings, host, port, insecure, config, target)
    server = ApiServer(app, host, port).start()
    print(f"quantq api: serving on {server.url} (OpenAPI at {server.url}/docs)", file=sys.stderr, flush=True)
    return server
