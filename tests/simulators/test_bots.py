"""Grid-worker bots: plans decided by seed alone, and handling tasks through a real API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import cv2
import httpx
import numpy as np
import psycopg
import pytest

from grid.photos import prepare_photo
from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings
from sharpeyes.components import start
from sharpeyes.runtime import Runtime
from simulators.bots import (
    REJECT_REASONS,
    Behaviour,
    BotSwarm,
    Delay,
    DelayKind,
    plan_task,
    site_photo,
)
from simulators.camera import load_cameras, run_fleet
from simulators.scenario import OrdinaryDay, Scenario, Surge
from tests.helpers import PASSWORD, tiny_city, wait_until

FAST = Delay(DelayKind.FIXED, 0.1)
QUICK = Behaviour(accept_delay=FAST, arrive_delay=FAST, report_delay=FAST, resolve_delay=FAST,
                  reject_probability=0.0, ignore_probability=0.0, poll_interval=0.2)


def test_a_plan_is_a_pure_function_of_seed_worker_and_task() -> None:
    behaviour = Behaviour(reject_probability=0.3, ignore_probability=0.2)
    plans = [plan_task(behaviour, 7, "w-a", t) for t in range(50)]
    assert plans == [plan_task(behaviour, 7, "w-a", t) for t in range(50)]
    assert plans != [plan_task(behaviour, 8, "w-a", t) for t in range(50)]
    assert plans != [plan_task(behaviour, 7, "w-b", t) for t in range(50)]


def test_failure_rates_and_delays_shape_the_plans() -> None:
    behaviour = Behaviour(accept_delay=Delay(DelayKind.UNIFORM, 10, 20), reject_probability=0.2,
                          ignore_probability=0.1, time_scale=2.0)
    plans = [plan_task(behaviour, 7, "w-a", t) for t in range(2000)]
    ignored = [p for p in plans if not p]
    rejected = [p for p in plans if p and p[0].action == "reject"]
    accepted = [p for p in plans if p and p[0].action == "accept"]
    assert 0.07 < len(ignored) / 2000 < 0.13 and 0.17 < len(rejected) / 2000 < 0.23
    assert all(p[0].note in REJECT_REASONS for p in rejected)
    assert all([s.action for s in p] == ["accept", "arrive", "report", "resolve"] for p in accepted)
    assert all(5.0 <= p[0].after <= 10.0 for p in accepted + rejected)
    assert all(p[0].after < p[1].after < p[2].after < p[3].after for p in accepted)


def test_the_site_photo_is_a_small_synthetic_jpeg_the_api_accepts_and_fixed_by_its_key() -> None:
    photo = site_photo(42)
    image = cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR)
    assert photo.startswith(b"\xff\xd8\xff") and image is not None
    assert image.shape == (240, 320, 3)
    assert len(photo) < 64 * 1024 and prepare_photo(photo, "image/jpeg").width == 320
    assert site_photo(42) == photo and site_photo(43) != photo


def test_delays_are_read_from_the_command_line_form() -> None:
    assert Delay.parse("30") == Delay(DelayKind.FIXED, 30.0)
    assert Delay.parse("10..60") == Delay(DelayKind.UNIFORM, 10.0, 60.0)
    lognormal = Delay.parse("ln:30:0.5")
    assert lognormal == Delay(DelayKind.LOGNORMAL, 30.0, 0.5)
    assert lognormal.sample(0.5, 0.25) == pytest.approx(30.0)  # cos(π/2) = 0: the median


@pytest.fixture
def system(settings: Settings, db: psycopg.Connection) -> Iterator[tuple[Runtime, str]]:
    """The whole system on the test's servers; both zones of the tiny city surging."""
    tiny_city(db)
    rt = Runtime(settings)
    rt.open_store()
    rt.open_broker()
    api = start(rt, ("ingest", "alerts", "dispatcher", "api"))
    assert api is not None
    surges = Scenario(OrdinaryDay(mean=0.5, amplitude=0.1),
                      tuple(Surge(z, start=0.0, ramp=1.0, hold=600, peak_density=5.0)
                            for z in ("Z-A", "Z-B")))
    cameras = load_cameras(db)
    rt.spawn("simulators", lambda stop: run_fleet(
        cameras, parse_mqtt_url(rt.mqtt_url), settings.topic_prefix, surges.density, stop, 0.25))
    try:
        yield rt, api.url
    finally:
        rt.close()


def _task(db: psycopg.Connection, zone: str) -> tuple[int, str]:
    row = db.execute("SELECT id, state FROM tasks WHERE zone_id = %s", (zone,)).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "none")


def _events(db: psycopg.Connection, task_id: int) -> list[tuple[str, str, str | None]]:
    rows = db.execute("SELECT action, actor, note FROM task_events WHERE task_id = %s ORDER BY id",
                      (task_id,)).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _rejected_by_wb(db: psycopg.Connection) -> bool:
    events = _events(db, _task(db, "Z-B")[0])
    return any((action, who) == ("reject", "person:P-wB") for action, who, _ in events)


def _photos(url: str, task_id: int) -> list[dict[str, object]]:
    """The task's photos as its worker sees them through the API."""
    with httpx.Client(base_url=url, timeout=10.0) as http:
        token = http.post("/api/v1/auth/token", data={"username": "w-a", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        response = http.get(f"/api/v1/tasks/{task_id}/photos", headers=headers)
        response.raise_for_status()
        photos: list[dict[str, object]] = response.json()
        return photos


def test_bots_accept_arrive_report_a_photo_and_resolve_and_a_rejecting_bot_gives_a_reason(
        system: tuple[Runtime, str], db: psycopg.Connection) -> None:
    _, url = system
    wait_until(lambda: _task(db, "Z-A")[1] == _task(db, "Z-B")[1] == "dispatched", timeout=20,
               what="a dispatched task in each grid")
    willing = BotSwarm(url, [("w-a", PASSWORD)], QUICK)
    stubborn = BotSwarm(url, [("w-b", PASSWORD)], replace(QUICK, reject_probability=1.0))
    stop = threading.Event()
    threads = [threading.Thread(target=s.run, args=(stop,)) for s in (willing, stubborn)]
    for thread in threads:
        thread.start()
    try:
        # A rejected task goes back to dispatch, to someone other than who rejected it.
        wait_until(lambda: _task(db, "Z-A")[1] == "follow_up" and _rejected_by_wb(db),
                   timeout=30, what="the bots' answers")
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    handled = _task(db, "Z-A")[0]
    assert [(a, who) for a, who, _ in _events(db, handled)][-4:] == [
        ("accept", "person:P-wA"), ("arrive", "person:P-wA"), ("report", "person:P-wA"),
        ("resolve", "person:P-wA")]
    photos = _photos(url, handled)
    assert [(p["uploaded_by"], p["width"], p["height"]) for p in photos] == [("P-wA", 320, 240)]
    evidence = db.execute("SELECT evidence FROM task_events WHERE task_id = %s AND action ="
                          " 'report' AND actor = 'person:P-wA'", (handled,)).fetchone()
    assert evidence is not None and evidence[0]["photos"] == [photos[0]["sha256"]]
    (note,) = [n for a, who, n in _events(db, _task(db, "Z-B")[0])
               if (a, who) == ("reject", "person:P-wB")]
    assert note in REJECT_REASONS
    reassigned = db.execute("SELECT assignee_id FROM tasks WHERE zone_id = 'Z-B'").fetchone()
    assert reassigned is not None and reassigned[0] != "P-wB"
    counts = willing.counters()
    assert counts.accepted >= 1 and counts.arrived >= 1 and counts.reported >= 1
    assert counts.resolved >= 1
    assert counts.conflicts == counts.errors == 0
    assert (stubborn.counters().rejected, stubborn.counters().accepted) == (1, 0)
