"""What a synthetic scene is: camera, walkable ground, zones, crowd density over time, and
the knobs of image degradation; plus the ground truth reported for every frame.

Owns the scene description other stages code against (``SceneSpec``, ``ZoneSpec``,
``FrameTruth``) and the default layout for a camera (walkable area, zones, which edges
of the walkable area are visible kerbs and which are open ground people walk in from).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulators.render.camera import CameraModel
from simulators.render.geometry import (
    Polygon,
    as_polygon,
    counter_clockwise,
    edge_points,
    points_in_polygon,
    polygon_area,
)

DensityProfile = float | Callable[[float], float]


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A counting zone: a polygon on the ground, in metres."""

    zone_id: str
    ground_polygon: Polygon

    def __post_init__(self) -> None:
        if len(self.ground_polygon) < 3:
            raise ValueError(f"zone {self.zone_id!r} needs at least three vertices")

    @property
    def area_m2(self) -> float:
        """Ground area of the zone."""
        return polygon_area(self.ground_polygon)

    def image_polygon(self, camera: CameraModel) -> np.ndarray:
        """The zone outline in pixels, (K, 2) float; every vertex must be in front of the camera."""
        px = camera.ground_to_image(np.array(self.ground_polygon))
        if not np.all(np.isfinite(px)):
            raise ValueError(f"zone {self.zone_id!r} reaches behind the camera or the horizon")
        return px

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Mask of ground points (feet, metres) inside the zone."""
        return points_in_polygon(points, self.ground_polygon)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """Everything that determines a rendered sequence; the same spec gives the same frames.

    ``target_density`` is persons per m² of the walkable area, constant or a function of
    time in seconds. ``walkable`` defaults to the camera's view of a plaza
    (:func:`default_walkable`).
    """

    camera: CameraModel
    zones: tuple[ZoneSpec, ...]
    target_density: DensityProfile
    seed: int = 0
    fps: float = 25.0
    walkable: Polygon | None = None
    noise_sigma: float = 2.5
    jpeg_quality: int | None = 85
    lighting_drift: float = 0.06
    shadows: bool = True
    clutter: bool = True
    warmup_s: float = 2.0
    person_height_range: tuple[float, float] = (1.5, 1.9)
    group_fraction: float = 0.3

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError("fps must be positive")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be within 1..100 or None")
        lo, hi = self.person_height_range
        if not 0.5 < lo <= hi < 2.5:
            raise ValueError("person_height_range must be plausible heights in metres")

    def walkable_polygon(self) -> Polygon:
        """The walkable area in metres (the given one or the camera's default plaza)."""
        return self.walkable if self.walkable is not None else default_walkable(self.camera)

    @property
    def walkable_area_m2(self) -> float:
        return polygon_area(self.walkable_polygon())

    def density_at(self, t: float) -> float:
        """Target density (persons/m²) at time ``t`` seconds."""
        value = self.target_density(t) if callable(self.target_density) else self.target_density
        return max(0.0, float(value))

    def target_count(self, t: float) -> int:
        """How many people the walkable area should hold at time ``t``."""
        return round(self.density_at(t) * self.walkable_area_m2)


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """Exact ground truth of one frame: people per zone (by foot position) and positions."""

    t: float
    index: int
    zone_counts: dict[str, int]
    positions: np.ndarray  # (N, 2) metres, feet on the ground

    def zone_density(self, zone: ZoneSpec) -> float:
        """True persons/m² in ``zone``."""
        return self.zone_counts[zone.zone_id] / zone.area_m2


def count_in_zones(zones: tuple[ZoneSpec, ...], positions: np.ndarray) -> dict[str, int]:
    """People per zone, a person counted where their feet are."""
    return {z.zone_id: int(z.contains(positions).sum()) for z in zones}


# -- default layout ----------------------------------------------------------------------
_OFF_VIEW_MARGIN_M = 2.0


def default_walkable(camera: CameraModel) -> Polygon:
    """A plaza filling the view: from just below the image's bottom edge to where a person
    is about a tenth of the image high (or just beyond the top), 2 m wider than the view.
    """
    near_y, top_y = _view_depth_range(camera)
    far_depth = camera.focal_px * 1.7 / (0.1 * camera.height)
    tilt = math.radians(camera.tilt_deg)
    far_y = (far_depth - math.sin(tilt) * camera.height_m) / math.cos(tilt)
    if far_y > top_y - 1.0:
        far_y = top_y + _OFF_VIEW_MARGIN_M
    near_y = max(near_y - _OFF_VIEW_MARGIN_M, 0.3 - camera.height_m * math.tan(tilt))
    near_w = camera.half_width_at(near_y) + _OFF_VIEW_MARGIN_M
    far_w = camera.half_width_at(far_y) + _OFF_VIEW_MARGIN_M
    return as_polygon([(-near_w, near_y), (near_w, near_y), (far_w, far_y), (-far_w, far_y)])


def default_zones(camera: CameraModel) -> tuple[ZoneSpec, ...]:
    """Two zones in view: a 6 x 5 m one near the camera and a wider one farther away."""
    near_y, top_y = _view_depth_range(camera)
    walk = np.array(default_walkable(camera))
    limit = min(top_y, float(walk[:, 1].max())) - 1.0
    y0 = near_y + 1.5
    zones = [ZoneSpec("zone-near", _rect(-3.0, 3.0, y0, y0 + 5.0))]
    y1, y2 = y0 + 7.0, min(y0 + 14.0, limit)
    if y2 - y1 >= 2.0:
        half = min(5.0, camera.half_width_at(y1) - 1.0)
        zones.append(ZoneSpec("zone-far", _rect(-half + 1.0, half + 1.0, y1, y2)))
    return tuple(zones)


def default_scene(camera: CameraModel, target_density: DensityProfile, seed: int = 0,
                  **knobs: Any) -> SceneSpec:
    """A scene on the camera's default plaza with its default zones (``knobs``: any other
    ``SceneSpec`` field)."""
    return SceneSpec(camera=camera, zones=default_zones(camera),
                     target_density=target_density, seed=seed, **knobs)


def _rect(x0: float, x1: float, y0: float, y1: float) -> Polygon:
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def _view_depth_range(camera: CameraModel) -> tuple[float, float]:
    """Ground distance ahead seen at the image's bottom and top rows (centre column)."""
    cx = camera.width / 2.0
    top_row = max(camera.horizon_row + 2.0, 0.0)
    pts = camera.image_to_ground(np.array([[cx, float(camera.height)], [cx, top_row]]))
    return float(pts[0, 1]), float(min(pts[1, 1], 200.0))


@dataclass(frozen=True, slots=True)
class Layout:
    """The walkable area (counter-clockwise), which edges are visible kerbs, entry points."""

    walkable: np.ndarray
    walls: np.ndarray
    entries: np.ndarray


def layout_for(camera: CameraModel, walkable: Polygon) -> Layout:
    """Edges with any point in view are kerbs; people come and go through the others."""
    poly = counter_clockwise(np.array(walkable))
    points, edges = edge_points(poly, 0.5)
    seen = camera.in_view(points, margin_px=-2.0)
    walls = np.array([seen[edges == k].any() for k in range(len(poly))])
    usable = ~walls[edges] if (~walls).any() else np.ones(len(points), dtype=bool)
    centre = poly.mean(axis=0)
    inward = centre - points[usable]
    entries = points[usable] + inward / np.linalg.norm(inward, axis=1, keepdims=True) * 0.25
    return Layout(poly, walls, entries[points_in_polygon(entries, poly)])
