"""What the database already holds of the rows an import names, read in a few queries.

This module owns the importer's reads: for every key a bundle defines or refers to,
whether it exists and the few attributes the checks need, plus the existing grid
boundaries around points that need a grid. It never writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from store.importer.geometry import BBox
from store.importer.model import Bundle


@dataclass(frozen=True, slots=True)
class StoredRegion:
    parent_id: str | None
    level: str
    path: str


@dataclass(frozen=True, slots=True)
class StoredDevice:
    kind: str
    grid_code: str | None


@dataclass(frozen=True, slots=True)
class StoredGrid:
    bbox: BBox
    boundary: dict[str, Any]


@dataclass(slots=True)
class Snapshot:
    regions: dict[str, StoredRegion] = field(default_factory=dict)
    grids: set[str] = field(default_factory=set)
    people: set[str] = field(default_factory=set)
    usernames: dict[str, str] = field(default_factory=dict)  # username -> person id
    members: set[tuple[str, str]] = field(default_factory=set)
    places: dict[str, str] = field(default_factory=dict)  # place id -> grid code
    devices: dict[str, StoredDevice] = field(default_factory=dict)
    zones: set[str] = field(default_factory=set)
    devices_with_zones: set[str] = field(default_factory=set)
    shapes: dict[str, StoredGrid] = field(default_factory=dict)  # grids around lookup points


def take_snapshot(conn: psycopg.Connection, bundle: Bundle) -> Snapshot:
    """Read what the checks need about the keys ``bundle`` defines or refers to."""
    with conn.cursor(row_factory=tuple_row) as cur:
        snap = Snapshot()
        _regions(cur, bundle, snap)
        _grids(cur, bundle, snap)
        _people(cur, bundle, snap)
        _places_devices_zones(cur, bundle, snap)
        _shapes(cur, bundle, snap)
    return snap


def _present(values: Any) -> list[str]:
    return sorted({v for v in values if v})


def _regions(cur: psycopg.Cursor[Any], bundle: Bundle, snap: Snapshot) -> None:
    ids = _present([r.id for r in bundle.regions] + [r.parent_id for r in bundle.regions]
                   + [g.region_id for g in bundle.grids] + [p.region_id for p in bundle.people])
    cur.execute("SELECT id, parent_id, level, path FROM regions WHERE id = ANY(%s)", (ids,))
    snap.regions = {r[0]: StoredRegion(r[1], r[2], r[3]) for r in cur.fetchall()}


def _grids(cur: psycopg.Cursor[Any], bundle: Bundle, snap: Snapshot) -> None:
    codes = _present([g.code for g in bundle.grids] + [m.grid_code for m in bundle.grid_members]
                     + [p.grid_code for p in bundle.places] + [d.grid_code for d in bundle.devices]
                     + [z.grid_code for z in bundle.zones])
    cur.execute("SELECT code FROM grids WHERE code = ANY(%s)", (codes,))
    snap.grids = {r[0] for r in cur.fetchall()}


def _people(cur: psycopg.Cursor[Any], bundle: Bundle, snap: Snapshot) -> None:
    ids = _present([p.id for p in bundle.people] + [m.person_id for m in bundle.grid_members])
    names = _present([p.username for p in bundle.people])
    cur.execute("SELECT id, username FROM people WHERE id = ANY(%s) OR username = ANY(%s)",
                (ids, names))
    rows = cur.fetchall()
    snap.people = {r[0] for r in rows} & set(ids)
    snap.usernames = {r[1]: r[0] for r in rows}
    pairs = {(m.grid_code, m.person_id) for m in bundle.grid_members}
    cur.execute("SELECT grid_code, person_id FROM grid_members WHERE grid_code = ANY(%s)",
                (_present(code for code, _ in pairs),))
    snap.members = {(r[0], r[1]) for r in cur.fetchall()} & pairs


def _places_devices_zones(cur: psycopg.Cursor[Any], bundle: Bundle, snap: Snapshot) -> None:
    places = _present([p.id for p in bundle.places] + [d.place_id for d in bundle.devices]
                      + [z.place_id for z in bundle.zones])
    cur.execute("SELECT id, grid_code FROM places WHERE id = ANY(%s)", (places,))
    snap.places = {r[0]: r[1] for r in cur.fetchall()}
    devices = _present([d.id for d in bundle.devices] + [z.device_id for z in bundle.zones])
    cur.execute("SELECT id, kind, grid_code FROM devices WHERE id = ANY(%s)", (devices,))
    snap.devices = {r[0]: StoredDevice(r[1], r[2]) for r in cur.fetchall()}
    cur.execute("SELECT id FROM zones WHERE id = ANY(%s)", (_present(z.id for z in bundle.zones),))
    snap.zones = {r[0] for r in cur.fetchall()}
    sensors = _present(d.id for d in bundle.devices if d.kind == "sensor")
    cur.execute("SELECT DISTINCT device_id FROM zones WHERE device_id = ANY(%s)", (sensors,))
    snap.devices_with_zones = {r[0] for r in cur.fetchall()}


def lookup_points(bundle: Bundle) -> list[tuple[float, float]]:
    """Points whose grid is to be found: places and devices with lon/lat but no grid_code."""
    points = [(p.lon, p.lat) for p in bundle.places if not p.grid_code]
    points += [(d.lon, d.lat) for d in bundle.devices
               if not d.grid_code and d.lon is not None and d.lat is not None]
    return points


def _shapes(cur: psycopg.Cursor[Any], bundle: Bundle, snap: Snapshot) -> None:
    points = lookup_points(bundle)
    if not points:
        return
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    cur.execute(
        "SELECT code, min_lon, min_lat, max_lon, max_lat, boundary FROM grids"
        " WHERE max_lon >= %s AND min_lon <= %s AND max_lat >= %s AND min_lat <= %s",
        (min(lons), max(lons), min(lats), max(lats)),
    )
    snap.shapes = {r[0]: StoredGrid((r[1], r[2], r[3], r[4]), r[5]) for r in cur.fetchall()}
