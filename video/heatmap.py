"""Occupancy heatmaps (人流热力图) per camera over a time window, built from counts only.

Owns accumulating where people were — detections' feet, or each zone's count spread
evenly over the zone — on a coarse grid over the image, and rendering it as a PNG.
Frames are never stored: a grid holds person-samples per cell.

- :class:`OccupancyHeatmap`: in memory, mean people per cell over a sliding window.
- :class:`HeatmapWindows`: fixed windows (default 5 minutes, 32 × 18 cells) that the video
  service persists in ``video_heatmaps`` (migration 0014) with :func:`store_window`, in
  parts every minute so the window in progress is visible before it closes.
- :func:`heatmap_png`: sums a camera's stored windows over ``[since, until)`` and draws
  the mean occupancy in colour over a neutral outline of the zones (no frame pixels).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cv2
import numpy as np
import psycopg
from psycopg.rows import tuple_row

from video.model import CountResult, DensityPatch
from video.zones import ZoneGeometry

GRID = (32, 18)          # cells (columns, rows) of a stored window
WINDOW_S = 300           # seconds per stored window
PART_S = 60.0            # seconds between stored parts of the window in progress


def occupancy_grid(result: CountResult, zones: Sequence[ZoneGeometry],
                   frame_size: tuple[int, int], cells: tuple[int, int],
                   masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """People per cell in one analysed moment: where the result says where people were
    (detections' feet, the density map of the zones it counted by density), that; else
    each zone's count spread evenly over the zone's cells."""
    grid = np.zeros((cells[1], cells[0]), np.float32)
    counted = {e.zone_id: e.count for e in result.zones}
    if result.density is not None:
        _add_density(grid, result.density, frame_size)
        counted = {}
    if result.detections:
        sx, sy = cells[0] / frame_size[0], cells[1] / frame_size[1]
        for d in result.detections:
            x, y = d.foot
            row, col = int(np.clip(y * sy, 0, cells[1] - 1)), int(np.clip(x * sx, 0, cells[0] - 1))
            grid[row, col] += 1
        counted = {}
    cache = masks if masks is not None else {}
    for zone in zones:
        n = counted.get(zone.zone_id, 0.0)
        if n > 0:
            if zone.zone_id not in cache:
                cache[zone.zone_id] = zone.mask(*cells, frame_size).astype(np.float32)
            mask = cache[zone.zone_id]
            grid += mask * (n / max(float(mask.sum()), 1.0))
    return grid


def _add_density(grid: np.ndarray, patch: DensityPatch, frame_size: tuple[int, int]) -> None:
    """Each density cell's people into the heat cell under its centre."""
    x0, y0, x1, y1 = patch.box
    h, w = patch.grid.shape
    xs = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    ys = y0 + (np.arange(h) + 0.5) * (y1 - y0) / h
    cols = np.clip((xs * grid.shape[1] / frame_size[0]).astype(int), 0, grid.shape[1] - 1)
    rows = np.clip((ys * grid.shape[0] / frame_size[1]).astype(int), 0, grid.shape[0] - 1)
    np.add.at(grid, (rows[:, None], cols[None, :]), patch.grid)


@dataclass(frozen=True, slots=True, eq=False)
class HeatmapSnapshot:
    grid: np.ndarray        # mean people per cell over the window
    frames: int
    window_s: float


class OccupancyHeatmap:
    """Mean people per grid cell over the last ``window_s`` seconds (in memory)."""

    def __init__(self, frame_size: tuple[int, int], cells: tuple[int, int] = (48, 27),
                 window_s: float = 600.0) -> None:
        self.frame_size = frame_size
        self.cells = cells
        self.window_s = window_s
        self._entries: deque[tuple[float, np.ndarray]] = deque()
        self._masks: dict[str, np.ndarray] = {}

    def add(self, t: float, result: CountResult, zones: Sequence[ZoneGeometry]) -> None:
        """One analysed moment at ``t`` seconds."""
        self._entries.append((t, occupancy_grid(result, zones, self.frame_size, self.cells,
                                                self._masks)))
        while self._entries and self._entries[0][0] < t - self.window_s:
            self._entries.popleft()

    def snapshot(self) -> HeatmapSnapshot:
        if not self._entries:
            return HeatmapSnapshot(np.zeros((self.cells[1], self.cells[0]), np.float32), 0,
                                   self.window_s)
        grid = np.mean([g for _, g in self._entries], axis=0)
        return HeatmapSnapshot(grid, len(self._entries), self.window_s)


@dataclass(frozen=True, slots=True, eq=False)
class HeatmapWindow:
    """One finished window: person-samples per cell (sum over ``samples`` moments)."""

    start: datetime
    window_s: int
    cells: np.ndarray                       # (rows, cols) float32, summed
    samples: int
    zones: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]   # outlines, grid units


class HeatmapWindows:
    """Accumulates one camera's grids into fixed windows aligned to ``window_s``.

    ``add`` hands back a part of the window in progress every ``part_s`` seconds as well as
    the rest of a window when it closes; :func:`store_window` sums the parts of a window.
    Without parts, the last five minutes would never show (nothing until a window closes).
    """

    def __init__(self, cells: tuple[int, int] = GRID, window_s: int = WINDOW_S,
                 part_s: float | None = PART_S) -> None:
        self.cells = cells
        self.window_s = window_s
        self.part_s = part_s
        self._start: datetime | None = None
        self._part_from: datetime | None = None
        self._sum = np.zeros((cells[1], cells[0]), np.float32)
        self._samples = 0
        self._zones: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()
        self._masks: dict[str, np.ndarray] = {}
        self._size: tuple[int, int] | None = None

    def add(self, when: datetime, result: CountResult, zones: Sequence[ZoneGeometry],
            frame_size: tuple[int, int]) -> HeatmapWindow | None:
        """Add one moment; returns what is due for storage: the rest of the previous window
        when ``when`` starts a new one, or this window's part when ``part_s`` has passed."""
        if frame_size != self._size:
            self._size, self._masks = frame_size, {}
            self._zones = _outlines(zones, frame_size, self.cells)
        start = _window_start(when, self.window_s)
        done = self.flush() if self._start is not None and start != self._start else None
        if self._start is None:
            self._start, self._part_from = start, when
        self._sum += occupancy_grid(result, zones, frame_size, self.cells, self._masks)
        self._samples += 1
        if done is None and self._part_due(when):
            done = self._take_part(when)
        return done

    def _part_due(self, when: datetime) -> bool:
        return (self.part_s is not None and self._part_from is not None
                and (when - self._part_from).total_seconds() >= self.part_s)

    def _take_part(self, when: datetime) -> HeatmapWindow | None:
        """The samples since the last part; the window itself stays open."""
        assert self._start is not None
        start = self._start
        part = self.flush()
        self._start, self._part_from = start, when
        return part

    def flush(self) -> HeatmapWindow | None:
        """The window in progress (if any samples), and start afresh."""
        if self._start is None or self._samples == 0:
            return None
        out = HeatmapWindow(self._start, self.window_s, self._sum.copy(), self._samples,
                            self._zones)
        self._sum[:] = 0.0
        self._samples, self._start, self._part_from = 0, None, None
        return out


def _window_start(when: datetime, window_s: int) -> datetime:
    epoch = when.timestamp()
    return when - timedelta(seconds=epoch - (epoch // window_s) * window_s)


def _outlines(zones: Sequence[ZoneGeometry], frame_size: tuple[int, int],
              cells: tuple[int, int]) -> tuple[tuple[str, tuple[tuple[float, float], ...]], ...]:
    sx, sy = cells[0] / frame_size[0], cells[1] / frame_size[1]
    return tuple((z.zone_id, tuple((round(float(x) * sx, 3), round(float(y) * sy, 3))
                                   for x, y in z.polygon)) for z in zones)


def store_window(conn: psycopg.Connection[Any], camera_id: str, window: HeatmapWindow) -> None:
    """Upsert ``window``; a window written twice (a restart within it) is summed."""
    rows, cols = window.cells.shape
    zones = [{"zone_id": z, "polygon": [list(p) for p in poly]} for z, poly in window.zones]
    conn.execute(
        "INSERT INTO video_heatmaps (camera_id, window_start, window_s, cols, rows, samples,"
        " cells, zones) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (camera_id, window_start) DO UPDATE SET"
        " samples = video_heatmaps.samples + EXCLUDED.samples,"
        " cells = CASE WHEN video_heatmaps.cols = EXCLUDED.cols"
        " AND video_heatmaps.rows = EXCLUDED.rows THEN"
        " ARRAY(SELECT a + b FROM unnest(video_heatmaps.cells, EXCLUDED.cells) AS t(a, b))"
        " ELSE EXCLUDED.cells END,"
        " zones = EXCLUDED.zones, updated_at = now()",
        (camera_id, window.start, window.window_s, cols, rows, window.samples,
         [float(v) for v in window.cells.ravel()], json.dumps(zones)))


def heatmap_png(conn: psycopg.Connection[Any], camera_id: str, since: datetime,
                until: datetime) -> bytes | None:
    """The camera's mean occupancy over windows starting in ``[since, until)`` as a PNG,
    or ``None`` when no window was stored for it then."""
    # By position, whatever row factory the caller's connection has (the API's is dict_row).
    rows = conn.cursor(row_factory=tuple_row).execute(
        "SELECT cols, rows, samples, cells, zones FROM video_heatmaps"
        " WHERE camera_id = %s AND window_start >= %s AND window_start < %s"
        " ORDER BY window_start", (camera_id, since, until)).fetchall()
    if not rows:
        return None
    cols, nrows = int(rows[-1][0]), int(rows[-1][1])
    total = np.zeros((nrows, cols), np.float64)
    samples = 0
    for c, r, n, cells, _zones in rows:
        if (int(c), int(r)) == (cols, nrows):
            total += np.asarray(cells, np.float64).reshape(nrows, cols)
            samples += int(n)
    outlines = [(str(z["zone_id"]), [(float(x), float(y)) for x, y in z["polygon"]])
                for z in rows[-1][4]]
    return render_occupancy(total / max(samples, 1), outlines)


def render_occupancy(grid: np.ndarray, outlines: Sequence[tuple[str, Sequence[tuple[float, float]]]]
                     = (), width: int = 640) -> bytes:
    """Mean people per cell in colour (transparent where nobody was) over a neutral grey
    canvas with the zone outlines (given in grid units) and a scale bar."""
    g = np.asarray(grid, np.float32)
    height = round(width * g.shape[0] / g.shape[1])
    canvas = np.full((height, width, 3), 52, np.uint8)
    s = width / g.shape[1]
    for zone_id, poly in outlines:
        pts = np.round(np.asarray(poly, np.float64) * s).astype(np.int32)
        cv2.fillPoly(canvas, [pts], (78, 78, 78))
        cv2.polylines(canvas, [pts], True, (170, 170, 170), 1, cv2.LINE_AA)
        x, y = pts.min(axis=0)
        cv2.putText(canvas, zone_id, (int(x) + 4, int(y) + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (200, 200, 200), 1, cv2.LINE_AA)
    top = max(float(g.max()), 1e-6)
    big = cv2.resize(g / top, (width, height), interpolation=cv2.INTER_LINEAR)
    big = cv2.GaussianBlur(big, (0, 0), sigmaX=s / 2.0)
    colours = cv2.applyColorMap(np.clip(big * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_TURBO)
    alpha = np.clip(big * 3.0, 0.0, 0.85)[..., None]
    out = (canvas * (1 - alpha) + colours * alpha).astype(np.uint8)
    _scale_bar(out, top)
    ok, png = cv2.imencode(".png", out)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return bytes(png.tobytes())


def _scale_bar(image: np.ndarray, top: float) -> None:
    h, w = image.shape[:2]
    bar = cv2.applyColorMap(np.linspace(0, 255, 120, dtype=np.uint8)[None, :].repeat(8, 0),
                            cv2.COLORMAP_TURBO)
    y, x = h - 22, w - 130
    image[y:y + 8, x:x + 120] = bar
    cv2.putText(image, f"0 .. {top:.2f} people/cell", (x - 10, y - 4), cv2.FONT_HERSHEY_SIMPLEX,
                0.35, (230, 230, 230), 1, cv2.LINE_AA)


def render_heatmap(grid: np.ndarray, width: int = 640, height: int = 360,
                   vmax: float | None = None) -> bytes:
    """The grid alone as a PNG: black (empty) → red/yellow (most occupied), smoothed."""
    g = np.asarray(grid, dtype=np.float32)
    top = float(vmax if vmax is not None else max(float(g.max()), 1e-6))
    norm = np.clip(g / top, 0.0, 1.0)
    big = cv2.resize(norm, (width, height), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), sigmaX=max(width / g.shape[1] / 2.0, 1.0))
    img = cv2.applyColorMap(np.clip(big * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return bytes(png.tobytes())
