"""Where and at what scale the person detector looks: regions of a frame within a budget.

Owns the plan of detector passes for one camera. People far from the camera are small
and a detector misses them at the frame's own scale; near ones are large and need no
upscaling. With a ground model, the feet rows of the zones are cut into bands in which
the wanted scale (a standing person ``target_px`` tall at the network's input) varies
at most 1.5×; each band is one region reaching one person height above its far edge, so
a whole body stands in it. Without one, the whole frame is one region. Either way the
pixels fed to the network are capped at ``budget_px`` per analysed frame by scaling all
regions down together; overlapping regions' boxes are merged by the detector's NMS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from video.calibration import GroundModel
from video.yolox import Region


@dataclass(frozen=True, slots=True)
class TilePlan:
    budget_px: float = 6.0e5   # network input pixels per analysed frame (the cost budget)
    target_px: float = 72.0    # a person's height at the network's input
    max_scale: float = 2.0
    min_scale: float = 0.25
    band_ratio: float = 1.5    # the wanted scale varies at most this much within a band
    max_bands: int = 3


def plan_regions(size: tuple[int, int], ground: GroundModel | None,
                 rows: tuple[int, int], plan: TilePlan | None = None) -> list[Region]:
    """Detector regions for frames of ``size`` = (w, h) whose zones' feet lie in ``rows``."""
    plan = plan or TilePlan()
    w, h = size
    if ground is None:
        return _fit([Region(0, 0, w, h, plan.max_scale)], plan)
    top, bottom = max(0, rows[0]), min(h, max(rows[1], rows[0] + 1))
    feet = np.linspace(top, bottom - 1, 24)
    heights = ground.person_height_px(np.column_stack([np.full_like(feet, w / 2), feet]))
    wanted = np.clip(plan.target_px / np.maximum(heights, 1.0), plan.min_scale, plan.max_scale)
    regions = []
    for lo, hi in _bands(wanted, plan):
        person = float(np.nan_to_num(heights[lo], nan=h))
        y0 = max(0, int(feet[lo] - 1.1 * person))
        y1 = min(h, int(feet[hi]) + 8)
        regions.append(Region(0, y0, w, max(y1, y0 + 32), float(wanted[lo:hi + 1].max())))
    return _fit(regions, plan)


def _bands(wanted: np.ndarray, plan: TilePlan) -> list[tuple[int, int]]:
    """Index ranges of rows (far to near) whose wanted scales stay within ``band_ratio``."""
    bands: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(wanted)):
        lo, hi = wanted[start:i + 1].min(), wanted[start:i + 1].max()
        if hi > plan.band_ratio * lo and len(bands) < plan.max_bands - 1:
            bands.append((start, i - 1))
            start = i
    bands.append((start, len(wanted) - 1))
    return bands


def _fit(regions: list[Region], plan: TilePlan) -> list[Region]:
    cost = sum((r.x1 - r.x0) * (r.y1 - r.y0) * r.scale ** 2 for r in regions)
    factor = min(1.0, math.sqrt(plan.budget_px / max(cost, 1.0)))
    return [Region(r.x0, r.y0, r.x1, r.y1, max(plan.min_scale, r.scale * factor))
            for r in regions]
