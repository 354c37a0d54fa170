"""Connections to the store: one pool per process, plus capability detection."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool


def connect(url: str, **kwargs: object) -> psycopg.Connection[Any]:
    """A single connection (scripts, migrations, leader locks)."""
    return psycopg.connect(url, **kwargs)  # type: ignore[arg-type]


def create_pool(url: str, *, min_size: int = 1, max_size: int = 8, name: str = "sharpeyes") -> (
    ConnectionPool
):
    """A connection pool; opened and checked before it is returned."""
    pool = ConnectionPool(
        url, min_size=min_size, max_size=max_size, name=name, open=False,
        # Autocommit: each statement commits at once and ``conn.transaction()`` opens a
        # real transaction, so an API response is never sent before its write is durable.
        kwargs={"row_factory": dict_row, "autocommit": True},
    )
    pool.open(wait=True, timeout=30)
    return pool


def url_with_database(url: str, database: str) -> str:
    """The same server and credentials as ``url``, another database."""
    return psycopg.conninfo.make_conninfo(url, dbname=database)


def has_timescale(conn: psycopg.Connection[Any]) -> bool:
    """Whether the timescaledb extension is installed in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
