"""The whole loop over real servers: a simulated camera's surge ends as a closed task."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings
from sharpeyes.runtime import Runtime
from simulators.camera import load_cameras, run_fleet
from simulators.scenario import OrdinaryDay, Scenario, Surge
from tests.helpers import logged_in, running_system, tiny_city, wait_until


@pytest.fixture
def system(settings: Settings, db: psycopg.Connection) -> Iterator[tuple[Runtime, str]]:
    tiny_city(db)
    with running_system(settings, ("ingest", "alerts", "dispatcher", "api")) as system:
        yield system


def test_a_camera_surge_becomes_one_task_for_the_right_worker_who_closes_the_loop(
    system: tuple[Runtime, str], db: psycopg.Connection
) -> None:
    rt, url = system
    scenario = Scenario(OrdinaryDay(mean=0.5, amplitude=0.1),
                        (Surge("Z-A", start=1.0, ramp=2.0, hold=600, peak_density=5.0),))
    cameras = load_cameras(db)
    rt.spawn("simulators", lambda stop: run_fleet(
        cameras, parse_mqtt_url(rt.mqtt_url), rt.settings.topic_prefix, scenario.density, stop,
        period=0.25))

    def tasks() -> list[tuple[object, ...]]:
        return db.execute("SELECT id, zone_id, assignee_id, state FROM tasks").fetchall()

    (task_id, zone, assignee, state), = wait_until(tasks, timeout=20, what="the surge's task")
    assert (zone, assignee, state) == ("Z-A", "P-wA", "dispatched")
    rt.stop.wait(2.0)  # the surge goes on; it must not open a second task
    assert len(tasks()) == 1
    assert db.execute("SELECT count(*) FROM alerts WHERE zone_id = 'Z-B'").fetchone() == (0,)

    with logged_in(url, "w-a") as worker:
        hotspots = worker.get("/api/v1/hotspots").json()["items"]
        assert hotspots[0]["zone_id"] == "Z-A" and hotspots[0]["density"] >= 4.0
        assert worker.post(f"/api/v1/tasks/{task_id}/accept").json()["state"] == "handling"
        assert worker.post(f"/api/v1/tasks/{task_id}/resolve").json()["state"] == "follow_up"
    with logged_in(url, "op-a") as officer:
        closed = officer.post(f"/api/v1/tasks/{task_id}/close", json={"rating": 5})
        assert closed.json()["state"] == "closed"
        trail = officer.get(f"/api/v1/tasks/{task_id}/events").json()
        metrics = officer.get("/metrics").text
        health = officer.get("/health").json()
    assert [e["to_state"] for e in trail] == [
        "reported", "dispatched", "handling", "follow_up", "closed"]
    assert "sharpeyes_alerts_firing 1.0" in metrics
    assert health["status"] == "ok", health
    assert set(health["components"]) == {"database", "mqtt", "ingest", "alerts", "dispatcher"}
