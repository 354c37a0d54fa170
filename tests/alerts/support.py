"""Helpers for alert tests: the tiny city plus places, and driving the evaluator.

On top of :func:`tests.helpers.tiny_city`: place ``PL-A`` (a square in grid G-A) holds
zone Z-A, a second camera CAM-A2 with zone Z-A2, and sensor SEN-A; place ``PL-B`` (a
station in G-B) holds Z-B. Rule 1 (density above each zone's critical level) exists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.engine import CycleResult, evaluate
from tests.helpers import tiny_city

STALE = timedelta(minutes=2)


def city_with_places(db: psycopg.Connection) -> None:
    tiny_city(db)
    with db.transaction():
        db.execute("INSERT INTO places VALUES ('PL-A', 'Square A', 'square', 'G-A', 0, 0),"
                   " ('PL-B', 'Station B', 'station', 'G-B', 0, 0)")
        db.execute("UPDATE zones SET place_id = 'PL-A' WHERE id = 'Z-A'")
        db.execute("UPDATE zones SET place_id = 'PL-B' WHERE id = 'Z-B'")
        db.execute("INSERT INTO devices (id, kind, name, grid_code, place_id) VALUES"
                   " ('CAM-A2', 'camera', 'Camera A2', 'G-A', 'PL-A'),"
                   " ('SEN-A', 'sensor', 'Footfall A', NULL, 'PL-A')")
        db.execute("UPDATE devices SET place_id = 'PL-A' WHERE id = 'CAM-A'")
        db.execute("UPDATE devices SET place_id = 'PL-B' WHERE id = 'CAM-B'")
        db.execute("INSERT INTO zones (id, device_id, place_id, grid_code, name, area_m2)"
                   " VALUES ('Z-A2', 'CAM-A2', 'PL-A', 'G-A', 'Zone A2', 100)")


def add_rule(db: psycopg.Connection, kind: str, *, name: str | None = None,
             params: dict[str, Any] | None = None, **columns: Any) -> int:
    """Insert a rule directly (the API path is tested in test_api.py)."""
    values = {"name": name or f"{kind} {len(columns)} {sorted(columns.items())}", "kind": kind,
              "params": Jsonb(params or {}), **columns}
    if "schedule" in values and values["schedule"] is not None:
        values["schedule"] = Jsonb(values["schedule"])
    names = ", ".join(values)
    marks = ", ".join(f"%({k})s" for k in values)
    row = db.execute(f"INSERT INTO alert_rules ({names}) VALUES ({marks}) RETURNING id",
                     values).fetchone()
    assert row is not None
    return int(row[0])


def only_rule(db: psycopg.Connection, kind: str, **kwargs: Any) -> int:
    """Disable every other rule (the tiny city's default included) and add this one."""
    db.execute("UPDATE alert_rules SET enabled = false")
    return add_rule(db, kind, **kwargs)


def set_density(db: psycopg.Connection, zone: str, density: float, at: datetime,
                seq: int = 0) -> None:
    """What ingest does for one report: a row in the series and the current value."""
    device = db.execute("SELECT device_id FROM zones WHERE id = %s", (zone,)).fetchone()
    assert device is not None
    db.execute("INSERT INTO crowd_observations (time, zone_id, device_id, seq, count, density)"
               " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
               (at, zone, device[0], seq, density * 100, density))
    db.execute("INSERT INTO zone_current (zone_id, time, count, density, device_id)"
               " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (zone_id) DO UPDATE"
               " SET time = EXCLUDED.time, density = EXCLUDED.density, count = EXCLUDED.count",
               (zone, at, density * 100, density, device[0]))


def set_status(db: psycopg.Connection, device: str, state: str, at: datetime,
               detail: str | None = None, last_seen: datetime | None = None) -> None:
    db.execute("INSERT INTO device_status (device_id, state, changed_at, last_seen, detail)"
               " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (device_id) DO UPDATE"
               " SET state = EXCLUDED.state, changed_at = EXCLUDED.changed_at,"
               " last_seen = EXCLUDED.last_seen, detail = EXCLUDED.detail",
               (device, state, at, last_seen or at, detail))


def set_reading(db: psycopg.Connection, device: str, metric: str, value: float,
                at: datetime) -> None:
    db.execute("INSERT INTO sensor_current (device_id, metric, time, value) VALUES"
               " (%s, %s, %s, %s) ON CONFLICT (device_id, metric) DO UPDATE"
               " SET time = EXCLUDED.time, value = EXCLUDED.value", (device, metric, at, value))


def run(db: psycopg.Connection, at: datetime) -> CycleResult:
    return evaluate(db, at, STALE)


def alerts(db: psycopg.Connection, rule_id: int | None = None) -> list[tuple[str, str]]:
    """(subject, state) of every alert, oldest first."""
    return [(r[0], r[1]) for r in db.execute(
        "SELECT subject, state FROM alerts WHERE %(r)s::bigint IS NULL OR rule_id = %(r)s"
        " ORDER BY id", {"r": rule_id}).fetchall()]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
