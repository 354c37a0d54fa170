"""Parsing a directory of import files into a :class:`Bundle`, checked against itself.

This module owns the import format's files: which files and columns exist, their
headers, GeoJSON features, and which rows repeat a key. What a single row may hold
is ``rows``'s business; whether references resolve, and everything else that needs
the database, is ``resolve``'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.importer.model import FILE_ORDER, Bundle, RowError, sorted_errors
from store.importer.reading import Cells, check_header, decode, feature_lines, read_csv, read_json
from store.importer.rows import PARSERS, Parser, grid_feature

log = logging.getLogger(__name__)

_WGS84_CRS = ("CRS84", "EPSG::4326", "EPSG:4326")
_DATA_SUFFIXES = (".csv", ".tsv", ".geojson", ".json", ".xlsx", ".xls")


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One import file: its table, columns (or GeoJSON properties) and unique keys."""

    file: str
    table: str
    columns: tuple[str, ...]  # in the order of the templates and the documentation
    required: tuple[str, ...]
    unique: tuple[tuple[str, ...], ...]  # the first is the table's key

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in self.required)


@dataclass(slots=True)
class _Parsed:
    rows: list[Any] = field(default_factory=list)
    keys: set[Any] = field(default_factory=set)
    columns: frozenset[str] = frozenset()
    readable: bool = True


class _Unique:
    """Reports a row that repeats an earlier row's value of a unique column set."""

    def __init__(self, spec: FileSpec) -> None:
        self.spec = spec
        self.seen: dict[tuple[str, ...], dict[tuple[str, ...], int]] = {u: {} for u in spec.unique}

    def check(self, cells: Cells, parsed: _Parsed) -> None:
        for columns, seen in self.seen.items():
            key = tuple(cells.raw(c) for c in columns)
            if not all(key):
                continue
            if columns == self.spec.unique[0]:
                parsed.keys.add(key[0] if len(key) == 1 else key)
            if key in seen:
                what = ", ".join(key)
                cells.error(", ".join(columns), f"duplicate {what!r} (first on line {seen[key]})")
            else:
                seen[key] = cells.line


# --------------------------------------------------------------------------- public API


def load_bundle(directory: Path) -> Bundle:
    """Parse every import file in ``directory`` and check the rows against each other.

    Raises NotADirectoryError if ``directory`` is not one; every problem with the
    files themselves is a :class:`RowError` in ``Bundle.errors``.
    """
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
    errors: list[RowError] = []
    _check_file_names(directory, errors)
    parsed = {spec.table: _read_file(directory / spec.file, spec, errors)
              for spec in SPECS if (directory / spec.file).is_file()}
    if not parsed:
        errors.append(RowError("", 0, "", f"no import files in {directory} (expected any of "
                                          f"{', '.join(FILE_ORDER)})"))
    log.debug("parsed %s: %s", directory, {t: len(p.rows) for t, p in parsed.items()})
    return Bundle(
        directory=directory,
        **{table: tuple(p.rows) for table, p in parsed.items()},
        keys={t: frozenset(p.keys) for t, p in parsed.items()},
        columns={spec.file: parsed[spec.table].columns for spec in SPECS if spec.table in parsed},
        unreadable=frozenset(t for t, p in parsed.items() if not p.readable),
        errors=tuple(sorted_errors(errors)),
    )


def _check_file_names(directory: Path, errors: list[RowError]) -> None:
    for path in sorted(directory.iterdir()):
        if path.name in FILE_ORDER or path.suffix.lower() not in _DATA_SUFFIXES:
            continue
        hint = "save each sheet as CSV UTF-8; " if path.suffix.lower() in (".xlsx", ".xls") else ""
        errors.append(RowError(path.name, 0, "", f"unknown import file ({hint}expected any of "
                                                 f"{', '.join(FILE_ORDER)})"))


def _read_file(path: Path, spec: FileSpec, errors: list[RowError]) -> _Parsed:
    text = decode(spec.file, path.read_bytes(), errors)
    if text is None:
        return _Parsed(readable=False)
    if spec.file == GRIDS_FILE:
        return _read_grids(text, spec, errors)
    return _read_csv_file(text, spec, PARSERS[spec.table], errors)


def _read_csv_file(text: str, spec: FileSpec, parser: Parser,
                   errors: list[RowError]) -> _Parsed:
    table = read_csv(spec.file, text, errors)
    if table is None:
        return _Parsed(readable=False)
    check_header(spec.file, table.header, spec.columns, spec.required, errors)
    header = frozenset(c for c in table.header if c in spec.columns)
    parsed = _Parsed(columns=header)
    unique = _Unique(spec)
    for row in table.rows:
        cells = Cells(spec.file, row.line, row.values, header, errors)
        unique.check(cells, parsed)
        record = parser(cells)
        if not cells.failed:
            parsed.rows.append(record)
    return parsed


# --------------------------------------------------------------------------- GeoJSON


def _read_grids(text: str, spec: FileSpec, errors: list[RowError]) -> _Parsed:
    document = read_json(spec.file, text, errors)
    if document is None:
        return _Parsed(readable=False)
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        errors.append(RowError(spec.file, 1, "type", "must be a GeoJSON FeatureCollection"))
        return _Parsed(readable=False)
    features = document.get("features")
    if not isinstance(features, list):
        errors.append(RowError(spec.file, 1, "features", "must be an array of features"))
        return _Parsed(readable=False)
    _check_crs(spec.file, document.get("crs"), errors)
    parsed = _Parsed(columns=frozenset(spec.columns))
    unique = _Unique(spec)
    for line, feature in zip(feature_lines(text), features, strict=True):
        cells = Cells(spec.file, line, {}, parsed.columns, errors)
        _properties(spec, cells, feature)
        unique.check(cells, parsed)
        record = grid_feature(cells, feature)
        if not cells.failed:
            parsed.rows.append(record)
    return parsed


def _check_crs(file: str, crs: Any, errors: list[RowError]) -> None:
    if crs is None:
        return
    name = str(crs.get("properties", {}).get("name", "")) if isinstance(crs, dict) else ""
    if not any(name.endswith(wgs84) for wgs84 in _WGS84_CRS):
        errors.append(RowError(file, 1, "crs", "coordinates must be WGS 84 lon/lat "
                                               f"(RFC 7946), not {name or crs!r}"))


def _properties(spec: FileSpec, cells: Cells, feature: Any) -> None:
    """Put a feature's properties into ``cells`` as stripped strings, reporting problems."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        cells.error("", "each feature must be a GeoJSON Feature")
        return
    properties = feature.get("properties")
    if not isinstance(properties, dict):
        cells.error("properties", f"must be an object with {', '.join(spec.columns)}")
        return
    for key, value in properties.items():
        if key not in spec.columns:
            cells.error(key, f"unknown property (known: {', '.join(spec.columns)})")
        elif isinstance(value, str):
            cells.values[key] = value.strip()
        elif isinstance(value, int) and not isinstance(value, bool):
            cells.values[key] = str(value)
        elif value is not None:
            cells.error(key, "must be a string")


# --------------------------------------------------------------------------- the format

GRIDS_FILE = "grids.geojson"

SPECS: tuple[FileSpec, ...] = (
    FileSpec("regions.csv", "regions", ("id", "parent_id", "level", "name"),
             ("id", "level", "name"), (("id",),)),
    FileSpec(GRIDS_FILE, "grids", ("code", "region_id", "name"), ("code", "region_id", "name"),
             (("code",),)),
    FileSpec("people.csv", "people",
             ("id", "username", "display_name", "role", "region_id", "phone", "password",
              "password_hash", "active"),
             ("id", "username", "display_name", "role"), (("id",), ("username",))),
    FileSpec("grid_members.csv", "grid_members", ("grid_code", "person_id", "duty", "on_duty"),
             ("grid_code", "person_id", "duty"), (("grid_code", "person_id"),)),
    FileSpec("places.csv", "places", ("id", "name", "kind", "grid_code", "lon", "lat"),
             ("id", "name", "kind", "lon", "lat"), (("id",),)),
    FileSpec("devices.csv", "devices",
             ("id", "kind", "name", "place_id", "grid_code", "source", "lon", "lat",
              "stream_url", "calibration_json"),
             ("id", "kind", "name"), (("id",),)),
    FileSpec("zones.csv", "zones",
             ("id", "device_id", "place_id", "grid_code", "name", "area_m2", "warn_density",
              "critical_density", "polygon_json"),
             ("id", "device_id", "name", "area_m2"), (("id",),)),
)
