"""Two ingest replicas on one MQTT 5 shared subscription split the load, nothing lost or doubled."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from kernel.mqtt import parse_mqtt_url, probe_protocol
from kernel.settings import Settings
from tests.helpers import publish_all, tiny_city, wait_until

from .test_consumer import counter, reports, running_ingest


def test_two_replicas_share_one_subscription(settings: Settings, db: psycopg.Connection,
                                             mqtt_url: str) -> None:
    if probe_protocol(parse_mqtt_url(mqtt_url)) != MQTTProtocolVersion.MQTTv5:
        pytest.skip("this broker speaks only MQTT 3.1.1: no shared subscriptions")
    tiny_city(db)
    replicas = [settings.model_copy(update={"ingest_client_id": f"{settings.topic_prefix}-{i}",
                                            "ingest_shared": True}) for i in range(2)]
    with ExitStack() as stack:
        for replica in replicas:
            stack.enter_context(running_ingest(replica))
        sent = publish_all(mqtt_url, reports(settings.topic_prefix, range(4000)))
        wait_until(lambda: counter(db, "messages") == sent, timeout=60, what="all committed")
    per_replica = dict(db.execute(
        "SELECT instance, value FROM service_counters WHERE name = 'ingest_messages_total'"
    ).fetchall())
    assert set(per_replica) == {r.ingest_client_id for r in replicas}
    assert all(v > 0 for v in per_replica.values()), per_replica
    assert sum(per_replica.values()) == sent
    assert db.execute("SELECT count(*), count(DISTINCT seq) FROM crowd_observations"
                      ).fetchone() == (4000, 4000)
