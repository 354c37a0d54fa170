"""The pictures of docs/video.md, drawn from counts and from blurred, downscaled frames.

Owns ``docs/img/video_*.png``: a PETS frame with detections drawn as feet points over a
background blurred and downscaled until nobody can be recognised; a synthetic dense frame
with true and estimated counts per zone; an occupancy heatmap from counts. Run with
``python -m sharpeyes.benches.video_figures [OUT_DIR]`` (needs ../shared/data and the
accuracy-bench cache).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from sharpeyes.benches.video_accuracy import (
    DENSITIES,
    SECONDS_APART,
    WARMUP,
    _clip,
    _zones,
    plain_hog,
)
from simulators.video_camera import calibration_for
from video.calibration import CalibrationSpec, from_spec
from video.counting import AutoCounter, DetectionCounter
from video.heatmap import HeatmapWindows, render_occupancy
from video.model import Zone
from video.regress import RegressionCounter
from video.sources import OpenCvSource
from video.zones import prepare_zones, zone_counts

log = logging.getLogger(__name__)
PETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pets2009-s2l1-view001.avi"
PETS_CALIBRATION = CalibrationSpec.model_validate(
    {"person_heights": [{"row": 145, "height_px": 46}, {"row": 191, "height_px": 54}]})
PETS_ZONES = [Zone("north", ((0, 90), (480, 90), (480, 170), (0, 170)), None),
              Zone("south", ((0, 170), (480, 170), (480, 360), (0, 360)), None)]


def privacy_background(frame: np.ndarray, width: int = 80) -> np.ndarray:
    """The frame shrunk to ``width`` px, blurred, and grown back: layout only, no faces."""
    h, w = frame.shape[:2]
    tiny = cv2.resize(frame, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    tiny = cv2.GaussianBlur(tiny, (0, 0), 1.5)
    big = cv2.resize(tiny, (w, h), interpolation=cv2.INTER_LINEAR)
    return (big * 0.6 + 40).astype(np.uint8)


def pets_detections(out: Path) -> None:
    source = OpenCvSource(str(PETS), 1.0)
    frame = None
    for _ in range(20):
        frame = source.read()
    source.close()
    assert frame is not None
    ground = from_spec(PETS_CALIBRATION, 480, 360)
    zones = prepare_zones(PETS_ZONES, 480, 360, ground)
    result = DetectionCounter().count(frame.image, zones, ground)
    image = privacy_background(frame.image)
    for zone in zones:
        cv2.polylines(image, [zone.polygon.astype(np.int32)], True, (200, 200, 200), 1)
    for det in result.detections:
        x, y = (round(v) for v in det.foot)
        cv2.circle(image, (x, y), 5, (0, 220, 255), -1, cv2.LINE_AA)
    for i, est in enumerate(result.zones):
        _text(image, f"{est.zone_id}: {est.count:.0f}", (8, 18 + 18 * i))
    cv2.imwrite(str(out / "video_pets_feet.png"), cv2.resize(image, (720, 540)))


def synthetic_dense(out: Path, geometry: int = 0, density: float = 4.2) -> None:
    from simulators.render import standard_geometries

    camera = standard_geometries()[geometry]
    ground = from_spec(calibration_for(camera), camera.width, camera.height)
    zones = _zones(camera, ground)
    regression, auto = RegressionCounter(), AutoCounter()
    last: tuple[np.ndarray, dict[str, int]] | None = None
    sequence = (*WARMUP, *((d, 3) for d in DENSITIES if d <= density))   # as the full bench
    t = 0.0
    for d, n in sequence:
        for last in _clip(camera, geometry, d, n):
            t += SECONDS_APART  # media time, as the bench paces auto's detections
            regression.observe(last[0], ground)
            counted = auto.count(last[0], zones, ground, t)
    assert last is not None
    frame, truth = last
    regressed = regression.estimate(zones, (camera.width, camera.height))
    plain = zone_counts(plain_hog()(frame), zones, 0.5, "plain_hog")
    image = frame.copy()
    for zone, reg, hog, best in zip(zones, regressed.zones, plain.zones, counted.zones,
                                    strict=True):
        cv2.polylines(image, [zone.polygon.astype(np.int32)], True, (0, 255, 0), 3)
        x, y = zone.polygon.min(axis=0).astype(int)
        _text(image, f"{zone.zone_id}: true {truth[zone.zone_id]}  auto {best.count:.0f}"
                     f"  regress {reg.count:.0f}  plain HOG {hog.count:.0f}",
              (int(x), int(y) - 10), 0.9)
    cv2.imwrite(str(out / "video_synthetic_dense.png"),
                cv2.resize(image, (800, 450), interpolation=cv2.INTER_AREA))


def pets_heatmap(out: Path, seconds: int = 40) -> None:
    ground = from_spec(PETS_CALIBRATION, 480, 360)
    zones = prepare_zones(PETS_ZONES, 480, 360, ground)
    counter = DetectionCounter()
    windows = HeatmapWindows(window_s=3600, part_s=None)
    source = OpenCvSource(str(PETS), 2.0)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    while (frame := source.read()) is not None and frame.t < seconds:
        result = counter.count(frame.image, zones, ground)
        windows.add(t0 + timedelta(seconds=frame.t), result, zones, (480, 360))
    source.close()
    window = windows.flush()
    assert window is not None
    png = render_occupancy(window.cells / window.samples, window.zones)
    (out / "video_heatmap.png").write_bytes(png)


def _text(image: np.ndarray, text: str, at: tuple[int, int], scale: float = 0.5) -> None:
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pets_detections(out)
    pets_heatmap(out)
    synthetic_dense(out)
    log.info("figures written to %s", out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/img"))
