"""The whole alert path over real servers: a crossing report → alert → task and MQTT notice.

Starts ingest, the evaluator and the dispatcher as ``sharpeyes serve all`` does, plus
the notifier as components.start_alerts is to start it (see the report for app wiring).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import psycopg

from alerts.outbox import run_notifier
from contracts.topics import TopicKind, topic_for
from kernel.mqtt import new_client, parse_mqtt_url
from kernel.settings import Settings
from sharpeyes.components import start
from sharpeyes.runtime import Runtime
from tests.helpers import density_payload, publish_all, wait_until


def test_a_crossing_report_becomes_a_task_and_a_regional_mqtt_notice(
    settings: Settings, city: psycopg.Connection, mqtt_url: str
) -> None:
    received: list[tuple[str, dict[str, object]]] = []
    address = parse_mqtt_url(mqtt_url)
    listener = new_client(address)
    subscribed = threading.Event()
    listener.on_subscribe = lambda *_a: subscribed.set()
    listener.on_message = lambda _c, _u, m: received.append((m.topic, json.loads(m.payload)))
    listener.connect(address.host, address.port)
    listener.subscribe(f"{settings.topic_prefix}/v1/alerts/SA", qos=1)
    listener.loop_start()
    rt = Runtime(settings)
    try:
        start(rt, ("ingest", "alerts", "dispatcher"))
        rt.spawn("notifier", lambda stop: run_notifier(
            rt.database_url, rt.mqtt_url, settings.topic_prefix, stop, 0.2))
        assert subscribed.wait(5)
        seq = iter(range(1, 1000))

        def report_stored() -> bool:   # ingest subscribes asynchronously: resend until stored
            publish_all(mqtt_url, [(topic_for(settings.topic_prefix, TopicKind.DENSITY, "CAM-A"),
                                    density_payload(next(seq), datetime.now(UTC).isoformat(),
                                                    {"Z-A": 450}))])
            return city.execute("SELECT 1 FROM zone_current").fetchone() is not None

        wait_until(report_stored, timeout=15, interval=0.3, what="ingest to store a report")
        task = wait_until(lambda: city.execute(
            "SELECT t.assignee_id, a.state FROM tasks t JOIN alerts a ON a.id = t.alert_id"
        ).fetchone(), timeout=20, what="the task")
        wait_until(lambda: received, timeout=10, what="the MQTT notice")
    finally:
        rt.close()
        listener.disconnect()
        listener.loop_stop()
    assert task == ("P-wA", "firing")
    topic, event = received[0]
    assert topic == f"{settings.topic_prefix}/v1/alerts/SA" and event["event"] == "firing"
