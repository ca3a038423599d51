"""``python -m quantq.api``: serve the API alone (what ``quantq api`` runs)."""

from __future__ import annotations

import argparse
import sys

from quantq import errors, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quantq.api", description="Serve the quantq HTTP API.")
    parser.add_argument("--url", help="Backend URL (default: $QUANTQ_URL or the embedded SQLite file).")
    parser.add_argument("--host", help="Address to listen on (default 127.0.0.1; $QUANTQ_API_HOST).")
    parser.add_argument("--port", type=int, help="Port (default 8000; $QUANTQ_API_PORT).")
    parser.add_argument("--import", dest="imports", action="append", help="Module with your tasks (repeatable).")
    parser.add_argument("--insecure", action="store_true", help="Allow serving beyond loopback with no API keys.")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--config", help="quantq.yml to read.")
    ns = parser.parse_args(argv)
    from quantq.api.server import serve

    try:
        loaded = settings.load(ns.config, {"url": ns.url, "api_host": ns.host, "api_port": ns.port,
                                           "imports": tuple(ns.imports) if ns.imports else None})[0]
        serve(loaded, insecure=ns.insecure, log_level=ns.log_level)
    except errors.ConfigError as exc:
        print(f"quantq api: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
