"""The ``Counter`` interface and its implementations' wiring: detect, regress, onnx, auto.

Owns the choice of method. ``auto`` runs the cheap regression and the head counter on
every analysed frame and the HOG detector within a budget: in sparse zones the
detector's count is used and also teaches the regression (self-calibration from
detections in sparse moments) — unless the zone's foreground mass, divided by the mass
of one isolated detected person (:mod:`video.mass`), says clearly more people stand
there than were detected; in zones the regression calls dense, where detectors miss
the occluded and the foreground saturates, the head count is used. Without a
calibration, the detector's boxes estimate the ground model
(:func:`video.calibration.estimate_from_detections`) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kernel.settings import CountingMethod
from video.calibration import GroundModel, estimate_from_detections
from video.detect import HogDetector
from video.heads import HeadCounter
from video.mass import ForegroundMass
from video.model import CountResult, Detection, ZoneEstimate
from video.regress import RegressionCounter
from video.zones import ZoneGeometry, union_rows, zone_counts

METHODS = tuple(m.value for m in CountingMethod)  # the settings and the counter agree


@dataclass(frozen=True, slots=True)
class ModelOptions:
    """Which learned models to run, and where (``SHARPEYES_VIDEO_MODEL*``, ``..._PROVIDERS``)."""

    onnx_model: str | None = None       # for method ``onnx`` (cv2.dnn, docs/video.md)
    detector: str | None = None         # replaces the shipped YOLOX-nano (same layout)
    detector_sha256: str | None = None
    providers: tuple[str, ...] = ("cpu",)


class Counter(Protocol):
    """Counts people per zone in one frame."""

    name: str

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        """Per-zone counts; ``t`` (media seconds) lets a counter budget costly work."""
        ...


class DetectionCounter:
    """HOG detection, perspective-aware when a ground model is known."""

    name = "detect"

    def __init__(self, detector: HogDetector | None = None) -> None:
        self.detector = detector or HogDetector()

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        rows = union_rows(zones, frame.shape[0])
        found = self.detector.detect(frame, ground, rows if ground else None)
        return zone_counts(found, zones, 0.8 if ground else 0.6, self.name)


class ScaleEstimator:
    """Collects detections until they tell the perspective of an uncalibrated camera."""

    def __init__(self, width: int, height: int, refresh_every: int = 400) -> None:
        self.size = (width, height)
        self.refresh_every = refresh_every
        self.seen: list[Detection] = []
        self.model: GroundModel | None = None
        self._since = 0

    def add(self, detections: Sequence[Detection]) -> GroundModel | None:
        self.seen.extend(detections)
        self.seen = self.seen[-2000:]
        self._since += len(detections)
        due = self.model is None or self._since >= self.refresh_every
        if due and len(self.seen) >= 12:
            estimate = estimate_from_detections(self.seen, *self.size)
            if estimate is not None:
                self.model, self._since = estimate, 0
        return self.model


@dataclass(frozen=True, slots=True)
class AutoConfig:
    sparse_density: float = 0.5      # persons/m²: below it detection is trusted
    dense_heads: float = 4.0         # heads/m² above which a zone is dense whatever the
                                     # regression says (its foreground can miss a crowd)
    detect_interval_s: float = 10.0  # at most one HOG pass per camera this often (media time)
    warmup_interval_s: float = 2.0   # ... until the regression has calibrated
    warmup_detections: int = 30      # ... but for no more passes than this
    detect_every: int = 10           # without timestamps: detect on every N-th frame
    mass_ratio: float = 2.0          # a sparse zone takes the foreground-mass count when it
                                     # is at least this many times the detection count
    min_samples: float = 5.0         # sparse checks against detections before regression
                                     # is trusted (whether or not they changed it)


class AutoCounter:
    """The classical ``auto`` (method ``classic``): regression and heads on every frame;
    a budgeted HOG detection that calibrates the regression and, in sparse zones, gives
    the count — or the foreground mass ÷ one isolated detected person's mass
    (:mod:`video.mass`) when that is clearly more. Dense zones take the head count."""

    name = "classic"

    def __init__(self, detector: HogDetector | None = None,
                 regression: RegressionCounter | None = None,
                 config: AutoConfig | None = None, heads: HeadCounter | None = None,
                 mass: ForegroundMass | None = None) -> None:
        self.detector = detector or HogDetector()
        self.regression = regression or RegressionCounter()
        self.heads = heads or HeadCounter()
        self.mass = mass or ForegroundMass()
        self._dense_zones: set[str] = set()
        self.config = config or AutoConfig()
        self._frames = 0
        self._last_detect_t: float | None = None
        self._detections = 0
        self._checks = 0   # sparse frames in which detections checked the regression
        self._held: CountResult | None = None   # the last result with a detection
        self._sparse: set[str] = set()          # zones it counted from detections
        self._last_discovery: CountResult | None = None

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        self._frames += 1
        if ground is None:
            return self._discover(frame, zones, t)
        size = (frame.shape[1], frame.shape[0])
        # Both backgrounds learn only while the scene is quiet (the regression's reading).
        crowded = self.regression.last_density >= self.regression.config.freeze_density
        small = self.regression.observe(frame, ground)
        self.mass.observe(small, self.regression.background(), self.regression.area_weight)
        feet = self.heads.observe(frame, ground, not crowded, self.heads.head_rows(zones, ground))
        regressed = self._heads_where_dense(self.regression.estimate(zones, size), feet, zones)
        calibrated = self._checks >= self.config.min_samples
        if not self._due(t, calibrated):
            return self._with_mass(self._between(regressed), zones, size)
        found = self.detector.detect(frame, ground)
        self._learn(found, ground, size)
        self.mass.learn(found, small.shape[1] / size[0])
        detected = zone_counts(found, zones, 0.8, "detect")
        self._held = self._combine(regressed, detected, zones, ground, calibrated)
        return self._with_mass(self._held, zones, size)

    def _with_mass(self, result: CountResult, zones: Sequence[ZoneGeometry],
                   size: tuple[int, int]) -> CountResult:
        """A sparse zone whose count (detections, held or regressed) is clearly below its
        foreground mass ÷ one isolated person's mass takes the mass count: HOG misses the
        overlapping and a held count ages. Only when clearly below (``mass_ratio``): on
        real footage where HOG already finds most people the mass count runs high (PETS:
        ≈ 1.4× the labels; taken whenever larger, MAE 0.97 → 1.74)."""
        out = []
        for est, zone in zip(result.zones, zones, strict=True):
            n = None if zone.zone_id in self._dense_zones else self.mass.count(
                self.regression.zone_mask(zone, size))
            if n is not None and n > est.count and n >= self.config.mass_ratio * est.count:
                est = ZoneEstimate(zone.zone_id, n, n / zone.area_m2 if zone.area_m2 else None,
                                   est.confidence)
            out.append(est)
        return CountResult(tuple(out), result.method, result.detections)

    def _heads_where_dense(self, regressed: CountResult, feet: np.ndarray,
                           zones: Sequence[ZoneGeometry]) -> CountResult:
        """Zones the regression calls dense take the head count instead: there the
        foreground saturates (the regression undercounts) while heads stay visible."""
        headed = self.heads.estimate(feet, zones)
        self._dense_zones = {reg.zone_id for reg, head in zip(regressed.zones, headed.zones,
                                                              strict=True)
                             if self._dense(reg, head)}
        out = [head if reg.zone_id in self._dense_zones else reg
               for reg, head in zip(regressed.zones, headed.zones, strict=True)]
        return CountResult(tuple(out), regressed.method)

    def _dense(self, regressed: ZoneEstimate, headed: ZoneEstimate) -> bool:
        c = self.config
        return ((regressed.density is not None and regressed.density >= c.sparse_density)
                or (headed.density is not None and headed.density >= c.dense_heads))

    def _between(self, regressed: CountResult) -> CountResult:
        """Between detections: a zone that the last detection counted as sparse keeps that
        count while the regression still calls it sparse; other zones take the regression."""
        held = {z.zone_id: z for z in self._held.zones} if self._held else {}
        out = []
        for reg in regressed.zones:
            last = held.get(reg.zone_id)
            sparse = reg.density is None or reg.density < self.config.sparse_density
            out.append(last if last is not None and last.zone_id in self._sparse and sparse
                       else reg)
        return CountResult(tuple(out), self.name)

    def _discover(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
                  t: float | None) -> CountResult:
        """No ground model yet: detections (for the scale estimate), within the budget."""
        if self._due(t, calibrated=False) or self._last_discovery is None:
            self._last_discovery = DetectionCounter(self.detector).count(frame, zones, None)
            return self._last_discovery
        return CountResult(self._last_discovery.zones, self.name)

    def _due(self, t: float | None, calibrated: bool) -> bool:
        """Whether the detection budget allows a HOG pass now (and books it)."""
        if t is None:
            return not calibrated or self._frames % self.config.detect_every == 1
        warming = not calibrated and self._detections < self.config.warmup_detections
        interval = self.config.warmup_interval_s if warming else self.config.detect_interval_s
        if self._last_detect_t is not None and 0.0 <= t - self._last_detect_t < interval:
            return False
        self._last_detect_t = t
        self._detections += 1
        return True

    def _learn(self, found: Sequence[Detection], ground: GroundModel,
               size: tuple[int, int]) -> None:
        bands = self.detector.bands(ground)
        if not bands:
            return
        top, bottom = bands[0].foot_top, bands[-1].foot_bottom
        area = ground.area_m2([(0, top), (size[0], top), (size[0], bottom), (0, bottom)])
        n = sum(1 for d in found if top <= d.foot[1] < bottom)
        if area <= 0 or n / area > self.config.sparse_density:
            return
        self._checks += 1
        aw, ah = self.regression.analysis_size(*size)
        region = np.zeros((ah, aw), np.uint8)
        region[int(top * ah / size[1]):int(np.ceil(bottom * ah / size[1]))] = 1
        # Detections are a lower bound (HOG misses the partly hidden, rarely invents people
        # of the right size where they stand): they may raise the regression, never lower it.
        if float(n) > self.regression.model.predict(self.regression.features(region))[0]:
            self.regression.learn(region, float(n))

    def _combine(self, regressed: CountResult, detected: CountResult,
                 zones: Sequence[ZoneGeometry], ground: GroundModel,
                 calibrated: bool) -> CountResult:
        """Dense zones: regression. Sparse: detections where people are detectable, plus
        the regression's count of the zone's part where they are too small to detect."""
        rows = self._detectable_rows(ground)
        out = []
        self._sparse = set()
        for reg, det, zone in zip(regressed.zones, detected.zones, zones, strict=True):
            dense = reg.density is not None and reg.density >= self.config.sparse_density
            # Dense zones take the head count, which needs no calibration from detections.
            if dense or (calibrated and rows is None):
                out.append(reg)
                continue
            self._sparse.add(zone.zone_id)
            rest = self._undetectable_count(zone, rows, ground) if calibrated else 0.0
            count = det.count + rest
            density = count / zone.area_m2 if zone.area_m2 else None
            out.append(ZoneEstimate(zone.zone_id, count, density, det.confidence))
        return CountResult(tuple(out), self.name, detected.detections)

    def _undetectable_count(self, zone: ZoneGeometry, rows: tuple[int, int] | None,
                            ground: GroundModel) -> float:
        if rows is None:
            return 0.0
        size = (ground.width, ground.height)
        mask = self.regression.zone_mask(zone, size).copy()
        ah = mask.shape[0]
        mask[int(rows[0] * ah / size[1]):int(np.ceil(rows[1] * ah / size[1]))] = 0
        if not mask.any():
            return 0.0
        return self.regression.model.predict(self.regression.features(mask))[0]

    def _detectable_rows(self, ground: GroundModel) -> tuple[int, int] | None:
        bands = self.detector.bands(ground)
        return (bands[0].foot_top, bands[-1].foot_bottom) if bands else None


def build_counter(method: str, models: ModelOptions | None = None) -> Counter:
    """A counter for ``method`` (one of :data:`METHODS`)."""
    models = models or ModelOptions()
    classical: dict[str, type[Counter]] = {"detect": DetectionCounter,
                                          "regress": RegressionCounter,
                                          "classic": AutoCounter, "heads": HeadCounter}
    if method in classical:
        return classical[method]()
    if method in ("auto", "yolox"):
        from video.learned import LearnedConfig, LearnedCounter

        return LearnedCounter(LearnedConfig(use_density=method == "auto"), models.detector,
                              models.detector_sha256, models.providers)
    if method == "density":
        from video.learned import DensityCounter

        return DensityCounter(models.providers)
    if method == "onnx":
        if not models.onnx_model:
            raise ValueError("method onnx needs a model file")
        from video.dnn import OnnxCounter

        return OnnxCounter(models.onnx_model)
    raise ValueError(f"unknown counting method {method!r}; choose from {', '.join(METHODS)}")
