"""Zones in image coordinates: masks, walkable areas and which zone a point falls in.

Owns :class:`ZoneGeometry`, a zone prepared for one frame size: its polygon (``None`` in
the stored zone means the whole frame), a filled mask at any analysis scale, and its
walkable area — the registered ``area_m2`` when there is one (that is what ingest divides
by), else the ground area of the polygon from the calibration, else unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from video.calibration import GroundModel
from video.model import CountResult, Detection, Zone, ZoneEstimate


@dataclass(frozen=True, slots=True, eq=False)
class ZoneGeometry:
    zone: Zone
    polygon: np.ndarray        # (K, 2) frame pixels
    area_m2: float | None

    @property
    def zone_id(self) -> str:
        return self.zone.zone_id

    def mask(self, width: int, height: int, frame_size: tuple[int, int]) -> np.ndarray:
        """The zone filled with 1 on a ``width`` × ``height`` grid over the frame (uint8)."""
        sx, sy = width / frame_size[0], height / frame_size[1]
        pts = np.round(self.polygon * (sx, sy)).astype(np.int32)
        out = np.zeros((height, width), np.uint8)
        cv2.fillPoly(out, [pts], 1)
        return out

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Mask of frame pixels (N, 2) inside the zone (boundary included)."""
        contour = self.polygon.astype(np.float32).reshape(-1, 1, 2)
        return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0
                         for x, y in np.asarray(points, dtype=float).reshape(-1, 2)], dtype=bool)

    def rows(self) -> tuple[int, int]:
        """The range of frame rows the zone covers."""
        return int(np.floor(self.polygon[:, 1].min())), int(np.ceil(self.polygon[:, 1].max()))


def prepare_zones(zones: Sequence[Zone], width: int, height: int,
                  ground: GroundModel | None) -> list[ZoneGeometry]:
    """Zones ready for frames of ``width`` × ``height``."""
    out = []
    for zone in zones:
        if zone.polygon is None:
            poly = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=float)
        else:
            poly = np.asarray(zone.polygon, dtype=float).reshape(-1, 2)
        area = zone.area_m2
        if area is None and ground is not None:
            area = ground.area_m2(poly) or None
        out.append(ZoneGeometry(zone, poly, area))
    return out


def union_rows(zones: Sequence[ZoneGeometry], height: int) -> tuple[int, int]:
    """Frame rows spanned by any zone (feet outside them need not be searched)."""
    if not zones:
        return (0, height)
    spans = [z.rows() for z in zones]
    return (max(0, min(s[0] for s in spans)), min(height, max(s[1] for s in spans)))


def zone_counts(detections: Sequence[Detection], zones: Sequence[ZoneGeometry],
                confidence: float, method: str) -> CountResult:
    """Detections per zone by their feet (bottom-centre)."""
    feet = np.array([d.foot for d in detections]).reshape(-1, 2)
    out = []
    for zone in zones:
        n = int(zone.contains(feet).sum()) if len(feet) else 0
        density = n / zone.area_m2 if zone.area_m2 else None
        out.append(ZoneEstimate(zone.zone_id, float(n), density, confidence))
    return CountResult(tuple(out), method, tuple(detections))
