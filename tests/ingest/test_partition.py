"""Ingest replicas split by static device partitions: nothing lost, doubled or counted twice."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime

import psycopg
import pytest

from contracts.topics import TopicKind, subscriptions, topic_for
from ingest import consumer as consumer_module
from ingest.partition import (
    Partition,
    PartitionPlan,
    batched,
    parse_ready,
    partition_of,
    ready_payload,
    ready_topic,
)
from kernel.settings import Settings
from tests.helpers import density_payload, publish_all, tiny_city, wait_until

from .test_consumer import counter, running_ingest

CAMERAS = [f"CAM-P{i:02d}" for i in range(20)]


def register_cameras(db: psycopg.Connection, cameras: list[str]) -> None:
    with db.transaction():
        for camera in cameras:
            db.execute("INSERT INTO devices (id, kind, name, grid_code)"
                       " VALUES (%s, 'camera', %s, 'G-A')", (camera, camera))
            db.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2)"
                       " VALUES (%s, %s, 'G-A', 'z', 100)", (f"Z-{camera}", camera))


def camera_reports(prefix: str, cameras: list[str], per_camera: int,
                   start: int = 0) -> list[tuple[str, bytes]]:
    now = datetime.now(UTC).isoformat()
    return [(topic_for(prefix, TopicKind.DENSITY, camera),
             density_payload(seq, now, {f"Z-{camera}": seq % 40}))
            for seq in range(start, start + per_camera) for camera in cameras]


def replicas(settings: Settings, n: int, catch_all: bool = True) -> list[Settings]:
    return [settings.model_copy(update={"ingest_partition": f"{i}/{n}",
                                        "ingest_catch_all": catch_all,
                                        "ingest_client_id": f"{settings.topic_prefix}-p{i}"})
            for i in range(n)]


def per_instance(db: psycopg.Connection, name: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in db.execute(
        "SELECT instance, value FROM service_counters WHERE name = %s",
        (f"ingest_{name}_total",)).fetchall()}


def test_partition_parsing_and_ownership() -> None:
    assert Partition.parse("1/3") == Partition(1, 3)
    for bad in ("3/3", "0/0", "a/b", "1"):
        with pytest.raises(ValueError):
            Partition.parse(bad)
    owners = [sum(Partition(i, 3).owns(d) for i in range(3)) for d in CAMERAS]
    assert owners == [1] * len(CAMERAS)
    assert [len(b) for b in batched(list(range(1201)))] == [500, 500, 201]


def test_plan_subscribes_own_devices_and_hands_off_new_ones_late() -> None:
    devices = {d: "camera" for d in CAMERAS} | {"SEN-1": "sensor"}
    mine = [d for d in devices if partition_of(d, 2) == 1]
    other = [d for d in CAMERAS if partition_of(d, 2) == 1]
    plan = PartitionPlan(Partition(1, 2), "p")
    added, removed = plan.update(devices, loaded_at=0.0)
    expected = {t for d in mine for t in (
        topic_for("p", TopicKind.READING if d == "SEN-1" else TopicKind.DENSITY, d),
        topic_for("p", TopicKind.STATUS, d))}
    assert set(added) == expected and removed == []
    assert plan.update(devices, loaded_at=1.0) == ([], [])
    gone = mine[0]
    assert set(plan.update({d: k for d, k in devices.items() if d != gone}, loaded_at=2.0)[1]) == {
        t for t in expected if f"/{gone}/" in t}

    zero = PartitionPlan(Partition(0, 2), "p")
    assert zero.update(devices, loaded_at=100.0) == ([], [])  # replica 0 uses the wildcards
    density = topic_for("p", TopicKind.DENSITY, other[0])
    assert not zero.skip(density, devices)  # its owner has not announced yet: store it too
    zero.owner_ready(1, 99.0)  # subscriptions from a load older than replica 0's view
    assert not zero.skip(density, devices)
    zero.owner_ready(1, 100.5)
    assert zero.skip(density, devices)  # the owner stores it
    assert not zero.skip("p/v1/camera/CAM-UNKNOWN/density", devices)
    assert not zero.skip("vendor/topic", devices)
    late = next(f"CAM-N{i}" for i in range(100) if partition_of(f"CAM-N{i}", 2) == 1)
    devices[late] = "camera"
    late_topic = topic_for("p", TopicKind.DENSITY, late)
    assert not zero.skip(late_topic, devices)  # not yet seen by replica 0's own refresh
    zero.update(devices, loaded_at=110.0)
    assert not zero.skip(late_topic, devices)  # stored by both until the owner subscribed
    zero.owner_ready(1, 110.2)
    assert zero.skip(late_topic, devices)
    assert parse_ready("p", 2, ready_topic("p", Partition(1, 2)), ready_payload(5.0)) == (1, 5.0)
    assert parse_ready("p", 2, "p/ingest/partitions/3/1", b"{}") is None


def test_two_partitions_store_everything_exactly_once(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    tiny_city(db)
    register_cameras(db, CAMERAS)
    prefix = settings.topic_prefix
    assert {partition_of(c, 2) for c in CAMERAS} == {0, 1}
    unknown = [(topic_for(prefix, TopicKind.DENSITY, "CAM-GHOST"),
                density_payload(i, datetime.now(UTC).isoformat(), {"Z-GHOST": 1}))
               for i in range(3)]
    two = replicas(settings, 2)
    with ExitStack() as stack:
        consumers = [stack.enter_context(running_ingest(r)) for r in two]
        assert consumers[0]._filters()[:3] == subscriptions(prefix)
        assert all("+" not in f for f in consumers[1]._filters())
        # Replica 1 announces (retained) once its subscriptions are acknowledged; from then
        # on replica 0 leaves partition 1's devices to it.
        plan = consumers[0].plan
        assert plan is not None
        wait_until(lambda: 1 in plan._ready, what="partition 1 to announce its subscriptions")
        sent = publish_all(mqtt_url, camera_reports(prefix, CAMERAS, 200) + unknown)
        wait_until(lambda: counter(db, "messages") >= sent, timeout=60, what="all committed")
        consumers[0]._stop.wait(1.0)  # anything counted twice would show up meanwhile
    assert sent == 4000 + 3
    stored = db.execute("SELECT count(*), count(DISTINCT (device_id, seq)) FROM"
                        " crowd_observations").fetchone()
    assert stored == (4000, 4000)
    messages = per_instance(db, "messages")
    assert set(messages) == {r.ingest_client_id for r in two}
    assert all(v > 0 for v in messages.values()), messages
    assert sum(messages.values()) == sent  # 4,000 reports + 3 dead letters, none twice
    assert counter(db, "duplicates") == 0
    assert per_instance(db, "dead_letters") == {two[0].ingest_client_id: 3}
    letters = db.execute("SELECT topic, error_kind FROM dead_letters").fetchall()
    assert letters == [(unknown[0][0], "unknown_device")] * 3
    assert consumers[0].skipped > 0 and consumers[1].skipped == 0


def test_without_the_catch_all_each_replica_receives_only_its_own_devices(
    settings: Settings, db: psycopg.Connection, mqtt_url: str
) -> None:
    """The deployed layout (the broker's ACLs admit registered devices only): no replica
    receives, and then skips, another partition's messages."""
    tiny_city(db)
    register_cameras(db, CAMERAS)
    prefix = settings.topic_prefix
    two = replicas(settings, 2, catch_all=False)
    with ExitStack() as stack:
        consumers = [stack.enter_context(running_ingest(r)) for r in two]
        for c in consumers:
            assert all("+" not in f and "#" not in f for f in c._filters())
        wait_until(lambda: all(c.connected.is_set() and not c._pending_subacks
                               for c in consumers), what="both replicas subscribed")
        sent = publish_all(mqtt_url, camera_reports(prefix, CAMERAS, 100))
        wait_until(lambda: counter(db, "messages") >= sent, timeout=60, what="all committed")
        consumers[0]._stop.wait(0.5)
    own = [sum(partition_of(c, 2) == i for c in CAMERAS) * 100 for i in range(2)]
    assert per_instance(db, "messages") == {two[i].ingest_client_id: own[i] for i in range(2)}
    assert [c.skipped for c in consumers] == [0, 0]
    assert db.execute("SELECT count(*), count(DISTINCT (device_id, seq)) FROM"
                      " crowd_observations").fetchone() == (sent, sent)


def test_a_newly_registered_device_is_picked_up_by_its_partition(
    settings: Settings, db: psycopg.Connection, mqtt_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_module, "REFRESH_SECONDS", 0.2)
    tiny_city(db)
    late = next(f"CAM-L{i}" for i in range(100) if partition_of(f"CAM-L{i}", 2) == 1)
    two = replicas(settings, 2)
    with ExitStack() as stack:
        consumers = [stack.enter_context(running_ingest(r)) for r in two]
        register_cameras(db, [late])
        wait_until(lambda: late in consumers[1].plan.topics if consumers[1].plan else False,
                   what="partition 1 to subscribe to the new camera")
        consumers[1]._stop.wait(0.3)  # the SUBACK
        sent = publish_all(mqtt_url, camera_reports(settings.topic_prefix, [late], 50))
        # Within the hand-off window replica 0 stores it too; the store keeps one copy.
        wait_until(lambda: per_instance(db, "messages").get(two[1].ingest_client_id) == sent,
                   timeout=30, what="partition 1 to store the new camera's reports")
    assert db.execute("SELECT count(*), count(DISTINCT seq) FROM crowd_observations"
                      ).fetchone() == (sent, sent)
