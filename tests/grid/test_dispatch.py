"""Dispatching alerts that are not about a zone: devices, places; silences and channels."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from grid.dispatch import dispatch_pending
from tests.alerts.support import (
    add_rule,
    city_with_places,
    now,
    only_rule,
    run,
    set_reading,
    set_status,
)

T0 = now()


@pytest.fixture
def city(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    city_with_places(db)
    yield db


def tasks(db: psycopg.Connection) -> list[tuple[object, ...]]:
    return db.execute("SELECT alert_id, zone_id, grid_code, category, discovered_by,"
                      " assignee_id, state FROM tasks ORDER BY id").fetchall()


def test_a_device_alert_goes_to_the_grid_of_the_device_or_its_place(
    city: psycopg.Connection
) -> None:
    only_rule(city, "device_offline")
    add_rule(city, "sensor_threshold", threshold=40, params={"metric": "temperature"})
    set_status(city, "CAM-B", "lost", T0)
    set_reading(city, "SEN-A", "temperature", 45, T0)   # SEN-A: no grid, place PL-A in G-A
    run(city, T0)
    dispatch_pending(city)
    assert tasks(city) == [
        (1, None, "G-B", "device_fault", "camera:CAM-B", "P-wB", "dispatched"),
        (2, None, "G-A", "sensor", "sensor:SEN-A", "P-wA", "dispatched"),
    ]
    title = city.execute("SELECT title FROM tasks WHERE alert_id = 2").fetchone()
    assert title is not None and "temperature 45 above 40" in title[0]


def test_a_second_alert_about_the_same_device_is_merged(city: psycopg.Connection) -> None:
    only_rule(city, "device_offline")
    add_rule(city, "camera_tamper")
    set_status(city, "CAM-B", "offline", T0, detail="lens covered")
    run(city, T0)
    items = dispatch_pending(city)
    assert [i.merged for i in items] == [False, True]
    assert len({i.task_id for i in items}) == 1


def test_an_alert_about_a_place_is_dispatched_to_the_places_grid(
    city: psycopg.Connection
) -> None:
    sensor = only_rule(city, "sensor_threshold", threshold=50, channels=[],
                       params={"metric": "footfall_in"})
    tamper = add_rule(city, "camera_tamper", channels=[])
    add_rule(city, "composite", params={"all_of": [sensor, tamper]})
    set_reading(city, "SEN-A", "footfall_in", 80, T0)
    set_status(city, "CAM-A2", "online", T0, detail="scene changed")
    run(city, T0)
    (item,) = dispatch_pending(city)   # the parts have no task channel: only the composite
    assert tasks(city) == [(item.alert_id, None, "G-A", "crowd_density", "system:alerts",
                            "P-wA", "dispatched")]


def test_silenced_alerts_and_device_alerts_without_a_grid_make_no_task(
    city: psycopg.Connection
) -> None:
    only_rule(city, "sensor_threshold", threshold=40, params={"metric": "temperature"})
    set_reading(city, "SEN-1", "temperature", 45, T0)    # SEN-1 has neither grid nor place
    set_reading(city, "SEN-A", "temperature", 45, T0)
    city.execute("INSERT INTO alert_silences (device_id, starts_at, ends_at, reason, created_by)"
                 " VALUES ('SEN-A', %s, %s, 'recalibrating', 'P-admin')",
                 (T0 - timedelta(minutes=1), T0 + timedelta(minutes=5)))
    run(city, T0)
    assert dispatch_pending(city) == [] and tasks(city) == []
    rows = city.execute("SELECT device_id, dispatched_at IS NOT NULL, silence_id IS NOT NULL"
                        " FROM alerts ORDER BY device_id").fetchall()
    assert rows == [("SEN-1", True, False), ("SEN-A", False, True)]
