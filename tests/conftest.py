"""Fixtures that build real servers: PostgreSQL and an MQTT broker, never mocks.

Where ``SHARPEYES_TEST_DATABASE_URL`` / ``SHARPEYES_TEST_MQTT_URL`` are set (CI and
the development machines), tests use those servers; otherwise they start the
embedded ones, exactly as a user's fresh machine would. Every test gets its own
database (cloned from a migrated template) and its own topic prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kernel.settings import EmbeddedBroker, Settings
from sharpeyes.embedded import EmbeddedMqttBroker, EmbeddedPostgres
from store.db import url_with_database
from store.migrate import migrate

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server where tests may create databases."""
    configured = os.environ.get("SHARPEYES_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), database="postgres")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """A migrated database that every test's database is cloned from."""
    name = f"sharpeyes_tpl_{os.getpid()}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url_with_database(pg_admin_url, name)) as conn:
        migrate(conn)
    yield name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    name = f"sharpeyes_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield url_with_database(pg_admin_url, name)
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def mqtt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("SHARPEYES_TEST_MQTT_URL")
    if configured:
        yield configured
        return
    broker = EmbeddedMqttBroker(tmp_path_factory.mktemp("broker"), EmbeddedBroker.AUTO)
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """Each test publishes under its own root, so tests never see each other's messages."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(db_url: str, mqtt_url: str, topic_prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        mqtt_url=mqtt_url,
        topic_prefix=topic_prefix,
        data_dir=tmp_path / "data",
        ingest_client_id=f"ingest-{topic_prefix}",
        ingest_flush_seconds=0.05,
        alert_interval_seconds=0.2,
        dispatch_interval_seconds=0.2,
    )
