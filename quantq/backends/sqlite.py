"""SQLite backend: ``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``.  The embedded default.

Safe for many worker processes on one host: WAL mode, every write in a
``BEGIN IMMEDIATE`` transaction (so the busy handler applies and a read never has
to upgrade to a write), a retry loop on top of the busy timeout so "database is
locked" never reaches a user, and a claim that is one UPDATE ... RETURNING.
Idle workers are woken by datagrams (``_wakeup``), not by tight polling.
The operations themselves are the shared SQL core's (``_sql.SQLBackend``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from quantq import envelope, errors, jobs
from quantq.backends import _sql, _wakeup

T = TypeVar("T")
SCHEMA_VERSION = 1
_LOCK_RETRY_FOR = 300.0  # seconds of contention before giving up (never seen in practice)


def path_from_url(url: str) -> str:
    if not url.startswith("sqlite:///"):
        raise errors.ConfigError(f"a SQLite URL looks like sqlite:///relative.db or sqlite:////abs/path.db, got {url!r}")
    path = urlsplit(url).path
    # sqlite:///x.db -> "/x.db" from urlsplit; the SQLAlchemy convention makes that relative
    return path[1:] if path.startswith("/") else path


class SQLiteBackend(_sql.SQLBackend):
    Q = _sql.load_queries("sqlite")

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url)
        if not self.path:
            raise errors.ConfigError("the SQLite URL names no file")
        options = parse_qs(urlsplit(url).query)
        self._synchronous = options.get("synchronous", ["NORMAL"])[0].upper()
        if self._synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise errors.ConfigError(f"synchronous must be off, normal, full or extra, got {self._synchronous!r}")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        # Threads of one process queue here for the write lock: a Python lock hands over in
        # microseconds, where SQLite's busy handler would make them sleep in millisecond steps.
        self._write_lock = threading.Lock()
        self._wake = _wakeup.Wakeup(os.path.abspath(self.path))
        self._create_schema()

    # ---- connections and transactions ------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise errors.BackendUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from exc
            conn.row_factory = sqlite3.Row
            self._retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _retry(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + _LOCK_RETRY_FOR
        delay = 0.001
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                text = str(exc).lower()
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise errors.BackendError(f"SQLite error: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.05)

    def _tx(self, fn: Callable[[Any], T], *, write: bool = True, worker: bool = False, single: bool = False) -> T:
        conn = self._conn()
        if not write:
            return self._retry(lambda: fn(conn))

        def attempt() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return out

        with self._write_lock:
            return self._retry(attempt)

    def _run(self, cur: sqlite3.Connection, name: str, params: Mapping[str, Any]) -> tuple[list[Any], int]:
        c = cur.execute(self.Q[name], params)
        rows = c.fetchall()
        if rows:
            # sqlite3.Row finds a column by name with a case-insensitive walk over all of them
            # (about 6 us for a job's 25 lookups); a dict made once per row costs a fifth of that.
            keys = [d[0] for d in c.description]
            rows = [dict(zip(keys, row, strict=True)) for row in rows]
        return rows, c.rowcount

    def _complete_batch(self, cur: sqlite3.Connection, items: list[dict[str, Any]], decode: bool = True) -> dict[tuple[str, str], Any] | None:
        ids = [i["id"] for i in items]
        tokens = dict(zip(ids, (i["token"] for i in items), strict=True))
        if len(tokens) != len(ids):
            return None  # one id twice: the rows returned (ids only) could not be told apart
        batch = envelope.compact([[i["id"], i["token"], i["result"]] for i in items])
        return {(r["id"], tokens[r["id"]]): r for r in self._rows(cur, "complete_many", {"batch": batch})}

    def _taken(self, cur: sqlite3.Connection, name: str, params: Mapping[str, Any]) -> bool:
        return bool(cur.execute(self.Q[name], self._params(dict(params))).fetchall())  # the row unconverted

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        params.setdefault("now", time.time())  # SQLite lives on one host: its clock is the database's
        return params

    def _array(self, values: Iterable[str]) -> str:
        return json.dumps(list(values))

    def _time(self, value: datetime | None) -> float | None:
        return jobs.to_timestamp(value)

    def _woke(self) -> None:
        self._wake.notify()

    def _create_schema(self) -> None:
        statements = _sql.split_statements(_sql.load_schema("sqlite"))

        def create(conn: sqlite3.Connection) -> None:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise errors.ConfigError(
                    f"{self.path} has schema version {version}, newer than this quantq understands ({SCHEMA_VERSION})"
                )
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

        self._tx(create)

    def now(self) -> datetime:
        return jobs.utcnow()

    def ping(self) -> None:
        self._tx(lambda conn: conn.execute("SELECT 1").fetchall(), write=False)

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._conns.clear()
        self._local = threading.local()
        self._wake.close()

    # ---- wake-ups --------------------------------------------------------------------------

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        self._wake.listen()  # before the check, so a notify between check and wait is not missed
        if self._read("has_work", {"queues": self._array(queues)}):
            return
        self._wake.wait(timeout)
