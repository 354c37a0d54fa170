"""The task loop through the public API with real servers: escalation through all three
tiers with short real deadlines, supervisors told over MQTT, photos, KPIs and reports."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import cv2
import numpy as np
import psycopg
import pytest

from contracts.topics import TopicKind, topic_for
from kernel.mqtt import new_client, parse_mqtt_url
from kernel.settings import Settings
from sharpeyes.runtime import Runtime
from tests.helpers import (
    density_payload,
    logged_in,
    publish_all,
    running_system,
    three_tier_city,
    wait_until,
)


@pytest.fixture
def system(settings: Settings, db: psycopg.Connection) -> Iterator[tuple[Runtime, str]]:
    three_tier_city(db)
    fast = settings.model_copy(update={"escalation_interval_seconds": 0.3})
    with running_system(fast, ("ingest", "alerts", "dispatcher", "scheduler", "api")) as system:
        yield system


def listen(mqtt_url: str, topic_filter: str) -> tuple[list[tuple[str, dict[str, object]]], object]:
    received: list[tuple[str, dict[str, object]]] = []
    subscribed = threading.Event()
    address = parse_mqtt_url(mqtt_url)
    mqtt = new_client(address)
    mqtt.on_message = lambda _c, _u, m: received.append((m.topic, json.loads(m.payload)))
    mqtt.on_subscribe = lambda *_a: subscribed.set()
    mqtt.connect(address.host, address.port)
    mqtt.subscribe(topic_filter, qos=1)
    mqtt.loop_start()
    subscribed.wait(5)
    return received, mqtt


def photo() -> bytes:
    image = np.full((2400, 3200, 3), 90, np.uint8)
    cv2.circle(image, (1600, 1200), 600, (20, 160, 220), -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_escalation_through_three_tiers_then_the_loop_closes_with_evidence(
    system: tuple[Runtime, str], db: psycopg.Connection
) -> None:
    rt, url = system
    prefix = rt.settings.topic_prefix
    escalations, listener = listen(rt.mqtt_url, f"{prefix}/v1/centre/+/escalations")
    with logged_in(url, "admin") as admin:
        short = {"category": "*", "severity": "*", "accept_seconds": 1, "arrive_seconds": 1,
                 "resolve_seconds": 2}
        assert admin.put("/api/v1/task-deadlines", json=short).status_code == 200
        db.execute("DELETE FROM task_deadlines WHERE severity <> '*'")
    publish_all(rt.mqtt_url, [(topic_for(prefix, TopicKind.DENSITY, "CAM-A"),
                               density_payload(1, datetime.now(UTC).isoformat(), {"Z-A": 500}))])
    with logged_in(url, "op-c") as city_centre:
        task = wait_until(lambda: city_centre.get("/api/v1/tasks").json()["items"], timeout=20,
                          what="the task")[0]
        chain = wait_until(lambda: [e["to_tier"] for e in city_centre.get(
            f"/api/v1/tasks/{task['id']}/escalations").json()] == ["district", "city"],
            timeout=20, what="escalation to the district, then the city")
        assert chain
        assert city_centre.get(f"/api/v1/tasks/{task['id']}").json()["tier"] == "city"
    wait_until(lambda: len(escalations) >= 2, what="supervisors told over MQTT")
    listener.disconnect()  # type: ignore[attr-defined]
    listener.loop_stop()  # type: ignore[attr-defined]
    assert [(t.split("/")[-2], m["to_tier"]) for t, m in escalations] == [
        ("D", "district"), ("C", "city")]

    with logged_in(url, "w-a") as worker:
        assert worker.post(f"/api/v1/tasks/{task['id']}/accept").status_code == 200
        arrived = worker.post(f"/api/v1/tasks/{task['id']}/arrive",
                              json={"lon": 114.06, "lat": 22.55})
        assert arrived.json()["arrived_at"] is not None
        upload = worker.post(f"/api/v1/tasks/{task['id']}/photos", data={"note": "on site"},
                             files=[("photos", ("scene.jpg", photo(), "image/jpeg"))])
        assert upload.status_code == 201, upload.text
        (listed,) = worker.get(f"/api/v1/tasks/{task['id']}/photos").json()
        stored = worker.get(f"/api/v1/tasks/{task['id']}/photos/{listed['id']}").content
        image = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR)
        assert max(image.shape[:2]) == 1600  # downscaled, metadata stripped by re-encoding
        bad = worker.post(f"/api/v1/tasks/{task['id']}/photos",
                          files=[("photos", ("x.gif", b"GIF89a....", "image/gif"))])
        assert bad.status_code == 415
        assert worker.post(f"/api/v1/tasks/{task['id']}/resolve").json()["state"] == "follow_up"
    with logged_in(url, "op-c") as city_centre:
        closed = city_centre.post(f"/api/v1/tasks/{task['id']}/close", json={"rating": 4})
        assert closed.json()["state"] == "closed"
        kpi = city_centre.get("/api/v1/kpis?by=worker").json()
        assert [(k["key"], k["received"], k["escalation_rate"]) for k in kpi] == [
            ("P-wA", 1, 1.0)]
        assert kpi[0]["lowest_tier_share"] == 0.0
        csv_text = city_centre.get("/api/v1/kpis?by=district&format=csv").text
        header, row = csv_text.splitlines()[:2]
        by_column = dict(zip(header.split(","), row.split(","), strict=True))
        assert (by_column["key"], by_column["name"], by_column["received"]) == (
            "D", "District", "1")
        chart = city_centre.get("/api/v1/kpis/weekly?by=city&weeks=4&format=png")
        assert chart.headers["content-type"] == "image/png"
        assert chart.content.startswith(b"\x89PNG")
        ranking = city_centre.get("/api/v1/kpis/ranking?by=grid").json()
        assert ranking[0]["rank"] == 1 and ranking[0]["key"] == "G-A"
        ranking_png = city_centre.get("/api/v1/kpis/ranking?by=worker&format=png")
        assert ranking_png.content.startswith(b"\x89PNG")
