"""Crowd motion from dense optical flow, and line crossings estimated from counts × flow.

Owns motion indicators that need no tracks: Farnebäck flow between consecutive analysed
frames on a small grey image gives, per zone, the median speed of the moving foreground
(m/s with a ground model, px/s without) and the spread of directions (1 − mean resultant
length: 0 when everyone moves one way, near 1 in turbulence or counter-flow, a surge
indicator). Crossings of a counting line are the flux of people through it: for every
sample point on the line, (people per pixel) × (flow across the line), summed — a count
density times a velocity, never a followed individual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from video.calibration import GroundModel
from video.model import CountResult, Crossing, Motion, Point
from video.zones import ZoneGeometry

_FLOW_WIDTH = 160
_MOVING_PX = 0.4  # flow magnitude (analysis px per frame pair) counted as moving


@dataclass(frozen=True, slots=True, eq=False)
class FlowField:
    flow: np.ndarray          # (h, w, 2) displacement in frame pixels over dt
    dt: float
    scale: float              # analysis px per frame px
    frame_size: tuple[int, int]


@dataclass(frozen=True, slots=True)
class CountingLine:
    """A line from ``a`` to ``b`` in frame pixels; "inward" is to the left going a → b."""

    line_id: str
    a: Point
    b: Point
    zone_id: str | None = None  # the zone whose density gives people per pixel


class FlowMeter:
    def __init__(self, width: int = _FLOW_WIDTH) -> None:
        self.width = width
        self._previous: tuple[np.ndarray, float] | None = None

    def update(self, frame: np.ndarray, t: float) -> FlowField | None:
        """Flow from the previous frame to this one (``None`` for the first frame)."""
        h, w = frame.shape[:2]
        scale = self.width / w
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cv2.resize(gray, (self.width, max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA)
        previous, self._previous = self._previous, (small, t)
        if previous is None or t <= previous[1]:
            return None
        flow = np.asarray(cv2.calcOpticalFlowFarneback(
            previous[0], np.asarray(small), None, 0.5, 3, 15, 3, 5, 1.2, 0))  # type: ignore[call-overload]
        return FlowField(flow / scale, t - previous[1], scale, (w, h))

    def motion(self, field: FlowField, zones: Sequence[ZoneGeometry],
               ground: GroundModel | None) -> tuple[Motion, ...]:
        fh, fw = field.flow.shape[:2]
        speed_px = np.linalg.norm(field.flow, axis=2) / field.dt
        moving = speed_px * field.dt * field.scale > _MOVING_PX
        per_m = _scale_map(ground, fw, fh, field.frame_size)
        out = []
        for zone in zones:
            m = zone.mask(fw, fh, field.frame_size).astype(bool)
            sel = m & moving
            if not sel.any():
                out.append(Motion(zone.zone_id, 0.0, 0.0, 0.0))
                continue
            v = field.flow[sel]
            speeds = speed_px[sel] / per_m[sel] if per_m is not None else speed_px[sel]
            unit = v / np.linalg.norm(v, axis=1, keepdims=True)
            spread = 1.0 - float(np.linalg.norm(unit.mean(axis=0)))
            out.append(Motion(zone.zone_id, round(float(np.median(speeds)), 3),
                              round(spread, 3), round(float(sel.sum() / max(m.sum(), 1)), 3)))
        return tuple(out)


def _scale_map(ground: GroundModel | None, w: int, h: int,
               frame_size: tuple[int, int]) -> np.ndarray | None:
    if ground is None:
        return None
    xs = (np.arange(w) + 0.5) * frame_size[0] / w
    ys = (np.arange(h) + 0.5) * frame_size[1] / h
    gx, gy = np.meshgrid(xs, ys)
    scale = ground.ground_scale_px_per_m(np.column_stack([gx.ravel(), gy.ravel()]))
    return np.asarray(np.maximum(scale.reshape(h, w), 1e-3))


class LineCounter:
    """Accumulates people crossing each line, in and out, from flux estimates."""

    def __init__(self, lines: Sequence[CountingLine]) -> None:
        self.lines = tuple(lines)
        self.totals = {line.line_id: [0.0, 0.0] for line in self.lines}

    def update(self, field: FlowField, result: CountResult,
               zones: Sequence[ZoneGeometry]) -> tuple[Crossing, ...]:
        by_zone = {z.zone_id: z for z in zones}
        counts = {e.zone_id: e.count for e in result.zones}
        out = []
        for line in self.lines:
            zone = by_zone.get(line.zone_id or "", zones[0] if zones else None)
            if zone is None:
                continue
            inward, outward = _flux(line, field, counts.get(zone.zone_id, 0.0), zone)
            self.totals[line.line_id][0] += inward
            self.totals[line.line_id][1] += outward
            out.append(Crossing(line.line_id, round(inward, 3), round(outward, 3)))
        return tuple(out)


def _flux(line: CountingLine, field: FlowField, count: float,
          zone: ZoneGeometry) -> tuple[float, float]:
    """People crossing ``line`` over the field's interval, split by direction."""
    a, b = np.array(line.a, float), np.array(line.b, float)
    length = float(np.linalg.norm(b - a))
    if length < 1.0 or count <= 0:
        return 0.0, 0.0
    fh, fw = field.flow.shape[:2]
    zmask = zone.mask(fw, fh, field.frame_size).astype(bool)
    moving = np.linalg.norm(field.flow, axis=2) * field.scale > _MOVING_PX
    zone_px = float(zmask.sum()) / field.scale**2
    occupied = float((zmask & moving).sum()) / field.scale**2
    if zone_px <= 0 or occupied <= 0:
        return 0.0, 0.0
    density = count / max(occupied, 1.0)          # people per moving frame pixel
    normal = np.array([(b - a)[1], -(b - a)[0]]) / length
    samples = a + np.outer(np.linspace(0, 1, 32), b - a)
    ix = np.clip((samples[:, 0] * field.scale).astype(int), 0, fw - 1)
    iy = np.clip((samples[:, 1] * field.scale).astype(int), 0, fh - 1)
    across = field.flow[iy, ix] @ normal * moving[iy, ix]
    step = length / len(samples)
    inward = float(np.clip(-across, 0, None).sum() * step * density)
    outward = float(np.clip(across, 0, None).sum() * step * density)
    return inward, outward
