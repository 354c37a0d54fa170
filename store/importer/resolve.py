"""Checking a bundle against the database and planning the rows to write.

This module owns the rules that need both the import and the store: references
resolve (to the same import or to rows already stored), the region hierarchy, grids
found from a point, usernames owned by someone else, and which columns an update may
change. Its result is a :class:`Plan` of upserts in foreign-key order, or errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from store.importer import geometry
from store.importer.model import Bundle, RowError, sorted_errors
from store.importer.rows import LEVELS, PARENT_LEVEL
from store.importer.snapshot import Snapshot, StoredGrid, take_snapshot

FILE_OF = {
    "regions": "regions.csv", "grids": "grids.geojson", "people": "people.csv",
    "grid_members": "grid_members.csv", "places": "places.csv", "devices": "devices.csv",
    "zones": "zones.csv",
}
# Stands in for the hash of a person already stored: the upsert never updates
# password_hash, so this value is only written if the row vanished meanwhile, and
# then nobody can log in with it (it is no scrypt hash).
LOCKED_HASH = "!"


@dataclass(frozen=True, slots=True)
class PlainPassword:
    """An initial password from people.csv, hashed only when the row is written."""

    value: str

    def __repr__(self) -> str:
        return "PlainPassword(***)"


@dataclass(frozen=True, slots=True)
class TableWrite:
    """One upsert: rows for ``columns``; on a key conflict only ``update`` is set."""

    table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    update: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    existing: int  # rows whose key is already stored

    @property
    def inserted(self) -> int:
        return len(self.rows) - self.existing


@dataclass(frozen=True, slots=True)
class Plan:
    writes: tuple[TableWrite, ...]


def resolve(conn: psycopg.Connection, bundle: Bundle) -> tuple[Plan, list[RowError]]:
    """The writes for ``bundle`` and every error (the bundle's own included), in file order."""
    return _Resolver(bundle, take_snapshot(conn, bundle)).run()


class _Resolver:
    """Walks the tables in load order; later tables see what earlier ones resolved."""

    def __init__(self, bundle: Bundle, db: Snapshot) -> None:
        self.bundle = bundle
        self.db = db
        self.errors: list[RowError] = list(bundle.errors)
        self.region_levels = {r.id: r.level for r in bundle.regions}
        self.paths: dict[str, str] = {}
        self.shapes: dict[str, StoredGrid] = dict(db.shapes)
        self.shapes.update({g.code: StoredGrid(g.bbox, g.boundary) for g in bundle.grids})
        self.place_grids: dict[str, str] = {}
        self.device_info: dict[str, tuple[str, str | None]] = {}

    def run(self) -> tuple[Plan, list[RowError]]:
        writes = (self._regions(), self._grids(), self._people(), self._members(),
                  self._places(), self._devices(), self._zones())
        return Plan(tuple(w for w in writes if w.rows)), sorted_errors(self.errors)

    # -- helpers

    def error(self, table: str, line: int, column: str, message: str) -> None:
        self.errors.append(RowError(FILE_OF[table], line, column, message))

    def ref(self, table: str, line: int, column: str, target: str, key: str,
            stored: bool) -> bool:
        """Whether ``key`` names a row of ``target`` in this import or the database."""
        if stored or self.bundle.claims(target, key):
            return True
        self.error(table, line, column, f"unknown {_singular(target)} {key!r} (not in "
                                        f"{FILE_OF[target]} nor in the database)")
        return False

    def updates(self, table: str, always: tuple[str, ...], *optional: str) -> tuple[str, ...]:
        """Columns an upsert sets on an existing row: ``always`` plus those in the header."""
        present = tuple(c for c in optional if self.bundle.has_column(FILE_OF[table], c))
        return always + present

    def grid_at(self, table: str, line: int, lon: float, lat: float) -> str | None:
        """The one grid containing the point, else an error asking for grid_code."""
        found = sorted(code for code, shape in self.shapes.items()
                       if geometry.in_bbox(lon, lat, shape.bbox)
                       and geometry.contains(shape.boundary, lon, lat))
        if len(found) == 1:
            return found[0]
        if found:
            self.error(table, line, "grid_code", f"lon/lat ({lon:g}, {lat:g}) lies in "
                                                 f"{len(found)} grids ({', '.join(found)}); "
                                                 "give grid_code")
        else:
            self.error(table, line, "grid_code", f"no grid contains lon/lat ({lon:g}, {lat:g}); "
                                                 "give grid_code or check the coordinates "
                                                 "(WGS 84, not GCJ-02/BD-09)")
        return None

    def explicit_grid(self, table: str, line: int, code: str) -> str | None:
        return code if self.ref(table, line, "grid_code", "grids", code,
                                code in self.db.grids) else None

    # -- regions

    def _regions(self) -> TableWrite:
        rows = []
        for r in sorted(self.bundle.regions, key=lambda r: LEVELS.index(r.level)):
            if not (self._unmoved(r.line, r.id, r.level, r.parent_id)
                    and self._parent_ok(r.line, r.level, r.parent_id)):
                continue
            path = self._path(r.id, r.parent_id)
            if path is not None:
                self.paths[r.id] = path
                rows.append((r.id, r.parent_id, r.level, r.name, path))
        return self._write("regions", ("id",), ("id", "parent_id", "level", "name", "path"),
                           ("name",), rows, lambda row: row[0] in self.db.regions)

    def _unmoved(self, line: int, region_id: str, level: str, parent_id: str | None) -> bool:
        stored = self.db.regions.get(region_id)
        if stored is None or (stored.level, stored.parent_id) == (level, parent_id):
            return True
        column = "level" if stored.level != level else "parent_id"
        self.error("regions", line, column, f"region {region_id!r} is stored as a {stored.level} "
                                            f"under {stored.parent_id or 'no parent'}; an import "
                                            "cannot move a region or change its level")
        return False

    def _parent_ok(self, line: int, level: str, parent_id: str | None) -> bool:
        if parent_id is None:
            return True
        if not self.ref("regions", line, "parent_id", "regions", parent_id,
                        parent_id in self.db.regions):
            return False
        parent_level = self._level(parent_id)
        if parent_level is None or parent_level == PARENT_LEVEL[level]:
            return parent_level is not None
        self.error("regions", line, "parent_id", f"parent {parent_id!r} is a {parent_level}; "
                                                 f"a {level}'s parent must be a "
                                                 f"{PARENT_LEVEL[level]}")
        return False

    def _level(self, region_id: str) -> str | None:
        """A valid imported row's level, else the stored one (None: the row has errors)."""
        if region_id in self.region_levels:
            return self.region_levels[region_id]
        stored = self.db.regions.get(region_id)
        return stored.level if stored and not self.bundle.claims("regions", region_id) else None

    def _path(self, region_id: str, parent_id: str | None) -> str | None:
        """Stored regions keep their path; parents are resolved before their children."""
        stored = self.db.regions.get(region_id)
        if stored is not None:
            return stored.path
        if parent_id is None:
            return region_id
        parent = self.paths.get(parent_id) or (
            self.db.regions[parent_id].path if parent_id in self.db.regions else None)
        return None if parent is None else f"{parent}.{region_id}"

    # -- grids and people

    def _grids(self) -> TableWrite:
        rows = []
        for g in self.bundle.grids:
            level = self._region_ref("grids", g.line, g.region_id)
            if level not in (None, "community"):
                self.error("grids", g.line, "region_id", f"region {g.region_id!r} is a {level}; "
                                                         "a grid belongs to a community")
                continue
            rows.append((g.code, g.region_id, g.name, Jsonb(g.boundary), *g.bbox))
        columns = ("code", "region_id", "name", "boundary", "min_lon", "min_lat", "max_lon",
                   "max_lat")
        return self._write("grids", ("code",), columns, columns[1:], rows,
                           lambda row: row[0] in self.db.grids)

    def _region_ref(self, table: str, line: int, region_id: str) -> str | None:
        if not self.ref(table, line, "region_id", "regions", region_id,
                        region_id in self.db.regions):
            return None
        return self._level(region_id)

    def _people(self) -> TableWrite:
        rows = []
        for p in self.bundle.people:
            if p.region_id:
                self._region_ref("people", p.line, p.region_id)
            owner = self.db.usernames.get(p.username)
            if owner is not None and owner != p.id:
                self.error("people", p.line, "username", f"username {p.username!r} belongs to "
                                                         f"person {owner!r} in the database")
            secret = self._secret(p.id, p.line, p.password, p.password_hash)
            rows.append((p.id, p.username, p.display_name, p.role, p.region_id, p.phone, secret,
                         p.active))
        columns = ("id", "username", "display_name", "role", "region_id", "phone",
                   "password_hash", "active")
        update = self.updates("people", ("username", "display_name", "role"),
                              "region_id", "phone", "active")
        return self._write("people", ("id",), columns, update, rows,
                           lambda row: row[0] in self.db.people)

    def _secret(self, person_id: str, line: int, password: str | None,
                hash_: str | None) -> str | PlainPassword:
        """A new person's password (hashed on load); a stored person's is never changed."""
        if person_id in self.db.people:
            return LOCKED_HASH
        if password:
            return PlainPassword(password)
        if hash_:
            return hash_
        self.error("people", line, "password", "a new person needs a password or a "
                                               "password_hash")
        return LOCKED_HASH

    def _members(self) -> TableWrite:
        rows = []
        for m in self.bundle.grid_members:
            grid_ok = self.explicit_grid("grid_members", m.line, m.grid_code) is not None
            if self.ref("grid_members", m.line, "person_id", "people", m.person_id,
                        m.person_id in self.db.people) and grid_ok:
                rows.append((m.grid_code, m.person_id, m.duty, m.on_duty))
        update = self.updates("grid_members", ("duty",), "on_duty")
        return self._write("grid_members", ("grid_code", "person_id"),
                           ("grid_code", "person_id", "duty", "on_duty"), update, rows,
                           lambda row: (row[0], row[1]) in self.db.members)

    # -- places, devices, zones

    def _places(self) -> TableWrite:
        rows = []
        for p in self.bundle.places:
            grid = (self.explicit_grid("places", p.line, p.grid_code) if p.grid_code
                    else self.grid_at("places", p.line, p.lon, p.lat))
            if grid is not None:
                self.place_grids[p.id] = grid
                rows.append((p.id, p.name, p.kind, grid, p.lon, p.lat))
        columns = ("id", "name", "kind", "grid_code", "lon", "lat")
        return self._write("places", ("id",), columns, columns[1:], rows,
                           lambda row: row[0] in self.db.places)

    def _place_grid(self, table: str, line: int, place_id: str) -> tuple[bool, str | None]:
        """The place's grid, and whether it is reliable (False: an error is reported)."""
        if not self.ref(table, line, "place_id", "places", place_id, place_id in self.db.places):
            return False, None
        if place_id in self.place_grids:
            return True, self.place_grids[place_id]
        if self.bundle.claims("places", place_id):
            return False, None  # its own row has errors
        return True, self.db.places[place_id]

    def _devices(self) -> TableWrite:
        rows = []
        for d in self.bundle.devices:
            _, place_grid = (True, None) if d.place_id is None else self._place_grid(
                "devices", d.line, d.place_id)
            grid = self._device_grid(d.line, d.grid_code, d.lon, d.lat, place_grid)
            stored = self.db.devices.get(d.id)
            if stored and stored.kind != d.kind and d.id in self.db.devices_with_zones:
                self.error("devices", d.line, "kind", f"device {d.id!r} has zones; it must "
                                                      "stay a camera")
            self.device_info[d.id] = (d.kind, grid)
            rows.append((d.id, d.kind, d.name, d.place_id, grid, d.source, d.lon, d.lat,
                         d.stream_url, _jsonb(d.calibration), "manual"))
        columns = ("id", "kind", "name", "place_id", "grid_code", "source", "lon", "lat",
                   "stream_url", "calibration", "registered")
        return self._write("devices", ("id",), columns, self._device_updates(), rows,
                           lambda row: row[0] in self.db.devices)

    def _device_grid(self, line: int, code: str | None, lon: float | None, lat: float | None,
                     place_grid: str | None) -> str | None:
        """Explicit grid_code, else the grid containing lon/lat, else the place's grid."""
        if code:
            return self.explicit_grid("devices", line, code)
        if lon is not None and lat is not None:
            return self.grid_at("devices", line, lon, lat)
        return place_grid

    def _device_updates(self) -> tuple[str, ...]:
        update = self.updates("devices", ("kind", "name", "registered"), "place_id", "source",
                              "lon", "lat", "stream_url")
        if self.bundle.has_column("devices.csv", "calibration_json"):
            update += ("calibration",)
        if any(self.bundle.has_column("devices.csv", c)
               for c in ("grid_code", "lon", "lat", "place_id")):
            update += ("grid_code",)
        return update

    def _zones(self) -> TableWrite:
        rows = []
        for z in self.bundle.zones:
            device_grid, device_ok = self._zone_device(z.line, z.device_id)
            place_ok, place_grid = (True, None) if z.place_id is None else self._place_grid(
                "zones", z.line, z.place_id)
            grid = (self.explicit_grid("zones", z.line, z.grid_code) if z.grid_code
                    else place_grid or device_grid)
            if grid is None and not z.grid_code and device_ok and place_ok:
                self.error("zones", z.line, "grid_code", "no grid: give grid_code, a place_id "
                                                         "of a place, or a device with a grid")
            rows.append((z.id, z.device_id, z.place_id, grid, z.name, z.area_m2,
                         z.warn_density, z.critical_density, _jsonb(z.polygon)))
        columns = ("id", "device_id", "place_id", "grid_code", "name", "area_m2",
                   "warn_density", "critical_density", "polygon")
        update = self.updates("zones", ("device_id", "grid_code", "name", "area_m2"),
                              "place_id", "warn_density", "critical_density")
        if self.bundle.has_column("zones.csv", "polygon_json"):
            update += ("polygon",)
        return self._write("zones", ("id",), columns, update, rows,
                           lambda row: row[0] in self.db.zones)

    def _zone_device(self, line: int, device_id: str) -> tuple[str | None, bool]:
        """The camera's grid, and whether the device is known well enough to rely on."""
        stored = self.db.devices.get(device_id)
        if not self.ref("zones", line, "device_id", "devices", device_id, stored is not None):
            return None, False
        if device_id in self.device_info:
            kind, grid = self.device_info[device_id]
        elif stored is not None and not self.bundle.claims("devices", device_id):
            kind, grid = stored.kind, stored.grid_code
        else:
            return None, False
        if kind != "camera":
            self.error("zones", line, "device_id", f"device {device_id!r} is a {kind}; a zone "
                                                   "is watched by a camera")
        return grid, True

    def _write(self, table: str, key: tuple[str, ...], columns: tuple[str, ...],
               update: tuple[str, ...], rows: list[tuple[Any, ...]],
               stored: Callable[[tuple[Any, ...]], bool]) -> TableWrite:
        return TableWrite(table, key, columns, update, tuple(rows),
                          sum(1 for row in rows if stored(row)))


def _jsonb(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


def _singular(table: str) -> str:
    return {"people": "person", "grid_members": "grid member", "regions": "region",
            "grids": "grid", "places": "place", "devices": "device",
            "zones": "zone"}[table]
