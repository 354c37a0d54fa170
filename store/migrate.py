"""Versioned SQL migrations, applied in order and recorded in ``schema_migrations``.

Files are ``store/migrations/NNNN_name.sql``; a released file is never edited (its
checksum is recorded and a changed file is refused). Two processes migrating at once
serialize on an advisory lock, so each migration runs exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from kernel.errors import UnavailableError
from store import locks

log = logging.getLogger(__name__)


MIGRATION_LOCK_KEY = locks.MIGRATIONS

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(UnavailableError):
    """A migration file is malformed, or a released one was edited."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found = []
    for entry in resources.files("store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return found


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Apply what is missing; return the versions applied by this call."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        applied = {int(v): str(c) for v, c in rows}
        done: list[int] = []
        for migration in available_migrations():
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} was edited after release"
                    )
                continue
            _apply(conn, migration)
            done.append(migration.version)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _apply(conn: psycopg.Connection[Any], migration: Migration) -> None:
    log.info("applying migration %04d_%s", migration.version, migration.name)
    with conn.transaction():
        conn.execute(migration.sql.encode())
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (migration.version, migration.name, migration.checksum),
        )
