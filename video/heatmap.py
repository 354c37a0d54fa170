"""Occupancy heatmaps (人流热力图) per camera over a time window, built from counts only.

Owns accumulating where people were — detections' feet or per-zone counts spread over the
zone — on a coarse grid, and rendering the average as a PNG. Frames are never stored: the
grid holds numbers of people per cell, summed over the window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from video.model import CountResult
from video.zones import ZoneGeometry


@dataclass(frozen=True, slots=True, eq=False)
class HeatmapSnapshot:
    grid: np.ndarray        # mean people per cell over the window
    frames: int
    window_s: float


class OccupancyHeatmap:
    """Mean people per grid cell over the last ``window_s`` seconds."""

    def __init__(self, frame_size: tuple[int, int], cells: tuple[int, int] = (48, 27),
                 window_s: float = 600.0) -> None:
        self.frame_size = frame_size
        self.cells = cells
        self.window_s = window_s
        self._entries: deque[tuple[float, np.ndarray]] = deque()
        self._masks: dict[str, np.ndarray] = {}

    def add(self, t: float, result: CountResult, zones: Sequence[ZoneGeometry]) -> None:
        """One analysed moment: detections where known, else each zone's count spread evenly."""
        grid = np.zeros((self.cells[1], self.cells[0]), np.float32)
        counted = {e.zone_id: e.count for e in result.zones}
        if result.detections:
            sx, sy = self.cells[0] / self.frame_size[0], self.cells[1] / self.frame_size[1]
            for d in result.detections:
                x, y = d.foot
                grid[min(int(y * sy), self.cells[1] - 1), min(int(x * sx), self.cells[0] - 1)] += 1
            counted = {}
        for zone in zones:
            n = counted.get(zone.zone_id, 0.0)
            if n > 0:
                mask = self._mask(zone)
                grid += mask * (n / max(float(mask.sum()), 1.0))
        self._entries.append((t, grid))
        while self._entries and self._entries[0][0] < t - self.window_s:
            self._entries.popleft()

    def _mask(self, zone: ZoneGeometry) -> np.ndarray:
        if zone.zone_id not in self._masks:
            self._masks[zone.zone_id] = zone.mask(*self.cells, self.frame_size).astype(np.float32)
        return self._masks[zone.zone_id]

    def snapshot(self) -> HeatmapSnapshot:
        if not self._entries:
            return HeatmapSnapshot(np.zeros((self.cells[1], self.cells[0]), np.float32), 0,
                                   self.window_s)
        grid = np.mean([g for _, g in self._entries], axis=0)
        return HeatmapSnapshot(grid, len(self._entries), self.window_s)


def render_heatmap(grid: np.ndarray, width: int = 640, height: int = 360,
                   vmax: float | None = None) -> bytes:
    """The grid as a PNG: black (empty) → red/yellow (most occupied), smoothed."""
    g = np.asarray(grid, dtype=np.float32)
    top = float(vmax if vmax is not None else max(float(g.max()), 1e-6))
    norm = np.clip(g / top, 0.0, 1.0)
    big = cv2.resize(norm, (width, height), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), sigmaX=max(width / g.shape[1] / 2.0, 1.0))
    img = cv2.applyColorMap(np.clip(big * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return png.tobytes()
