"""Ingest against the real broker and database: exactly once, dead letters, persistence."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg

from contracts.topics import TopicKind, topic_for
from ingest.consumer import IngestConsumer
from ingest.service import build_consumer
from kernel.settings import Settings
from tests.helpers import density_payload, publish_all, tiny_city, wait_until


@contextmanager
def running_ingest(settings: Settings) -> Iterator[IngestConsumer]:
    assert settings.database_url and settings.mqtt_url
    consumer = build_consumer(settings, settings.database_url, settings.mqtt_url)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_until(consumer.connected.is_set, what="ingest to connect")
        # Subscriptions are sent on connect; give the broker a moment to register them.
        stop.wait(0.3)
        yield consumer
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()


def counter(db: psycopg.Connection, name: str) -> int:
    row = db.execute("SELECT coalesce(sum(value), 0) FROM service_counters WHERE name = %s",
                     (f"ingest_{name}_total",)).fetchone()
    assert row is not None
    return int(row[0])


def reports(prefix: str, seqs: range, zone: str = "Z-A",
            now: str | None = None) -> list[tuple[str, bytes]]:
    topic = topic_for(prefix, TopicKind.DENSITY, "CAM-A")
    now = now or datetime.now(UTC).isoformat()
    return [(topic, density_payload(seq, now, {zone: seq % 90})) for seq in seqs]


def test_every_message_is_stored_exactly_once_even_when_redelivered(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    now = datetime.now(UTC).isoformat()
    with running_ingest(settings):
        sent = publish_all(mqtt_url, reports(settings.topic_prefix, range(3000), now=now))
        # The same messages again, as a device retrying or a broker redelivering sends them.
        resent = publish_all(mqtt_url, reports(settings.topic_prefix, range(0, 3000, 6), now=now))
        wait_until(lambda: counter(db, "messages") == sent + resent, timeout=60,
                   what="all messages committed")
    rows = db.execute("SELECT count(*), count(DISTINCT seq) FROM crowd_observations").fetchone()
    assert rows == (3000, 3000)
    assert counter(db, "rows_written") == 3000
    assert counter(db, "duplicates") == resent
    current = db.execute("SELECT count, density FROM zone_current WHERE zone_id = 'Z-A'").fetchone()
    assert current is not None and current[1] == current[0] / 100


def test_malformed_messages_land_in_dead_letters_with_reason_and_raw_bytes(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    density_topic = topic_for(settings.topic_prefix, TopicKind.DENSITY, "CAM-A")
    bad = [
        (density_topic, b"{not json"),
        (density_topic, json.dumps({"seq": 1, "ts": 0, "zones": []}).encode()),
        (topic_for(settings.topic_prefix, TopicKind.DENSITY, "CAM-NOPE"),
         density_payload(1, datetime.now(UTC).isoformat(), {"Z-A": 1})),
    ]
    good = reports(settings.topic_prefix, range(5))
    with running_ingest(settings):
        publish_all(mqtt_url, bad + good)
        wait_until(lambda: counter(db, "messages") == 8, what="8 messages committed")
    letters = db.execute("SELECT topic, payload, error_kind, reason FROM dead_letters"
                         " ORDER BY id").fetchall()
    assert [(t, bytes(p), k) for t, p, k, _ in letters] == [
        (bad[0][0], bad[0][1], "bad_json"),
        (bad[1][0], bad[1][1], "schema"),
        (bad[2][0], bad[2][1], "unknown_device"),
    ]
    assert "zones" in letters[1][3] and "CAM-NOPE" in letters[2][3]
    assert counter(db, "dead_letters") == 3
    assert db.execute("SELECT count(*) FROM crowd_observations").fetchone() == (5,)


def test_messages_published_while_ingest_is_down_are_stored_on_restart(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    with running_ingest(settings):
        publish_all(mqtt_url, reports(settings.topic_prefix, range(100)))
        wait_until(lambda: counter(db, "messages") == 100, what="first 100")
    # Ingest is down; its persistent session keeps what arrives meanwhile.
    publish_all(mqtt_url, reports(settings.topic_prefix, range(100, 600)))
    with running_ingest(settings):
        wait_until(lambda: counter(db, "messages") == 600, timeout=30, what="queued 500")
    assert db.execute("SELECT count(DISTINCT seq) FROM crowd_observations").fetchone() == (600,)


def test_status_messages_and_reports_update_device_status(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    status = topic_for(settings.topic_prefix, TopicKind.STATUS, "CAM-B")
    with running_ingest(settings):
        publish_all(mqtt_url, reports(settings.topic_prefix, range(3)))
        publish_all(mqtt_url, [(status, json.dumps({"state": "lost"}))])
        wait_until(lambda: counter(db, "messages") == 4, what="4 messages")
    states = dict(db.execute("SELECT device_id, state FROM device_status").fetchall())
    assert states == {"CAM-A": "online", "CAM-B": "lost"}


def test_dead_letters_are_replayed_after_the_zone_is_registered(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    with running_ingest(settings):
        publish_all(mqtt_url, reports(settings.topic_prefix, range(3), zone="Z-NEW"))
        wait_until(lambda: counter(db, "dead_letters") == 3, what="3 dead letters")
        db.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2)"
                   " VALUES ('Z-NEW', 'CAM-A', 'G-A', 'new', 50)")
        db.execute("INSERT INTO dead_letters (topic, payload, reason, error_kind, "
                   " replay_requested_at) VALUES ('x/y', 'junk', 'bad', 'bad_topic', now())")
        db.execute("UPDATE dead_letters SET replay_requested_at = now()")
        wait_until(lambda: counter(db, "replayed") == 3, timeout=20, what="3 replayed")
        wait_until(lambda: db.execute("SELECT count(*) FROM dead_letters WHERE"
                                      " replay_requested_at IS NOT NULL").fetchone() == (0,),
                   what="every replay settled")
    assert db.execute("SELECT count(*) FROM crowd_observations WHERE zone_id = 'Z-NEW'"
                      ).fetchone() == (3,)
    refused = db.execute("SELECT replayed_at, replay_attempts, last_replay_error FROM"
                         " dead_letters WHERE topic = 'x/y'").fetchone()
    assert refused is not None and refused[0] is None and refused[1] == 1
    assert "not <" in refused[2]


def test_sensor_readings_are_stored_and_the_latest_kept_per_metric(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    topic = topic_for(settings.topic_prefix, TopicKind.READING, "SEN-1")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    ts = [(start + timedelta(minutes=m)).isoformat() for m in range(3)]
    with running_ingest(settings):
        publish_all(mqtt_url, [(topic, json.dumps({"seq": i, "ts": t, "readings": [
            {"metric": "footfall_in", "value": 10 * i, "unit": "persons"},
            {"metric": "noise_db", "value": 60 + i}]})) for i, t in reversed(list(enumerate(ts)))])
        wait_until(lambda: counter(db, "messages") == 3, what="3 sensor messages")
    assert db.execute("SELECT count(*) FROM sensor_readings").fetchone() == (6,)
    latest = dict(db.execute("SELECT metric, value FROM sensor_current").fetchall())
    assert latest == {"footfall_in": 20.0, "noise_db": 62.0}
