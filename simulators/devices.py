"""What every simulated device shares: the device model's interface, its clock and credentials.

A device is a pure model (:class:`SimDevice`): given a :class:`Tick` — report number,
simulated time, device wall clock — it returns what to publish (:class:`DeviceReport` of
:class:`Outgoing` messages) and whether it is online. :class:`SimClock` maps a run's real
seconds to simulated time and to the devices' wall clock; :func:`device_password` is the
MQTT password a device logs in with; :func:`status_payload` builds its contract status
messages. Cameras (:mod:`simulators.camera`) and sensors (:mod:`simulators.sensors`)
implement the model; the engine (:mod:`simulators.fleet`) runs them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from contracts.topics import TopicKind

# Timestamps carry the city's offset (UTC+8), as its devices would.
LOCAL_TZ = timezone(timedelta(hours=8))
DEFAULT_SECRET = "sharpeyes-simulated-devices"


def device_password(device_id: str, secret: str = DEFAULT_SECRET) -> str:
    """The device's MQTT password: HMAC-SHA256(secret, device id), 32 hex digits."""
    return hmac.new(secret.encode(), device_id.encode(), hashlib.sha256).hexdigest()[:32]


def status_payload(state: str, ts: datetime | None = None, detail: str | None = None) -> bytes:
    """A contract status message (``ts`` and ``detail`` only when given)."""
    body: dict[str, str] = {"state": state}
    if ts is not None:
        body["ts"] = ts.astimezone(LOCAL_TZ).isoformat(timespec="milliseconds")
    if detail is not None:
        body["detail"] = detail
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class SimClock:
    """Maps real seconds since start to simulated time and to the devices' wall clock."""

    wall_start: datetime
    starts_at: float = 0.0
    speed: float = 1.0

    def sim(self, r: float) -> float:
        return self.starts_at + r * self.speed

    def wall(self, r: float) -> datetime:
        return self.wall_start + timedelta(seconds=r)


@dataclass(frozen=True, slots=True)
class Tick:
    """The ``index``-th report of a device."""

    index: int
    seq: int
    sim_t: float
    prev_sim_t: float | None
    wall: datetime
    period: float  # simulated seconds between reports


@dataclass(frozen=True, slots=True)
class Outgoing:
    kind: TopicKind
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class DeviceReport:
    messages: tuple[Outgoing, ...] = ()
    online: bool = True


class SimDevice(Protocol):
    @property
    def device_id(self) -> str: ...

    def online(self, t: float) -> bool:
        """Whether the device is (or could be) connected at simulated time ``t``."""
        ...

    def report(self, tick: Tick) -> DeviceReport: ...

