"""Rollups, retention and compression (store/rollups.py, migration 0010) on both paths.

Plain PostgreSQL: ``refresh_rollups`` (the scheduler job) against the test server.
TimescaleDB: continuous aggregates and policies on pglite, where background jobs never
run by themselves, so the tests call ``refresh_continuous_aggregate`` and ``run_job``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from store.migrate import migrate
from store.rollups import (
    PolicyError,
    RefreshResult,
    RetentionWindows,
    apply_policies,
    current_windows,
    refresh_job,
    refresh_rollups,
    rollup_series,
)
from store.timeseries import zone_series
from tests.support.pglite_timescale import serve_timescale

REPO = Path(__file__).resolve().parents[2]
INSERT = ("INSERT INTO crowd_observations (time, zone_id, device_id, seq, count, density)"
          " VALUES (%s, %s, %s, %s, %s, %s)")
# A whole hour, aligned, so raw and rollup queries cover the same rows.
HOUR_START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def _observations(zone: str, start: datetime, n: int, step: float = 10.0) -> list[tuple[Any, ...]]:
    """``n`` reports every ``step`` seconds with varying counts and densities."""
    return [(start + timedelta(seconds=step * i), zone, f"CAM-{zone}", i, float(i % 17),
             (i % 23) / 10.0) for i in range(n)]


def _insert(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(INSERT, rows)


def _assert_same_series(raw: list[dict[str, Any]], rolled: list[dict[str, Any]] | None) -> None:
    assert rolled is not None and len(raw) == len(rolled) > 0
    for a, b in zip(raw, rolled, strict=True):
        assert a["bucket"] == b["bucket"] and a["samples"] == b["samples"]
        for column in ("density", "peak_density", "count"):
            assert float(a[column]) == pytest.approx(float(b[column]), rel=1e-9)


def _rollup_rows(conn: psycopg.Connection, view: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT zone_id, bucket, density, peak_density, count, samples"
                        f" FROM {view} ORDER BY 1, 2").fetchall()


# --- windows -----------------------------------------------------------------------------

@pytest.mark.parametrize("windows", [
    RetentionWindows(raw_days=8, compress_after_days=8),
    RetentionWindows(minute_days=9, compress_after_days=8),
    RetentionWindows(hour_days=60, minute_days=90),
    RetentionWindows(raw_days=0),
])
def test_windows_that_would_lose_data_are_refused(windows: RetentionWindows) -> None:
    with pytest.raises(PolicyError):
        windows.check()


# --- plain PostgreSQL ----------------------------------------------------------------------

def test_apply_policies_records_windows_once(db: psycopg.Connection) -> None:
    assert current_windows(db) == RetentionWindows()
    assert apply_policies(db, RetentionWindows()) is False
    wanted = RetentionWindows(raw_days=14, minute_days=60, hour_days=400, compress_after_days=9)
    assert apply_policies(db, wanted) is True
    assert apply_policies(db, wanted) is False
    assert current_windows(db) == wanted


def test_refresh_matches_the_raw_series_and_is_idempotent(db: psycopg.Connection) -> None:
    _insert(db, _observations("Z-A", HOUR_START, 720) + _observations("Z-B", HOUR_START, 500, 7))
    first = refresh_rollups(db, datetime.now(UTC))
    assert first.minutes == 120 + 59 and first.hours == 2 + 1
    until = HOUR_START + timedelta(hours=2)
    for zone in ("Z-A", "Z-B"):
        for bucket in (timedelta(minutes=1), timedelta(minutes=5), timedelta(hours=1)):
            raw = zone_series(db, zone, HOUR_START, until, bucket, timescale=False)
            _assert_same_series(raw, rollup_series(db, zone, HOUR_START, until, bucket))
    before = _rollup_rows(db, "zone_rollup_1m"), _rollup_rows(db, "zone_rollup_1h")
    again = refresh_rollups(db, datetime.now(UTC))
    # Only the overlap window is looked at again, and it changes nothing.
    assert (_rollup_rows(db, "zone_rollup_1m"), _rollup_rows(db, "zone_rollup_1h")) == before
    assert again.deleted == 0


def test_the_scheduler_job_refreshes(db_url: str, db: psycopg.Connection) -> None:
    _insert(db, _observations("Z-J", HOUR_START, 12))
    refresh_job(db_url)()
    assert db.execute("SELECT sum(samples) FROM zone_rollup_1h").fetchone() == (12,)


def test_a_late_report_updates_its_old_bucket(db: psycopg.Connection) -> None:
    _insert(db, _observations("Z-A", HOUR_START, 60))
    refresh_rollups(db, datetime.now(UTC))
    # Backdate the watermark so the late row is not merely inside the overlap window.
    db.execute("UPDATE rollup_settings SET refreshed_until = now() - interval '1 hour'")
    db.execute("UPDATE crowd_observations SET received_at = now() - interval '2 hours'")
    late = HOUR_START + timedelta(seconds=5)
    _insert(db, [(late, "Z-A", "CAM-Z-A", 10_000, 99.0, 9.5)])
    refresh_rollups(db, datetime.now(UTC))
    minute = db.execute("SELECT peak_density, samples FROM zone_rollup_1m"
                        " WHERE zone_id = 'Z-A' AND bucket = %s", (HOUR_START,)).fetchone()
    hour = db.execute("SELECT peak_density, samples FROM zone_rollup_1h"
                      " WHERE zone_id = 'Z-A' AND bucket = %s", (HOUR_START,)).fetchone()
    assert minute == (9.5, 7) and hour == (9.5, 61)


def test_retention_keeps_each_level_for_its_own_window(db: psycopg.Connection) -> None:
    apply_policies(db, RetentionWindows(raw_days=10, minute_days=20, hour_days=40,
                                        compress_after_days=5))
    now = datetime.now(UTC).replace(second=0, microsecond=0)  # one minute bucket per zone
    for days in (3, 15, 30, 50):
        _insert(db, _observations(f"Z{days}", now - timedelta(days=days), 6))
    db.execute("INSERT INTO sensor_readings (time, device_id, seq, metric, value)"
               " VALUES (now() - interval '15 days', 'S', 1, 'm', 1), (now(), 'S', 2, 'm', 1)")
    result = refresh_rollups(db, now)
    raw = {r[0] for r in db.execute("SELECT DISTINCT zone_id FROM crowd_observations")}
    minutes = {r[0] for r in db.execute("SELECT DISTINCT zone_id FROM zone_rollup_1m")}
    hours = {r[0] for r in db.execute("SELECT DISTINCT zone_id FROM zone_rollup_1h")}
    assert raw == {"Z3"}
    assert minutes == {"Z3", "Z15"}
    assert hours == {"Z3", "Z15", "Z30"}
    assert db.execute("SELECT count(*) FROM sensor_readings").fetchone() == (1,)
    # Raw: 3 zones x 6 reports and 1 reading; minutes: Z30, Z50; hours: Z50.
    assert result.deleted == 3 * 6 + 1 + 2 + 1


def test_a_second_refresh_while_one_runs_skips(db_url: str, db: psycopg.Connection) -> None:
    with psycopg.connect(db_url) as holder:
        holder.execute("SELECT 1 FROM rollup_settings FOR UPDATE")
        assert refresh_rollups(db, datetime.now(UTC)) == RefreshResult(skipped=True)
    assert refresh_rollups(db, datetime.now(UTC)).skipped is False


# --- TimescaleDB (pglite) ------------------------------------------------------------------

needs_node = pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")),
                                reason="node/npm are missing: cannot serve TimescaleDB")


@pytest.fixture(scope="module")
def ts() -> Iterator[psycopg.Connection]:
    with serve_timescale(REPO / ".cache" / "pglite") as url, psycopg.connect(
            url, prepare_threshold=None, autocommit=True) as conn:
        migrate(conn)
        yield conn


def _jobs(conn: psycopg.Connection) -> dict[tuple[str, str], dict[str, Any]]:
    rows = conn.execute(
        "SELECT j.proc_name, coalesce(c.view_name, j.hypertable_name), j.config"
        " FROM timescaledb_information.jobs j"
        " LEFT JOIN timescaledb_information.continuous_aggregates c"
        "   ON c.materialization_hypertable_name = j.hypertable_name"
        " WHERE j.job_id >= 1000").fetchall()
    return {(proc, relation): config for proc, relation, config in rows}


@needs_node
@pytest.mark.timescale
def test_timescale_policies_follow_the_windows(ts: psycopg.Connection) -> None:
    assert apply_policies(ts, RetentionWindows()) is True  # first start creates the jobs
    assert apply_policies(ts, RetentionWindows()) is False
    jobs = _jobs(ts)
    assert len(jobs) == 9
    assert jobs[("policy_retention", "crowd_observations")]["drop_after"] == "30 days"
    assert jobs[("policy_retention", "zone_rollup_1m")]["drop_after"] == "90 days"
    assert jobs[("policy_retention", "zone_rollup_1h")]["drop_after"] == "730 days"
    assert jobs[("policy_compression", "sensor_readings")]["compress_after"] == "8 days"
    assert apply_policies(ts, RetentionWindows(raw_days=12, minute_days=30, hour_days=365,
                                               compress_after_days=9)) is True
    jobs = _jobs(ts)
    assert len(jobs) == 9
    assert jobs[("policy_retention", "sensor_readings")]["drop_after"] == "12 days"
    assert jobs[("policy_refresh_continuous_aggregate", "zone_rollup_1m")][
        "start_offset"] == "9 days"
    assert refresh_rollups(ts, datetime.now(UTC)) == RefreshResult()  # policies do it


@needs_node
@pytest.mark.timescale
def test_continuous_aggregates_match_the_raw_series_and_outlive_it(
        ts: psycopg.Connection) -> None:
    apply_policies(ts, RetentionWindows(raw_days=10, minute_days=20, hour_days=40,
                                        compress_after_days=5))
    old = HOUR_START - timedelta(days=15)
    _insert(ts, _observations("T-A", HOUR_START, 720) + _observations("T-A", old, 360))
    ts.execute("CALL refresh_continuous_aggregate('zone_rollup_1m', NULL, NULL)")
    ts.execute("CALL refresh_continuous_aggregate('zone_rollup_1h', NULL, NULL)")
    until = HOUR_START + timedelta(hours=2)
    for bucket in (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1)):
        raw = zone_series(ts, "T-A", HOUR_START, until, bucket, timescale=True)
        _assert_same_series(raw, rollup_series(ts, "T-A", HOUR_START, until, bucket))
    for (job,) in ts.execute("SELECT job_id FROM timescaledb_information.jobs"
                             " WHERE job_id >= 1000 ORDER BY job_id").fetchall():
        ts.execute("CALL run_job(%s)", (job,))
    # Raw rows past 10 days are gone; their minute rollups (20 days) remain.
    assert ts.execute("SELECT count(*) FROM crowd_observations WHERE time < %s",
                      (HOUR_START - timedelta(days=11),)).fetchone() == (0,)
    kept = rollup_series(ts, "T-A", old, old + timedelta(hours=1), timedelta(hours=1))
    assert kept and kept[0]["samples"] == 360
    compressed = ts.execute("SELECT count(*) FROM timescaledb_information.chunks"
                            " WHERE is_compressed").fetchone()
    assert compressed is not None and compressed[0] > 0
