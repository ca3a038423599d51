"""PostgreSQL backend: ``postgresql://user:pass@host:5432/db?schema=quantq&prefix=quantq_``.

The shared SQL core over a psycopg 3 connection pool.  Claims are one
``UPDATE ... WHERE seq = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED)) RETURNING``, so any number
of workers claim side by side without blocking each other or taking a job twice; it runs in
autocommit (a single statement is atomic), as do a single enqueue and a worker's batch of
completions: one round trip each, no BEGIN/COMMIT.  Every time
that decides something (leases, due dates, TTLs) is the server's ``now()``.  Idle
workers sleep in ``LISTEN`` on a dedicated connection and producers ``NOTIFY`` in the
same transaction as their write; a single enqueue hands its job straight to an idle worker
(inserted already claimed, the row sent on the worker's own channel: migration 004); callers
waiting for a job to finish sleep in ``LISTEN`` too, woken by the NOTIFY of the statement that
finishes it.  A lost connection is retried with back-off; past
``retry_for`` seconds the operation raises ``BackendUnavailable``.

URL options (everything else goes to libpq): ``schema`` (default ``public``),
``prefix`` (table prefix, default ``quantq_``), ``pool_min`` / ``pool_max``,
``retry_for`` (seconds), ``migrate`` (``auto``: apply safe migrations on first use;
``never``), ``worker_commit`` (``sync``; ``async`` runs workers' own state changes on a
second pool of sessions with ``synchronous_commit=off``, so they do not wait for the disk:
several times the throughput where fsync is slow, but after a server *crash* the last
fraction of a second of claims and outcomes may be forgotten, so those jobs run again;
acknowledged enqueues stay durable either way).
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import select
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import psycopg
import psycopg_pool
from psycopg import pq, sql
from psycopg.rows import dict_row
from psycopg.types.array import ListBinaryDumper
from psycopg.types.string import TextLoader

from quantq import errors, jobs
from quantq.backends import _sql, migrations, redact
from quantq.backends._finish_watch import FinishWatch

T = TypeVar("T")
DIALECT = "postgresql"
NAMEDATALEN = 64  #: PostgreSQL's limit on names (channel names included), in bytes, with the terminator
OPTIONS = {"schema": "public", "prefix": "quantq_", "pool_min": "1", "pool_max": "10", "retry_for": "5", "migrate": "auto",
           "worker_commit": "sync"}


def table_names(schema: str, prefix: str) -> dict[str, str]:
    return {
        "schema": schema, "p": prefix, "jobs": f"{schema}.{prefix}jobs", "queues": f"{schema}.{prefix}queues",
        "workers": f"{schema}.{prefix}workers", "migrations": f"{schema}.{prefix}migrations",
        "idle": f"{schema}.{prefix}idle",
    }


class _TextArray(list):  # type: ignore[type-arg]
    """A list of strings sent as a binary text[]: psycopg's text-format array dumper quotes each
    element through a regex (about 1.3 us each; a batch of completions sends three per job)."""


_TIMES = ("run_at", "created_at", "started_at", "finished_at", "updated_at", "expires_at", "lease_expires_at")


def _hand_over(payload: str) -> dict[str, Any] | None:
    """A hand-over's NOTIFY: ``{"row": …}`` with the row as a query returns it (``to_json`` wrote
    its times in ISO 8601; JSON columns come as values, which decode as is), or ``{"id": …}``.
    None for anything else (someone else's NOTIFY on the worker's channel)."""
    try:
        said = json.loads(payload)
        if isinstance(said, dict) and isinstance(said.get("id"), str):
            return {"id": said["id"]}
        row = said["row"]
        for name in _TIMES:
            if row.get(name) is not None:
                row[name] = datetime.fromisoformat(row[name])
        if isinstance(row["seq"], int) and isinstance(row["lease_token"], str):
            return {"row": row}
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return None


def _configure(conn: psycopg.Connection[Any]) -> None:
    # JSON arrives as text, so every dialect decodes it in one place (_sql.job_from_row)
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.adapters.register_loader("json", TextLoader)
    conn.adapters.register_dumper(_TextArray, ListBinaryDumper)


def _connection_lost(exc: BaseException) -> bool:
    """The session is gone (no SQLSTATE, connection exception 08, or the server shutting
    down, 57P0x), as opposed to a deadlock or serialization failure on a live session."""
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, psycopg.OperationalError) and (state is None or state.startswith(("08", "57P")))


class PostgresBackend(_sql.SQLBackend):
    def __init__(self, url: str, *, open_check: bool = True) -> None:
        """``open_check=False`` skips the schema check on open (``quantq migrate`` does its own)."""
        self.url = url
        self._conninfo, options = _sql.split_options(url, OPTIONS)
        self.schema = _sql.check_identifier(options["schema"], "schema")
        self.prefix = _sql.check_identifier(options["prefix"], "prefix")
        longest = f"{self.schema}.{self.prefix}jobs_done"  # the longest NOTIFY channel name
        if len(longest) >= NAMEDATALEN:
            raise errors.ConfigError(
                f"schema and prefix are too long together: {len(self.schema) + len(self.prefix)} characters, at most "
                f"{NAMEDATALEN - 1 - len('.jobs_done')} (PostgreSQL names its NOTIFY channels after them, {longest!r}, "
                f"and refuses a channel name of {NAMEDATALEN} bytes or more)")
        pool_min = int(_sql.number_option(options, "pool_min", low=0, high=100))
        pool_max = int(_sql.number_option(options, "pool_max", low=max(1, pool_min), high=1000))
        self._retry_for = _sql.number_option(options, "retry_for", low=0, high=3600)
        auto = _sql.migrate_option(options)
        if options["worker_commit"] not in ("sync", "async"):
            raise errors.ConfigError(f"URL option worker_commit must be 'sync' or 'async', got {options['worker_commit']!r}")
        self._async_worker_commits = options["worker_commit"] == "async"
        self.names = table_names(self.schema, self.prefix)
        self.Q = _sql.load_queries(DIALECT, tuple(sorted(self.names.items())))
        self.channel = f"{self.schema}.{self.prefix}jobs"
        #: the connections' application_name: tells this backend's sessions apart in pg_stat_activity
        self.application_name = f"quantq-{os.getpid()}-{os.urandom(3).hex()}"
        self._kwargs: dict[str, Any] = {
            "autocommit": True, "row_factory": dict_row, "application_name": self.application_name,
            "options": "-c TimeZone=UTC", "connect_timeout": 5,
        }
        self._pool = self._new_pool(self._kwargs, pool_min, pool_max)
        #: workers' own writes with worker_commit=async: sessions with synchronous_commit off, so a
        #: claim or an outcome is one autocommit statement (no BEGIN / SET LOCAL / COMMIT round trips)
        self._worker_pool: psycopg_pool.ConnectionPool[Any] | None = None
        if self._async_worker_commits:
            self._worker_pool = self._new_pool(
                {**self._kwargs, "options": "-c TimeZone=UTC -c synchronous_commit=off"}, min(pool_min, 1), pool_max)
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        #: what the listening session was told, (channel, payload), oldest first: its own channel
        #: carries the ids of jobs handed to this worker, the queue's channel "there is work"
        self._told: collections.deque[tuple[str, str]] = collections.deque()
        #: the listening session holds advisory lock (class, key): while it does, enqueues may hand
        #: this worker jobs on its own channel (see migration 004); the class is this schema's
        crc = zlib.crc32(f"quantq-idle:{self.schema}.{self.prefix}".encode())
        self._lock_class = crc - (1 << 32) if crc >= 1 << 31 else crc
        self._idle_key = 0
        self._own_channel = ""
        self._slot_token = ""
        #: a byte here ends a busy worker's wait (interrupt_wait): it has become idle
        self._interrupt_r, self._interrupt_w = os.pipe()
        os.set_blocking(self._interrupt_r, False)
        os.set_blocking(self._interrupt_w, False)
        self._interrupted = False
        self._finish_watch = FinishWatch(self._listen_finished, "quantq-finish-watch")
        self._closed = False
        try:
            if open_check:
                self._migrate(automatic=True, apply=auto)
        except BaseException:
            self.close()
            raise

    # ---- connections and transactions ------------------------------------------------------

    def _new_pool(self, kwargs: dict[str, Any], low: int, high: int) -> psycopg_pool.ConnectionPool[Any]:
        return psycopg_pool.ConnectionPool(
            self._conninfo, kwargs=kwargs, min_size=low, max_size=high, configure=_configure,
            open=True, timeout=max(0.5, min(self._retry_for, 5.0)), reconnect_timeout=0, name=self.application_name,
        )

    def _tx(self, fn: Callable[[Any], T], *, write: bool = True, worker: bool = False, single: bool = False) -> T:
        if self._closed:
            raise errors.BackendError("this PostgreSQL backend is closed")
        pool = self._worker_pool if worker and self._worker_pool is not None else self._pool
        deadline = time.monotonic() + self._retry_for
        delay = 0.05
        checked = False
        while True:
            conn: psycopg.Connection[Any] | None = None
            try:
                try:
                    with pool.connection() as conn:
                        if not write or single:  # autocommit: one statement is its own transaction
                            return fn(conn.cursor())
                        with conn.transaction():
                            return fn(conn.cursor())
                except psycopg.Error as exc:
                    if isinstance(exc, psycopg.OperationalError) or conn is None or not (conn.broken or conn.closed):
                        raise
                    # any other error class on a connection that is now gone is the connection's
                    raise psycopg.OperationalError(f"connection lost: {exc}") from exc
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                # Connection lost, server restarting, deadlock or serialization failure: try again.
                if not checked and _connection_lost(exc):
                    # A restart breaks every pooled connection at once: drop all the broken ones
                    # now and retry at once, instead of meeting them one failed attempt (and one
                    # back-off sleep) at a time, which outlasts retry_for with a full pool.
                    checked = True
                    pool.check()
                    continue
                if time.monotonic() + delay > deadline:
                    raise errors.BackendUnavailable(f"PostgreSQL at {redact(self.url)} is unavailable: {exc}") from exc
            except psycopg.Error as exc:
                raise errors.BackendError(f"PostgreSQL error: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _run(self, cur: psycopg.Cursor[Any], name: str, params: Mapping[str, Any]) -> tuple[list[Any], int]:
        cur.execute(self.Q[name], params)
        # (not ``cur.description is not None``: that builds a Column object per column, 30 of
        # them for a job's row, about a sixth of a single enqueue's time in Python)
        result = cur.pgresult
        rows = cur.fetchall() if result is not None and result.status == pq.ExecStatus.TUPLES_OK else []
        return rows, cur.rowcount

    def enqueue(self, new_jobs: Sequence[jobs.Job]) -> list[jobs.Job]:
        if len(new_jobs) != 1 or new_jobs[0].run_at is not None:
            return super().enqueue(new_jobs)
        # The common producer call: one statement in autocommit, no BEGIN/COMMIT round trips.
        params = _sql.job_params(new_jobs[0])
        params["lock_class"] = self._lock_class
        rows = self._tx(lambda cur: self._rows(cur, "insert_job_returning", params), write=False)
        if rows:  # what the server decided, laid over the job as sent
            row = rows[0]
            return [new_jobs[0].replace(
                status=jobs.JobStatus(row["status"]), attempts=row["attempts"], created_at=_sql.to_time(row["created_at"]),
                updated_at=_sql.to_time(row["updated_at"]), started_at=_sql.to_time(row["started_at"]),
                worker_id=row["worker_id"], hostname=row["hostname"])]
        existing = self.get(new_jobs[0].id)  # the id existed: idempotent submission
        if existing is None:
            raise errors.BackendError(f"job {new_jobs[0].id} was neither inserted nor found")
        return [existing]

    def _taken(self, cur: psycopg.Cursor[Any], name: str, params: Mapping[str, Any]) -> bool:
        cur.execute(self.Q[name], params)
        return cur.rowcount > 0  # the returned row is left unconverted

    def _array(self, values: Iterable[str]) -> _TextArray:
        return _TextArray(values)

    _TEXT_COLUMNS = ("id", "task", "queue", "args", "status", "meta", "parent_id", "depends_on")
    _OTHER_COLUMNS = ("priority", "max_attempts", "timeout", "run_at", "result_ttl", "failure_ttl")

    def _insert_jobs(self, cur: psycopg.Cursor[Any], rows: list[dict[str, Any]]) -> None:
        if len(rows) == 1:
            cur.execute(self.Q["insert_job"], rows[0])
            return
        # One statement, a column each: not one INSERT (and one trigger call) per job.  Every
        # column goes as a binary text[] (numbers and times as their text, cast by the server):
        # psycopg's dumper for a list of numbers or datetimes costs several times as much.
        params: dict[str, Any] = {name: self._array([r[name] for r in rows]) for name in self._TEXT_COLUMNS}
        for name in self._OTHER_COLUMNS:
            params[name] = self._array([None if r[name] is None else str(r[name]) for r in rows])
        cur.execute(self.Q["insert_jobs"], params)

    def _notify(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT pg_notify(%s, '')", (self.channel,))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._finish_watch.close()
        with self._listen_lock:
            self._drop_listener()
            for fd in (self._interrupt_r, self._interrupt_w):
                os.close(fd)
        self._pool.close()
        if self._worker_pool is not None:
            self._worker_pool.close()

    # ---- migrations ------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply every pending migration (``quantq migrate``); returns their names."""
        return self._migrate(automatic=False)

    def _applied(self, cur: psycopg.Cursor[Any]) -> set[int] | None:
        cur.execute("SELECT to_regclass(%s) AS t", (self.names["migrations"],))
        found = cur.fetchone()
        if found is None or found["t"] is None:
            return None
        cur.execute(f"SELECT version FROM {self.names['migrations']}")
        return {r["version"] for r in cur.fetchall()}

    def _migrate(self, *, automatic: bool, apply: bool = True) -> list[str]:
        where = f"PostgreSQL schema {self.schema!r} (prefix {self.prefix!r})"
        applied = self._tx(self._applied, write=False)
        if applied is not None and not migrations.pending(DIALECT, applied, automatic=automatic, where=where):
            return []  # the common case: up to date, no lock taken
        if not apply:
            raise errors.ConfigError(f"{where} needs schema migrations (migrate=never in the URL): run `quantq migrate`")

        def run(cur: psycopg.Cursor[Any]) -> list[str]:
            # DDL is transactional here: all pending migrations land together or not at all
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"quantq-migrate:{self.schema}.{self.prefix}",))
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self.names['migrations']} (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = self._applied(cur) or set()
            todo = migrations.pending(DIALECT, done, automatic=automatic, where=where)
            for migration in todo:
                for statement in _sql.split_statements(_sql.render(migration.text, self.names)):
                    cur.execute(statement)
                cur.execute(
                    f"INSERT INTO {self.names['migrations']} (version, name) VALUES (%s, %s)", (migration.version, migration.name)
                )
            return [m.name for m in todo]

        return self._tx(run)

    # ---- wake-ups --------------------------------------------------------------------------

    def _listen(self) -> psycopg.Connection[Any]:
        """The listening session: LISTEN on the queue's channel and on this worker's own, holding
        the advisory lock that tells enqueues it is there.  A new session takes a new key (and
        channel), so slots entered by a lost one are never mistaken for its own."""
        if self._listener is None or self._listener.closed:
            key = secrets.randbits(31) or 1
            channel = f"{self.schema}.{self.prefix}h{key:08x}"  # no longer than '.jobs_done'
            conn = psycopg.connect(self._conninfo, **self._kwargs)
            try:
                conn.add_notify_handler(lambda n: self._told.append((n.channel, n.payload)))
                conn.execute(sql.SQL("LISTEN {}; LISTEN {}; SELECT pg_advisory_lock({}, {})").format(
                    sql.Identifier(self.channel), sql.Identifier(channel), sql.Literal(self._lock_class), sql.Literal(key)))
            except BaseException:
                conn.close()
                raise
            self._told.clear()
            self._listener, self._idle_key, self._own_channel = conn, key, channel
        return self._listener

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()  # (its advisory lock goes with it: no enqueue hands it more)
            self._listener = None

    def _listen_failed(self, timeout: float) -> NoReturn:
        """The listening session failed: drop it (and its advisory lock), pause, and say so."""
        self._drop_listener()
        time.sleep(min(timeout, 0.5))
        raise errors.BackendUnavailable(f"PostgreSQL at {redact(self.url)}: cannot LISTEN") from None

    def _hear(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        """Wait up to ``timeout`` for the server to say something, then take its notifications.
        (Not ``conn.notifies()``: notifications that arrive while the session runs a statement
        reach the handler, and psycopg does not promise the two ways together.)"""
        if timeout > 0:
            ready, _, _ = select.select([conn.fileno(), self._interrupt_r], [], [], timeout)
            if self._interrupt_r in ready:
                self._interrupted = True
                try:
                    while os.read(self._interrupt_r, 64):
                        pass
                except BlockingIOError:
                    pass
        pgconn = conn.pgconn
        pgconn.consume_input()
        while (n := pgconn.notifies()) is not None:
            self._told.append((n.relname.decode(), n.extra.decode()))

    def _heard(self) -> tuple[list[dict[str, Any]], bool]:
        """Take what was told: the hand-overs to this worker (``{"row": …}`` or ``{"id": …}``),
        and whether anything else spoke (the queue's channel, or a stray NOTIFY on this one)."""
        handed, other = [], False
        while self._told:
            channel, payload = self._told.popleft()
            if channel == self._own_channel:
                said = _hand_over(payload)
                if said is not None:
                    handed.append(said)
                    continue
            other = True
        return handed, other

    def wait_finished(self, job_id: str, timeout: float, *, poll: float = 0.05) -> jobs.Job | None:
        """Woken by the NOTIFY of the statement that finishes the job (no polling: a waiter
        costs the server nothing while it waits)."""
        return self._finish_watch.wait_finished(self.get, job_id, timeout)

    def _listen_finished(self, ready: Callable[[], None], told: Callable[[str], None], closed: Callable[[], bool]) -> None:
        """One session for the finish watch: LISTEN where the finishing statements NOTIFY."""
        with psycopg.connect(self._conninfo, **self._kwargs) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(f"{self.channel}_done")))
            ready()
            while not closed():
                for notice in conn.notifies(timeout=FinishWatch.TICK):
                    told(notice.payload)

    def wait_for_work(self, queues: Sequence[str], timeout: float) -> None:
        """LISTEN first, then look, then sleep until a NOTIFY or the timeout."""
        with self._listen_lock:
            try:
                conn = self._listen()
                self._hear(conn, 0)  # drop wake-ups that arrived while busy
                self._told.clear()
            except psycopg.Error:
                self._listen_failed(timeout)
            if self._read("has_work", {"queues": list(queues)}):
                return
            deadline = time.monotonic() + max(0.0, timeout)
            try:
                while not self._told and not self._interrupted and (left := deadline - time.monotonic()) > 0:
                    self._hear(conn, left)
            except psycopg.Error:
                self._drop_listener()
            self._told.clear()

    def interrupt_wait(self) -> None:
        try:
            os.write(self._interrupt_w, b"!")
        except (BlockingIOError, OSError):
            pass  # already interrupted (the pipe is full), or closed

    def wait_and_claim(
        self, queues: Sequence[str], *, worker_id: str, hostname: str, lease: float, limit: int = 1, timeout: float,
        idle: bool = True,
    ) -> list[jobs.Claim]:
        """Enter a free slot for enqueues to hand a job to (unless the queues hold work), sleep
        in LISTEN, and return the handed job as soon as it arrives on this worker's channel:
        no claim statement on an idle worker's path.  Woken otherwise (the queue's channel, the
        timeout), withdraw the slot and claim as usual.  A busy worker enters no slot: a job
        handed to it would wait behind its running ones while another worker may sit idle."""
        if limit <= 0 or not queues:
            return []
        if not idle:
            self._interrupted = False
            self.wait_for_work(queues, timeout)
            if self._interrupted:  # it has become idle: back to wait as an idle worker (its claim finds nothing)
                return []
            return self.claim(queues, worker_id=worker_id, hostname=hostname, lease=lease, limit=limit)
        with self._listen_lock:
            try:
                handed = self._wait_for_hand_over(queues, worker_id, hostname, lease, timeout)
                claims = self._take_handed(handed) if handed else []
            except psycopg.Error:
                self._listen_failed(timeout)  # (a slot it entered is passed over from now on)
        if handed:
            return claims  # (the caller comes back for more: on its path, a claim would only delay this job)
        return self.claim(queues, worker_id=worker_id, hostname=hostname, lease=lease, limit=limit)

    HAND_OVER_WAIT = 2.0  #: seconds to wait for the NOTIFY of a job handed over as the slot was withdrawn

    def _wait_for_hand_over(self, queues: Sequence[str], worker_id: str, hostname: str, lease: float,
                            timeout: float) -> list[dict[str, Any]]:
        """The NOTIFY payloads of jobs handed to this worker (none when the queues had work or it
        was woken otherwise)."""
        conn = self._listen()
        self._hear(conn, 0)
        handed, _ = self._heard()  # wake-ups that arrived while busy are dropped
        if handed:  # (only jobs whose slot was withdrawn too late to wait for them)
            return handed
        self._slot_token = secrets.token_hex(12)  #: the lease token of a job handed to this slot
        params = {"queues": self._array(queues), "worker_id": worker_id, "hostname": hostname, "lease": float(lease),
                  "token": self._slot_token, "channel": self._own_channel, "lock_key": self._idle_key,
                  "lock_class": self._lock_class}
        cur = conn.cursor()
        cur.execute(self.Q["idle_enter"], params)
        entered = cur.fetchone()
        if entered is None or entered["slot"] is None:
            return []  # work is waiting: claim it
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            handed, work = self._heard()
            if handed or work or (left := deadline - time.monotonic()) <= 0:
                break
            self._hear(conn, left)
        if handed:
            return handed
        cur.execute(self.Q["idle_leave"], {"slot": entered["slot"]})
        if cur.fetchone() is not None:
            return []  # withdrawn before anyone took it
        # An enqueue took the slot first: its commit came before this statement's, so its NOTIFY
        # is here or on its way.  (None comes only if that enqueue's insert found the id taken.)
        deadline = time.monotonic() + self.HAND_OVER_WAIT
        while not (handed := self._heard()[0]) and (left := deadline - time.monotonic()) > 0:
            self._hear(conn, left)
        return handed

    def _take_handed(self, told: list[dict[str, Any]]) -> list[jobs.Claim]:
        """The handed jobs as claims: each NOTIFY carries its row, or only its id when the row was
        too long for a payload; those are read back, if the hand-over still holds them (a cancel
        may have come first)."""
        conn = self._listen()
        cur = conn.cursor()
        rows = []
        for said in told:
            if "row" in said:
                rows.append(said["row"])
            else:
                cur.execute(self.Q["handed_job"], {"id": said["id"], "token": self._slot_token})
                rows.extend(cur.fetchall())
        return self._claims_from_rows(cur, rows)
