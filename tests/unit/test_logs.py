"""The worker's log: quantq's events and the drivers' own warnings in one format."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from quantq import logs
from quantq.logs import event


def test_driver_warnings_share_the_json_format_and_file(tmp_path: Path) -> None:
    path = tmp_path / "worker.log"
    logs.configure("info", "json", str(path))
    try:
        event(logging.getLogger("quantq.worker"), "worker.started", worker="w1")
        logging.getLogger("psycopg.pool").warning("discarding closed connection: %s", "server closed the connection")
        logging.getLogger("redis.connection").info("chatter below warning is not kept")
        lines = [json.loads(line) for line in path.read_text().splitlines()]
    finally:
        logs.configure("info", "text")
    assert [(x["logger"], x["level"]) for x in lines] == [("quantq.worker", "info"), ("psycopg.pool", "warning")]
    assert lines[0]["event"] == "worker.started" and lines[0]["worker"] == "w1"
    assert lines[1]["message"] == "discarding closed connection: server closed the connection"


def test_text_format_quotes_values_with_spaces(tmp_path: Path) -> None:
    path = tmp_path / "worker.log"
    logs.configure("warning", "text", str(path))
    try:
        event(logging.getLogger("quantq.worker"), "job.failed", level=logging.WARNING, job="j1", error="ValueError: bad input")
        event(logging.getLogger("quantq.worker"), "job.started", job="j2")  # below the level: not kept
        text = path.read_text()
    finally:
        logs.configure("info", "text")
    assert 'WARNING job.failed job=j1 error="ValueError: bad input"' in text and "j2" not in text
