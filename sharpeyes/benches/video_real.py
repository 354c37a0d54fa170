"""``sharpeyes bench video-accuracy --real DIR``: counting error on real labelled images.

Owns the measurement on real data. A labelled set is a folder with ``annotations.json``
(``images: [{file, count, points}]``, ``points`` = head positions, the format of
ShanghaiTech as kept in ``shared/data/crowds``), found anywhere under ``DIR``; or a clip
with a labels file (``{"clip", "frames": [{"frame", "count", "feet"}]}``, as
``tests/video/pets_labels.json``), the clip looked up under ``DIR``. Every image (or
labelled frame) is counted by each method as a still, and by the baseline, OpenCV's
plain HOG people detector on the frame upscaled 2×. Counts are compared whole-image and
per zone (the left and right halves: a person's head and feet fall in the same half far
more often than in a quadrant). Reported per set and method: relative error
(Σ|error| / Σ truth), MAE and bias per band of people per image (< 20, 20-100, 100-500,
> 500) and overall, and each method's relative error as a fraction of the baseline's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from sharpeyes.benches.video_accuracy import plain_hog
from video.counting import Counter, build_counter
from video.model import Detection, Zone
from video.stills import count_still

log = logging.getLogger(__name__)

DEFAULT_METHOD = "auto"
METHODS = ("auto", "yolox", "density", "detect")
BASELINE = "hog_2x"
BANDS = ((0, 20), (20, 100), (100, 500), (500, 10**9))
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov")


@dataclass(frozen=True, slots=True, eq=False)
class Labelled:
    name: str
    image: np.ndarray
    count: int
    points: np.ndarray      # (N, 2) image pixels of each person (heads or feet)


def find_sets(root: Path, labels: list[Path]) -> dict[str, Callable[[], Iterator[Labelled]]]:
    """Each labelled set under ``root``: annotation folders and labelled clips."""
    sets: dict[str, Callable[[], Iterator[Labelled]]] = {}
    for ann in sorted(root.rglob("annotations.json")):
        sets[ann.parent.name] = partial(_images, ann)
    for label in labels:
        spec = json.loads(label.read_text())
        clips = [p for p in root.rglob(spec["clip"]) if p.suffix.lower() in VIDEO_SUFFIXES]
        if clips:
            sets[Path(spec["clip"]).stem] = partial(clip_frames, clips[0], spec)
    return sets


def _images(ann: Path) -> Iterator[Labelled]:
    for item in json.loads(ann.read_text())["images"]:
        image = cv2.imread(str(ann.parent / item["file"]), cv2.IMREAD_COLOR)
        if image is not None:
            yield Labelled(item["file"], image, int(item["count"]),
                           np.asarray(item.get("points", []), float).reshape(-1, 2))


def clip_frames(clip: Path, spec: dict[str, Any]) -> Iterator[Labelled]:
    wanted = {int(f["frame"]): f for f in spec["frames"]}
    cap = cv2.VideoCapture(str(clip))
    index = 0
    try:
        while wanted:
            ok, frame = cap.read()
            if not ok:
                break
            if (label := wanted.pop(index, None)) is not None:
                yield Labelled(f"frame {index}", frame, int(label["count"]),
                               np.asarray(label.get("feet", []), float).reshape(-1, 2))
            index += 1
    finally:
        cap.release()


def hog_2x() -> Callable[[np.ndarray], list[Detection]]:
    """The baseline: the synthetic bench's plain HOG on the frame upscaled 2×."""
    native = plain_hog()

    def detect(frame: np.ndarray) -> list[Detection]:
        big = cv2.resize(frame, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)
        return [Detection(d.x / 2, d.y / 2, d.w / 2, d.h / 2, d.score) for d in native(big)]
    return detect


def halves(width: int, height: int) -> list[Zone]:
    mid = width / 2
    return [Zone("left", ((0, 0), (mid, 0), (mid, height), (0, height))),
            Zone("right", ((mid, 0), (width, 0), (width, height), (mid, height)))]


def _truth(item: Labelled) -> dict[str, float]:
    mid = item.image.shape[1] / 2
    left = float((item.points[:, 0] < mid).sum()) if len(item.points) else item.count / 2
    return {"frame": float(item.count), "left": left, "right": item.count - left}


def _row(item: Labelled, counters: dict[str, Counter],
         baseline: Callable[[np.ndarray], list[Detection]]) -> dict[str, Any]:
    h, w = item.image.shape[:2]
    zones = [Zone("frame"), *halves(w, h)]
    row: dict[str, Any] = {"name": item.name, "truth": _truth(item), "est": {}, "ms": {}}
    for name, counter in counters.items():
        start = time.perf_counter()
        result = count_still(counter, item.image, zones, None)
        row["ms"][name] = (time.perf_counter() - start) * 1000
        row["est"][name] = {z.zone_id: z.count for z in result.zones}
    start = time.perf_counter()
    feet = np.array([d.foot for d in baseline(item.image)]).reshape(-1, 2)
    row["ms"][BASELINE] = (time.perf_counter() - start) * 1000
    left = float((feet[:, 0] < w / 2).sum())
    row["est"][BASELINE] = {"frame": float(len(feet)), "left": left, "right": len(feet) - left}
    return row


def _stats(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    est = np.array([p[0] for p in pairs], float)
    truth = np.array([p[1] for p in pairs], float)
    err = est - truth
    return {"n": len(pairs), "mean_true": round(float(truth.mean()), 1),
            "mae": round(float(np.abs(err).mean()), 2),
            "relative_error": round(float(np.abs(err).sum() / max(truth.sum(), 1.0)), 3),
            "bias": round(float(err.sum() / max(truth.sum(), 1.0)), 3)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: whole-image bands and overall, per-zone overall, mean ms per image."""
    out: dict[str, Any] = {}
    for method in rows[0]["est"]:
        whole = [(r["est"][method]["frame"], r["truth"]["frame"]) for r in rows]
        bands = {}
        for lo, hi in BANDS:
            sel = [p for p in whole if lo <= p[1] < hi]
            if sel:
                bands[f"{lo}-{hi}" if hi < 10**9 else f">={lo}"] = _stats(sel)
        zones = [(r["est"][method][z], r["truth"][z]) for r in rows for z in ("left", "right")]
        out[method] = {"whole": _stats(whole), "bands": bands, "zones": _stats(zones),
                       "ms_per_image": round(float(np.mean([r["ms"][method] for r in rows])), 1)}
    base = out[BASELINE]["whole"]["relative_error"]
    for stats in out.values():
        stats["vs_baseline"] = round(stats["whole"]["relative_error"] / max(base, 1e-9), 3)
    return out


def run_real_bench(root: Path, labels: list[Path], limit: int | None = None,
                   methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    cv2.setNumThreads(1)
    sets = find_sets(root, labels)
    if not sets:
        raise FileNotFoundError(f"no labelled sets under {root}")
    report: dict[str, Any] = {"default": DEFAULT_METHOD, "baseline": BASELINE, "sets": {}}
    for name, items in sets.items():
        counters = {m: build_counter(m) for m in methods}   # fresh state per set
        baseline = hog_2x()
        started, rows = time.monotonic(), []
        for i, item in enumerate(items()):
            if limit is not None and i >= limit:
                break
            rows.append(_row(item, counters, baseline))
            if len(rows) % 10 == 0:
                log.info("%s: %d images, %.0f s", name, len(rows), time.monotonic() - started)
        if rows:
            report["sets"][name] = {"images": len(rows), "wall_s": round(
                time.monotonic() - started, 1), "methods": summarise(rows)}
    return report
