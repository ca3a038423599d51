"""MySQL 8 / MariaDB 10.6+ backend: ``mysql://user:pass@host:3306/db?prefix=quantq_``.

The shared SQL core over PyMySQL and a small connection pool.  Claims select with
``FOR UPDATE SKIP LOCKED`` and mark the rows in the same transaction, so workers never
block each other or take a job twice.  Every time is the server's ``UTC_TIMESTAMP(6)``
(columns are ``DATETIME(6)`` in UTC).  MySQL has no LISTEN/NOTIFY: idle workers poll
with a short adaptive interval (``poll_min`` after work, doubling to ``poll_max`` while
idle), and producers on the same host wake them at once with a datagram.

URL options: ``prefix`` (table prefix, default ``quantq_``), ``pool_max``, ``retry_for``
(seconds of reconnect attempts before ``BackendUnavailable``), ``poll_min`` / ``poll_max``
(seconds), ``migrate`` (``auto`` / ``never``), ``charset``, ``connect_timeout``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import pymysql
import pymysql.cursors
from pymysql import converters
from pymysql.constants import CLIENT, FIELD_TYPE

from quantq import envelope, errors, jobs
from quantq.backends import _sql, _wakeup, migrations, redact

T = TypeVar("T")
DIALECT = "mysql"
OPTIONS = {
    "prefix": "quantq_", "pool_max": "10", "retry_for": "5", "poll_min": "0.01", "poll_max": "0.2",
    "migrate": "auto", "charset": "utf8mb4", "connect_timeout": "5",
}
#: DATETIME values parsed once per distinct text: the rows of one claim share their started,
#: updated and lease times, and PyMySQL's parse (a regex and eight ints) is the costliest
#: per-column step of reading a row.  Its results (datetimes, or the text it could not parse)
#: are immutable, so sharing them is safe.
_parse_datetime = lru_cache(maxsize=4096)(converters.convert_datetime)
_CONVERSIONS = {**converters.conversions, FIELD_TYPE.DATETIME: _parse_datetime, FIELD_TYPE.TIMESTAMP: _parse_datetime}
_TAKEN = {"taken": True}  #: the row of a completion acknowledged without reading it back
_EMPTY = ("",)  # "IN ()" is a syntax error; no id, queue or status is the empty string
#: Server error codes worth a retry: shutdown in progress, too many connections, lock wait
#: timeout, deadlock, query interrupted, connection killed (MariaDB), idle disconnect (MySQL 8).
#: Client-side codes (2000-2999: cannot connect, server gone, lost during query) are retried too.
_RETRY_CODES = {1040, 1053, 1205, 1213, 1317, 1927, 4031}


def _error_code(exc: BaseException) -> int:
    """The MySQL error number PyMySQL put first in the exception's args (0 when there is none)."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0


def _transient(exc: BaseException) -> bool:
    """A lost connection or a lock conflict (retry), not an error in the statement itself
    (PyMySQL files some of those, such as an invalid collation, as OperationalError too)."""
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    if not isinstance(exc, pymysql.err.OperationalError):
        return False
    code = _error_code(exc)
    return code in _RETRY_CODES or 2000 <= code < 3000 or code == 0


def _connection_lost(exc: BaseException) -> bool:
    """The session is gone (client codes 2000-2999, shutdown, killed), not a lock conflict."""
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    code = _error_code(exc)
    return 2000 <= code < 3000 or code in (0, 1053, 1927, 4031)


def table_names(prefix: str) -> dict[str, str]:
    return {
        "p": prefix, "jobs": f"`{prefix}jobs`", "queues": f"`{prefix}queues`", "workers": f"`{prefix}workers`",
        "migrations": f"`{prefix}migrations`",
    }


class PoolTimeout(Exception):
    pass


class _Pool:
    """At most ``size`` connections, reused last-in first-out.  A connection that saw an
    error is closed, not reused, so a server restart costs one failed attempt per connection."""

    def __init__(self, connect: Callable[[], pymysql.connections.Connection], size: int) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[pymysql.connections.Connection] = []
        self._lock = threading.Lock()
        self.live: set[pymysql.connections.Connection] = set()

    def acquire(self, timeout: float) -> pymysql.connections.Connection:
        if not self._slots.acquire(timeout=timeout):
            raise PoolTimeout(f"no free connection within {timeout:g}s")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
                with self._lock:
                    self.live.add(conn)
            return conn
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: pymysql.connections.Connection, healthy: bool) -> None:
        if healthy:
            with self._lock:
                self._idle.append(conn)
        else:
            self._discard(conn)
        self._slots.release()

    def drop_idle(self) -> int:
        """Close every idle connection (after one was found lost: a server restart breaks
        them all, and meeting them one failed attempt and back-off sleep at a time would
        outlast ``retry_for``).  The pool reconnects on demand."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)
        return len(idle)

    def _discard(self, conn: pymysql.connections.Connection) -> None:
        with self._lock:
            self.live.discard(conn)
        try:
            conn.close()
        except Exception:  # already broken: nothing to do
            pass

    def close(self) -> None:
        with self._lock:
            conns, self._idle = list(self.live), []
            self.live.clear()
        for conn in conns:
            try:
                conn.close()
            except Exception:
                pass


class MySQLBackend(_sql.SQLBackend):
    _cursor_values = True
    def __init__(self, url: str, *, open_check: bool = True) -> None:
        """``open_check=False`` skips the schema check on open (``quantq migrate`` does its own)."""
        self.url = url
        if not url.lower().startswith("mysql://"):
            raise errors.ConfigError(f"a MySQL URL looks like mysql://user:pass@host:3306/database, got {redact(url)!r}")
        rest, options = _sql.split_options(url, OPTIONS)
        parts = urlsplit(rest)
        if parts.query:
            raise errors.ConfigError(f"unknown MySQL URL option(s) {parts.query!r}; known: {', '.join(OPTIONS)}")
        self.database = unquote(parts.path.lstrip("/"))
        if not self.database:
            raise errors.ConfigError(f"the MySQL URL names no database: {redact(url)!r}")
        self.prefix = _sql.check_identifier(options["prefix"], "prefix")
        pool_max = int(_sql.number_option(options, "pool_max", low=1, high=1000))
        self._retry_for = _sql.number_option(options, "retry_for", low=0, high=3600)
        self._poll_min = _sql.number_option(options, "poll_min", low=0.001, high=60)
        self._poll_max = _sql.number_option(options, "poll_max", low=self._poll_min, high=60)
        self._interval = self._poll_min
        auto = _sql.migrate_option(options)
        self._connect_args = {
            "host": parts.hostname or "127.0.0.1", "port": parts.port or 3306, "user": unquote(parts.username or "root"),
            "password": unquote(parts.password or ""), "database": self.database, "charset": options["charset"],
            "connect_timeout": _sql.number_option(options, "connect_timeout", low=0.1, high=600),
            "autocommit": True, "cursorclass": pymysql.cursors.DictCursor, "client_flag": CLIENT.FOUND_ROWS,
            "init_command": "SET time_zone = '+00:00'", "conv": _CONVERSIONS,
        }
        self.names = table_names(self.prefix)
        self.Q = _sql.load_queries(DIALECT, tuple(sorted(self.names.items())))
        self._pool = _Pool(self._connect, pool_max)
        key = f"{self._connect_args['host']}:{self._connect_args['port']}/{self.database}/{self.prefix}"
        self._wake = _wakeup.Wakeup(f"mysql:{key}")
        self._lock_name = "quantq-" + hashlib.sha1(key.encode()).hexdigest()[:32]
        self._closed = False
        try:
            if open_check:
                self._migrate(automatic=True, apply=auto)
        except BaseException:
            self.close()
            raise

    # ---- connections and transactions ------------------------------------------------------

    def _connect(self) -> pymysql.connections.Connection:
        conn = pymysql.connect(**self._connect_args)
        with conn.cursor() as cur:
            # READ COMMITTED keeps InnoDB's gap locks out of the claim's way
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[pymysql.connections.Connection]:
        """A pooled connection, retried with back-off while the server cannot be reached."""
        if self._closed:
            raise errors.BackendError("this MySQL backend is closed")
        deadline = time.monotonic() + self._retry_for
        delay = 0.05
        while True:
            try:
                conn = self._pool.acquire(timeout=max(0.5, min(self._retry_for, 5.0)))
            except pymysql.err.Error as exc:
                if not _transient(exc):
                    raise errors.BackendError(f"MySQL error: {exc}") from exc
                if time.monotonic() + delay > deadline:
                    raise errors.BackendUnavailable(f"MySQL at {redact(self.url)} is unavailable: {exc}") from exc
            except (PoolTimeout, OSError) as exc:
                if time.monotonic() + delay > deadline:
                    raise errors.BackendUnavailable(f"MySQL at {redact(self.url)} is unavailable: {exc}") from exc
            else:
                break
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        try:
            yield conn
        except BaseException:
            self._pool.release(conn, healthy=False)  # rolled back by closing; never reused mid-transaction
            raise
        self._pool.release(conn, healthy=True)

    def _tx(self, fn: Callable[[Any], T], *, write: bool = True, worker: bool = False, single: bool = False) -> T:
        deadline = time.monotonic() + self._retry_for
        delay = 0.05
        checked = False
        while True:
            try:
                with self._connection() as conn:
                    cur = conn.cursor()
                    if not write:
                        return fn(cur)
                    conn.begin()
                    out = fn(cur)
                    conn.commit()
                    return out
            except pymysql.err.Error as exc:
                if not _transient(exc):
                    raise errors.BackendError(f"MySQL error: {exc}") from exc
                # Connection lost, server restarting, deadlock or lock wait timeout: try again.
                if not checked and _connection_lost(exc):
                    checked = True
                    self._pool.drop_idle()
                    continue  # at once, on a fresh connection
                if time.monotonic() + delay > deadline:
                    raise errors.BackendUnavailable(f"MySQL at {redact(self.url)} is unavailable: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _run(self, cur: pymysql.cursors.DictCursor, name: str, params: Mapping[str, Any]) -> tuple[list[Any], int]:
        count = cur.execute(self.Q[name], params)
        rows = list(cur.fetchall()) if cur.description is not None else []
        return rows, count

    def _array(self, values: Iterable[str]) -> tuple[str, ...]:
        return tuple(values) or _EMPTY

    def _time(self, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def _woke(self) -> None:
        self._wake.notify()

    def _insert_jobs(self, cur: pymysql.cursors.DictCursor, rows: list[dict[str, Any]]) -> None:
        cur.executemany(self.Q["insert_job"], rows)  # one multi-row INSERT

    def _complete_batch(self, cur: Any, items: list[dict[str, Any]], decode: bool = True) -> dict[tuple[str, str], Any]:
        # One UPDATE joined to the batch as JSON_TABLE, whose WHERE is the test that a claim is
        # still held: when it matched every row (the usual case), that is all.  Otherwise some
        # were stale: it is undone, and the rows still held are locked first to learn which (a
        # locking read of every row first, always, cost a tenth of a job's time on the server).
        def complete(batch: list[dict[str, Any]], locked: bool) -> int:
            encoded = envelope.compact([[i["id"], i["token"], i["result"]] for i in batch])
            return self._count(cur, "complete_many", {"batch": encoded, "locked": locked})

        cur.execute("SAVEPOINT quantq_batch")
        mine = items
        if complete(items, locked=False) != len(items):
            cur.execute("ROLLBACK TO SAVEPOINT quantq_batch")
            held = {(r["id"], r["lease_token"]) for r in self._rows(cur, "held_for_update", {"ids": self._array(i["id"] for i in items)})}
            mine = [i for i in items if (i["id"], i["token"]) in held]
            if not mine:
                return {}
            complete(mine, locked=True)
        if not decode:  # acknowledge: reading the completed rows back is not needed
            return {(i["id"], i["token"]): _TAKEN for i in mine}
        rows = {r["id"]: r for r in self._rows(cur, "get_jobs", {"ids": self._array(i["id"] for i in mine)})}
        return {(i["id"], i["token"]): rows[i["id"]] for i in mine}

    def _renew_batch(self, cur: Any, claims: Sequence[jobs.Claim], lease: float) -> dict[tuple[str, str], Any]:
        batch = envelope.compact([[c.job_id, c.token] for c in claims])
        self._count(cur, "renew_many", {"batch": batch, "lease_us": int(lease * 1_000_000)})
        held = self._rows(cur, "held_tokens", {"ids": self._array(c.job_id for c in claims)})
        return {(r["id"], r["lease_token"]): r["lease_expires_at"] for r in held}

    def _update_returning(self, cur: Any, name: str, params: Mapping[str, Any]) -> list[Any]:
        if name == "retry":
            return self._retry_rows(cur, params["id"])
        if not self._count(cur, name, params):
            return []
        return self._rows(cur, "get_job", {"id": params["id"]})

    def _taken(self, cur: Any, name: str, params: Mapping[str, Any]) -> bool:
        # the update's own count (FOUND_ROWS: rows matched) says it; no reading the row back
        return bool(self._count(cur, name, params))

    def _retry_rows(self, cur: Any, job_id: str) -> list[Any]:
        rows = self._rows(cur, "retry_pick", {"id": job_id})
        if not rows:
            return []
        old = rows[0]
        self._count(cur, "retry_delete", {"seq": old["seq"]})
        self._count(cur, "retry_insert", dict(old))
        return self._rows(cur, "get_job", {"id": job_id})

    def _claim_rows(self, cur: Any, params: dict[str, Any]) -> list[Any]:
        # Paused queues are read apart: a subquery inside a locking SELECT would lock (or skip!) them.
        paused = {r["name"] for r in self._rows(cur, "paused_queues", {})}
        queues = tuple(q for q in params["queue_list"] if q not in paused)
        if not queues:
            return []
        picked = self._rows(cur, "claim_pick", {**params, "queues": queues})
        if not picked:
            return []
        now = picked[0]["claim_now"]  # (one statement: one time for every row)
        self._count(cur, "claim_mark", {**params, "seqs": tuple(r["seq"] for r in picked), "now": now})
        # what claim_mark wrote, laid over the rows as they were (a third statement reading the
        # rows back cost about a tenth of a claim's time, most of it PyMySQL's parsing)
        lease_expires_at = now + timedelta(microseconds=params["lease_us"])
        token, worker_id, hostname = params["token"], params["worker_id"], params["hostname"]
        for row in picked:
            row.update(status="running", attempts=row["attempts"] + 1, worker_id=worker_id, hostname=hostname,
                       started_at=now, updated_at=now, progress=0.0, status_message=None,
                       lease_token=f"{token}.{row['seq']}", lease_expires_at=lease_expires_at)
            del row["claim_now"]
        return picked

    def connection_ids(self) -> list[int]:
        """Server thread ids of this backend's open connections (for operators and tests)."""
        return [conn.thread_id() for conn in list(self._pool.live)]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.close()
        self._wake.close()

    # ---- migrations ------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply every pending migration (``quantq migrate``); returns their names."""
        return self._migrate(automatic=False)

    def _applied(self, cur: Any) -> set[int] | None:
        cur.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
            (f"{self.prefix}migrations",),
        )
        if not cur.fetchall():
            return None
        cur.execute(f"SELECT version FROM {self.names['migrations']}")
        return {r["version"] for r in cur.fetchall()}

    def _migrate(self, *, automatic: bool, apply: bool = True) -> list[str]:
        where = f"MySQL database {self.database!r} (prefix {self.prefix!r})"
        applied = self._tx(self._applied, write=False)
        if applied is not None and not migrations.pending(DIALECT, applied, automatic=automatic, where=where):
            return []
        if not apply:
            raise errors.ConfigError(f"{where} needs schema migrations (migrate=never in the URL): run `quantq migrate`")
        # MySQL commits every DDL statement, so a named lock (not a transaction) keeps two
        # processes from migrating at once; the scripts use IF NOT EXISTS to be repeatable.
        with self._connection() as conn:
            cur = conn.cursor()
            cur.execute("SELECT GET_LOCK(%s, 60) AS got", (self._lock_name,))
            if not cur.fetchone()["got"]:
                raise errors.BackendError(f"{where}: another process holds the migration lock")
            try:
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.names['migrations']} (version INT NOT NULL PRIMARY KEY, "
                    "name VARCHAR(200) NOT NULL, applied_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6))) "
                    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
                )
                todo = migrations.pending(DIALECT, self._applied(cur) or set(), automatic=automatic, where=where)
                for migration in todo:
                    for statement in _sql.split_statements(_sql.render(migration.text, self.names)):
                        cur.execute(statement)
                    cur.execute(
                        f"INSERT INTO {self.names['migrations']} (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
            finally:
                cur.execute("SELECT RELEASE_LOCK(%s)", (self._lock_name,))
        return [m.name for m in todo]

    # ---- wake-ups --------------------------------------------------------------------------

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """Poll, sleeping ``poll_min`` doubling to ``poll_max`` while idle; a same-host
        producer's datagram cuts the sleep short."""
        self._wake.listen()
        deadline = time.monotonic() + max(0.0, timeout)
        names = self._array(queues)
        while True:
            if self._read("has_work", {"queues": names}):
                self._interval = self._poll_min
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(min(self._interval, remaining))
            self._interval = min(self._interval * 2, self._poll_max)
