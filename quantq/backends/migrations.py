"""Versioned schema migrations for the server databases (PostgreSQL, MySQL/MariaDB).

Migrations are ``sql/<dialect>/migrations/NNN_name.sql`` files with ``{schema}`` / ``{p}``
placeholders for the schema and table prefix.  A header line ``-- auto: yes`` marks a
migration safe to apply when a backend is first opened (additive and quick); the
rest wait for ``quantq migrate``.  Applied versions are recorded in the
``<prefix>migrations`` table.  SQLite keeps its schema version in ``PRAGMA user_version``
and upgrades itself on open.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache
from importlib import resources

from quantq import errors

_FILE_RE = re.compile(r"^(\d{3})_(\w+)\.sql$")
_AUTO_RE = re.compile(r"^--\s*auto:\s*(yes|no)\s*$", re.MULTILINE | re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str  #: file stem, e.g. ``001_initial``
    text: str  #: the script, placeholders unfilled
    auto: bool  #: safe to apply on first use


@cache
def available(dialect: str) -> tuple[Migration, ...]:
    """Every migration shipped for a dialect, oldest first."""
    folder = resources.files("quantq.backends").joinpath("sql", dialect, "migrations")
    found = []
    for entry in folder.iterdir():
        match = _FILE_RE.match(entry.name)
        if match is None:
            continue
        text = entry.read_text()
        auto = _AUTO_RE.search(text)
        found.append(Migration(int(match.group(1)), entry.name[:-4], text, bool(auto and auto.group(1).lower() == "yes")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise errors.ConfigError(f"duplicate migration versions for {dialect}: {versions}")
    return tuple(found)


def pending(dialect: str, applied: set[int], *, automatic: bool, where: str) -> list[Migration]:
    """What to apply now.  ``automatic`` (first use) refuses migrations not marked safe,
    unless the schema is empty, and a database newer than this quantq is refused always."""
    known = available(dialect)
    newest = known[-1].version if known else 0
    if applied and max(applied) > newest:
        raise errors.ConfigError(
            f"{where} has quantq schema version {max(applied)}, newer than this quantq understands ({newest}): upgrade quantq"
        )
    todo = [m for m in known if m.version not in applied]
    if automatic and applied and any(not m.auto for m in todo):
        names = ", ".join(m.name for m in todo)
        raise errors.ConfigError(f"{where} needs schema migrations ({names}): run `quantq migrate` first")
    return todo


def migrate(url: str) -> list[str]:
    """Apply every pending migration to the database ``url`` names; returns the applied names
    (empty when it was up to date).  SQLite and memory URLs need none and return []."""
    from quantq import backends

    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme in ("postgresql", "postgres"):
        from quantq.backends.postgres import PostgresBackend

        backend: object = PostgresBackend(url, open_check=False)
    elif scheme == "mysql":
        from quantq.backends.mysql import MySQLBackend

        backend = MySQLBackend(url, open_check=False)
    elif scheme in ("sqlite", "memory"):
        backends.from_url(url).close()  # SQLite upgrades its schema on open
        return []
    else:
        raise errors.ConfigError(f"{scheme}:// backends keep no schema: nothing to migrate")
    try:
        return backend.migrate()  # type: ignore[attr-defined]
    finally:
        backend.close()  # type: ignore[attr-defined]
