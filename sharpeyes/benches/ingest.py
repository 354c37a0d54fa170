"""``sharpeyes bench ingest``: end-to-end committed rows/s against a bare paho subscriber.

Every run sees the same load: ``publishers`` processes publish ``messages`` density
reports (QoS 1) through the same broker. The baseline is a bare paho subscriber in its
own process that parses each JSON payload and counts, speaking the protocol ingest
speaks to that broker (MQTT 5 where the broker has it: paho parses the properties of
every message then, which costs it ~15% of its rate against 3.1.1); the measured system
is ``replicas`` ingest processes (``sharpeyes serve ingest``) writing to a fresh
database. Several replicas split the load by static partitions of the devices
(``SHARPEYES_INGEST_PARTITION=i/K``), not a ``$share`` group, which loses QoS 1 messages
on Mosquitto 2.0; the BENCH-* devices are registered, so each replica subscribes to its
own devices' topics. Replica 0's catch-all for unregistered devices (the contract
wildcards, which deliver every message to it) is off unless ``catch_all``: the measured
layout is the deployed one, where the broker's ACLs admit registered devices only.

Two modes:

- ``live``: the consumers are running while the publishers publish; the rate is messages
  over the time from the first publish to the last commit, so it is capped by how fast
  the publishers and the broker go as much as by the consumer.
- ``backlog``: the consumers subscribe (persistent sessions), go away, the broker queues
  every message, then the consumers return and drain it; the rate is counted from the
  first to the last stored message, so it measures the consumers alone — what decides
  how fast ingest catches up after an outage, and whether a second replica helps.

The result is JSON with the baseline rate and, per replica count, the rate, its ratio to
the baseline, its speed-up over one replica, and the lost/duplicated counts.
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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contracts.topics import TopicKind, topic_for
from kernel.mqtt import new_client, parse_mqtt_url, probe_protocol
from sharpeyes.benches.cost import CostMeter, processes, with_servers
from store.db import url_with_database
from store.migrate import migrate

log = logging.getLogger(__name__)

DEVICES = 100
PROBE_SEQ = 10**12
"""Sequence numbers from here on are warm-up probes, not counted as bench messages."""
Mode = Literal["live", "backlog"]


@dataclass(frozen=True, slots=True)
class IngestRun:
    """One measurement of ``replicas`` ingest processes."""

    replicas: int
    rows_per_s: float
    ratio: float  # to the bare subscriber of the same run
    data_points_per_s: float
    lost: int
    duplicated: int
    dead_letters: int
    speedup: float | None = None  # to one replica of the same run
    cost: dict[str, Any] = field(default_factory=dict)  # CostMeter.report over the drain


@dataclass(frozen=True, slots=True)
class BenchResult:
    messages: int
    publishers: int
    mode: str
    catch_all: bool
    broker: str
    protocol: str  # what ingest and the baseline speak to this broker
    baseline_msgs_per_s: float
    runs: list[IngestRun] = field(default_factory=list)

    @property
    def lossless(self) -> bool:
        return all(r.lost == 0 and r.duplicated == 0 for r in self.runs)


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


# --- baseline: a bare paho subscriber ----------------------------------------------

def _bare_subscriber(mqtt_url: str, prefix: str, client_id: str, expected: int,
                     ready: Any, times: Any) -> None:
    """A persistent-session paho QoS 1 subscriber that parses JSON and counts; records the
    times of the first and the last message in ``times``."""
    address = parse_mqtt_url(mqtt_url)
    protocol = probe_protocol(address)  # the one ingest speaks to this broker
    client = new_client(address, client_id=client_id, persistent=True, protocol=protocol)
    seen = {"n": 0}

    def on_message(_c: object, _u: object, msg: Any) -> None:
        json.loads(msg.payload)
        seen["n"] += 1
        if seen["n"] == 1:
            times[0] = time.time()
        if seen["n"] >= expected:
            times[1] = time.time()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/v1/camera/+/density", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.connect(address.host, address.port, **_session_arguments(protocol))
    client.loop_start()
    ready.wait(60)
    while not times[1] and expected:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()


def _session_arguments(protocol: MQTTProtocolVersion) -> dict[str, Any]:
    """MQTT 5 asks for a persistent session at connect time (3.1.1 at construction)."""
    if protocol != MQTTProtocolVersion.MQTTv5:
        return {}
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    properties.ReceiveMaximum = 20000  # as ingest announces (its queue size)
    return {"clean_start": False, "properties": properties}


def measure_baseline(mqtt_url: str, messages: int, publishers: int, mode: Mode) -> float:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    client_id = f"bare-{prefix}"
    ctx = mp.get_context("spawn")
    if mode == "backlog":  # create the session, leave, let the broker queue everything
        ready, times = ctx.Event(), ctx.Array("d", 2)
        sub = ctx.Process(target=_bare_subscriber,
                          args=(mqtt_url, prefix, client_id, 0, ready, times))
        sub.start()
        sub.join(timeout=60)
        publish(mqtt_url, prefix, messages, publishers)
    ready, times = ctx.Event(), ctx.Array("d", 2)
    sub = ctx.Process(target=_bare_subscriber,
                      args=(mqtt_url, prefix, client_id, messages, ready, times))
    sub.start()
    ready.wait(30)
    started = time.time()
    if mode == "live":
        publish(mqtt_url, prefix, messages, publishers)
    sub.join(timeout=600)
    if mode == "backlog":
        return float((messages - 1) / max(times[1] - times[0], 1e-6))
    return messages / float(times[1] - started)


# --- the system: ingest replicas writing to a fresh database -----------------------

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


def _start_ingest(db_url: str, mqtt_url: str, prefix: str, replica: int, replicas: int,
                  catch_all: bool) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
    env.update(SHARPEYES_DATABASE_URL=db_url, SHARPEYES_MQTT_URL=mqtt_url,
               SHARPEYES_TOPIC_PREFIX=prefix, SHARPEYES_INGEST_CLIENT_ID=f"{prefix}-{replica}",
               SHARPEYES_INGEST_GROUP=prefix, SHARPEYES_INGEST_SHARED="false")
    if replicas > 1:
        env["SHARPEYES_INGEST_PARTITION"] = f"{replica}/{replicas}"
        env["SHARPEYES_INGEST_CATCH_ALL"] = str(catch_all).lower()
    return subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "serve", "ingest"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _start_all(db_url: str, mqtt_url: str, prefix: str, replicas: int,
               catch_all: bool) -> list[subprocess.Popen[bytes]]:
    return [_start_ingest(db_url, mqtt_url, prefix, r, replicas, catch_all)
            for r in range(replicas)]


def _warm_up(db_url: str, mqtt_url: str, prefix: str, timeout: float = 120.0) -> None:
    """Wait until the replicas store a probe from every device: then each has subscribed
    (so its persistent session queues what follows) and loaded the registry."""
    address = parse_mqtt_url(mqtt_url)
    client = new_client(address)
    client.connect(address.host, address.port)
    client.loop_start()
    ts = datetime.now(UTC).isoformat()
    deadline = time.time() + timeout
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.time() < deadline:
            for i in range(DEVICES):  # again each round: a replica may not have subscribed
                device = f"BENCH-{i:03d}"
                body = {"seq": PROBE_SEQ + i, "ts": ts,
                        "zones": [{"zone_id": f"{device}-Z", "count": 0}]}
                client.publish(topic_for(prefix, TopicKind.DENSITY, device), json.dumps(body),
                               qos=1)
            time.sleep(1.0)
            row = conn.execute("SELECT count(DISTINCT seq) FROM crowd_observations"
                               " WHERE seq >= %s", (PROBE_SEQ,)).fetchone()
            if row and row[0] >= DEVICES:
                break
        else:
            raise RuntimeError("ingest replicas did not start storing within the time-out")
    client.disconnect()
    client.loop_stop()


def _stop_all(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)


def _stored(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT count(*), count(DISTINCT (device_id, seq)),"
        " (SELECT count(*) FROM dead_letters) FROM crowd_observations WHERE seq < %s",
        (PROBE_SEQ,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _stored_rows(conn: psycopg.Connection[Any]) -> int:
    # The unique key makes count(*) the number of distinct messages stored; the ingest
    # counters would count a message twice when replica 0 and its owner both store it.
    row = conn.execute("SELECT count(*) FROM crowd_observations WHERE seq < %s",
                       (PROBE_SEQ,)).fetchone()
    return int(row[0]) if row else 0


@dataclass(slots=True)
class Progress:
    """When rows were first seen (and how many), and when the last arrived."""

    first_at: float = 0.0
    first_rows: int = 0
    finished: float = 0.0

    def rate_since_first(self, rows: int, started: float) -> float:
        """Rows/s after the first stored batch, which leaves process start-up out; from
        ``started`` when the first batch was most of the run (a load too small to tell)."""
        if rows >= 2 * self.first_rows:
            return (rows - self.first_rows) / max(self.finished - self.first_at, 1e-6)
        return rows / max(self.finished - started, 1e-6)


def _wait_for_rows(conn: psycopg.Connection[Any], messages: int, started: float) -> Progress:
    """Poll until every message is stored, or nothing moved for 30 s."""
    last, last_change, progress = -1, time.time(), Progress()
    while True:
        done = _stored_rows(conn)
        now = progress.finished = time.time()
        if done and not progress.first_rows:
            progress.first_at, progress.first_rows = now, done
        if done >= messages:
            return progress
        if done != last:
            last, last_change = done, now
            log.info("bench: %d/%d stored after %.1fs", done, messages, now - started)
        elif now - last_change > 30:
            log.warning("bench: stalled at %d/%d", done, messages)
            return progress
        time.sleep(0.1)


def measure_ingest(admin_url: str, mqtt_url: str, messages: int, publishers: int,
                   replicas: int, mode: Mode, catch_all: bool = False,
                   ) -> tuple[float, int, int, int, dict[str, Any]]:
    """(rows/s, lost, duplicated, dead letters, per-stage cost) for ``replicas`` ingest
    processes; the cost covers the ingest processes, the broker and the database."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    db_url = _prepare_database(admin_url, f"sharpeyes_bench_{os.getpid()}")
    procs = _start_all(db_url, mqtt_url, prefix, replicas, catch_all)
    try:
        _warm_up(db_url, mqtt_url, prefix)
        if mode == "backlog":
            _stop_all(procs)  # sessions persist: the broker queues what follows
            publish(mqtt_url, prefix, messages, publishers)
            procs = _start_all(db_url, mqtt_url, prefix, replicas, catch_all)
        running = procs
        meter = with_servers(CostMeter().add("ingest", processes(lambda: [p.pid for p in running])),
                             mqtt_url, db_url)
        meter.start()
        started = time.time()
        if mode == "live":
            publish(mqtt_url, prefix, messages, publishers)
        with psycopg.connect(db_url, autocommit=True) as conn:
            progress = _wait_for_rows(conn, messages, started)
            meter.stop()
            total, distinct, dead = _stored(conn)
        # Backlog: counted from the first stored rows, so process start-up is left out.
        rate = (progress.rate_since_first(distinct, started) if mode == "backlog"
                else messages / (progress.finished - started))
    finally:
        _stop_all(procs)
    return rate, messages - distinct, total - distinct, dead, meter.report(messages)


def run_bench(admin_url: str, mqtt_url: str, messages: int, publishers: int,
              replica_counts: Sequence[int], mode: Mode = "live",
              catch_all: bool = False) -> BenchResult:
    log.info("bench (%s): baseline (bare paho subscriber), %d messages", mode, messages)
    baseline = measure_baseline(mqtt_url, messages, publishers, mode)
    protocol = probe_protocol(parse_mqtt_url(mqtt_url)).name
    result = BenchResult(messages, publishers, mode, catch_all, mqtt_url, protocol,
                         round(baseline, 1))
    one: float | None = None
    for replicas in replica_counts:
        log.info("bench (%s): ingest with %d replica(s)", mode, replicas)
        rate, lost, duplicated, dead, cost = measure_ingest(admin_url, mqtt_url, messages,
                                                      publishers, replicas, mode, catch_all)
        one = rate if replicas == 1 else one
        result.runs.append(IngestRun(
            replicas, round(rate, 1), round(rate / baseline, 3), round(rate, 1), lost,
            duplicated, dead, round(rate / one, 3) if one else None, cost))
    return result


def result_json(result: BenchResult) -> str:
    return json.dumps(asdict(result), indent=2)
