"""``sharpeyes bench video-accuracy``: counting error per density band on synthetic scenes.

Owns the accuracy measurement against exact ground truth from ``simulators.render``.
For each camera geometry, scenes are rendered in increasing density (same static scene):
a sparse warm-up (0.1 and 0.3 persons/m²) first, as a real camera sees quiet hours before
busy ones, so the self-calibrating methods can learn their background and scale from
detections; then up to 6 persons/m². Each method (detect, regress, heads, classic, auto) and the
baseline (plain HOG at native scale, feet in the zone) counts every sampled frame
(``auto`` is the learned default, ``classic`` the former classical ``auto``); the
report gives MAE and relative error (Σ|e| / Σ truth) per band of true zone density.

Rendered clips are cached under ``.cache/video-accuracy/`` (JPEG, with their truths) so
re-runs only count. Geometries run in parallel processes (at most two).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from simulators.video_camera import calibration_for
from video.calibration import GroundModel, from_spec
from video.counting import AutoCounter, Counter, DetectionCounter, build_counter
from video.detect import nms
from video.heads import HeadCounter
from video.model import CountResult, Detection, Zone
from video.regress import RegressionCounter
from video.zones import ZoneGeometry, prepare_zones, zone_counts

log = logging.getLogger(__name__)

WARMUP = ((0.1, 3), (0.3, 2))                       # (density, frames) before measuring dense
DENSITIES = (0.6, 1.0, 1.8, 2.5, 3.2, 4.2, 5.2, 6.0)
BANDS = ((0.0, 1.0), (1.0, 2.5), (2.5, 3.5), (3.5, 5.0), (5.0, 99.0))
DENSE = ((3.0, 99.0),)                              # the "≥ 3 persons/m²" target band
SECONDS_APART = 2.0
CACHE = Path(".cache/video-accuracy")


def plain_hog() -> Callable[[np.ndarray], list[Detection]]:
    """The baseline: OpenCV's default people detector at native scale, NMS only."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))

    def detect(frame: np.ndarray) -> list[Detection]:
        rects, weights = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
        found = [Detection(float(r[0]), float(r[1]), float(r[2]), float(r[3]), float(w))
                 for r, w in zip(rects, np.ravel(weights), strict=True)]
        return nms(found, 0.3)
    return detect


def _clip(camera: Any, index: int, density: float, frames: int
          ) -> Iterator[tuple[np.ndarray, dict[str, int]]]:
    """Frames and true zone counts of one density, from the cache or rendered into it."""
    path = CACHE / f"g{index}-{camera.width}x{camera.height}-d{density:g}-n{frames}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        for i, truth in enumerate(json.loads(str(data["truths"]))):
            yield np.asarray(cv2.imdecode(data[f"f{i}"], cv2.IMREAD_COLOR)), dict(truth)
        return
    from simulators.render import default_scene, render_frames

    spec = default_scene(camera, density, seed=11, fps=1.0 / SECONDS_APART)
    encoded: dict[str, np.ndarray] = {}
    truths: list[dict[str, int]] = []
    for i, (frame, truth) in enumerate(render_frames(spec, frames * SECONDS_APART)):
        encoded[f"f{i}"] = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1]
        truths.append(dict(truth.zone_counts))
        yield frame, truths[-1]
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, truths=np.array(json.dumps(truths)), **encoded)  # type: ignore[arg-type]
    tmp.replace(path)


def _zones(camera: Any, ground: GroundModel) -> list[ZoneGeometry]:
    from simulators.render import default_zones

    return prepare_zones([Zone(z.zone_id, tuple((float(x), float(y))
                                                for x, y in z.image_polygon(camera)),
                               z.area_m2) for z in default_zones(camera)],
                         camera.width, camera.height, ground)


def _count_all(methods: dict[str, Counter], baseline: Callable[[np.ndarray], list[Detection]],
               frame: np.ndarray, zones: list[ZoneGeometry], ground: GroundModel, t: float
               ) -> dict[str, CountResult]:
    results = {name: m.count(frame, zones, ground, t) for name, m in methods.items()}
    results["plain_hog"] = zone_counts(baseline(frame), zones, 0.5, "plain_hog")
    return results


def run_geometry(index: int, camera: Any, frames: int) -> list[dict[str, Any]]:
    """Every method on one geometry's warm-up and density sequence: one row per zone."""
    cv2.setNumThreads(1)
    ground = from_spec(calibration_for(camera), camera.width, camera.height)
    zones = _zones(camera, ground)
    areas = {z.zone_id: float(z.area_m2 or 0.0) for z in zones}
    methods: dict[str, Counter] = {"detect": DetectionCounter(), "regress": RegressionCounter(),
                                   "heads": HeadCounter(), "classic": AutoCounter(),
                                   "auto": build_counter("auto")}
    baseline = plain_hog()
    rows: list[dict[str, Any]] = []
    started, t = time.monotonic(), 0.0
    for density, n in WARMUP + tuple((d, frames) for d in DENSITIES):
        for frame, truth in _clip(camera, index, density, n):
            t += SECONDS_APART   # media time: the auto method budgets its detections on it
            for name, result in _count_all(methods, baseline, frame, zones, ground, t).items():
                rows.extend({"geometry": index, "method": name, "scene_density": density,
                             "true": truth[e.zone_id], "area": areas[e.zone_id],
                             "est": e.count} for e in result.zones)
        log.info("geometry %d (%dx%d, %.0f m): density %.1f done, %.0f s", index,
                 camera.width, camera.height, camera.height_m, density,
                 time.monotonic() - started)
    return rows


def _band_stats(sel: list[dict[str, Any]]) -> dict[str, Any]:
    err = np.array([r["est"] - r["true"] for r in sel], float)
    truth = np.array([r["true"] for r in sel], float)
    return {"n": len(sel), "mean_true": round(float(truth.mean()), 1),
            "mae": round(float(np.abs(err).mean()), 2),
            "relative_error": round(float(np.abs(err).sum() / max(truth.sum(), 1.0)), 3),
            "bias": round(float(err.mean()), 2)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method and band of true zone density: n, MAE, relative error, bias."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    named = [(f"{lo:g}-{hi:g}" if hi < 99 else f">={lo:g}", lo, hi) for lo, hi in BANDS]
    named += [(f">={lo:g}", lo, hi) for lo, hi in DENSE] + [("overall", 0.0, 99.0)]
    for method in sorted({r["method"] for r in rows}):
        for key, lo, hi in named:
            sel = [r for r in rows if r["method"] == method and r["area"] > 0
                   and lo <= r["true"] / r["area"] < hi]
            if sel:
                out[method][key] = _band_stats(sel)
    return dict(out)


def ratios_vs_plain(bands: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Plain HOG's MAE divided by each method's, per band (≥ 2 = target met)."""
    base = bands.get("plain_hog", {})
    out: dict[str, dict[str, float]] = {}
    for method, per_band in bands.items():
        if method == "plain_hog":
            continue
        out[method] = {k: round(base[k]["mae"] / max(v["mae"], 1e-6), 2)
                       for k, v in per_band.items() if k in base}
    return out


def run_accuracy_bench(quick: bool = False, workers: int | None = None) -> dict[str, Any]:
    """The benchmark; ``quick``: two geometries, two frames per density."""
    from simulators.render import standard_geometries

    cameras = standard_geometries()[:2] if quick else standard_geometries()
    frames = 2 if quick else 3
    jobs = min(workers or min(2, os.cpu_count() or 1), len(cameras))
    started = time.monotonic()
    log.info("accuracy bench: %d geometries, %d frames per density, %d processes",
             len(cameras), frames, jobs)
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for part in pool.map(run_geometry, range(len(cameras)), cameras,
                             [frames] * len(cameras)):
            rows.extend(part)
    bands = summarise(rows)
    return {"geometries": [[c.width, c.height, round(c.height_m, 1), round(c.tilt_deg, 1)]
                           for c in cameras],
            "warmup": [list(w) for w in WARMUP], "densities": list(DENSITIES),
            "frames_per_density": frames, "seconds_apart": SECONDS_APART,
            "zone_samples": len(rows) // max(len(bands), 1),
            "wall_s": round(time.monotonic() - started, 1),
            "bands": bands, "plain_hog_mae_ratio": ratios_vs_plain(bands)}
