"""Ingest under failure, each ending with every published message stored exactly once.

SIGKILL of the ingest process, a PostgreSQL restart and a broker restart, all
mid-stream. These use a private broker (and, for the restart, a private
PostgreSQL) so the test can stop them, with the broker configured as deploy/
recommends (large per-session queue): a broker that drops queued messages
(Mosquitto's default ``max_queued_messages 1000``) cannot promise no loss.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from contracts.topics import TopicKind, topic_for
from ingest.service import build_consumer
from kernel.mqtt import new_client, parse_mqtt_url
from kernel.settings import EmbeddedBroker, Settings
from sharpeyes.embedded import EmbeddedMqttBroker, EmbeddedPostgres
from store.migrate import migrate
from tests.helpers import density_payload, tiny_city, wait_until

MESSAGES = 6000


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedMqttBroker]:
    server = EmbeddedMqttBroker(tmp_path / "broker", EmbeddedBroker.AUTO)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Publisher:
    """Publishes MESSAGES reports at a steady pace from a background thread (QoS 1).

    paho keeps unacknowledged and not-yet-sent messages and sends them again after a
    reconnect, as a real device with a persistent outbox does.
    """

    def __init__(self, mqtt_url: str, prefix: str, pace: float = 0.0005) -> None:
        address = parse_mqtt_url(mqtt_url)
        self.client = new_client(address, client_id=f"pub-{prefix}", persistent=True)
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.topic = topic_for(prefix, TopicKind.DENSITY, "CAM-A")
        self.ts = datetime.now(UTC).isoformat()
        self.pace = pace
        self.infos: list[object] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        stop = threading.Event()
        for seq in range(MESSAGES):
            payload = density_payload(seq, self.ts, {"Z-A": seq % 90})
            self.infos.append(self.client.publish(self.topic, payload, qos=1))
            stop.wait(self.pace)

    def start(self) -> Publisher:
        self.thread.start()
        return self

    def finish(self) -> None:
        self.thread.join(timeout=120)
        # Messages published while disconnected report "not connected" but stay queued
        # in paho and go out after the reconnect
        # (paho's MQTTMessageInfo raises for those), so count PUBACKs in on_publish instead.
        wait_until(lambda: len(self.acked) >= MESSAGES, timeout=120,
                   what="the publisher's outbox to drain")
        self.client.disconnect()
        self.client.loop_stop()


def stored(db_url: str) -> tuple[int, int]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT seq) FROM crowd_observations"
                           " WHERE device_id = 'CAM-A'").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def ingest_process(settings: Settings, db_url: str, mqtt_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
    env.update(SHARPEYES_DATABASE_URL=db_url, SHARPEYES_MQTT_URL=mqtt_url,
               SHARPEYES_TOPIC_PREFIX=settings.topic_prefix,
               SHARPEYES_INGEST_CLIENT_ID=settings.ingest_client_id,
               SHARPEYES_DATA_DIR=str(settings.data_dir))
    return subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "serve", "ingest"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_of_ingest_mid_stream_loses_and_doubles_nothing(
    settings: Settings, db: psycopg.Connection, db_url: str, broker: EmbeddedMqttBroker
) -> None:
    tiny_city(db)
    mqtt_url = broker.url
    first = ingest_process(settings, db_url, mqtt_url)
    try:
        wait_until(lambda: _probe(mqtt_url, settings, db_url), timeout=30,
                   what="ingest to start storing")
        publisher = Publisher(mqtt_url, settings.topic_prefix).start()
        wait_until(lambda: stored(db_url)[0] > MESSAGES // 4, timeout=60, what="a quarter")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    second = ingest_process(settings, db_url, mqtt_url)
    try:
        publisher.finish()
        wait_until(lambda: stored(db_url)[1] >= MESSAGES, timeout=90, what="every message")
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert stored(db_url) == (MESSAGES, MESSAGES)


def _probe(mqtt_url: str, settings: Settings, db_url: str) -> bool:
    """Publish one message from another camera; True once ingest stored it."""
    topic = topic_for(settings.topic_prefix, TopicKind.DENSITY, "CAM-B")
    address = parse_mqtt_url(mqtt_url)
    client = new_client(address)
    client.connect(address.host, address.port)
    client.loop_start()
    client.publish(topic, density_payload(0, datetime.now(UTC).isoformat(), {"Z-B": 1}),
                   qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM crowd_observations").fetchone()
    return bool(row and row[0])


def run_ingest_thread(settings: Settings, db_url: str, mqtt_url: str,
                      stop: threading.Event) -> threading.Thread:
    consumer = build_consumer(settings, db_url, mqtt_url)
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    wait_until(consumer.connected.is_set, what="ingest to connect")
    stop.wait(0.3)
    return thread


def test_postgres_restart_mid_stream_loses_and_doubles_nothing(
    settings: Settings, tmp_path: Path, broker: EmbeddedMqttBroker
) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    db_url = server.start()
    stop = threading.Event()
    try:
        with psycopg.connect(db_url) as conn:
            migrate(conn)
            tiny_city(conn)
        mqtt_url = broker.url
        thread = run_ingest_thread(settings, db_url, mqtt_url, stop)
        publisher = Publisher(mqtt_url, settings.topic_prefix).start()
        wait_until(lambda: stored(db_url)[0] > MESSAGES // 4, timeout=60, what="a quarter")
        server.stop()  # the database goes away mid-stream...
        stop.wait(3.0)
        server.start()  # ...and comes back
        publisher.finish()
        wait_until(lambda: stored(db_url)[1] >= MESSAGES, timeout=90, what="every message")
        assert stored(db_url) == (MESSAGES, MESSAGES)
    finally:
        stop.set()
        server.stop()
    thread.join(timeout=30)


def test_broker_restart_mid_stream_loses_and_doubles_nothing(
    settings: Settings, db: psycopg.Connection, db_url: str, broker: EmbeddedMqttBroker
) -> None:
    tiny_city(db)
    mqtt_url = broker.url
    stop = threading.Event()
    thread = run_ingest_thread(settings, db_url, mqtt_url, stop)
    try:
        publisher = Publisher(mqtt_url, settings.topic_prefix).start()
        wait_until(lambda: stored(db_url)[0] > MESSAGES // 4, timeout=60, what="a quarter")
        broker.stop()  # the broker goes away mid-stream (sessions persist on disk)...
        stop.wait(2.0)
        broker.start()  # ...and comes back on the same port
        publisher.finish()
        wait_until(lambda: stored(db_url)[1] >= MESSAGES, timeout=90, what="every message")
        assert stored(db_url) == (MESSAGES, MESSAGES)
    finally:
        stop.set()
        thread.join(timeout=30)
