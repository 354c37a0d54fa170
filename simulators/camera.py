"""Simulated cameras with on-edge analytics: each its own MQTT client, Last Will and sequence."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import psycopg
from psycopg.rows import tuple_row

from contracts.topics import TopicKind, topic_for
from sharpeyes.mqtt import BrokerAddress, new_client

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraZone:
    zone_id: str
    area_m2: float


@dataclass(frozen=True, slots=True)
class CameraSpec:
    device_id: str
    zones: tuple[CameraZone, ...]


def load_cameras(conn: psycopg.Connection) -> list[CameraSpec]:
    """Every registered camera with its zones."""
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT device_id, id, area_m2 FROM zones ORDER BY device_id, id").fetchall()
    cameras: dict[str, list[CameraZone]] = {}
    for device_id, zone_id, area in rows:
        cameras.setdefault(device_id, []).append(CameraZone(zone_id, float(area)))
    return [CameraSpec(d, tuple(z)) for d, z in cameras.items()]


class SimulatedCamera:
    """Publishes a density report for its zones on every :meth:`tick`."""

    def __init__(self, spec: CameraSpec, address: BrokerAddress, prefix: str) -> None:
        self.spec = spec
        self.prefix = prefix
        self.seq = time.time_ns() // 1_000_000  # restarts never reuse a sequence number
        self.client = new_client(address, client_id=f"sim-{spec.device_id}")
        status_topic = topic_for(prefix, TopicKind.STATUS, spec.device_id)
        self.client.will_set(status_topic, json.dumps({"state": "lost"}), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.address = address

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        status = topic_for(self.prefix, TopicKind.STATUS, self.spec.device_id)
        client.publish(status, json.dumps({"state": "online"}), qos=1, retain=True)

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()

    def report(self, densities: dict[str, float], now: datetime) -> mqtt.MQTTMessageInfo:
        self.seq += 1
        zones = [
            {"zone_id": z.zone_id, "count": round(densities[z.zone_id] * z.area_m2, 1),
             "density": round(densities[z.zone_id], 3), "confidence": 0.9}
            for z in self.spec.zones
        ]
        payload = {"seq": self.seq, "ts": now.isoformat(), "zones": zones}
        topic = topic_for(self.prefix, TopicKind.DENSITY, self.spec.device_id)
        return self.client.publish(topic, json.dumps(payload), qos=1)

    def stop(self) -> None:
        status = topic_for(self.prefix, TopicKind.STATUS, self.spec.device_id)
        info = self.client.publish(status, json.dumps({"state": "offline"}), qos=1, retain=True)
        try:
            info.wait_for_publish(timeout=2)
        except RuntimeError:
            pass  # not connected: the Last Will reports it instead
        self.client.disconnect()
        self.client.loop_stop()


def run_fleet(
    cameras: list[CameraSpec],
    address: BrokerAddress,
    prefix: str,
    density: Callable[[str, float], float],
    stop: threading.Event,
    period: float = 2.0,
) -> None:
    """Every ``period`` seconds each camera reports ``density(zone, seconds since start)``."""
    fleet = [SimulatedCamera(spec, address, prefix) for spec in cameras]
    for camera in fleet:
        camera.start()
    started = time.monotonic()
    log.info("simulating %d cameras", len(fleet))
    try:
        while not stop.wait(period):
            t = time.monotonic() - started
            now = datetime.now(UTC)
            for camera in fleet:
                camera.report({z.zone_id: density(z.zone_id, t) for z in camera.spec.zones}, now)
    finally:
        for camera in fleet:
            camera.stop()
