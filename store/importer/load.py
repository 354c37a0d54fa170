"""Importing a directory: validate everything, then write it all in one transaction.

This module owns the write side of the importer: hashing new people's initial
passwords (each distinct password once), the upsert statements, and the one
transaction that either lands every row or none.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kernel.passwords import hash_password
from store import locks
from store.importer.model import Bundle, ImportReport, RowError, TableCount
from store.importer.parse import load_bundle
from store.importer.resolve import PlainPassword, Plan, TableWrite, resolve

log = logging.getLogger(__name__)

# Importing and seeding both write the reference tables: they take turns.
IMPORT_LOCK_KEY = locks.SEED


def validate(conn: psycopg.Connection, bundle: Bundle) -> list[RowError]:
    """Every error of ``bundle`` once checked against the database; empty means importable."""
    return resolve(conn, bundle)[1]


def import_bundle(conn: psycopg.Connection, directory: Path,
                  dry_run: bool = False) -> ImportReport:
    """Validate the files in ``directory``; unless there is an error or ``dry_run``, load them.

    Validation and loading run in one transaction holding the seed lock, so what was
    checked is what gets written. With an idle or autocommit connection the load is
    committed on return; inside a transaction the caller opened it runs in a savepoint
    and the caller commits. A database error rolls everything back and propagates.
    """
    started = time.perf_counter()
    bundle = load_bundle(directory)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK_KEY,))
        plan, errors = resolve(conn, bundle)
        written = not errors and not dry_run
        if written:
            write_plan(conn, plan)
    report = ImportReport(directory, dry_run, written, () if errors else _counts(plan),
                          tuple(errors))
    log.info("import of %s: %s in %.2fs (%d errors)", directory,
             "written" if written else "nothing written", time.perf_counter() - started,
             len(errors))
    return report


def write_plan(conn: psycopg.Connection, plan: Plan) -> None:
    """Run the plan's upserts in order on ``conn`` (the caller owns the transaction)."""
    hashes: dict[str, str] = {}
    for write in plan.writes:
        rows = [_hashed(row, hashes) for row in write.rows]
        with conn.cursor() as cur:
            cur.executemany(upsert_statement(write), rows)
        log.info("import: %d rows into %s (%d new)", len(rows), write.table, write.inserted)


def upsert_statement(write: TableWrite) -> sql.Composed:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET only the columns the import may change."""
    columns = sql.SQL(", ").join(map(sql.Identifier, write.columns))
    values = sql.SQL(", ").join(sql.Placeholder() * len(write.columns))
    key = sql.SQL(", ").join(map(sql.Identifier, write.key))
    action: sql.Composable
    if write.update:
        action = sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in write.update)
    else:
        action = sql.SQL("DO NOTHING")
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {}").format(
        sql.Identifier(write.table), columns, values, key, action)


def _hashed(row: tuple[Any, ...], hashes: dict[str, str]) -> tuple[Any, ...]:
    """The row with any initial password replaced by its hash; scrypt is slow, so each
    distinct password is hashed once per import."""
    if not any(isinstance(value, PlainPassword) for value in row):
        return row
    out = []
    for value in row:
        if isinstance(value, PlainPassword):
            if value.value not in hashes:
                hashes[value.value] = hash_password(value.value)
            value = hashes[value.value]
        out.append(value)
    return tuple(out)


def _counts(plan: Plan) -> tuple[TableCount, ...]:
    return tuple(TableCount(w.table, w.inserted, w.existing) for w in plan.writes)
