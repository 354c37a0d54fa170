"""A seedable, deterministic sample city for demos, simulators and tests.

This module owns the *shape* of the demo data and nothing else: it builds plain,
immutable values that mirror the store's tables (regions, grids, people,
grid_members, places, devices, zones). It never touches a database;
``simulators.seed`` loads a :class:`City` into the store.

The city is laid out around a centre at lon 114.06, lat 22.55. Each district is a
rectangle; streets are horizontal bands of their district, communities are columns
of their street, and a community's rectangle is tiled by its grid cells (网格)
without gaps or overlaps. Every coordinate is rounded to 6 decimals (about 0.1 m)
and neighbouring shapes share their edges exactly.

``build_city(seed, scale)`` is a pure function of its arguments: one
``random.Random(seed)`` drives every choice, in a fixed order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

CITY_ID = "C01"
CITY_NAME = "Pearl Bay City"
CENTRE_LON = 114.06
CENTRE_LAT = 22.55
DEMO_PASSWORD = "demo"

DISTRICTS_PER_SCALE = 3
STREETS_PER_DISTRICT = 3
COMMUNITIES_PER_STREET = (3, 4)
GRIDS_PER_COMMUNITY = (3, 5)
WORKERS_PER_GRID = (1, 3)
PLACES_PER_DISTRICT = (12, 15)
ZONES_PER_CAMERA = (1, 3)
# One district spans about 6 km (lon) by 5 km (lat) at this latitude.
DISTRICT_SPAN_LON = 0.06
DISTRICT_SPAN_LAT = 0.045

_DECIMALS = 6
_EXTRA_WORKER_ON_DUTY = 0.85  # the first worker of a grid is always on duty
_SHARED_WORKER_CHANCE = 0.15  # a worker also covers the neighbouring grid
_SENSOR_PLACE_CHANCE = 0.5

_DISTRICT_NAMES = (
    "Harbour", "Riverside", "Hillside", "Lakeside", "Old Town", "Bayview",
    "Northgate", "Southgate", "Garden", "Newport", "Eastfield", "Westbrook",
)
_STREET_NAMES = (
    "Lotus", "Banyan", "Bamboo", "Camphor", "Kapok", "Pine", "Willow", "Orchid",
    "Peach", "Jade",
)
_COMMUNITY_NAMES = (
    "Maple", "Cedar", "Harmony", "Sunrise", "Spring", "Pearl", "Crane", "Cloud",
    "Stone Bridge", "Fisherman", "Lychee", "Tea Garden",
)
_SURNAMES = (
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
    "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Luo", "Gao",
)
_GIVEN_NAMES = (
    "Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yan", "Tao", "Ming",
    "Hui", "Qiang", "Xin", "Ping", "Hao", "Yu", "Jie", "Ying", "Bo", "Lan",
)
_SENSOR_KINDS = (
    ("footfall", "footfall counter"),
    ("noise", "noise meter"),
    ("presence", "presence sensor"),
)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Region:
    """A row of ``regions``: city, district, street/township or community."""

    id: str
    parent_id: str | None
    level: str
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class Grid:
    """A row of ``grids``; ``boundary`` is the closed exterior ring, (lon, lat) pairs."""

    code: str
    region_id: str
    name: str
    boundary: tuple[tuple[float, float], ...]
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def geojson(self) -> dict[str, Any]:
        """The boundary as a GeoJSON Polygon (what ``grids.boundary`` stores)."""
        return {"type": "Polygon", "coordinates": [[list(p) for p in self.boundary]]}


@dataclass(frozen=True, slots=True)
class Person:
    """A row of ``people`` without its password hash (see :func:`demo_logins`)."""

    id: str
    username: str
    display_name: str
    role: str
    region_id: str | None
    phone: str | None
    active: bool = True


@dataclass(frozen=True, slots=True)
class GridMember:
    """A row of ``grid_members``: a person's duty in one grid."""

    grid_code: str
    person_id: str
    duty: str
    on_duty: bool = True


@dataclass(frozen=True, slots=True)
class Place:
    """A row of ``places``: a key place (重点场所) inside one grid."""

    id: str
    name: str
    kind: str
    grid_code: str
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Device:
    """A row of ``devices``: a camera or a sensor at a place."""

    id: str
    kind: str
    name: str
    place_id: str | None
    grid_code: str | None
    lon: float | None
    lat: float | None
    source: str = "sharpeyes"
    stream_url: str | None = None


@dataclass(frozen=True, slots=True)
class Zone:
    """A row of ``zones``: a walkable area watched by one camera."""

    id: str
    device_id: str
    place_id: str | None
    grid_code: str
    name: str
    area_m2: float
    warn_density: float = 2.5
    critical_density: float = 4.0
    polygon: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class City:
    """A whole sample city; every tuple is in an order that satisfies foreign keys."""

    seed: int
    scale: int
    regions: tuple[Region, ...]
    grids: tuple[Grid, ...]
    people: tuple[Person, ...]
    grid_members: tuple[GridMember, ...]
    places: tuple[Place, ...]
    devices: tuple[Device, ...]
    zones: tuple[Zone, ...]

    @property
    def cameras(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.kind == "camera")

    @property
    def sensors(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.kind == "sensor")

    def counts(self) -> dict[str, int]:
        """Rows per table, keyed by table name."""
        return {
            "regions": len(self.regions),
            "grids": len(self.grids),
            "people": len(self.people),
            "grid_members": len(self.grid_members),
            "places": len(self.places),
            "devices": len(self.devices),
            "zones": len(self.zones),
        }


@dataclass(frozen=True, slots=True)
class _KindSpec:
    """How a kind of key place is equipped."""

    label: str
    cameras: tuple[int, int]
    zone_names: tuple[str, ...]
    area_m2: tuple[int, int]
    warn_density: float = 2.5
    critical_density: float = 4.0


# Walkable areas per zone; stations (moving flows, stairs) alert earlier, stadium
# gate plazas hold queuing crowds a little denser.
PLACE_KINDS: dict[str, _KindSpec] = {
    "railway_station": _KindSpec(
        "Railway Station", (3, 4),
        ("Concourse", "Ticket hall", "Platform stairs", "Exit plaza"), (500, 2000), 2.2, 3.5,
    ),
    "square": _KindSpec(
        "Square", (2, 3), ("Fountain plaza", "Stage front", "North lawn", "South steps"),
        (800, 4000),
    ),
    "market": _KindSpec("Market", (1, 3), ("Main aisle", "Entrance", "Food hall"), (200, 1200)),
    "shopping_street": _KindSpec(
        "Shopping Street", (2, 4), ("West section", "Central section", "East section",
                                    "Metro exit"), (300, 1500),
    ),
    "school": _KindSpec("School", (1, 2), ("Main gate", "Side gate", "Drop-off lane"), (100, 400)),
    "hospital": _KindSpec(
        "Hospital", (1, 3), ("Outpatient hall", "Emergency entrance", "Main gate"), (150, 800),
    ),
    "scenic_spot": _KindSpec(
        "Scenic Area", (2, 4), ("Entrance gate", "Viewing platform", "Main trail"), (500, 3000),
    ),
    "stadium": _KindSpec(
        "Stadium", (2, 4), ("Gate concourse", "Ticket plaza", "Exit ramp"), (400, 2500), 3.0, 4.5,
    ),
}
# Extra places beyond one of each kind are the everyday crowded ones.
_COMMON_KINDS = ("market", "shopping_street", "school", "square", "hospital")


@dataclass(frozen=True, slots=True)
class _Rect:
    west: float
    south: float
    east: float
    north: float


# --------------------------------------------------------------------------- public API


def build_city(seed: int = 7, scale: int = 1) -> City:
    """Build the sample city; ``scale`` multiplies everything below the city centre."""
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    return _Builder(seed, scale).build()


def demo_city(seed: int = 7) -> City:
    """The standard demo city: ``build_city(seed, scale=1)``."""
    return build_city(seed, 1)


def demo_logins(city: City) -> dict[str, str]:
    """Username -> password for every person in ``city``.

    Every demo account, the ``admin`` included, has the password ``"demo"``. That is
    deliberate and acceptable for a demo or a test database only: never seed a
    sample city into a deployment reachable by anyone else.
    """
    return {person.username: DEMO_PASSWORD for person in city.people}


# --------------------------------------------------------------------------- builder


class _Builder:
    """Accumulates rows while walking the region tree; one instance per build."""

    def __init__(self, seed: int, scale: int) -> None:
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)
        self.regions: list[Region] = []
        self.grids: list[Grid] = []
        self.people: list[Person] = []
        self.members: list[GridMember] = []
        self.places: list[Place] = []
        self.devices: list[Device] = []
        self.zones: list[Zone] = []
        self.rects: dict[str, _Rect] = {}
        self.community_names: dict[str, str] = {}
        self.first_worker: dict[str, str] = {}
        self.place_names: set[str] = set()

    def build(self) -> City:
        self._add_region(CITY_ID, None, "city", CITY_NAME)
        self._add_person("admin", "admin", CITY_ID)
        self._add_person(f"op-{CITY_ID}", "operator", CITY_ID)
        for index, rect in enumerate(_district_rects(DISTRICTS_PER_SCALE * self.scale)):
            self._add_district(index + 1, rect)
        return City(
            self.seed, self.scale, tuple(self.regions), tuple(self.grids), tuple(self.people),
            tuple(self.members), tuple(self.places), tuple(self.devices), tuple(self.zones),
        )

    # -- regions and grids

    def _add_region(self, region_id: str, parent: Region | None, level: str, name: str) -> Region:
        path = region_id if parent is None else f"{parent.path}.{region_id}"
        region = Region(region_id, parent.id if parent else None, level, name, path)
        self.regions.append(region)
        return region

    def _add_district(self, number: int, rect: _Rect) -> None:
        city = self.regions[0]
        name = f"{_cycled_name(_DISTRICT_NAMES, number)} District"
        district = self._add_region(f"{city.id}-D{number}", city, "district", name)
        self._add_person(f"op-{district.id}", "operator", district.id)
        first_grid = len(self.grids)
        cuts = _cuts(rect.south, rect.north, STREETS_PER_DISTRICT, self.rng)
        for s, (south, north) in enumerate(pairwise(cuts), start=1):
            self._add_street(district, s, _Rect(rect.west, south, rect.east, north))
        self._add_places(self.grids[first_grid:])

    def _add_street(self, district: Region, number: int, rect: _Rect) -> None:
        index = (int(district.id.rsplit("D", 1)[1]) - 1) * STREETS_PER_DISTRICT + number
        name = f"{_cycled_name(_STREET_NAMES, index)} Street"
        street = self._add_region(f"{district.id}-S{number}", district, "street", name)
        self._add_person(f"op-{street.id}", "operator", street.id)
        cuts = _cuts(rect.west, rect.east, self.rng.randint(*COMMUNITIES_PER_STREET), self.rng)
        for c, (west, east) in enumerate(pairwise(cuts), start=1):
            self._add_community(street, c, _Rect(west, rect.south, east, rect.north))

    def _add_community(self, street: Region, number: int, rect: _Rect) -> None:
        short = _cycled_name(_COMMUNITY_NAMES, len(self.community_names) + 1)
        community = self._add_region(
            f"{street.id}-C{number}", street, "community", f"{short} Community"
        )
        self.community_names[community.id] = short
        cells = _tile(rect, self.rng.randint(*GRIDS_PER_COMMUNITY), self.rng)
        previous: Grid | None = None
        for n, cell in enumerate(cells, start=1):
            grid = _grid(f"G-{community.id}-{n}", community, f"{short} Grid {n}", cell)
            self.grids.append(grid)
            self.rects[grid.code] = cell
            self._staff_grid(grid, previous)
            previous = grid

    # -- people

    def _add_person(self, username: str, role: str, region_id: str | None) -> Person:
        person = Person(
            id=f"P-{len(self.people) + 1:04d}",
            username=username,
            display_name=f"{self.rng.choice(_SURNAMES)} {self.rng.choice(_GIVEN_NAMES)}",
            role=role,
            region_id=region_id,
            phone=f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}",
        )
        self.people.append(person)
        return person

    def _staff_grid(self, grid: Grid, previous: Grid | None) -> None:
        leader = self._add_person(f"leader-{grid.code}", "worker", grid.region_id)
        self.members.append(GridMember(grid.code, leader.id, "leader"))
        for n in range(1, self.rng.randint(*WORKERS_PER_GRID) + 1):
            worker = self._add_person(f"worker-{grid.code}-{n}", "worker", grid.region_id)
            on_duty = n == 1 or self.rng.random() < _EXTRA_WORKER_ON_DUTY
            self.members.append(GridMember(grid.code, worker.id, "worker", on_duty))
            self.first_worker.setdefault(grid.code, worker.id)
        if previous is not None and self.rng.random() < _SHARED_WORKER_CHANCE:
            neighbour = self.first_worker[previous.code]
            self.members.append(GridMember(grid.code, neighbour, "worker"))

    # -- places, devices, zones

    def _add_places(self, grids: list[Grid]) -> None:
        count = self.rng.randint(*PLACES_PER_DISTRICT)
        kinds = list(PLACE_KINDS)
        self.rng.shuffle(kinds)
        kinds += self.rng.choices(_COMMON_KINDS, k=count - len(kinds))
        for grid, kind in zip(self.rng.sample(grids, count), kinds, strict=True):
            self._add_place(grid, kind)

    def _add_place(self, grid: Grid, kind: str) -> None:
        spec = PLACE_KINDS[kind]
        lon, lat = self._point_in(self.rects[grid.code], 0.2)
        name = self._unique_place_name(f"{self.community_names[grid.region_id]} {spec.label}")
        place = Place(f"PL-{len(self.places) + 1:04d}", name, kind, grid.code, lon, lat)
        self.places.append(place)
        zones_so_far = 0
        for n in range(1, self.rng.randint(*spec.cameras) + 1):
            zones_so_far += self._add_camera(place, n, spec, zones_so_far)
        if self.rng.random() < _SENSOR_PLACE_CHANCE:
            self._add_sensors(place)

    def _add_camera(self, place: Place, number: int, spec: _KindSpec, zones_before: int) -> int:
        """Add a camera and its zones (each a different area of the place); count the zones."""
        lon, lat = self._point_in(self.rects[place.grid_code], 0.1)
        camera = Device(
            f"CAM-{place.id}-{number}", "camera", f"{place.name} camera {number}",
            place.id, place.grid_code, lon, lat,
        )
        self.devices.append(camera)
        count = self.rng.randint(*ZONES_PER_CAMERA)
        low, high = spec.area_m2
        for z in range(1, count + 1):
            label = _cycled_name(spec.zone_names, zones_before + z)
            self.zones.append(Zone(
                f"{camera.id}-Z{z}", camera.id, place.id, place.grid_code,
                f"{place.name}: {label}", float(round(self.rng.uniform(low, high), -1)),
                spec.warn_density, spec.critical_density,
            ))
        return count

    def _add_sensors(self, place: Place) -> None:
        for metric, label in _SENSOR_KINDS:
            if metric != "footfall" and self.rng.random() < 0.5:
                continue
            self.devices.append(Device(
                f"SEN-{place.id}-{metric}", "sensor", f"{place.name} {label}",
                place.id, place.grid_code, place.lon, place.lat,
            ))

    def _point_in(self, rect: _Rect, margin: float) -> tuple[float, float]:
        """A random point inside ``rect``, at least ``margin`` of its size from the edges."""
        fx = self.rng.uniform(margin, 1 - margin)
        fy = self.rng.uniform(margin, 1 - margin)
        lon = rect.west + (rect.east - rect.west) * fx
        lat = rect.south + (rect.north - rect.south) * fy
        return round(lon, _DECIMALS), round(lat, _DECIMALS)

    def _unique_place_name(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.place_names:
            n += 1
            candidate = f"{name} {n}"
        self.place_names.add(candidate)
        return candidate


# --------------------------------------------------------------------------- geometry


def _district_rects(count: int) -> Iterator[_Rect]:
    """``count`` equal district rectangles in a near-square block around the centre."""
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    west0 = CENTRE_LON - cols * DISTRICT_SPAN_LON / 2
    north0 = CENTRE_LAT + rows * DISTRICT_SPAN_LAT / 2
    for i in range(count):
        col, row = i % cols, i // cols
        west = round(west0 + col * DISTRICT_SPAN_LON, _DECIMALS)
        north = round(north0 - row * DISTRICT_SPAN_LAT, _DECIMALS)
        yield _Rect(
            west, round(north - DISTRICT_SPAN_LAT, _DECIMALS),
            round(west + DISTRICT_SPAN_LON, _DECIMALS), north,
        )


def _cuts(low: float, high: float, parts: int, rng: random.Random) -> list[float]:
    """``parts + 1`` rounded edges from ``low`` to ``high`` (exact ends, uneven parts)."""
    weights = [rng.uniform(0.75, 1.25) for _ in range(parts)]
    total = sum(weights)
    edges = [low]
    running = 0.0
    for weight in weights[:-1]:
        running += weight
        edges.append(round(low + (high - low) * running / total, _DECIMALS))
    edges.append(high)
    return edges


def _tile(rect: _Rect, count: int, rng: random.Random) -> list[_Rect]:
    """Split ``rect`` into ``count`` rectangles: one row up to 3 cells, else two rows."""
    rows = 1 if count <= 3 else 2
    per_row = [count // rows + (1 if r < count % rows else 0) for r in range(rows)]
    lat_edges = _cuts(rect.south, rect.north, rows, rng)
    cells: list[_Rect] = []
    for r, cols in enumerate(per_row):
        lon_edges = _cuts(rect.west, rect.east, cols, rng)
        for c in range(cols):
            cells.append(_Rect(lon_edges[c], lat_edges[r], lon_edges[c + 1], lat_edges[r + 1]))
    return cells


def _grid(code: str, community: Region, name: str, rect: _Rect) -> Grid:
    ring = (
        (rect.west, rect.south), (rect.east, rect.south), (rect.east, rect.north),
        (rect.west, rect.north), (rect.west, rect.south),
    )  # counter-clockwise, as RFC 7946 asks of exterior rings
    return Grid(code, community.id, name, ring, rect.west, rect.south, rect.east, rect.north)


def _cycled_name(names: tuple[str, ...], number: int) -> str:
    """The ``number``-th name (1-based), with a round suffix once the list runs out."""
    base = names[(number - 1) % len(names)]
    laps = (number - 1) // len(names)
    return base if laps == 0 else f"{base} {laps + 1}"
