"""The default counter: a learned person detector, and a density network in dense zones.

Owns the measured switch between the two. Every analysed frame goes through the
detector (``video.yolox``) in the regions of ``video.tiling``; a zone counts the boxes
scoring ≥ ``score`` whose feet are in it. A zone is *dense* when it also holds its share
(by image area) of ``dense_boxes`` boxes scoring ≥ ``weak_score``: in a crowd the
detector still puts many weak boxes on the people it cannot separate, while an empty
scene leaves none (ShanghaiTech A and B: reached on every image). Only there the density
network (``video.density``) runs, and its sum is taken when it is at least
``density_ratio`` × the detector's count — below that the network's haze over a sparse
scene is the likelier reading. Measured on real labelled
images (158 ShanghaiTech B, 91 A, 13 PETS frames): relative error 0.157 / 0.187 / 0.086,
against 0.734 / 0.955 / 0.063 for the detector alone (docs/video.md, accuracy).

On a stream the density pass is budgeted: at most once per ``density_interval_s`` of media
time per camera (crowds change over tens of seconds; a pass costs ~1-2 s of one core);
between passes a zone that stays dense keeps its last density count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from video.calibration import GroundModel
from video.density import DensityNet, DensitySpec
from video.model import CountResult, DensityPatch, Detection, ZoneEstimate
from video.tiling import TilePlan, plan_regions
from video.weights import density_spec, detector_spec
from video.yolox import DetectorSpec, YoloxDetector
from video.zones import ZoneGeometry, union_rows


@dataclass(frozen=True, slots=True)
class LearnedConfig:
    score: float = 0.4              # boxes counted (PETS: 0.4-0.5 best at 1.5-2x)
    weak_score: float = 0.05        # boxes that only say "people are here"
    dense_boxes: float = 15.0       # weak boxes in a whole frame that call it dense; a zone
                                    # needs its share of the frame's area of them,
    min_dense_boxes: float = 5.0    # ... but never fewer than this
    density_ratio: float = 1.5      # density sum taken when ≥ this × the detector's count
    density_interval_s: float = 10.0
    hold_s: float = 30.0            # a held density count expires after this
    use_density: bool = True
    plan: TilePlan = TilePlan()


@lru_cache(maxsize=8)
def shared_detector(spec: DetectorSpec, providers: tuple[str, ...]) -> YoloxDetector:
    """One session per model for the whole process: ONNX Runtime sessions are safe to run
    from several camera threads, and each copy would cost the model's memory again."""
    return YoloxDetector(spec, providers)


@lru_cache(maxsize=4)
def shared_density(spec: DensitySpec, providers: tuple[str, ...]) -> DensityNet:
    return DensityNet(spec, providers)


class LearnedCounter:
    """Detector everywhere, density network where the detector calls a zone dense."""

    name = "auto"

    def __init__(self, config: LearnedConfig | None = None, model: str | None = None,
                 model_sha256: str | None = None, providers: Sequence[str] = ("cpu",)) -> None:
        self.config = config or LearnedConfig()
        self.detector = shared_detector(detector_spec(model, model_sha256), tuple(providers))
        self.density = (shared_density(density_spec(), tuple(providers))
                        if self.config.use_density else None)
        if not self.config.use_density:
            self.name = "yolox"
        self._held: dict[str, tuple[float, float]] = {}   # zone → (t, density count)
        self._last_pass: float | None = None
        self._patch: DensityPatch | None = None

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        size = (frame.shape[1], frame.shape[0])
        regions = plan_regions(size, ground, union_rows(zones, size[1]), self.config.plan)
        boxes = self.detector.detect(frame, regions, self.config.weak_score)
        is_strong = np.array([d.score >= self.config.score for d in boxes], bool)
        inside = [_inside(zone, boxes) for zone in zones]   # one containment test per box
        dense = [zone for zone, within in zip(zones, inside, strict=True)
                 if int(within.sum()) >= self._dense_boxes(zone, size)]
        if dense and self.density is not None and self._due(t):
            heights = [d.h for d, ok in zip(boxes, is_strong, strict=True) if ok]
            self._density_pass(frame, dense, t, float(np.median(heights)) if heights else None)
        estimates: list[ZoneEstimate] = []
        kept: list[Detection] = []
        by_density: list[ZoneGeometry] = []
        for zone, within in zip(zones, inside, strict=True):
            counted = within & is_strong
            n = float(counted.sum())
            held = self._held_count(zone, t) if zone in dense else None
            if held is not None and held >= self.config.density_ratio * n:
                estimates.append(_estimate(zone, held, 0.7))
                by_density.append(zone)
            else:
                estimates.append(_estimate(zone, n, 0.8))
                kept.extend(d for d, ok in zip(boxes, counted, strict=True) if ok)
        return CountResult(tuple(estimates), self.name, tuple(kept),
                           self._heat(by_density))

    def _dense_boxes(self, zone: ZoneGeometry, size: tuple[int, int]) -> float:
        area = cv2.contourArea(zone.polygon.astype(np.float32))
        share = min(1.0, area / max(size[0] * size[1], 1))
        return max(self.config.min_dense_boxes, self.config.dense_boxes * share)

    def _due(self, t: float | None) -> bool:
        if t is None:
            return True
        if self._last_pass is not None and 0.0 <= t - self._last_pass < \
                self.config.density_interval_s:
            return False
        self._last_pass = t
        return True

    def _density_pass(self, frame: np.ndarray, dense: Sequence[ZoneGeometry],
                      t: float | None, people_px: float | None) -> None:
        assert self.density is not None
        pts = np.concatenate([z.polygon for z in dense])
        h, w = frame.shape[:2]
        box = (max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min())),
               min(w, int(np.ceil(pts[:, 0].max()))), min(h, int(np.ceil(pts[:, 1].max()))))
        if box[2] - box[0] < 16 or box[3] - box[1] < 16:
            return
        self._patch = self.density.patch(frame, box, people_px)
        for zone in dense:
            n = float((self._patch.grid * self._patch.polygon_mask(zone.polygon)).sum())
            self._held[zone.zone_id] = (t if t is not None else 0.0, n)

    def _held_count(self, zone: ZoneGeometry, t: float | None) -> float | None:
        held = self._held.get(zone.zone_id)
        if held is None:
            return None
        if t is not None and not 0.0 <= t - held[0] <= self.config.hold_s:
            return None
        return held[1]

    def _heat(self, zones: Sequence[ZoneGeometry]) -> DensityPatch | None:
        """The last density map, kept only inside the zones it counted (for the heatmap)."""
        if self._patch is None or not zones:
            return None
        mask = np.zeros_like(self._patch.grid)
        for zone in zones:
            mask = np.maximum(mask, self._patch.polygon_mask(zone.polygon))
        return self._patch.masked(mask)


class DensityCounter:
    """The density network alone over the zones (method ``density``): for views known to
    be dense; on sparse ones it reads its haze as people."""

    name = "density"

    def __init__(self, providers: Sequence[str] = ("cpu",)) -> None:
        self.density = shared_density(density_spec(), tuple(providers))

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        h, w = frame.shape[:2]
        patch = self.density.patch(frame, (0, 0, w, h))
        estimates = tuple(_estimate(z, float((patch.grid * patch.polygon_mask(z.polygon)).sum()),
                                    0.7) for z in zones)
        return CountResult(estimates, self.name, (), patch)


def _inside(zone: ZoneGeometry, boxes: Sequence[Detection]) -> np.ndarray:
    if not boxes:
        return np.zeros(0, bool)
    return zone.contains(np.array([d.foot for d in boxes]))


def _estimate(zone: ZoneGeometry, n: float, confidence: float) -> ZoneEstimate:
    return ZoneEstimate(zone.zone_id, n, n / zone.area_m2 if zone.area_m2 else None, confidence)
