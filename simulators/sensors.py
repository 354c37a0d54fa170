"""Simulated sensors: footfall counters, noise meters and Wi-Fi/BLE presence counters.

This module owns the sensors' registry (:func:`load_sensors` from the store,
:func:`sensors_from_city` without one) and their pure model (:class:`SensorDevice`):
readings derived from the crowd in the camera zones of the sensor's place, with the
sensor faults (stuck at a value, clock skew, offline) applied at each report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

import psycopg

from contracts.topics import TopicKind
from simulators.devices import DeviceReport, Outgoing, Tick
from simulators.faults import FaultSchedule
from simulators.scenario import DensityModel, normal, stable_key
from simulators.specs import CameraSpec, CameraZone

if TYPE_CHECKING:
    from simulators.city import City

SENSOR_METRICS = {"footfall": ("footfall_in", "footfall_out"), "noise": ("noise_db",),
                  "presence": ("presence_count",)}
UNITS = {"footfall_in": "persons", "footfall_out": "persons", "noise_db": "dB",
         "presence_count": "devices"}


def sensor_metrics(text: str) -> tuple[str, ...]:
    """Metrics of a sensor from its id or name (``footfall``, ``noise``, ``presence``)."""
    lowered = text.lower()
    for word, metrics in SENSOR_METRICS.items():
        if word in lowered:
            return metrics
    if "wifi" in lowered or "ble" in lowered:
        return SENSOR_METRICS["presence"]
    return SENSOR_METRICS["footfall"]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """A sensor and the camera zones of its place (where the people it senses are)."""

    device_id: str
    metrics: tuple[str, ...]
    place_id: str | None = None
    zones: tuple[CameraZone, ...] = ()


def _at_places(cameras: Sequence[CameraSpec]) -> dict[str, tuple[CameraZone, ...]]:
    zones: dict[str, list[CameraZone]] = {}
    for camera in cameras:
        for zone in camera.zones:
            if zone.place_id:
                zones.setdefault(zone.place_id, []).append(zone)
    return {p: tuple(zs) for p, zs in zones.items()}


def load_sensors(conn: psycopg.Connection, cameras: Sequence[CameraSpec]) -> list[SensorSpec]:
    """Every registered sensor, with the zones of its place from ``cameras``."""
    rows = conn.execute("SELECT id, name, place_id FROM devices WHERE kind = 'sensor'"
                        " ORDER BY id").fetchall()
    places = _at_places(cameras)
    return [SensorSpec(r[0], sensor_metrics(f"{r[0]} {r[1]}"), r[2], places.get(r[2] or "", ()))
            for r in rows]


def sensors_from_city(city: City, cameras: Sequence[CameraSpec]) -> list[SensorSpec]:
    """The same as :func:`load_sensors` after seeding ``city``, without a database."""
    places = _at_places(cameras)
    return [SensorSpec(d.id, sensor_metrics(f"{d.id} {d.name}"), d.place_id,
                       places.get(d.place_id or "", ()))
            for d in sorted(city.sensors, key=lambda d: d.id)]


@dataclass(frozen=True, slots=True)
class SensorDevice:
    """Footfall in/out, noise level and Wi-Fi/BLE presence derived from the place's crowd."""

    spec: SensorSpec
    world: DensityModel
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    seed: int = 7
    dwell: float = 900.0  # mean seconds a visitor stays
    entrance_share: float = 0.4  # share of the place's flow through this counter
    _key: int = field(init=False, repr=False, compare=False)
    _memo: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", stable_key(self.seed, self.spec.device_id))
        object.__setattr__(self, "_memo", [])

    @property
    def device_id(self) -> str:
        return self.spec.device_id

    def online(self, t: float) -> bool:
        return self.faults.active(self.device_id, t).online

    def people(self, t: float) -> float:
        """People at the sensor's place (remembering the last answer: the next report
        asks for it again as its "before")."""
        memo = self._memo
        if memo and memo[0] == t:
            return memo[1]
        if not self.spec.zones:
            value = self.world.density(self.spec.device_id, t) * 300.0
        else:
            value = sum(self.world.density(z.zone_id, t) * z.area_m2 for z in self.spec.zones)
        memo[:] = [t, value]
        return value

    def readings(self, t: float, period: float, before_t: float | None = None) -> dict[str, float]:
        """Readings at ``t`` over the ``period`` since ``before_t`` (default ``t - period``)."""
        before_t = t - period if before_t is None else before_t
        before, now = self.people(before_t), self.people(t)
        period = t - before_t
        turnover = now * period / self.dwell
        flow_in = (turnover + max(0.0, now - before)) * self.entrance_share
        flow_out = (turnover + max(0.0, before - now)) * self.entrance_share
        n = round(t * 1000)
        values = {
            "footfall_in": flow_in + math.sqrt(flow_in) * normal(self._key, 4 * n),
            "footfall_out": flow_out + math.sqrt(flow_out) * normal(self._key, 4 * n + 1),
            "noise_db": 48.0 + 9.0 * math.log10(1.0 + now / 5.0) + normal(self._key, 4 * n + 2),
            "presence_count": 5 + 0.65 * now * (1.0 + 0.1 * normal(self._key, 4 * n + 3)),
        }
        return {m: round(max(0.0, v), 1) if m == "noise_db" else float(max(0, round(v)))
                for m, v in values.items()}

    def report(self, tick: Tick) -> DeviceReport:
        active = self.faults.active(self.device_id, tick.sim_t)
        if not active.online:
            return DeviceReport(online=False)
        now = self.readings(tick.sim_t, tick.period, tick.prev_sim_t)
        out = []
        for metric in self.spec.metrics:
            stuck = active.stuck(metric)
            value = now[metric] if stuck is None else (
                stuck.value if stuck.value is not None
                else self.readings(stuck.start, tick.period)[metric])
            out.append({"metric": metric, "value": value, "unit": UNITS[metric]})
        wall = tick.wall + timedelta(seconds=active.skew)
        body = {"seq": tick.seq, "ts": round(wall.timestamp() * 1000), "readings": out}
        payload = json.dumps(body, separators=(",", ":")).encode()
        return DeviceReport((Outgoing(TopicKind.READING, payload),))

