"""API keys with scopes, the bind rule, body-size limits and the submission rate limit.

Keys come from the ``keys`` argument (config) and ``QUANTQ_API_KEYS`` in the form
``"key1:read,submit;key2:admin"``.  Scopes are independent except that ``admin``
grants every scope.  With no key configured the API is open but may listen on a
loopback address only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from quantq import errors

SCOPES = ("read", "submit", "admin")
KEYS_ENV = "QUANTQ_API_KEYS"
KEYS_FILE_ENV = "QUANTQ_API_KEYS_FILE"  #: a file with the same text (one key per line allowed), e.g. a mounted secret
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclasses.dataclass(frozen=True)
class ApiKey:
    """A key, kept only as its SHA-256 digest, and the scopes it grants."""

    digest: bytes
    scopes: frozenset[str]
    label: str  #: a short, non-secret name for logs and rate-limit buckets

    def grants(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_keys(spec: str | Mapping[str, Iterable[str]] | None) -> tuple[ApiKey, ...]:
    """``"k1:read,submit;k2:admin"`` (or a mapping key -> scopes) to keys; raises ConfigError."""
    if spec is None:
        return ()
    pairs: list[tuple[str, list[str]]] = []
    if isinstance(spec, str):
        for n, item in enumerate(p.strip() for p in spec.split(";")):
            if not item:
                continue
            secret, sep, scope_text = item.rpartition(":")
            if not sep or not secret.strip():
                raise errors.ConfigError(f"API key #{n + 1}: write it as KEY:scope[,scope] (scopes: {', '.join(SCOPES)})")
            pairs.append((secret.strip(), [s.strip() for s in scope_text.split(",") if s.strip()]))
    else:
        pairs = [(str(k), list(v)) for k, v in spec.items()]
    keys = []
    seen: set[bytes] = set()
    for n, (secret, scopes) in enumerate(pairs):
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise errors.ConfigError(f"API key #{n + 1}: scopes must be among {', '.join(SCOPES)}, got {scopes!r}")
        if any(ch.isspace() for ch in secret):
            raise errors.ConfigError(f"API key #{n + 1}: must not contain white space")
        digest = _digest(secret)
        if digest in seen:
            raise errors.ConfigError(f"API key #{n + 1}: listed twice")
        seen.add(digest)
        keys.append(ApiKey(digest=digest, scopes=frozenset(scopes), label=f"key{n + 1}:{digest.hex()[:8]}"))
    return tuple(keys)


def keys_from_env(environ: Mapping[str, str] | None = None) -> tuple[ApiKey, ...]:
    """Keys from ``QUANTQ_API_KEYS`` and the file ``QUANTQ_API_KEYS_FILE`` names (``#`` starts a comment)."""
    env = os.environ if environ is None else environ
    specs = [env.get(KEYS_ENV) or ""]
    path = env.get(KEYS_FILE_ENV)
    if path:
        try:
            text = open(path, encoding="utf-8").read()
        except OSError as exc:
            raise errors.ConfigError(f"${KEYS_FILE_ENV}: cannot read {path}: {exc.strerror}") from None
        specs.extend(line.split("#", 1)[0].strip() for line in text.splitlines())
    return parse_keys(";".join(s for s in specs if s) or None)


def find_key(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """The key matching ``presented``; every key is compared in constant time."""
    digest = _digest(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(key.digest, digest):
            found = key
    return found


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, has_keys: bool, insecure: bool) -> str | None:
    """Refuse a non-loopback bind without keys unless ``insecure``; return a warning to print."""
    if has_keys:
        return None
    if is_loopback(host):
        return f"quantq api: no API keys configured ({KEYS_ENV}); the API is open, so it listens on {host} (loopback) only"
    if not insecure:
        raise errors.ConfigError(
            f"refusing to serve the API on {host} without API keys: set {KEYS_ENV}='KEY:read,submit;ADMINKEY:admin', "
            "bind to 127.0.0.1, or pass --insecure to serve it open"
        )
    return f"quantq api: WARNING: serving on {host} with no API keys (--insecure): anyone who can reach it can submit and cancel jobs"


class RateLimiter:
    """Token buckets per caller: ``rate`` jobs per second sustained, ``burst`` at once.  0 turns it off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str, cost: int = 1) -> float:
        """Take ``cost`` tokens; return 0 when allowed, else the seconds to wait before retrying."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if cost > self.burst:
                return float("inf")
            if tokens < cost:
                self._buckets[who] = (tokens, now)
                return (cost - tokens) / self.rate
            self._buckets[who] = (tokens - cost, now)
            if len(self._buckets) > 10_000:  # forget idle callers so the table stays small
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return 0.0


def describe(keys: tuple[ApiKey, ...]) -> dict[str, Any]:
    return {"keys": len(keys), "scopes": sorted({s for k in keys for s in k.scopes})}
