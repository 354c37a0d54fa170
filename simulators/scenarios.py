"""Named scenario timelines: true density per zone over simulated time, plus device faults.

This module owns the stories the simulators tell — what crowds do at each kind of place
over a day, and the incidents on top of that:

    ordinary_day      06:00–24:00: commute peaks near 08:00 and 18:00 and a lunch peak,
                      by place kind (stations at commute, markets and shopping streets at
                      lunch and evening, schools at gate times)
    festival_surge    16:00–23:30: a square's stage front passes 5 persons/m² at 19:30
    evacuation        20:30–22:30: at 21:05 a packed stadium (else station) empties within
                      minutes while its exits and the nearest places' exits spike
    holiday_station   06:00–22:00: a railway station at a holiday peak, with train waves
    fault_drill       07:30–09:00: an ordinary morning with every device fault once

A :class:`Timeline` is a pure function of the zones it is built for and the seed.
Its clock is simulated seconds since local midnight (UTC+8) of the scenario's day.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kernel.errors import NotFoundError
from simulators.faults import Fault, FaultSchedule, fault_drill
from simulators.scenario import DensityModel, drift, stable_key, unit
from simulators.specs import CameraSpec, CameraZone

HOUR = 3600.0
MAX_TRUE_DENSITY = 9.0


class UnknownScenario(NotFoundError, KeyError):
    """No scenario has this name."""


# --------------------------------------------------------------------------- daily profiles


@dataclass(frozen=True, slots=True)
class Bump:
    """A bell-shaped peak of ``height`` persons/m² around ``hour`` (± ``width`` hours)."""

    hour: float
    height: float
    width: float

    def at(self, hour: float) -> float:
        return self.height * math.exp(-0.5 * ((hour - self.hour) / self.width) ** 2)


@dataclass(frozen=True, slots=True)
class DayProfile:
    """A place kind's density over a day: a night floor plus peaks.

    Evaluated for every zone of every report, so it is tabulated per minute and
    interpolated (the exact curve is :meth:`exact`).
    """

    floor: float
    bumps: tuple[Bump, ...]
    _table: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", tuple(self.exact(m / 60.0) for m in range(24 * 60 + 1)))

    def exact(self, hour: float) -> float:
        return self.floor + sum(b.at(hour) for b in self.bumps)

    def at(self, hour: float) -> float:
        """Density at ``hour`` (0 ≤ hour < 24)."""
        x = hour * 60.0
        i = int(x)
        low = self._table[i]
        return low + (self._table[i + 1] - low) * (x - i)

    def scaled(self, factor: float) -> DayProfile:
        return DayProfile(self.floor * factor,
                          tuple(Bump(b.hour, b.height * factor, b.width) for b in self.bumps))


WORKDAY: dict[str, DayProfile] = {
    "railway_station": DayProfile(0.08, (Bump(7.9, 1.5, 0.8), Bump(12.3, 0.5, 1.0),
                                         Bump(18.1, 1.7, 0.9), Bump(21.5, 0.4, 1.0))),
    "square": DayProfile(0.03, (Bump(8.0, 0.2, 1.0), Bump(12.5, 0.5, 1.0), Bump(19.8, 1.1, 1.3))),
    "market": DayProfile(0.02, (Bump(9.0, 0.9, 1.2), Bump(12.2, 0.8, 0.8), Bump(18.0, 1.1, 1.0))),
    "shopping_street": DayProfile(0.03, (Bump(12.5, 1.0, 1.1), Bump(15.5, 0.6, 1.2),
                                         Bump(19.5, 1.5, 1.4))),
    "school": DayProfile(0.0, (Bump(7.6, 2.0, 0.25), Bump(11.8, 0.7, 0.25), Bump(16.6, 1.8, 0.3))),
    "hospital": DayProfile(0.1, (Bump(9.3, 1.0, 1.4), Bump(14.5, 0.8, 1.3))),
    "scenic_spot": DayProfile(0.0, (Bump(11.0, 0.9, 1.5), Bump(15.0, 1.1, 1.8))),
    "stadium": DayProfile(0.02, (Bump(18.5, 0.3, 1.0),)),
}
DEFAULT_PROFILE = DayProfile(0.05, (Bump(8.0, 0.8, 1.0), Bump(12.5, 0.5, 1.0),
                                    Bump(18.0, 0.9, 1.0)))
HOLIDAY_FACTORS = {"railway_station": 1.2, "square": 1.4, "shopping_street": 1.5,
                   "scenic_spot": 1.8, "school": 0.02, "market": 1.1}


# --------------------------------------------------------------------------- incidents


class Effect(Protocol):
    def apply(self, t: float, d: float) -> float: ...


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True, slots=True)
class Pulse:
    """Density pulled up to ``peak``: eased ramp, hold, eased fall (seconds)."""

    start: float
    ramp: float
    hold: float
    fall: float
    peak: float

    def apply(self, t: float, d: float) -> float:
        into = t - self.start
        if into < 0 or into > self.ramp + self.hold + self.fall:
            return d
        w = _ease(into / self.ramp) if into < self.ramp else (
            1.0 - _ease((into - self.ramp - self.hold) / self.fall))
        return max(d, d + (self.peak - d) * w)


@dataclass(frozen=True, slots=True)
class Drain:
    """From ``start`` the zone empties with time constant ``tau`` down to ``floor``."""

    start: float
    tau: float
    floor: float = 0.05

    def apply(self, t: float, d: float) -> float:
        if t < self.start:
            return d
        return max(min(d, self.floor), d * math.exp(-(t - self.start) / self.tau))


@dataclass(frozen=True, slots=True)
class Wave:
    """A passing wave of people adding up to ``peak``, highest ``rise`` seconds after start."""

    start: float
    rise: float
    peak: float

    def apply(self, t: float, d: float) -> float:
        if t < self.start:
            return d
        x = (t - self.start) / self.rise
        return d + self.peak * x * math.exp(1.0 - x)


@dataclass(frozen=True, slots=True)
class Trains:
    """Arrivals every ``every`` seconds between ``start`` and ``end``, each fading out."""

    start: float
    end: float
    every: float
    peak: float
    decay: float
    delay: float = 0.0

    def apply(self, t: float, d: float) -> float:
        since = t - self.start - self.delay
        if since < 0 or t > self.end:
            return d
        return d + self.peak * math.exp(-(since % self.every) / self.decay)


# --------------------------------------------------------------------------- the world


@dataclass(frozen=True, slots=True)
class ZoneCurve:
    profile: DayProfile
    factor: float
    key: int
    effects: tuple[Effect, ...] = ()


class CityWorld:
    """Ground truth for a city's zones: daily profile × zone factor × slow drift, then incidents."""

    __slots__ = ("_curves", "seed")

    def __init__(self, curves: dict[str, ZoneCurve], seed: int) -> None:
        self._curves = curves
        self.seed = seed

    def density(self, zone_id: str, t: float) -> float:
        curve = self._curves.get(zone_id)
        if curve is None:
            curve = ZoneCurve(DEFAULT_PROFILE, 1.0, stable_key(self.seed, zone_id))
        d = curve.profile.at((t / HOUR) % 24.0) * curve.factor
        d *= 1.0 + 0.08 * drift(curve.key, t, 300.0)
        for effect in curve.effects:
            d = effect.apply(t, d)
        return min(max(d, 0.0), MAX_TRUE_DENSITY)


@dataclass(frozen=True, slots=True)
class Timeline:
    """A named run: the world, its simulated start and length, and the faults on top."""

    name: str
    description: str
    starts_at: float
    duration: float
    world: DensityModel
    faults: FaultSchedule = field(default_factory=FaultSchedule)
    focus: tuple[str, ...] = ()

    @property
    def ends_at(self) -> float:
        return self.starts_at + self.duration

    def with_faults(self, faults: Iterable[Fault]) -> Timeline:
        return Timeline(self.name, self.description, self.starts_at, self.duration, self.world,
                        self.faults.merged(faults), self.focus)


def clock_text(t: float) -> str:
    """Simulated seconds since midnight as ``HH:MM`` (``d+1 HH:MM`` past midnight)."""
    day, rest = divmod(int(t), 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return f"d+{day} {text}" if day else text


# --------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class _Place:
    id: str
    kind: str | None
    lon: float | None
    lat: float | None
    zones: tuple[CameraZone, ...]


def _places(cameras: Sequence[CameraSpec]) -> list[_Place]:
    """Zones grouped by place (a camera without a place is its own place), in id order."""
    groups: dict[str, list[CameraZone]] = {}
    for camera in cameras:
        for zone in camera.zones:
            groups.setdefault(zone.place_id or f"@{camera.device_id}", []).append(zone)
    return [_Place(pid, zs[0].place_kind, zs[0].lon, zs[0].lat, tuple(zs))
            for pid, zs in sorted(groups.items())]


def _curves(places: Sequence[_Place], seed: int,
            profiles: Callable[[str | None], DayProfile]) -> dict[str, ZoneCurve]:
    curves = {}
    for place in places:
        profile = profiles(place.kind)
        for zone in place.zones:
            key = stable_key(seed, zone.zone_id)
            curves[zone.zone_id] = ZoneCurve(profile, 0.6 + 0.7 * unit(key, 0), key)
    return curves


def _workday(kind: str | None) -> DayProfile:
    return WORKDAY.get(kind or "", DEFAULT_PROFILE)


@functools.cache
def _holiday(kind: str | None) -> DayProfile:
    return _workday(kind).scaled(HOLIDAY_FACTORS.get(kind or "", 1.2))


def _choose(places: Sequence[_Place], kinds: Sequence[str], seed: int, what: str) -> _Place:
    """A place of the first kind present (seeded choice among them), else the biggest one."""
    for kind in kinds:
        found = [p for p in places if p.kind == kind]
        if found:
            return found[int(unit(stable_key(seed, what), 0) * len(found))]
    if not places:
        raise ValueError("the scenario needs at least one camera zone")
    return max(places, key=lambda p: (len(p.zones), p.id))


def _nearest(places: Sequence[_Place], origin: _Place, count: int) -> list[_Place]:
    def distance(p: _Place) -> float:
        if None in (p.lon, p.lat, origin.lon, origin.lat):
            return math.inf
        return math.hypot((p.lon or 0) - (origin.lon or 0), (p.lat or 0) - (origin.lat or 0))

    others = sorted((p for p in places if p.id != origin.id), key=lambda p: (distance(p), p.id))
    return others[:count]


def _name(place: _Place) -> str:
    """The place's name as its zones carry it (``"<place>: <zone label>"``), else its id."""
    name = place.zones[0].name
    return f"{name.split(':')[0]} ({place.id})" if name and ":" in name else place.id


def _label(zone: CameraZone) -> str:
    return (zone.name or "").rsplit(":", 1)[-1].strip().lower()


def _exits(place: _Place) -> tuple[CameraZone, ...]:
    """Zones where people leave: named exit, else gate/entrance, else the place's last zone."""
    for words in (("exit",), ("gate", "entrance")):
        named = tuple(z for z in place.zones if any(w in _label(z) for w in words))
        if named:
            return named
    return place.zones[-1:]


def _split(place: _Place) -> tuple[list[CameraZone], list[CameraZone]]:
    """(zones that empty, exit zones) of an evacuated place; a lone zone just empties."""
    if len(place.zones) == 1:
        return list(place.zones), []
    exits = list(_exits(place))
    if len(exits) == len(place.zones):
        exits = exits[-1:]
    return [z for z in place.zones if z not in exits], exits


def _add(curves: dict[str, ZoneCurve], zones: Iterable[CameraZone], *effects: Effect) -> None:
    for zone in zones:
        c = curves[zone.zone_id]
        curves[zone.zone_id] = ZoneCurve(c.profile, c.factor, c.key, c.effects + effects)


def ordinary_day(cameras: Sequence[CameraSpec], seed: int) -> Timeline:
    world = CityWorld(_curves(_places(cameras), seed, _workday), seed)
    return Timeline("ordinary_day", "a working day: commute and lunch peaks by place kind",
                    6 * HOUR, 18 * HOUR, world)


def festival_surge(cameras: Sequence[CameraSpec], seed: int) -> Timeline:
    places = _places(cameras)
    curves = _curves(places, seed, _holiday)
    square = _choose(places, ("square",), seed, "festival")
    stage = next((z for z in square.zones if "stage" in _label(z)), square.zones[0])
    t0 = 18 * HOUR
    _add(curves, [stage], Pulse(t0, 1.5 * HOUR, 0.75 * HOUR, 0.75 * HOUR, 5.8))
    _add(curves, [z for z in square.zones if z != stage],
         Pulse(t0, 1.5 * HOUR, 0.75 * HOUR, 0.75 * HOUR, 3.4))
    for place in _nearest(places, square, 2):
        _add(curves, place.zones, Wave(t0 - 0.25 * HOUR, 2 * HOUR, 1.0))
    return Timeline("festival_surge", f"festival at {_name(square)}: {stage.zone_id} passes 5/m²",
                    16 * HOUR, 7.5 * HOUR, CityWorld(curves, seed), focus=(stage.zone_id,))


def evacuation(cameras: Sequence[CameraSpec], seed: int) -> Timeline:
    places = _places(cameras)
    curves = _curves(places, seed, _workday)
    source = _choose(places, ("stadium", "railway_station"), seed, "evacuation")
    inner, exits = _split(source)
    alarm = 21 * HOUR + 300
    _add(curves, inner, Pulse(20 * HOUR, 600, 2 * HOUR, 600, 3.2), Drain(alarm, 180.0))
    _add(curves, exits, Wave(alarm, 240.0, 4.8))
    neighbours = _nearest(places, source, 2)
    for n, place in enumerate(neighbours):
        peak = 3.6 + 0.6 * unit(stable_key(seed, "evacuation", place.id), 0)
        _add(curves, _exits(place), Wave(alarm + 120 + 60 * n, 360.0, peak))
    focus = tuple(z.zone_id for z in source.zones) + tuple(
        z.zone_id for p in neighbours for z in _exits(p))
    return Timeline("evacuation", f"{_name(source)} empties from 21:05; its exits and "
                    "neighbours spike", 20.5 * HOUR, 2 * HOUR, CityWorld(curves, seed), focus=focus)


def holiday_station(cameras: Sequence[CameraSpec], seed: int) -> Timeline:
    places = _places(cameras)
    curves = _curves(places, seed, _holiday)
    station = _choose(places, ("railway_station",), seed, "holiday")
    end = 21 * HOUR
    for zone in station.zones:
        label = _label(zone)
        queues = "concourse" in label or "ticket" in label
        level = 3.0 if queues else 1.8
        _add(curves, [zone], Pulse(7 * HOUR, 2 * HOUR, 8.5 * HOUR, 2 * HOUR, level),
             Wave(9 * HOUR, 1.5 * HOUR, 1.2), Wave(14 * HOUR, 1.5 * HOUR, 1.4))
        if not queues:  # platforms and exits fill as each train arrives
            delay = 300.0 if "exit" in label else 0.0
            _add(curves, [zone], Trains(7 * HOUR, end, 1200.0, 1.2, 240.0, delay))
    return Timeline("holiday_station", f"{_name(station)} at a holiday travel peak",
                    6 * HOUR, 16 * HOUR, CityWorld(curves, seed),
                    focus=tuple(z.zone_id for z in station.zones))


def drill(cameras: Sequence[CameraSpec], seed: int, sensor_ids: Sequence[str] = ()) -> Timeline:
    base = ordinary_day(cameras, seed)
    faults = fault_drill([c.device_id for c in cameras], sensor_ids, 7.5 * HOUR + 300, seed)
    return Timeline("fault_drill", "an ordinary morning with every device fault once",
                    7.5 * HOUR, 1.5 * HOUR, base.world, FaultSchedule(faults))


_BUILDERS: dict[str, Callable[[Sequence[CameraSpec], int], Timeline]] = {
    "ordinary_day": ordinary_day,
    "festival_surge": festival_surge,
    "evacuation": evacuation,
    "holiday_station": holiday_station,
}


def scenario_names() -> tuple[str, ...]:
    return (*_BUILDERS, "fault_drill")


def build_timeline(name: str, cameras: Sequence[CameraSpec], seed: int = 7,
                   sensor_ids: Sequence[str] = ()) -> Timeline:
    """The named scenario for these cameras' zones (and sensors, for the fault drill)."""
    if name == "fault_drill":
        return drill(cameras, seed, sensor_ids)
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise UnknownScenario(f"no scenario {name!r}; one of {', '.join(scenario_names())}") \
            from None
    return builder(cameras, seed)
