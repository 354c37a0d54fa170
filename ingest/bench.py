"""``sharpeyes bench ingest``: end-to-end committed rows/s against a bare paho subscriber.

Both runs see the same load: ``publishers`` processes publish ``messages`` density
reports (QoS 1) through the same broker. The baseline is a bare paho subscriber in
its own process that parses each JSON payload and counts; the measured system is
``replicas`` ingest processes (``sharpeyes serve ingest``) writing to a fresh
database. Several replicas split the load by static partitions of the devices
(``SHARPEYES_INGEST_PARTITION=i/K``), not a ``$share`` group, which loses QoS 1
messages on Mosquitto 2.0; the BENCH-* devices are registered, so each replica
subscribes to its own devices' topics (replica 0 to the wildcards, which carry its own
devices too). The result is JSON with both rates, their ratio, and lost/duplicated
counts.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from contracts.topics import TopicKind, topic_for
from sharpeyes.mqtt import new_client, parse_mqtt_url
from store.db import url_with_database
from store.migrate import migrate

log = logging.getLogger(__name__)

DEVICES = 100


@dataclass(frozen=True, slots=True)
class BenchResult:
    messages: int
    publishers: int
    replicas: int
    broker: str
    baseline_msgs_per_s: float
    ingest_rows_per_s: float
    ratio: float
    data_points_per_s: float
    lost: int
    duplicated: int
    dead_letters: int


def _publish_share(mqtt_url: str, prefix: str, start: int, count: int, ts: str) -> None:
    """One publisher process: ``count`` reports, sequence numbers from ``start``."""
    address = parse_mqtt_url(mqtt_url)
    client = new_client(address)
    client.max_queued_messages_set(0)
    client.connect(address.host, address.port)
    client.loop_start()
    infos = []
    for seq in range(start, start + count):
        device = f"BENCH-{seq % DEVICES:03d}"
        body = {"seq": seq, "ts": ts, "zones": [{"zone_id": f"{device}-Z", "count": seq % 50}]}
        infos.append(client.publish(topic_for(prefix, TopicKind.DENSITY, device),
                                    json.dumps(body), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=120)
    client.disconnect()
    client.loop_stop()


def publish(mqtt_url: str, prefix: str, messages: int, publishers: int) -> None:
    """Publish from several processes at once and wait until the broker has everything."""
    ts = datetime.now(UTC).isoformat()
    share = -(-messages // publishers)
    procs = [mp.get_context("spawn").Process(
        target=_publish_share,
        args=(mqtt_url, prefix, i * share, min(share, messages - i * share), ts))
        for i in range(publishers) if i * share < messages]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


def _bare_subscriber(mqtt_url: str, prefix: str, expected: int, ready: object,
                     done: object) -> None:
    """The baseline: a paho QoS 1 subscriber that parses JSON and counts."""
    address = parse_mqtt_url(mqtt_url)
    client = new_client(address, client_id=f"bare-{uuid.uuid4().hex[:8]}")
    seen = {"n": 0, "first": 0.0}

    def on_message(_c: object, _u: object, msg: object) -> None:
        json.loads(msg.payload)  # type: ignore[attr-defined]
        seen["n"] += 1
        if seen["n"] >= expected:
            done.value = time.time()  # type: ignore[attr-defined]

    client.on_message = on_message
    client.connect(address.host, address.port)
    client.subscribe(f"{prefix}/v1/camera/+/density", qos=1)
    client.loop_start()
    time.sleep(0.5)
    ready.set()  # type: ignore[attr-defined]
    while not done.value:  # type: ignore[attr-defined]
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()


def measure_baseline(mqtt_url: str, messages: int, publishers: int) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    ctx = mp.get_context("spawn")
    ready, done = ctx.Event(), ctx.Value("d", 0.0)
    sub = ctx.Process(target=_bare_subscriber, args=(mqtt_url, prefix, messages, ready, done))
    sub.start()
    ready.wait(30)
    started = time.time()
    publish(mqtt_url, prefix, messages, publishers)
    sub.join(timeout=600)
    return messages / float(done.value - started)


def _prepare_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = url_with_database(admin_url, name)
    with psycopg.connect(url) as conn:
        migrate(conn)
        conn.execute("INSERT INTO regions VALUES ('B', NULL, 'city', 'Bench', 'B')")
        conn.execute("INSERT INTO grids VALUES ('GB', 'B', 'bench', '{}', 0, 0, 1, 1)")
        for i in range(DEVICES):
            device = f"BENCH-{i:03d}"
            conn.execute("INSERT INTO devices (id, kind, name) VALUES (%s, 'camera', %s)",
                         (device, device))
            conn.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2)"
                         " VALUES (%s, %s, 'GB', 'z', 500)", (f"{device}-Z", device))
        conn.commit()
    return url


def _start_ingest(db_url: str, mqtt_url: str, prefix: str, replica: int,
                  replicas: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
    env.update(SHARPEYES_DATABASE_URL=db_url, SHARPEYES_MQTT_URL=mqtt_url,
               SHARPEYES_TOPIC_PREFIX=prefix, SHARPEYES_INGEST_CLIENT_ID=f"{prefix}-{replica}",
               SHARPEYES_INGEST_GROUP=prefix, SHARPEYES_INGEST_SHARED="false")
    if replicas > 1:
        env["SHARPEYES_INGEST_PARTITION"] = f"{replica}/{replicas}"
    return subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "serve", "ingest"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stored(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq)),"
        " (SELECT count(*) FROM dead_letters) FROM crowd_observations").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def measure_ingest(admin_url: str, mqtt_url: str, messages: int, publishers: int,
                   replicas: int) -> tuple[float, int, int, int]:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    db_url = _prepare_database(admin_url, f"sharpeyes_bench_{os.getpid()}")
    procs = [_start_ingest(db_url, mqtt_url, prefix, r, replicas) for r in range(replicas)]
    try:
        time.sleep(3.0)  # let every replica connect and subscribe
        started = time.time()
        publish(mqtt_url, prefix, messages, publishers)
        with psycopg.connect(db_url, autocommit=True) as conn:
            _wait_for_rows(conn, messages, started)
            finished = time.time()
            total, distinct, dead = _stored(conn)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    return messages / (finished - started), messages - distinct, total - distinct, dead


def _wait_for_rows(conn: psycopg.Connection[Any], messages: int, started: float) -> int:
    last, last_change = -1, time.time()
    while True:
        row = conn.execute("SELECT coalesce(sum(value), 0) FROM service_counters"
                           " WHERE name = 'ingest_messages_total'").fetchone()
        done = int(row[0]) if row else 0
        if done >= messages:
            return done
        if done != last:
            last, last_change = done, time.time()
            log.info("bench: %d/%d committed after %.1fs", done, messages, time.time() - started)
        elif time.time() - last_change > 30:
            log.warning("bench: stalled at %d/%d", done, messages)
            return done
        time.sleep(0.5)


def run_bench(admin_url: str, mqtt_url: str, messages: int, publishers: int,
              replicas: int) -> BenchResult:
    log.info("bench: baseline (bare paho subscriber), %d messages", messages)
    baseline = measure_baseline(mqtt_url, messages, publishers)
    log.info("bench: ingest with %d replica(s)", replicas)
    rate, lost, duplicated, dead = measure_ingest(admin_url, mqtt_url, messages, publishers,
                                                  replicas)
    return BenchResult(messages, publishers, replicas, mqtt_url, round(baseline, 1),
                       round(rate, 1), round(rate / baseline, 3), round(rate, 1), lost,
                       duplicated, dead)


def result_json(result: BenchResult) -> str:
    return json.dumps(asdict(result), indent=2)

