"""Counting by regression on holistic, perspective-weighted features (Chan et al., CVPR 2008).

Owns the dense-scene counter. Every analysed frame, at a small analysis width:

- foreground from background subtraction (MOG2 or KNN; shadows dropped); the background
  stops learning while the scene is crowded, so a standing crowd is not absorbed;
- features per region: foreground area weighted by the perspective map (one person
  weighs about 1 anywhere in the image) and corrected for occlusion cell by cell
  (coverage f of a cell holds -ln(1 - f) layers of people, not f), edge length on the
  foreground weighted by the square root of the map, and texture (Laplacian energy);
- a linear map features → count, Bayesian with a geometric prior (1 person per unit of
  weighted area), updated from detection counts of the detectable part of the frame in
  sparse moments (:meth:`RegressionCounter.learn`), so no per-camera labels are needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from video.calibration import GroundModel
from video.model import CountResult, ZoneEstimate
from video.zones import ZoneGeometry

N_FEATURES = 3


@dataclass(frozen=True, slots=True)
class RegressionConfig:
    analysis_width: int = 400
    subtractor: str = "mog2"          # or "knn"
    history: int = 300                # frames of the background model (at the analysis rate)
    detect_shadows: bool = True       # real shadows and flicker (PETS: MAE 2.1 with, 119 without)
    learning_rate: float = 0.02       # background adaptation per analysed frame when sparse
    freeze_density: float = 0.8       # persons/m² above which the background stops learning
    person_aspect: float = 0.22       # a person's silhouette area / height²
    cell: int = 12                    # occlusion-correction cell, analysis pixels
    prior_strength: float = 30.0      # the prior weighs like this many calibration frames
    forgetting: float = 0.995         # per calibration frame, so the map follows the scene


class PerspectiveMap:
    """Per analysis pixel: weight of a foreground pixel (1 / a person's image area)."""

    def __init__(self, ground: GroundModel, width: int, height: int, aspect: float,
                 step: int = 4) -> None:
        h_body = self._body_heights(ground, width, height, step)
        valid = h_body > 1.0
        self.person_px = np.where(valid, h_body, 0.0).astype(np.float32)
        self.area_weight = np.where(valid, 1.0 / (aspect * np.maximum(h_body, 1.0) ** 2),
                                    0.0).astype(np.float32)
        self.edge_weight = np.where(valid, 1.0 / np.maximum(h_body, 1.0), 0.0).astype(np.float32)

    @staticmethod
    def _body_heights(ground: GroundModel, width: int, height: int, step: int) -> np.ndarray:
        """Person height (analysis px) over the grid, computed every ``step`` pixels and
        interpolated: it varies smoothly, and the projection is the costly part."""
        cw, ch = max(2, -(-width // step)), max(2, -(-height // step))
        coarse = PerspectiveMap._body_heights_exact(ground, cw, ch)   # coarse-grid px
        full = cv2.resize(coarse.astype(np.float32), (width, height),
                          interpolation=cv2.INTER_LINEAR)
        return np.asarray(full * (height / ch), dtype=np.float32)

    @staticmethod
    def _body_heights_exact(ground: GroundModel, width: int, height: int) -> np.ndarray:
        fw, fh = ground.width, ground.height
        xs = (np.arange(width) + 0.5) * fw / width
        ys = (np.arange(height) + 0.5) * fh / height
        gx, gy = np.meshgrid(xs, ys)
        pts = np.column_stack([gx.ravel(), gy.ravel()])
        h = ground.person_height_px(pts).reshape(height, width)
        # A foreground pixel belongs to someone whose feet are about half a body lower.
        shifted = np.column_stack([pts[:, 0], pts[:, 1] + 0.5 * h.ravel()])
        h_body = ground.person_height_px(shifted).reshape(height, width)
        return np.asarray(np.where(h_body > 0, h_body, h) * (height / fh))


class BayesianLinear:
    """y ≈ βᵀx with a Gaussian prior on β, Poisson-like noise, and slow forgetting."""

    def __init__(self, prior_mean: np.ndarray, prior_strength: float, forgetting: float) -> None:
        self.prior_mean = prior_mean.astype(float)
        self.forgetting = forgetting
        scale = np.array([1.0, 0.05, 0.05])[: len(prior_mean)]
        self.prior_precision = prior_strength * np.diag(1.0 / scale**2) / 10.0
        self.xtx = np.zeros((len(prior_mean), len(prior_mean)))
        self.xty = np.zeros(len(prior_mean))
        self.samples = 0.0

    def update(self, x: np.ndarray, y: float) -> None:
        w = 1.0 / (1.0 + y)
        self.xtx = self.forgetting * self.xtx + w * np.outer(x, x)
        self.xty = self.forgetting * self.xty + w * x * y
        self.samples = self.forgetting * self.samples + 1.0

    @property
    def beta(self) -> np.ndarray:
        a = self.prior_precision + self.xtx
        b = self.prior_precision @ self.prior_mean + self.xty
        return np.asarray(np.linalg.solve(a, b))

    def predict(self, x: np.ndarray) -> tuple[float, float]:
        """Mean and standard deviation of the count for features ``x``."""
        mean = max(0.0, float(self.beta @ x))
        cov = np.linalg.inv(self.prior_precision + self.xtx)
        spread = float(np.sqrt(max(x @ cov @ x, 0.0) + mean + 0.25))
        return mean, spread


class RegressionCounter:
    """Counts people per zone from foreground, edge and texture features."""

    name = "regress"

    def __init__(self, config: RegressionConfig | None = None) -> None:
        self.config = config or RegressionConfig()
        self._subtractor = _subtractor(self.config)
        self._map: PerspectiveMap | None = None
        self._map_key: tuple[int, ...] = ()
        self._masks: dict[str, np.ndarray] = {}
        self.model = BayesianLinear(np.array([1.0, 0.0, 0.0]), self.config.prior_strength,
                                    self.config.forgetting)
        self._layers: np.ndarray | None = None
        self._edges: np.ndarray | None = None
        self._texture: np.ndarray | None = None
        self._frames = 0
        self.last_density: float = 0.0

    def analysis_size(self, w: int, h: int) -> tuple[int, int]:
        """The analysis grid for frames of ``w`` × ``h``."""
        aw = min(w, self.config.analysis_width)
        return aw, max(1, round(h * aw / w))

    def observe(self, frame: np.ndarray, ground: GroundModel) -> np.ndarray:
        """Update the background with ``frame`` and compute its per-pixel feature maps;
        returns the frame at the analysis size (for the caller's own use, not kept)."""
        aw, ah = self.analysis_size(frame.shape[1], frame.shape[0])
        self._ensure_map(ground, aw, ah)
        small = frame if frame.shape[1] == aw else cv2.resize(frame, (aw, ah),
                                                              interpolation=cv2.INTER_AREA)
        rate = self._learning_rate()
        fg = self._subtractor.apply(small, learningRate=rate)
        fg = cv2.morphologyEx((fg == 255).astype(np.uint8), cv2.MORPH_OPEN,
                              np.ones((2, 2), np.uint8))
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        self._feature_maps(fg, gray)
        self._frames += 1
        return np.asarray(small)

    def background(self) -> np.ndarray | None:
        """The background model's image (analysis size), for a caller's own foreground."""
        image = self._subtractor.getBackgroundImage()
        return None if image is None else np.asarray(image)

    @property
    def area_weight(self) -> np.ndarray:
        """Per analysis pixel: 1 / a person's image area there (after :meth:`observe`)."""
        assert self._map is not None
        return self._map.area_weight

    def _learning_rate(self) -> float:
        if self._frames == 0:
            return 1.0   # the first frame initialises the background
        if self._frames < 10:
            return 4.0 * self.config.learning_rate
        if self.last_density >= self.config.freeze_density:
            return 0.0
        return self.config.learning_rate

    def _ensure_map(self, ground: GroundModel, aw: int, ah: int) -> None:
        key = (id(ground), aw, ah)
        if key != self._map_key:
            self._map = PerspectiveMap(ground, aw, ah, self.config.person_aspect)
            self._map_key = key
            self._masks = {}

    def _feature_maps(self, fg: np.ndarray, gray: np.ndarray) -> None:
        assert self._map is not None
        c = self.config.cell
        h, w = fg.shape
        cover = cv2.resize(fg.astype(np.float32), (max(1, w // c), max(1, h // c)),
                           interpolation=cv2.INTER_AREA)
        layers_cell = -np.log1p(-np.clip(cover, 0.0, 0.95)) / np.maximum(cover, 1e-3)
        layers = cv2.resize(layers_cell, (w, h), interpolation=cv2.INTER_NEAREST)
        self._layers = fg * layers * self._map.area_weight
        edges = cv2.Canny(gray, 60, 150) > 0
        near_fg = cv2.dilate(fg, np.ones((3, 3), np.uint8)) > 0
        self._edges = (edges & near_fg) * self._map.edge_weight
        lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=3)) / 255.0
        self._texture = lap * fg * self._map.area_weight * self._map.person_px * 0.1

    def features(self, mask: np.ndarray) -> np.ndarray:
        """Feature vector of the region ``mask`` (analysis size, 0/1) in the last frame."""
        assert self._layers is not None and self._edges is not None and self._texture is not None
        m = mask.astype(bool)
        return np.array([float(self._layers[m].sum()), float(self._edges[m].sum()) * 0.1,
                         float(self._texture[m].sum())])

    def zone_mask(self, zone: ZoneGeometry, frame_size: tuple[int, int]) -> np.ndarray:
        assert self._map is not None
        if zone.zone_id not in self._masks:
            ah, aw = self._map.area_weight.shape
            self._masks[zone.zone_id] = zone.mask(aw, ah, frame_size)
        return self._masks[zone.zone_id]

    def learn(self, region: np.ndarray, detected: float) -> None:
        """One calibration sample: ``detected`` people counted in ``region`` (analysis mask)."""
        self.model.update(self.features(region), detected)

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        if ground is None:
            raise ValueError("regression needs a ground model (calibration or estimated)")
        self.observe(frame, ground)
        return self.estimate(zones, (frame.shape[1], frame.shape[0]))

    def estimate(self, zones: Sequence[ZoneGeometry], frame_size: tuple[int, int]
                 ) -> CountResult:
        """Per-zone estimates from the last observed frame."""
        out = []
        densities = []
        for zone in zones:
            mean, spread = self.model.predict(self.features(self.zone_mask(zone, frame_size)))
            density = mean / zone.area_m2 if zone.area_m2 else None
            densities.append(density or 0.0)
            out.append(ZoneEstimate(zone.zone_id, mean, density, _confidence(mean, spread,
                                                                            self.model.samples)))
        self.last_density = max(densities, default=0.0)
        return CountResult(tuple(out), self.name)


def _confidence(mean: float, spread: float, samples: float) -> float:
    relative = spread / max(mean, 1.0)
    calibrated = 1.0 - math.exp(-samples / 20.0)
    return round(float(np.clip((1.0 - min(relative, 1.0)) * (0.5 + 0.5 * calibrated), 0, 1)), 3)


def _subtractor(config: RegressionConfig) -> cv2.BackgroundSubtractor:
    if config.subtractor == "knn":
        return cv2.createBackgroundSubtractorKNN(history=config.history,
                                                 detectShadows=config.detect_shadows)
    return cv2.createBackgroundSubtractorMOG2(history=config.history, varThreshold=16,
                                              detectShadows=config.detect_shadows)
