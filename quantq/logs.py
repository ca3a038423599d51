"""Structured logs: every record is an event name plus fields.

``text`` (the default) prints ``time level event key=value ...`` for people;
``json`` prints one JSON object per line for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


def event(logger: logging.Logger, name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        clean = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, name, extra={"fields": {"event": name, **clean}})


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        fields = dict(getattr(record, "fields", {}) or {})
        name = fields.pop("event", None)
        message = name if name is not None else record.getMessage()
        if name == "worker.status":
            message = record.getMessage()
        tail = " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        line = f"{stamp} {record.levelname:<7} {message}" + (f" {tail}" if tail else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:
            data.update(fields)
            if fields.get("event") == "worker.status":
                data["message"] = record.getMessage()
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def _text(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (" " in text or not text) else text


def configure(level: str = "INFO", fmt: str = "text", log_file: str | None = None) -> None:
    """Send quantq's logs to stderr (and ``log_file`` if given) in the chosen format."""
    formatter: logging.Formatter = JSONFormatter() if fmt == "json" else TextFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        from pathlib import Path

        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    root = logging.getLogger("quantq")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    # the drivers' own warnings (a pool discarding a connection the server closed, ...) in the
    # same format and place, not as bare lines that break a JSON log
    for name in DRIVER_LOGGERS:
        driver = logging.getLogger(name)
        for handler in list(driver.handlers):
            driver.removeHandler(handler)
        for handler in handlers:
            driver.addHandler(handler)
        driver.setLevel(max(logging.WARNING, root.level))
        driver.propagate = False


DRIVER_LOGGERS = ("psycopg", "redis", "pymysql", "aiomysql")
