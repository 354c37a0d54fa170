"""Alert evaluation against the store: state in the database, one active alert, one leader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from alerts.engine import evaluate
from alerts.leader import LeaderLock
from tests.helpers import tiny_city

STALE = timedelta(minutes=2)
T0 = datetime.now(UTC).replace(microsecond=0)


def set_density(db: psycopg.Connection, zone: str, density: float, at: datetime) -> None:
    db.execute(
        "INSERT INTO zone_current (zone_id, time, count, density, device_id)"
        " VALUES (%s, %s, %s, %s, 'CAM-A') ON CONFLICT (zone_id) DO UPDATE"
        " SET time = EXCLUDED.time, density = EXCLUDED.density, count = EXCLUDED.count",
        (zone, at, density * 100, density),
    )


def alerts(db: psycopg.Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in db.execute(
        "SELECT zone_id, state FROM alerts ORDER BY id").fetchall()]


def test_for_duration_survives_a_restart_of_the_evaluator(db_url: str,
                                                          db: psycopg.Connection) -> None:
    tiny_city(db)
    db.execute("UPDATE alert_rules SET for_seconds = 30")
    set_density(db, "Z-A", 4.5, T0)
    with psycopg.connect(db_url, autocommit=True) as first:
        evaluate(first, T0, STALE)
    assert alerts(db) == [("Z-A", "pending")]
    # A new process (new connection, no memory) continues the same pending alert.
    with psycopg.connect(db_url, autocommit=True) as second:
        evaluate(second, T0 + timedelta(seconds=20), STALE)
        assert alerts(db) == [("Z-A", "pending")]
        set_density(db, "Z-A", 4.6, T0 + timedelta(seconds=31))
        evaluate(second, T0 + timedelta(seconds=31), STALE)
    assert alerts(db) == [("Z-A", "firing")]


def test_hysteresis_and_no_duplicate_while_active(db: psycopg.Connection) -> None:
    tiny_city(db)  # zones warn at 2.5, critical at 4.0; rule uses each zone's own levels
    for i, density in enumerate([4.2, 4.4, 3.0, 4.1, 2.6, 2.4, 4.3]):
        at = T0 + timedelta(seconds=i)
        set_density(db, "Z-A", density, at)
        evaluate(db, at, STALE)
    assert alerts(db) == [("Z-A", "resolved"), ("Z-A", "firing")]
    # The first alert resolved only when density fell below 2.5, not at 3.0 or 2.6.
    resolved_at = db.execute("SELECT resolved_at FROM alerts ORDER BY id LIMIT 1").fetchone()
    assert resolved_at == (T0 + timedelta(seconds=5),)


def test_stale_data_does_not_open_alerts(db: psycopg.Connection) -> None:
    tiny_city(db)
    set_density(db, "Z-A", 6.0, T0 - timedelta(minutes=10))
    result = evaluate(db, T0, STALE)
    assert result.evaluated == 2 and not result.changes
    assert alerts(db) == []


def test_only_one_leader_and_a_standby_takes_over(db_url: str) -> None:
    first, second = LeaderLock(db_url), LeaderLock(db_url)
    try:
        assert first.acquire()
        assert not second.acquire()
        first.release()  # the leader dies: its session (and lock) ends
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()
