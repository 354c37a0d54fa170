"""Occupancy heatmap windows from counts: accumulated, stored per 5 minutes, summed to a PNG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import psycopg

from tests.helpers import tiny_city
from video.heatmap import HeatmapWindows, heatmap_png, store_window
from video.model import CountResult, Detection, Zone, ZoneEstimate
from video.zones import ZoneGeometry, prepare_zones

SIZE = (640, 360)
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def _zones() -> list[ZoneGeometry]:
    return prepare_zones([Zone("left", ((0, 0), (320, 0), (320, 360), (0, 360)), 50.0),
                          Zone("right", ((320, 0), (640, 0), (640, 360), (320, 360)), 50.0)],
                         *SIZE, None)


def _warmth(image: np.ndarray) -> float:
    """Mean red minus blue: the colour map's hot end against its cold end."""
    return float((image[..., 2] - image[..., 0]).mean())


def _counts(left: float, right: float) -> CountResult:
    return CountResult((ZoneEstimate("left", left, left / 50, 0.8),
                        ZoneEstimate("right", right, right / 50, 0.8)), "regress")


def test_windows_close_on_the_five_minute_boundary_and_sum_counts() -> None:
    windows = HeatmapWindows(part_s=None)
    zones = _zones()
    assert windows.add(T0 + timedelta(seconds=10), _counts(4, 0), zones, SIZE) is None
    assert windows.add(T0 + timedelta(seconds=299), _counts(4, 0), zones, SIZE) is None
    done = windows.add(T0 + timedelta(seconds=301), _counts(0, 6), zones, SIZE)
    assert done is not None and done.start == T0 and done.samples == 2
    assert done.cells.shape == (18, 32)
    assert abs(float(done.cells.sum()) - 8.0) < 1e-3          # 2 moments × 4 people
    assert float(done.cells[:, 17:].sum()) == 0.0             # nobody on the right
    rest = windows.flush()
    assert rest is not None and rest.start == T0 + timedelta(seconds=300)


def test_detections_are_placed_at_their_feet() -> None:
    windows = HeatmapWindows()
    result = CountResult((ZoneEstimate("left", 1, 0.02, 0.8), ZoneEstimate("right", 0, 0, 0.8)),
                         "detect", (Detection(100, 100, 20, 60, 1.0),))
    windows.add(T0, result, _zones(), SIZE)
    window = windows.flush()
    assert window is not None
    row, col = np.unravel_index(int(np.argmax(window.cells)), window.cells.shape)
    assert (int(row), int(col)) == (int(160 * 18 / 360), int(110 * 32 / 640))


def test_the_window_in_progress_is_stored_in_parts_that_sum_to_the_whole(
        db: psycopg.Connection) -> None:
    tiny_city(db)
    windows = HeatmapWindows(part_s=60)
    zones = _zones()
    parts = [windows.add(T0 + timedelta(seconds=s), _counts(4, 2), zones, SIZE)
             for s in range(0, 300, 10)]
    stored = [p for p in parts if p is not None]
    assert [p.samples for p in stored] == [7, 6, 6, 6]        # at 60, 120, 180, 240 s
    assert all(p.start == T0 for p in stored)
    for part in stored:
        store_window(db, "CAM-A", part)
    assert heatmap_png(db, "CAM-A", T0, T0 + timedelta(minutes=5)) is not None
    rest = windows.add(T0 + timedelta(seconds=300), _counts(4, 2), zones, SIZE)
    assert rest is not None and rest.start == T0 and rest.samples == 5
    store_window(db, "CAM-A", rest)
    samples, cells = db.execute("SELECT samples, cells FROM video_heatmaps"
                                " WHERE camera_id = 'CAM-A' AND window_start = %s",
                                (T0,)).fetchone()
    assert samples == 30                                      # every moment once
    assert abs(sum(cells) - 30 * 6.0) < 1e-2


def test_stored_windows_render_as_png_over_zone_outlines(db: psycopg.Connection) -> None:
    tiny_city(db)
    windows = HeatmapWindows(part_s=None)
    zones = _zones()
    for minute in range(0, 12):
        done = windows.add(T0 + timedelta(minutes=minute), _counts(8, 1), zones, SIZE)
        if done is not None:
            store_window(db, "CAM-A", done)
    last = windows.flush()
    assert last is not None
    store_window(db, "CAM-A", last)
    store_window(db, "CAM-A", last)                           # a restart: summed, not lost
    rows = db.execute("SELECT window_start, samples FROM video_heatmaps WHERE camera_id = 'CAM-A'"
                      " ORDER BY window_start").fetchall()
    assert [r[1] for r in rows] == [5, 5, 4]

    png = heatmap_png(db, "CAM-A", T0, T0 + timedelta(hours=1))
    assert png is not None and png.startswith(b"\x89PNG")
    image = np.asarray(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))
    assert image.shape == (360, 640, 3)
    left, right = image[60:300, 40:280].astype(int), image[60:300, 360:600].astype(int)
    assert _warmth(left) > 80 and _warmth(right) < 0          # hot where most people were
    assert heatmap_png(db, "CAM-A", T0 + timedelta(hours=2), T0 + timedelta(hours=3)) is None
    assert heatmap_png(db, "CAM-B", T0, T0 + timedelta(hours=1)) is None
