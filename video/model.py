"""In-process value types of the video analyser: frozen dataclasses and string enums.

Pydantic is used only where data enters or leaves (``calibration`` JSON, MQTT payloads);
everything passed between the analyser's modules is defined here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from contracts.levels import DensityLevel, level_of

Point = tuple[float, float]
WHOLE_FRAME = "frame"


@dataclass(frozen=True, slots=True)
class Zone:
    """A counting zone: an image polygon (``None`` = whole frame) and its walkable area.

    ``area_m2`` is the registered walkable area; ``None`` means "derive it from the
    calibration" (and no density when the camera is not calibrated).
    """

    zone_id: str
    polygon: tuple[Point, ...] | None = None
    area_m2: float | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """A person box in frame pixels (x, y = top-left) with the detector's score."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def foot(self) -> Point:
        """Bottom-centre of the box: where the person stands."""
        return (self.x + self.w / 2.0, self.y + self.h)


@dataclass(frozen=True, slots=True)
class ZoneEstimate:
    """One zone's estimate at one moment."""

    zone_id: str
    count: float
    density: float | None
    confidence: float

    @property
    def level(self) -> DensityLevel | None:
        return None if self.density is None else level_of(self.density)


@dataclass(frozen=True, slots=True, eq=False)
class DensityPatch:
    """People per cell over the frame rectangle ``box`` = (x0, y0, x1, y1), in frame pixels:
    a density network's map (coarse, 1/8 of its input; nothing that identifies anyone)."""

    grid: np.ndarray
    box: tuple[int, int, int, int]

    def polygon_mask(self, polygon: np.ndarray) -> np.ndarray:
        """A frame polygon (K, 2) filled with 1 on this patch's grid."""
        x0, y0, x1, y1 = self.box
        h, w = self.grid.shape
        pts = (np.asarray(polygon, float) - (x0, y0)) * (w / max(x1 - x0, 1),
                                                          h / max(y1 - y0, 1))
        out = np.zeros((h, w), np.float32)
        cv2.fillPoly(out, [np.round(pts).astype(np.int32)], 1.0)
        return out

    def masked(self, mask: np.ndarray) -> DensityPatch:
        return DensityPatch(self.grid * mask, self.box)


@dataclass(frozen=True, slots=True, eq=False)
class CountResult:
    """What a counter returns for one frame: per-zone estimates, and where the people were
    (the detections it counted and the density it summed), for the heatmap only."""

    zones: tuple[ZoneEstimate, ...]
    method: str
    detections: tuple[Detection, ...] = ()
    density: DensityPatch | None = None


class Health(StrEnum):
    """A camera's health; the value is the ``detail`` of its status message."""

    OK = "ok"
    LOST = "stream lost"
    FROZEN = "frozen frame"
    COVERED = "lens covered"
    SCENE_CHANGED = "scene changed"


@dataclass(frozen=True, slots=True)
class Motion:
    """Crowd motion in a zone between two analysed frames."""

    zone_id: str
    speed: float          # median speed of moving foreground, m/s (px/s uncalibrated)
    direction_spread: float  # 0 = all one way, 1 = every direction (turbulence)
    moving_fraction: float


@dataclass(frozen=True, slots=True)
class Crossing:
    """People estimated to have crossed a counting line since the previous frame."""

    line_id: str
    inward: float
    outward: float
