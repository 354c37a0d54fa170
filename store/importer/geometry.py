"""Grid boundary geometry: validating GeoJSON polygons, bounding boxes, point-in-polygon.

This module owns plane geometry on lon/lat pairs (WGS 84) for the importer and nothing
else; it needs no GIS library because grid cells are small polygons.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import pairwise
from typing import Any

Ring = list[list[float]]
Polygon = list[Ring]
BBox = tuple[float, float, float, float]

GEOMETRY_TYPES = ("Polygon", "MultiPolygon")


def normalise_geometry(geometry: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """A Polygon or MultiPolygon with [lon, lat] float positions, or None and the problems.

    Rings must be closed, with at least 4 positions, every longitude in [-180, 180]
    and latitude in [-90, 90]. An altitude, if given, is dropped.
    """
    if not isinstance(geometry, dict):
        return None, ["a Polygon or MultiPolygon geometry is required"]
    kind = geometry.get("type")
    if kind not in GEOMETRY_TYPES:
        return None, [f"geometry type {kind!r} is not Polygon or MultiPolygon"]
    coordinates = geometry.get("coordinates")
    raw = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(raw, list) or not raw:
        return None, ["coordinates must be a non-empty array"]
    problems: list[str] = []
    polygons = [_polygon(p, _label(kind, n), problems) for n, p in enumerate(raw, start=1)]
    if problems:
        return None, problems
    coords: Any = polygons[0] if kind == "Polygon" else polygons
    return {"type": kind, "coordinates": coords}, []


def _label(kind: str, number: int) -> str:
    return "" if kind == "Polygon" else f"polygon {number}, "


def _polygon(raw: Any, label: str, problems: list[str]) -> Polygon:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{label}a polygon must be a non-empty array of rings")
        return []
    return [_ring(r, f"{label}ring {n}", problems) for n, r in enumerate(raw, start=1)]


def _ring(raw: Any, label: str, problems: list[str]) -> Ring:
    if not isinstance(raw, list):
        problems.append(f"{label}: a ring must be an array of positions")
        return []
    ring: Ring = []
    for number, position in enumerate(raw, start=1):
        problem = _position_problem(position)
        if problem:
            problems.append(f"{label}, position {number}: {problem}")
            return []
        ring.append([float(position[0]), float(position[1])])
    if len(ring) < 4:
        problems.append(f"{label}: has {len(ring)} positions, at least 4 are required")
    elif ring[0] != ring[-1]:
        problems.append(f"{label}: not closed (the last position must repeat the first)")
    return ring


def _position_problem(position: Any) -> str | None:
    if not isinstance(position, list) or len(position) not in (2, 3) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in position
    ):
        return f"{json_text(position)} is not [lon, lat]"
    lon, lat = float(position[0]), float(position[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return "coordinates must be finite"
    if not -180 <= lon <= 180:
        return f"longitude {lon:g} is outside [-180, 180]"
    if not -90 <= lat <= 90:
        swapped = " (are lon and lat swapped?)" if -90 <= lon <= 90 else ""
        return f"latitude {lat:g} is outside [-90, 90]{swapped}"
    return None


def json_text(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def polygons(geometry: dict[str, Any]) -> list[Polygon]:
    """The polygons of a normalised Polygon or MultiPolygon."""
    coords = geometry["coordinates"]
    return [coords] if geometry["type"] == "Polygon" else list(coords)


def bbox(geometry: dict[str, Any]) -> BBox:
    """min_lon, min_lat, max_lon, max_lat over every exterior ring."""
    points = [p for polygon in polygons(geometry) for p in polygon[0]]
    lons = [p[0] for p in points]
    lats = [p[1] for p in points]
    return min(lons), min(lats), max(lons), max(lats)


def in_bbox(lon: float, lat: float, box: BBox) -> bool:
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def contains(geometry: dict[str, Any], lon: float, lat: float) -> bool:
    """Whether the point lies in the geometry (inside an exterior ring, outside its holes).

    Crossing-number test: a point on an edge shared by two cells tiling the plane is
    counted in exactly one of them.
    """
    return any(
        _in_ring(lon, lat, polygon[0]) and not any(_in_ring(lon, lat, h) for h in polygon[1:])
        for polygon in polygons(geometry)
    )


def _in_ring(x: float, y: float, ring: Ring) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in _edges(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _edges(ring: Iterable[list[float]]) -> Iterator[tuple[list[float], list[float]]]:
    return pairwise(ring)
