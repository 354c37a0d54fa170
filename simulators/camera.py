"""Simulated cameras with on-edge analytics: what each camera publishes, and when.

This module owns the camera side of the simulators: the registry of cameras and their
zones (:func:`load_cameras`, :func:`cameras_from_city`), the pure model of a camera's
reports (:class:`CameraDevice`: counts with measurement error, and the camera faults —
stream drop, frozen frame, black lens, clock skew, offline), the stand-alone
:class:`SimulatedCamera` (one client, its own network thread) and :func:`run_fleet`, which
drives many cameras through :class:`simulators.fleet.Fleet`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
import psycopg
from psycopg.rows import tuple_row

from contracts.payloads import MAX_DENSITY
from contracts.topics import TopicKind, topic_for
from kernel.mqtt import BrokerAddress, new_client
from simulators.devices import (
    LOCAL_TZ,
    DeviceReport,
    Outgoing,
    SimClock,
    Tick,
    device_password,
    status_payload,
)
from simulators.faults import ActiveFaults, FaultKind, FaultSchedule
from simulators.fleet import Fleet, FleetOptions
from simulators.scenario import DensityModel, normal, stable_key
from simulators.specs import CameraSpec, CameraZone

if TYPE_CHECKING:
    from simulators.city import City

HEALTH_OK = "video health: ok"
HEALTH_STREAM_LOST = "video health: stream lost (no frames from the sensor)"
HEALTH_BLACK = "video health: black image (lens covered or failed)"


_CAMERAS = """
SELECT z.device_id, z.id, z.area_m2, z.name, z.place_id, p.kind, p.lon, p.lat
FROM zones z LEFT JOIN places p ON p.id = z.place_id
ORDER BY z.device_id, z.id
"""


def load_cameras(conn: psycopg.Connection) -> list[CameraSpec]:
    """Every registered camera with its zones."""
    rows = conn.cursor(row_factory=tuple_row).execute(_CAMERAS).fetchall()
    cameras: dict[str, list[CameraZone]] = {}
    for device_id, zone_id, area, name, place_id, kind, lon, lat in rows:
        cameras.setdefault(device_id, []).append(
            CameraZone(zone_id, float(area), name, place_id, kind, lon, lat))
    return [CameraSpec(d, tuple(z)) for d, z in cameras.items()]


def cameras_from_city(city: City) -> list[CameraSpec]:
    """The same as :func:`load_cameras` after seeding ``city``, without a database."""
    places = {p.id: p for p in city.places}
    cameras: dict[str, list[CameraZone]] = {}
    for z in sorted(city.zones, key=lambda z: (z.device_id, z.id)):
        place = places.get(z.place_id or "")
        cameras.setdefault(z.device_id, []).append(CameraZone(
            z.id, z.area_m2, z.name, z.place_id, place.kind if place else None,
            place.lon if place else None, place.lat if place else None))
    return [CameraSpec(d, tuple(zs)) for d, zs in cameras.items()]


def density_payload(seq: int, ts: str, zones: list[dict[str, Any]]) -> bytes:
    return json.dumps({"seq": seq, "ts": ts, "zones": zones}, separators=(",", ":")).encode()


def _health(active: ActiveFaults) -> str:
    if not active.faults:
        return HEALTH_OK
    if active.has(FaultKind.STREAM_DROP):
        return HEALTH_STREAM_LOST
    if active.has(FaultKind.BLACK_LENS):
        return HEALTH_BLACK
    return HEALTH_OK


@dataclass(frozen=True, slots=True)
class CameraDevice:
    """A camera's reports as a pure function of the tick: same tick, same bytes.

    Counts are the true density × area with ``count_error`` relative (normal) error,
    keyed by device, zone and simulated time, so a frozen frame repeats them exactly.
    """

    spec: CameraSpec
    world: DensityModel
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    seed: int = 7
    count_error: float = 0.05
    confidence: float = 0.9
    _keys: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple(stable_key(self.seed, self.spec.device_id, z.zone_id) for z in self.spec.zones)
        object.__setattr__(self, "_keys", keys)

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    def online(self, t: float) -> bool:
        return self.faults.active(self.device_id, t).online

    def report(self, tick: Tick) -> DeviceReport:
        active = self.faults.active(self.device_id, tick.sim_t)
        if not active.online:
            return DeviceReport(online=False)
        wall = tick.wall + timedelta(seconds=active.skew)
        messages = []
        health = _health(active)
        before = (HEALTH_OK if tick.prev_sim_t is None
                  else _health(self.faults.active(self.device_id, tick.prev_sim_t)))
        if health != before:
            messages.append(Outgoing(TopicKind.STATUS, status_payload("online", wall, health),
                                     retain=True))
        if health != HEALTH_STREAM_LOST:
            zones = self.zones(tick.sim_t, active)
            ts = wall.astimezone(LOCAL_TZ).isoformat(timespec="milliseconds")
            messages.append(Outgoing(TopicKind.DENSITY, density_payload(tick.seq, ts, zones)))
        return DeviceReport(tuple(messages))

    def zones(self, t: float, active: ActiveFaults) -> list[dict[str, Any]]:
        """The zone counts the camera's analytics produce at simulated time ``t``."""
        if active.faults and active.has(FaultKind.BLACK_LENS):
            return [{"zone_id": z.zone_id, "count": 0, "density": 0.0, "confidence": 0.0}
                    for z in self.spec.zones]
        frozen = active.first(FaultKind.FROZEN_FRAME) if active.faults else None
        seen = frozen.start if frozen is not None else t
        n = round(seen * 1000)
        out = []
        for zone, key in zip(self.spec.zones, self._keys, strict=True):
            truth = self.world.density(zone.zone_id, seen) * zone.area_m2
            count = max(0.0, truth * (1.0 + self.count_error * normal(key, n)))
            density = min(count / zone.area_m2, MAX_DENSITY)
            out.append({"zone_id": zone.zone_id, "count": round(count, 1),
                        "density": round(density, 3), "confidence": self.confidence})
        return out


class SimulatedCamera:
    """One camera with its own client and network thread; reports on every :meth:`report`."""

    def __init__(self, spec: CameraSpec, address: BrokerAddress, prefix: str) -> None:
        self.spec = spec
        self.prefix = prefix
        self.seq = time.time_ns() // 1_000_000  # restarts never reuse a sequence number
        self.client = new_client(address, client_id=f"sim-{prefix}-{spec.device_id}")
        self.client.username_pw_set(spec.device_id, device_password(spec.device_id))
        self.status_topic = topic_for(prefix, TopicKind.STATUS, spec.device_id)
        self.client.will_set(self.status_topic, status_payload("lost"), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.address = address

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.publish(self.status_topic, status_payload("online"), qos=1, retain=True)

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
        topic = topic_for(self.prefix, TopicKind.DENSITY, self.spec.device_id)
        return self.client.publish(topic, density_payload(self.seq, now.isoformat(), zones), qos=1)

    def stop(self) -> None:
        info = self.client.publish(self.status_topic, status_payload("offline"), qos=1,
                                   retain=True)
        try:
            info.wait_for_publish(timeout=2)
        except RuntimeError:
            pass  # not connected: the Last Will reports it instead
        self.client.disconnect()
        self.client.loop_stop()


@dataclass(frozen=True, slots=True)
class _FunctionWorld:
    fn: Callable[[str, float], float]

    def density(self, zone_id: str, t: float) -> float:
        return self.fn(zone_id, t)


def run_fleet(
    cameras: list[CameraSpec],
    address: BrokerAddress,
    prefix: str,
    density: Callable[[str, float], float],
    stop: threading.Event,
    period: float = 2.0,
    secret: str | None = None,
) -> None:
    """Every ``period`` seconds each camera reports ``density(zone, seconds since start)``;
    ``secret``: what the devices derive their passwords from where the address has none."""
    world = _FunctionWorld(density)
    devices = [CameraDevice(spec, world, count_error=0.0) for spec in cameras]
    clock = SimClock(datetime.now(UTC))
    options = FleetOptions(period=period, threads=1)
    if secret is not None:
        options = replace(options, secret=secret)
    Fleet(devices, address, prefix, clock, options).run(stop)
