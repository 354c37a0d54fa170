"""The value rules of each import row: one function per file turns a row's cells into a record.

This module owns what a single row (or GeoJSON feature) may hold — identifiers,
choices, numbers and their ranges, coordinates, JSON columns — and nothing about
files, headers, duplicates or the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from contracts.payloads import MAX_DENSITY
from contracts.topics import DEVICE_ID
from store.importer import geometry
from store.importer.model import (
    DeviceRow,
    GridRow,
    MemberRow,
    PersonRow,
    PlaceRow,
    RegionRow,
    ZoneRow,
)
from store.importer.reading import Cells

ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
REGION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:-]{0,63}")  # no dots: they separate paths
USERNAME = re.compile(r"\S{1,64}")
PHONE = re.compile(r"\+?[0-9][0-9 -]{2,24}")
PLACE_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")
SOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
PASSWORD_HASH = re.compile(r"scrypt\$\d+\$\d+\$\d+\$[0-9a-f]{2,}\$[0-9a-f]{64}")

LEVELS = ("city", "district", "street", "community")
PARENT_LEVEL = {"district": "city", "street": "district", "community": "street"}
ROLES = ("admin", "operator", "worker", "integrator", "viewer")
DUTIES = ("worker", "leader")
DEVICE_KINDS = ("camera", "sensor")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "udp", "rtp")
MIN_PASSWORD_LENGTH = 8
DEFAULT_SOURCE = "sharpeyes"
DEFAULT_WARN_DENSITY = 2.5
DEFAULT_CRITICAL_DENSITY = 4.0

Parser = Callable[[Cells], Any]


def grid_feature(cells: Cells, feature: Any) -> GridRow | None:
    code = cells.matching("code", ID, "grid code", required=True) or ""
    region_id = cells.matching("region_id", REGION_ID, "region id", required=True) or ""
    name = cells.text("name", required=True) or ""
    raw = feature.get("geometry") if isinstance(feature, dict) else None
    boundary, problems = geometry.normalise_geometry(raw)
    for problem in problems:
        cells.error("geometry", problem)
    if boundary is None or cells.failed:
        return None
    return GridRow(cells.line, code, region_id, name, boundary, geometry.bbox(boundary))


# --------------------------------------------------------------------------- CSV rows


def _region(c: Cells) -> RegionRow:
    region_id = c.matching("id", REGION_ID, "region id (no dots)", required=True) or ""
    parent_id = c.matching("parent_id", REGION_ID, "region id")
    level = c.choice("level", LEVELS, required=True) or ""
    name = c.text("name", required=True) or ""
    if level == "city" and c.raw("parent_id"):
        c.error("parent_id", "a city has no parent")
    elif level in PARENT_LEVEL and not c.raw("parent_id"):
        c.error("parent_id", f"a {level} needs a parent {PARENT_LEVEL[level]}")
    return RegionRow(c.line, region_id, parent_id, level, name)


def _person(c: Cells) -> PersonRow:
    password = c.text("password")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        c.error("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = c.matching("password_hash", PASSWORD_HASH,
                               "scrypt hash (scrypt$N$r$p$salt$hash)", echo=False)
    if c.raw("password") and c.raw("password_hash"):
        c.error("password_hash", "give password or password_hash, not both")
    return PersonRow(
        line=c.line,
        id=c.matching("id", ID, "person id", required=True) or "",
        username=c.matching("username", USERNAME, "username (no spaces, at most 64 characters)",
                            required=True) or "",
        display_name=c.text("display_name", required=True, max_length=100) or "",
        role=c.choice("role", ROLES, required=True) or "",
        region_id=c.matching("region_id", REGION_ID, "region id"),
        phone=c.matching("phone", PHONE, "phone number"),
        password=password,
        password_hash=password_hash,
        active=c.boolean("active", True),
    )


def _member(c: Cells) -> MemberRow:
    return MemberRow(
        line=c.line,
        grid_code=c.matching("grid_code", ID, "grid code", required=True) or "",
        person_id=c.matching("person_id", ID, "person id", required=True) or "",
        duty=c.choice("duty", DUTIES, required=True) or "",
        on_duty=c.boolean("on_duty", True),
    )


def _place(c: Cells) -> PlaceRow:
    lon, lat = _point(c, required=True)
    return PlaceRow(
        line=c.line,
        id=c.matching("id", ID, "place id", required=True) or "",
        name=c.text("name", required=True) or "",
        kind=c.matching("kind", PLACE_KIND, "place kind (lower-case letters, digits, _)",
                        required=True) or "",
        grid_code=c.matching("grid_code", ID, "grid code"),
        lon=lon or 0.0,
        lat=lat or 0.0,
    )


def _point(c: Cells, *, required: bool) -> tuple[float | None, float | None]:
    """lon and lat, both or neither; a latitude out of range hints at swapped columns."""
    lon = c.number("lon", required=required, low=-180, high=180)
    lat = c.number("lat", required=required)
    if lat is not None and not -90 <= lat <= 90:
        swapped = " (are lon and lat swapped?)" if lon is not None and -90 <= lon <= 90 else ""
        c.error("lat", f"{lat:g} is outside [-90, 90]{swapped}")
        lat = None
    if not required and bool(c.raw("lon")) != bool(c.raw("lat")):
        c.error("lat" if c.raw("lon") else "lon", "lon and lat go together: give both or neither")
    return lon, lat


def _device(c: Cells) -> DeviceRow:
    kind = c.choice("kind", DEVICE_KINDS, required=True) or ""
    lon, lat = _point(c, required=False)
    return DeviceRow(
        line=c.line,
        id=c.matching("id", DEVICE_ID, "device id (letters, digits, . _ : -; at most 64)",
                      required=True) or "",
        kind=kind,
        name=c.text("name", required=True) or "",
        place_id=c.matching("place_id", ID, "place id"),
        grid_code=c.matching("grid_code", ID, "grid code"),
        source=c.matching("source", SOURCE, "source name") or DEFAULT_SOURCE,
        lon=lon,
        lat=lat,
        stream_url=_stream_url(c, kind),
        calibration=_calibration(c, kind),
    )


def _stream_url(c: Cells, kind: str) -> str | None:
    url = c.text("stream_url", max_length=1000)
    if url is None:
        return None
    if kind == "sensor":
        c.error("stream_url", "only a camera has a stream_url")
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in STREAM_SCHEMES or not parts.netloc:
        c.error("stream_url", f"must be a {', '.join(STREAM_SCHEMES)} URL with a host")
        return None
    return url


def _calibration(c: Cells, kind: str) -> dict[str, Any] | None:
    value = c.json_value("calibration_json")
    if value is None:
        return None
    if kind == "sensor":
        c.error("calibration_json", "only a camera has a calibration")
    elif not isinstance(value, dict):
        c.error("calibration_json", "must be a JSON object")
    else:
        return value
    return None


def _zone(c: Cells) -> ZoneRow:
    warn = c.number("warn_density", positive=True, high=MAX_DENSITY)
    critical = c.number("critical_density", positive=True, high=MAX_DENSITY)
    warn = DEFAULT_WARN_DENSITY if warn is None else warn
    critical = DEFAULT_CRITICAL_DENSITY if critical is None else critical
    if not c.failed and warn > critical:
        column = "warn_density" if c.raw("warn_density") else "critical_density"
        c.error(column, f"warn_density {warn:g} is above critical_density {critical:g}")
    return ZoneRow(
        line=c.line,
        id=c.matching("id", ID, "zone id", required=True) or "",
        device_id=c.matching("device_id", DEVICE_ID, "device id", required=True) or "",
        place_id=c.matching("place_id", ID, "place id"),
        grid_code=c.matching("grid_code", ID, "grid code"),
        name=c.text("name", required=True) or "",
        area_m2=c.number("area_m2", required=True, positive=True) or 0.0,
        warn_density=warn,
        critical_density=critical,
        polygon=_image_polygon(c),
    )


def _image_polygon(c: Cells) -> list[list[float]] | None:
    value = c.json_value("polygon_json")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) < 3 or not all(_image_point(p) for p in value):
        c.error("polygon_json", "must be an array of at least 3 [x, y] image points, "
                                "each coordinate a number >= 0")
        return None
    return [[float(x), float(y)] for x, y in value]


def _image_point(point: Any) -> bool:
    return isinstance(point, list) and len(point) == 2 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        for v in point
    )

PARSERS: dict[str, Parser] = {
    "regions": _region, "people": _person, "grid_members": _member, "places": _place,
    "devices": _device, "zones": _zone,
}
