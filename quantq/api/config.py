"""The API's own settings: keys, limits, CORS and streaming, from arguments and the environment."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from quantq import errors
from quantq.api import security

#: environment variable -> (field, converter); read by :meth:`ApiConfig.from_env`
_ENV: dict[str, tuple[str, Any]] = {
    "QUANTQ_API_CORS_ORIGINS": ("cors_origins", lambda v: tuple(o.strip() for o in v.split(",") if o.strip())),
    "QUANTQ_API_MAX_BODY": ("max_body_bytes", int),
    "QUANTQ_API_MAX_BATCH": ("max_batch", int),
    "QUANTQ_API_RATE": ("submit_rate", float),
    "QUANTQ_API_BURST": ("submit_burst", int),
    "QUANTQ_API_STRICT_TASKS": ("strict_tasks", lambda v: v.strip().lower() not in ("0", "false", "no", "off")),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ApiConfig:
    keys: tuple[security.ApiKey, ...] = ()
    cors_origins: tuple[str, ...] = ()  #: browser origins allowed to call the API; none by default
    max_body_bytes: int = 1 << 20  #: larger request bodies get 413
    max_batch: int = 1000  #: jobs per batch submission
    submit_rate: float = 200.0  #: jobs per second per key (per client address without keys); 0 = off
    submit_burst: int = 2000
    strict_tasks: bool = True  #: unknown tasks -> 404; False lets tasks only workers know through
    stream_interval: float = 0.15  #: seconds between backend polls per live stream
    stream_keepalive: float = 15.0  #: seconds between SSE keep-alive comments
    worker_alive_after: float = 60.0  #: a worker silent longer than this counts as down
    metrics_lookback: float = 86400.0  #: how far back /metrics scans job records for its counters
    metrics_scan_limit: int = 20000
    metrics_min_interval: float = 1.0  #: at most one job scan per this many seconds, however often scraped
    insecure: bool = False  #: serve open (no keys) beyond loopback; also lifts the loopback Host check

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise errors.ConfigError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if not 1 <= self.max_batch <= 100_000:
            raise errors.ConfigError(f"max_batch must be 1-100000, got {self.max_batch}")
        if self.submit_rate < 0 or self.submit_burst < 1:
            raise errors.ConfigError("submit_rate must be >= 0 and submit_burst >= 1")
        if not 0.01 <= self.stream_interval <= 10:
            raise errors.ConfigError(f"stream_interval must be 0.01-10 seconds, got {self.stream_interval}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ApiConfig:
        """Keys from ``QUANTQ_API_KEYS`` plus the ``QUANTQ_API_*`` limits; ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, (field, convert) in _ENV.items():
            raw = env.get(name)
            if raw not in (None, ""):
                try:
                    values[field] = convert(raw)
                except ValueError as exc:
                    raise errors.ConfigError(f"${name}: {raw!r} is not valid ({exc})") from None
        keys = security.keys_from_env(env)
        extra = overrides.pop("keys", None)
        if extra:
            keys = keys + (security.parse_keys(extra) if not isinstance(extra, tuple) else extra)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(keys=keys, **values)
