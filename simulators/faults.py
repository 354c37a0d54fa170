"""Device faults as timeline events: what goes wrong with cameras, sensors and the broker.

This module owns the fault vocabulary and the schedule that says which faults touch a
device at a given simulated time. It is pure: devices (``simulators.camera``,
``simulators.fleet``) turn the active faults into what they publish.

    stream_drop     camera: density reports stop; its status detail says the stream is lost
    frozen_frame    camera: repeats identical counts (those it saw when the frame froze)
    black_lens      camera: status detail reports a black image; counts 0 with confidence 0
    sensor_stuck    sensor: a metric (or every metric) repeats one value — ``value``, or
                    the reading at the fault's start
    clock_skew      any device: ``ts`` is offset by ``value`` seconds
    device_offline  any device: the connection drops without DISCONNECT (the broker fires
                    the Last Will, ``lost``); at the end it reconnects and says ``online``
    broker_outage   every device: connections drop and cannot be re-established until the
                    end; then they reconnect with back-off and resume

Times are simulated seconds on the timeline's clock (seconds since local midnight of the
scenario's first day for the named scenarios). :func:`parse_fault` reads the command
line form ``kind=frozen_frame,device=CAM-1+CAM-2,at=08:30,for=10m[,value=..][,metric=..]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from kernel.errors import InvalidError
from simulators.scenario import stable_key, unit


class FaultKind(StrEnum):
    STREAM_DROP = "stream_drop"
    FROZEN_FRAME = "frozen_frame"
    BLACK_LENS = "black_lens"
    SENSOR_STUCK = "sensor_stuck"
    CLOCK_SKEW = "clock_skew"
    DEVICE_OFFLINE = "device_offline"
    BROKER_OUTAGE = "broker_outage"


CAMERA_FAULTS = frozenset({FaultKind.STREAM_DROP, FaultKind.FROZEN_FRAME, FaultKind.BLACK_LENS})
# Faults that touch the whole fleet rather than named devices.
FLEET_FAULTS = frozenset({FaultKind.BROKER_OUTAGE})


class FaultSpecError(InvalidError):
    """A fault given on the command line cannot be understood."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault on the timeline: ``kind`` for ``devices`` from ``start`` for ``duration``."""

    kind: FaultKind
    start: float
    duration: float
    devices: tuple[str, ...] = ()
    value: float | None = None
    metric: str | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass(frozen=True, slots=True)
class ActiveFaults:
    """The faults touching one device at one moment."""

    faults: tuple[Fault, ...] = ()

    def first(self, kind: FaultKind) -> Fault | None:
        return next((f for f in self.faults if f.kind is kind), None)

    def has(self, kind: FaultKind) -> bool:
        return any(f.kind is kind for f in self.faults)

    @property
    def online(self) -> bool:
        """False while the device is offline or the broker is out."""
        return not (self.has(FaultKind.DEVICE_OFFLINE) or self.has(FaultKind.BROKER_OUTAGE))

    @property
    def skew(self) -> float:
        """Seconds the device clock is off (sum of active clock skews)."""
        return sum(f.value or 0.0 for f in self.faults if f.kind is FaultKind.CLOCK_SKEW)

    def stuck(self, metric: str) -> Fault | None:
        """The stuck-sensor fault holding ``metric``, if any."""
        return next((f for f in self.faults if f.kind is FaultKind.SENSOR_STUCK
                     and f.metric in (None, metric)), None)


NO_FAULTS = ActiveFaults()


class FaultSchedule:
    """Faults indexed by device, answering "what is wrong with D at time t"."""

    __slots__ = ("faults", "_by_device", "_fleet")

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.faults: tuple[Fault, ...] = tuple(sorted(faults, key=lambda f: (f.start, f.kind)))
        self._fleet = tuple(f for f in self.faults if f.kind in FLEET_FAULTS or not f.devices)
        by_device: dict[str, list[Fault]] = {}
        for fault in self.faults:
            for device in fault.devices if fault not in self._fleet else ():
                by_device.setdefault(device, []).append(fault)
        self._by_device = {d: tuple(fs) for d, fs in by_device.items()}

    def __bool__(self) -> bool:
        return bool(self.faults)

    def active(self, device_id: str, t: float) -> ActiveFaults:
        own = self._by_device.get(device_id, ())
        if not own and not self._fleet:
            return NO_FAULTS
        hits = tuple(f for f in own + self._fleet if f.covers(t))
        return ActiveFaults(hits) if hits else NO_FAULTS

    def broker_reachable(self, t: float) -> bool:
        """False while a broker outage is on."""
        return not any(f.kind is FaultKind.BROKER_OUTAGE and f.covers(t) for f in self._fleet)

    def at(self, t: float) -> tuple[Fault, ...]:
        """Every fault active at ``t`` (for progress lines)."""
        return tuple(f for f in self.faults if f.covers(t))

    def merged(self, more: Iterable[Fault]) -> FaultSchedule:
        return FaultSchedule(self.faults + tuple(more))


# --------------------------------------------------------------------------- drill


def fault_drill(cameras: Sequence[str], sensors: Sequence[str], start: float, seed: int,
                every: float = 600.0, length: float = 480.0) -> tuple[Fault, ...]:
    """Every fault kind once, staggered ``every`` seconds from ``start``, on distinct devices.

    Devices are picked deterministically by ``seed``; kinds that need a sensor are left
    out when there is none. The broker outage comes last and lasts a quarter as long.
    """
    cams = _pick(cameras, 4, seed, "cameras")
    sens = _pick(sensors, 2, seed, "sensors")
    plan: list[tuple[FaultKind, str | None, float | None]] = [
        (FaultKind.FROZEN_FRAME, _nth(cams, 0), None),
        (FaultKind.STREAM_DROP, _nth(cams, 1), None),
        (FaultKind.BLACK_LENS, _nth(cams, 2), None),
        (FaultKind.SENSOR_STUCK, _nth(sens, 0), None),
        (FaultKind.CLOCK_SKEW, _nth(sens, 1) or _nth(cams, 3), -3600.0),
        (FaultKind.DEVICE_OFFLINE, _nth(cams, 3), None),
    ]
    present = [(kind, device, value) for kind, device, value in plan if device is not None]
    faults = [Fault(kind, start + i * every, length, (device,), value)
              for i, (kind, device, value) in enumerate(present)]
    faults.append(Fault(FaultKind.BROKER_OUTAGE, start + len(faults) * every, length / 4))
    return tuple(faults)


def _pick(ids: Sequence[str], count: int, seed: int, what: str) -> list[str]:
    """``count`` distinct ids, chosen by a seeded ranking (stable for a given list)."""
    key = stable_key(seed, "drill", what)
    ranked = sorted(ids, key=lambda i: unit(key, stable_key(i)))
    return ranked[:count]


def _nth(ids: list[str], n: int) -> str | None:
    return ids[n] if n < len(ids) else None


# --------------------------------------------------------------------------- parsing


def parse_fault(spec: str) -> Fault:
    """``kind=K,device=D1+D2,at=HH:MM[:SS]|SECONDS,for=30s|10m|1h[,value=V][,metric=M]``."""
    try:
        fields = dict(part.split("=", 1) for part in spec.split(",") if part)
    except ValueError as exc:
        raise FaultSpecError(f"{spec!r}: expected key=value pairs separated by commas") from exc
    unknown = set(fields) - {"kind", "device", "at", "for", "value", "metric"}
    if unknown:
        raise FaultSpecError(f"{spec!r}: unknown keys {sorted(unknown)}")
    try:
        kind = FaultKind(fields.get("kind", ""))
    except ValueError as exc:
        raise FaultSpecError(f"{spec!r}: kind must be one of {[k.value for k in FaultKind]}") \
            from exc
    devices = tuple(d for d in fields.get("device", "").split("+") if d)
    if not devices and kind not in FLEET_FAULTS:
        raise FaultSpecError(f"{spec!r}: {kind} needs device=ID")
    value = fields.get("value")
    return Fault(kind, parse_time_of_day(fields.get("at", "0")),
                 parse_duration(fields.get("for", "5m")), devices,
                 float(value) if value is not None else None, fields.get("metric"))


def parse_time_of_day(text: str) -> float:
    """``08:30`` or ``08:30:15`` → seconds since midnight; a bare number is seconds."""
    parts = text.split(":")
    try:
        if len(parts) == 1:
            return float(text)
        numbers = [float(p) for p in parts] + [0.0]
        return numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    except ValueError as exc:
        raise FaultSpecError(f"{text!r} is not HH:MM[:SS] or seconds") from exc


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``2h`` → seconds."""
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(text[-1:], None)
    try:
        return float(text[:-1]) * scale if scale else float(text)
    except ValueError as exc:
        raise FaultSpecError(f"{text!r} is not a duration such as 90s, 10m or 2h") from exc
