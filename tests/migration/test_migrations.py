"""Versioned migrations: applying every migration gives exactly the declared schema
(``sql/<dialect>/schema.sql``), ``migrate(url)`` applies each once, first use applies
only what is safe, and a database newer than quantq is refused."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quantq import backends, errors
from quantq.backends import _sql, migrations
from quantq.backends.migrations import migrate
from tests import backend_factories

SERVERS = ["postgres", "mysql"]
DIALECT = {"postgres": "postgresql", "mysql": "mysql"}


def raw(url: str) -> Any:
    from tests.integration.test_sql_backends import raw_connect

    return raw_connect(url)


def rows(conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(statement, params)
    out = sorted(tuple(str(v) for v in r) for r in cur.fetchall())
    cur.close()
    return out


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(server name, a URL naming a fresh, empty schema or prefix)."""
    yield from ((request.param, url) for url in backend_factories.FACTORIES[request.param](tmp_path))


# ---- catalog snapshots, with the schema name / prefix taken out ----------------------------


def pg_snapshot(conn: Any, schema: str) -> dict[str, Any]:
    def clean(text: str) -> str:
        return text.replace(f"{schema}.", "<s>.")

    tables = "table_schema = %s AND table_name <> 'quantq_migrations'"
    return {
        "columns": rows(conn, "SELECT table_name, column_name, ordinal_position, data_type, is_nullable, column_default, "
                              f"is_identity, identity_generation FROM information_schema.columns WHERE {tables}", (schema,)),
        "indexes": [tuple(clean(v) for v in r) for r in rows(
            conn, "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
                  "AND tablename <> 'quantq_migrations'", (schema,))],
        "constraints": rows(conn, "SELECT t.relname, c.conname, c.contype, "
                                  "pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                                  "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s "
                                  "AND t.relname <> 'quantq_migrations'", (schema,)),
        "triggers": [tuple(clean(v) for v in r) for r in rows(
            conn, "SELECT event_object_table, trigger_name, action_timing, event_manipulation, action_statement "
                  "FROM information_schema.triggers WHERE trigger_schema = %s", (schema,))],
        "functions": [tuple(clean(v) for v in r) for r in rows(
            conn, "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                  "WHERE n.nspname = %s", (schema,))],
    }


def mysql_snapshot(conn: Any, prefix: str) -> dict[str, Any]:
    def strip(r: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.replace(prefix, "<p>") for v in r)

    like = (prefix.replace("_", "\\_") + "%",)
    where = "table_schema = DATABASE() AND table_name LIKE %s AND table_name NOT LIKE '%%migrations'"
    return {
        "tables": [strip(r) for r in rows(conn, f"SELECT table_name, engine, table_collation FROM information_schema.tables WHERE {where}", like)],
        "columns": [strip(r) for r in rows(conn, "SELECT table_name, column_name, ordinal_position, column_type, is_nullable, "
                                                 f"column_default, extra FROM information_schema.columns WHERE {where}", like)],
        "indexes": [strip(r) for r in rows(conn, "SELECT table_name, index_name, seq_in_index, column_name, non_unique, collation "
                                                 f"FROM information_schema.statistics WHERE {where}", like)],
        "checks": [strip(r) for r in rows(conn, "SELECT constraint_name, check_clause FROM information_schema.check_constraints "
                                                "WHERE constraint_schema = DATABASE() AND constraint_name LIKE %s", like)],
    }


def snapshot(name: str, url: str, backend: Any) -> dict[str, Any]:
    conn = raw(url)
    try:
        return pg_snapshot(conn, backend.schema) if name == "postgres" else mysql_snapshot(conn, backend.prefix)
    finally:
        conn.close()


def declare(name: str, url: str, backend: Any) -> None:
    """Create the declared schema (schema.sql) directly, as a reference to compare with."""
    conn = raw(url)
    try:
        cur = conn.cursor()
        if name == "postgres":
            cur.execute(f"CREATE SCHEMA {backend.schema}")
        for statement in _sql.split_statements(_sql.render(_sql.load_schema(DIALECT[name]), backend.names)):
            cur.execute(statement)
        cur.close()
    finally:
        conn.close()


def backend_class(name: str) -> Any:
    from quantq.backends.mysql import MySQLBackend
    from quantq.backends.postgres import PostgresBackend

    return PostgresBackend if name == "postgres" else MySQLBackend


# ---- tests ---------------------------------------------------------------------------------


def test_every_migration_applied_gives_exactly_the_declared_schema(tmp_path: Path) -> None:
    for name in SERVERS:
        for migrated_url in backend_factories.FACTORIES[name](tmp_path):
            for declared_url in backend_factories.FACTORIES[name](tmp_path):
                assert migrate(migrated_url) == [m.name for m in migrations.available(DIALECT[name])]
                declared = backend_class(name)(declared_url, open_check=False)
                migrated = backend_class(name)(migrated_url, open_check=False)
                try:
                    declare(name, declared_url, declared)
                    got, want = snapshot(name, migrated_url, migrated), snapshot(name, declared_url, declared)
                    assert all(want.values()), f"empty reference snapshot for {name}: {want}"
                    assert got == want
                finally:
                    declared.close()
                    migrated.close()


def shipped(name: str) -> list[str]:
    return [m.name for m in migrations.available(DIALECT[name])]


def test_migrate_applies_each_migration_once(server: tuple[str, str]) -> None:
    name, url = server
    assert migrate(url) == shipped(name)
    assert migrate(url) == []
    with backends.from_url(url) as backend:  # and the backend opens on it without migrating again
        assert backend.list_jobs(backends.JobFilter()) == []


def test_first_use_migrates_a_fresh_schema_and_records_the_version(server: tuple[str, str]) -> None:
    name, url = server
    with backends.from_url(url) as backend:
        conn = raw(url)
        try:
            want = sorted((str(m.version), m.name) for m in migrations.available(DIALECT[name]))
            assert rows(conn, f"SELECT version, name FROM {backend.names['migrations']}") == want
        finally:
            conn.close()


def test_concurrent_first_uses_migrate_once(server: tuple[str, str]) -> None:
    name, url = server
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(migrate(url))
        except Exception as exc:  # the test asserts there is none
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(str, results)) == sorted([str(shipped(name))] + ["[]"] * 3)


def test_migrate_never_refuses_an_unmigrated_schema(server: tuple[str, str]) -> None:
    name, url = server
    with pytest.raises(errors.ConfigError, match="quantq migrate"):
        backends.from_url(url + "&migrate=never")
    migrate(url)
    backends.from_url(url + "&migrate=never").close()


def test_a_database_newer_than_quantq_is_refused(server: tuple[str, str]) -> None:
    name, url = server
    with backends.from_url(url) as backend:
        conn = raw(url)
        try:
            cur = conn.cursor()
            cur.execute(f"INSERT INTO {backend.names['migrations']} (version, name) VALUES (999, '999_future')")
            cur.close()
        finally:
            conn.close()
    with pytest.raises(errors.ConfigError, match="newer than this quantq"):
        backends.from_url(url)


def test_unsafe_pending_migration_waits_for_quantq_migrate(server: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    name, url = server
    backends.from_url(url).close()  # at the shipped version
    real = migrations.available(DIALECT[name])
    column = "ALTER TABLE {jobs} ADD COLUMN app_tag " + ("text" if name == "postgres" else "VARCHAR(20)") + ";"
    version = real[-1].version + 1
    future = dataclasses.replace(real[0], version=version, name=f"{version:03}_app_tag", text=f"-- auto: no\n{column}\n", auto=False)
    monkeypatch.setattr(migrations, "available", lambda dialect: (*real, future))
    with pytest.raises(errors.ConfigError, match=f"{version:03}_app_tag.*quantq migrate"):
        backends.from_url(url)
    assert migrate(url) == [f"{version:03}_app_tag"]
    with backends.from_url(url) as backend:
        conn = raw(url)
        try:
            rows(conn, f"SELECT app_tag FROM {backend.names['jobs']}")  # the column exists now
        finally:
            conn.close()


def test_shipped_migrations_are_numbered_from_one_and_the_first_is_safe() -> None:
    for dialect in DIALECT.values():
        found = migrations.available(dialect)
        assert [m.version for m in found] == list(range(1, len(found) + 1))
        assert found[0].name == "001_initial" and found[0].auto


def test_migrate_on_sqlite_and_other_schemes(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    assert migrate(f"sqlite:///{path}") == [] and path.exists()
    with pytest.raises(errors.ConfigError, match="nothing to migrate"):
        migrate("redis://127.0.0.1:6379/0")
    assert os.path.exists(path)


def test_a_database_at_version_one_upgrades_on_first_use_and_keeps_its_jobs(server: tuple[str, str], tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The later shipped migrations are marked safe: an existing installation opened by this
    quantq reaches exactly the declared schema by itself, its jobs intact and claimable."""
    from quantq import envelope, jobs
    from quantq.backends.base import JobFilter, Outcome

    name, url = server
    real = migrations.available(DIALECT[name])
    monkeypatch.setattr(migrations, "available", lambda dialect: real[:1])
    with backends.from_url(url) as old:
        made = old.enqueue([envelope.parse_submission({"task": "quantq.noop", "queue": "up"}) for _ in range(4)])
        [done, failed] = old.claim(["up"], worker_id="w", hostname="h", lease=30, limit=2)
        old.report([Outcome(claim=done, result=1), Outcome(claim=failed, error=jobs.JobError(type="E", message="m"))])
    monkeypatch.undo()
    assert all(m.auto for m in real[1:])
    with backends.from_url(url) as new:
        assert new.get(made[0].id).status is jobs.JobStatus.COMPLETED
        assert [j.id for j in new.list_jobs(JobFilter(statuses=(jobs.JobStatus.FAILED,)))] == [made[1].id]
        assert len(new.claim(["up"], worker_id="w", hostname="h", lease=30, limit=5)) == 2
        for declared_url in backend_factories.FACTORIES[name](tmp_path):
            declared = backend_class(name)(declared_url, open_check=False)
            try:
                declare(name, declared_url, declared)
                assert snapshot(name, url, new) == snapshot(name, declared_url, declared)
            finally:
                declared.close()
