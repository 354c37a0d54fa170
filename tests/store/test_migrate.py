"""Migrations: applied once, safe when processes race, released files never edited."""

from __future__ import annotations

import threading

import psycopg
import pytest

from store.migrate import MigrationError, available_migrations, migrate


def test_migrations_are_numbered_uniquely_and_in_order() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1


def test_migrating_an_up_to_date_database_does_nothing(db: psycopg.Connection) -> None:
    assert migrate(db) == []


def test_concurrent_migrations_apply_each_version_once(pg_admin_url: str,
                                                      db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(db_url) as conn:
                results.append(migrate(conn))
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in available_migrations()]


def test_an_edited_released_migration_is_refused(db: psycopg.Connection) -> None:
    db.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    with pytest.raises(MigrationError, match="edited after release"):
        migrate(db)


def test_plain_postgres_gets_brin_indexes_instead_of_hypertables(db: psycopg.Connection) -> None:
    has_ts = db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if has_ts:
        pytest.skip("this server has TimescaleDB; tests/store/test_timescale.py covers it")
    index = db.execute("SELECT indexdef FROM pg_indexes"
                       " WHERE indexname = 'crowd_observations_time_brin'").fetchone()
    assert index is not None and "brin" in index[0]
