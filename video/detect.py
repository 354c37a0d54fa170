"""People detection with OpenCV's HOG detector, made perspective-aware.

Owns turning a frame into person boxes. The default people detector sees a person best
at about 100 px tall in its 64 × 128 window and misses anyone under ~100 px, so the
frame is cut into horizontal bands of feet rows where a person's expected height varies
by at most ``band_ratio``; each band is rescaled so its smallest person is about
``target_px`` tall and scanned only over its own scales. Detections whose size does not
fit the perspective are dropped, then overlapping boxes are suppressed (NMS).
Without a ground model the whole frame is scanned at ``discovery_upscale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from video.calibration import GroundModel
from video.model import Detection

_WINDOW_H = 128
_WINDOW_W = 64


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    target_px: float = 110.0          # smallest person of a band rescaled to this height
    band_ratio: float = 1.5           # largest / smallest expected person in one band
    scale_step: float = 1.05          # HOG pyramid step
    hit_threshold: float = 0.0
    nms_iou: float = 0.3
    size_tolerance: tuple[float, float] = (0.6, 1.6)
    max_upscale: float = 3.0
    discovery_upscale: float = 2.0
    person_fraction: float = 0.75     # share of a HOG window's height the person fills
    foot_fraction: float = 0.85       # feet row within the window, from its top


@dataclass(frozen=True, slots=True)
class Band:
    """Feet rows [foot_top, foot_bottom) scanned at ``scale``, over image rows [top, bottom)."""

    foot_top: int
    foot_bottom: int
    top: int
    bottom: int
    scale: float
    min_h: float
    max_h: float


def _row_heights(ground: GroundModel, rows: np.ndarray, columns: tuple[float, float]) -> np.ndarray:
    """Expected person height at each row (the smaller over the two columns given)."""
    out = []
    for x in columns:
        pts = np.column_stack([np.full(len(rows), x), rows.astype(float)])
        out.append(ground.person_height_px(pts))
    return np.asarray(np.minimum(out[0], out[1]))


def plan_bands(ground: GroundModel, config: DetectorConfig,
               rows: tuple[int, int] | None = None) -> list[Band]:
    """Bands of feet rows (within ``rows``) whose people the detector can see."""
    lo, hi = rows or (0, ground.height)
    ys = np.arange(lo, hi, 4)
    if len(ys) == 0:
        return []
    heights = _row_heights(ground, ys, (ground.width * 0.1, ground.width * 0.9))
    min_visible = _WINDOW_H * config.person_fraction / config.max_upscale
    segments = _segments(ys, heights, min_visible, config.band_ratio)
    return [_band(start, stop, ys, heights, ground, config) for start, stop in segments]


def _segments(ys: np.ndarray, heights: np.ndarray, min_visible: float,
              ratio: float) -> list[tuple[int, int]]:
    """Runs of rows where people are visible and vary in size by at most ``ratio``."""
    segments: list[tuple[int, int]] = []
    start: int | None = None
    lo_h = hi_h = 0.0
    for y, h in zip(ys.tolist(), heights.tolist(), strict=True):
        if h < min_visible:
            if start is not None:
                segments.append((start, y))
            start = None
            continue
        if start is not None:
            lo_h, hi_h = min(lo_h, h), max(hi_h, h)
            if hi_h / lo_h <= ratio:
                continue
            segments.append((start, y))
        start, lo_h, hi_h = y, h, h
    if start is not None:
        segments.append((start, int(ys[-1]) + 4))
    return segments


def _band(start: int, stop: int, ys: np.ndarray, heights: np.ndarray, ground: GroundModel,
          config: DetectorConfig) -> Band:
    sel = heights[(ys >= start) & (ys < stop)]
    min_h, max_h = float(sel.min()), float(sel.max())
    scale = float(np.clip(config.target_px / min_h, 0.25, config.max_upscale))
    top = int(max(0, start - max_h * 1.2))
    bottom = int(min(ground.height, stop + 0.2 * max_h))
    return Band(start, stop, top, bottom, scale, min_h, max_h)


def nms(detections: list[Detection], iou: float) -> list[Detection]:
    """Greedy non-maximum suppression, best score first."""
    if not detections:
        return []
    boxes = np.array([[d.x, d.y, d.x + d.w, d.y + d.h] for d in detections])
    order = np.argsort([-d.score for d in detections])
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap < iou]
    return [detections[i] for i in keep]


def _hog(levels: int) -> cv2.HOGDescriptor:
    """The default people detector scanning at most ``levels`` pyramid scales."""
    hog = cv2.HOGDescriptor((_WINDOW_W, _WINDOW_H), (16, 16), (8, 8), (8, 8), 9, 1, -1.0,
                            cv2.HOGDescriptor_L2Hys, 0.2, True, levels)
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))
    return hog


class HogDetector:
    """Finds standing people; returns tight person boxes (feet at the bottom-centre)."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        levels = math.ceil(math.log(self.config.band_ratio * self.config.size_tolerance[1]
                                    / self.config.size_tolerance[0]) / math.log(
                                        self.config.scale_step)) + 1
        self._hog = _hog(levels)
        self._discovery_hog = _hog(64)
        self._bands: dict[tuple[int, int, int, int], list[Band]] = {}

    def detect(self, frame: np.ndarray, ground: GroundModel | None = None,
               rows: tuple[int, int] | None = None) -> list[Detection]:
        """People in ``frame``; with ``ground``, only feet rows within ``rows`` are scanned."""
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if ground is None:
            found = self._scan(self._discovery_hog, gray, 0, self.config.discovery_upscale)
            return nms(found, self.config.nms_iou)
        found = []
        for band in self.bands(ground, rows):
            image = gray[band.top:band.bottom]
            for det in self._scan(self._hog, image, band.top, band.scale):
                if band.foot_top <= det.foot[1] < band.foot_bottom and self._fits(det, ground):
                    found.append(det)
        return nms(found, self.config.nms_iou)

    def bands(self, ground: GroundModel, rows: tuple[int, int] | None = None) -> list[Band]:
        key = (id(ground), ground.height, *(rows or (0, ground.height)))
        if key not in self._bands:
            self._bands[key] = plan_bands(ground, self.config, rows)
        return self._bands[key]

    def _fits(self, det: Detection, ground: GroundModel) -> bool:
        expected = float(ground.person_height_px(np.array([det.foot]))[0])
        lo, hi = self.config.size_tolerance
        return expected > 0 and lo <= det.h / expected <= hi

    def _scan(self, hog: cv2.HOGDescriptor, image: np.ndarray, top: int,
              scale: float) -> list[Detection]:
        if image.shape[0] * scale < _WINDOW_H or image.shape[1] * scale < _WINDOW_W:
            return []
        interp = cv2.INTER_LINEAR if scale >= 1.0 else cv2.INTER_AREA
        scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
        rects, weights = hog.detectMultiScale(
            scaled, hitThreshold=self.config.hit_threshold, winStride=(8, 8), padding=(8, 8),
            scale=self.config.scale_step)
        scores = np.asarray(weights, dtype=float).reshape(-1)
        boxes = np.asarray(rects, dtype=float).reshape(-1, 4)
        return [self._person_box(r, float(s), top, scale) for r, s in zip(boxes, scores,
                                                                         strict=True)]

    def _person_box(self, rect: np.ndarray, score: float, top: int, scale: float) -> Detection:
        x, y, w, h = (float(v) / scale for v in rect)
        c = self.config
        person_h = h * c.person_fraction
        foot = y + h * c.foot_fraction
        person_w = w * c.person_fraction
        return Detection(x + (w - person_w) / 2.0, top + foot - person_h, person_w, person_h,
                         score)
