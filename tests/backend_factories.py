"""How the conformance suite opens each backend, fresh and empty for one test.

Each factory is a generator: it yields a backend URL and cleans up after the test.
A later backend adds its factory here and passes the suite unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

Factory = Callable[[Path], Iterator[str]]


def memory(tmp_path: Path) -> Iterator[str]:
    yield "memory://"


def sqlite(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path}/quantq.db"


FACTORIES: dict[str, Factory] = {"memory": memory, "sqlite": sqlite}

#: Backends whose state is shared between processes (the process-level tests run on these).
SHARED = ["sqlite"]


def postgres(tmp_path: Path) -> Iterator[str]:
    """A fresh schema per test in the test database, dropped afterwards."""
    import psycopg

    from tests.services import service_url

    url = service_url("postgres")
    schema = f"qt_{os.urandom(5).hex()}"
    yield f"{url}{'&' if '?' in url else '?'}schema={schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def mysql(tmp_path: Path) -> Iterator[str]:
    """A fresh table prefix per test in the test database, its tables dropped afterwards."""
    from tests.services import service_url

    url = service_url("mysql")
    prefix = f"qt_{os.urandom(5).hex()}_"
    yield f"{url}{'&' if '?' in url else '?'}prefix={prefix}"
    drop_mysql_prefix(url, prefix)


def drop_mysql_prefix(url: str, prefix: str) -> None:
    from urllib.parse import unquote, urlsplit

    import pymysql

    parts = urlsplit(url)
    conn = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306, user=unquote(parts.username or "root"),
                           password=unquote(parts.password or ""), database=parts.path.lstrip("/"), autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE %s",
                        (prefix.replace("_", "\\_") + "%",))
            for (name,) in cur.fetchall():
                cur.execute(f"DROP TABLE IF EXISTS `{name}`")
    finally:
        conn.close()


FACTORIES.update({"postgres": postgres, "mysql": mysql})
SHARED += ["postgres", "mysql"]


def redis(tmp_path: Path) -> Iterator[str]:
    """A Redis URL with a key prefix of its own; every key under it is deleted afterwards."""
    import uuid

    import redis as redis_py

    from tests.services import service_url

    url = service_url("redis")
    prefix = f"qqtest-{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}prefix={prefix}"
    client = redis_py.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


FACTORIES["redis"] = redis
SHARED.append("redis")
