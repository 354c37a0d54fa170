"""Values of the bulk importer: row errors, parsed rows, the bundle and the report.

This module owns the importer's data shapes and nothing else. Every value is an
immutable dataclass; parsing lives in ``parse``, checks against the database in
``resolve``, writing in ``load``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Import files in load order (foreign keys point backwards in this list).
FILE_ORDER: tuple[str, ...] = (
    "regions.csv", "grids.geojson", "people.csv", "grid_members.csv", "places.csv",
    "devices.csv", "zones.csv",
)
TABLE_ORDER: tuple[str, ...] = (
    "regions", "grids", "people", "grid_members", "places", "devices", "zones",
)


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem, located by file, line (1 = header; 0 = the whole file) and column."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line <= 0 else f"{self.file}:{self.line}"
        column = f" {self.column}:" if self.column else ""
        return f"{where}:{column} {self.message}" if where else self.message


def error_order(error: RowError) -> tuple[int, int, str, str]:
    """Sort key: files in load order, then line, then column."""
    rank = FILE_ORDER.index(error.file) if error.file in FILE_ORDER else -1
    return rank, error.line, error.column, error.message


def sorted_errors(errors: list[RowError] | tuple[RowError, ...]) -> list[RowError]:
    """Distinct errors in reading order."""
    return sorted(set(errors), key=error_order)


@dataclass(frozen=True, slots=True)
class RegionRow:
    line: int
    id: str
    parent_id: str | None
    level: str
    name: str


@dataclass(frozen=True, slots=True)
class GridRow:
    line: int
    code: str
    region_id: str
    name: str
    boundary: dict[str, Any]  # normalised GeoJSON Polygon or MultiPolygon
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True, slots=True)
class PersonRow:
    line: int
    id: str
    username: str
    display_name: str
    role: str
    region_id: str | None
    phone: str | None
    password: str | None
    password_hash: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class MemberRow:
    line: int
    grid_code: str
    person_id: str
    duty: str
    on_duty: bool


@dataclass(frozen=True, slots=True)
class PlaceRow:
    line: int
    id: str
    name: str
    kind: str
    grid_code: str | None
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class DeviceRow:
    line: int
    id: str
    kind: str
    name: str
    place_id: str | None
    grid_code: str | None
    source: str
    lon: float | None
    lat: float | None
    stream_url: str | None
    calibration: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ZoneRow:
    line: int
    id: str
    device_id: str
    place_id: str | None
    grid_code: str | None
    name: str
    area_m2: float
    warn_density: float
    critical_density: float
    polygon: list[list[float]] | None


@dataclass(frozen=True, slots=True)
class Bundle:
    """A directory of import files, parsed and checked against itself.

    Each row tuple holds only the rows without errors. ``keys`` holds, per table, the
    key of every row whose key could be read, valid or not, so that a reference to a
    row with an error of its own is not reported a second time. ``columns`` is the
    header of each file that was read (for GeoJSON: the properties it may carry).
    """

    directory: Path
    regions: tuple[RegionRow, ...] = ()
    grids: tuple[GridRow, ...] = ()
    people: tuple[PersonRow, ...] = ()
    grid_members: tuple[MemberRow, ...] = ()
    places: tuple[PlaceRow, ...] = ()
    devices: tuple[DeviceRow, ...] = ()
    zones: tuple[ZoneRow, ...] = ()
    keys: dict[str, frozenset[Any]] = field(default_factory=dict)
    columns: dict[str, frozenset[str]] = field(default_factory=dict)
    unreadable: frozenset[str] = frozenset()  # tables whose file could not be read at all
    errors: tuple[RowError, ...] = ()

    def claims(self, table: str, key: Any) -> bool:
        """Whether some row of this bundle, valid or not, has ``key`` in ``table``."""
        return table in self.unreadable or key in self.keys.get(table, frozenset())

    def has_column(self, file: str, column: str) -> bool:
        return column in self.columns.get(file, frozenset())


@dataclass(frozen=True, slots=True)
class TableCount:
    """Rows of one table in an import: new ones, and ones that matched an existing key."""

    table: str
    inserted: int = 0
    updated: int = 0


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What ``import_bundle`` did: ``written`` is True only if the rows were committed."""

    directory: Path
    dry_run: bool
    written: bool
    counts: tuple[TableCount, ...] = ()
    errors: tuple[RowError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, table: str) -> TableCount:
        for entry in self.counts:
            if entry.table == table:
                return entry
        return TableCount(table)
