"""``sharpeyes video bench-accuracy``: counting error per density band on synthetic scenes.

Owns the accuracy measurement against exact ground truth from ``simulators.render``.
For each camera geometry, scenes from 0.1 to 6 persons/m² are rendered in increasing
density (same static scene), so the self-calibrating methods see sparse moments first,
as a real camera does between busy hours. Each method (detect, regress, auto) and the
baseline (plain HOG at native scale, feet in the zone) counts every sampled frame; the
report gives MAE and relative error (Σ|e| / Σ truth) per density band.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import cv2
import numpy as np

from video.calibration import CalibrationSpec, from_spec
from video.counting import AutoCounter, DetectionCounter, zone_counts
from video.detect import nms
from video.model import Detection, Zone
from video.regress import RegressionCounter
from video.zones import prepare_zones

DENSITIES = (0.1, 0.3, 0.6, 1.0, 2.0, 3.0, 4.5, 6.0)
BANDS = ((0.0, 1.0), (1.0, 2.5), (2.5, 3.5), (3.5, 10.0))


def _plain_hog() -> Any:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor.getDefaultPeopleDetector())

    def detect(frame: np.ndarray) -> list[Detection]:
        rects, weights = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
        return nms([Detection(*map(float, r), float(w)) for r, w in
                    zip(rects, np.ravel(weights), strict=True)], 0.3)
    return detect


def _spec(camera: Any) -> CalibrationSpec:
    ground = np.array([[-4, 8], [4, 8], [4, 20], [-4, 20]], float) + [0, camera.height_m * 0.5]
    image = camera.ground_to_image(ground)
    return CalibrationSpec.model_validate({"points": [
        {"image": list(map(float, i)), "ground": list(map(float, g))}
        for i, g in zip(image, ground, strict=True)]})


def _geometry(camera: Any, frames: int, seconds_apart: float) -> list[dict[str, Any]]:
    from simulators.render import default_scene, render_frames

    ground = from_spec(_spec(camera), camera.width, camera.height)
    rows: list[dict[str, Any]] = []
    methods = {"detect": DetectionCounter(), "regress": RegressionCounter(),
               "auto": AutoCounter()}
    plain = _plain_hog()
    for density in DENSITIES:
        spec = default_scene(camera, density, seed=11, fps=1.0 / seconds_apart)
        zones = prepare_zones([Zone(z.zone_id, tuple(map(tuple, z.image_polygon(camera))),
                                    z.area_m2) for z in spec.zones],
                              camera.width, camera.height, ground)
        for frame, truth in itertools.islice(render_frames(spec, frames * seconds_apart), frames):
            results = {name: m.count(frame, zones, ground) for name, m in methods.items()}
            results["plain_hog"] = zone_counts(plain(frame), zones, 0.5, "plain_hog")
            for name, result in results.items():
                for est in result.zones:
                    rows.append({"method": name, "true": truth.zone_counts[est.zone_id],
                                 "area": next(z.area_m2 for z in zones
                                              if z.zone_id == est.zone_id),
                                 "est": est.count})
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = defaultdict(dict)
    for method in sorted({r["method"] for r in rows}):
        for lo, hi in BANDS + ((0.0, 10.0),):
            sel = [r for r in rows if r["method"] == method and lo <= r["true"] / r["area"] < hi]
            if not sel:
                continue
            err = np.array([r["est"] - r["true"] for r in sel])
            truth = np.array([r["true"] for r in sel], float)
            key = "overall" if (lo, hi) == (0.0, 10.0) else f"{lo:g}-{hi:g}"
            out[method][key] = {"n": len(sel), "mae": round(float(np.abs(err).mean()), 2),
                                "relative_error": round(float(np.abs(err).sum() /
                                                              max(truth.sum(), 1.0)), 3),
                                "bias": round(float(err.mean()), 2)}
    return dict(out)


def run_accuracy_bench(quick: bool = False) -> dict[str, Any]:
    from simulators.render import standard_geometries

    cv2.setNumThreads(1)
    cameras = standard_geometries()[:2] if quick else standard_geometries()
    frames = 3 if quick else 6
    rows: list[dict[str, Any]] = []
    for camera in cameras:
        rows.extend(_geometry(camera, frames, 2.0))
    return {"geometries": [[c.width, c.height, round(c.height_m, 1), round(c.tilt_deg, 1)]
                           for c in cameras],
            "densities": list(DENSITIES), "frames_per_density": frames,
            "bands": _summary(rows)}
