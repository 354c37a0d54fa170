"""A user-supplied ONNX model through ``cv2.dnn``: a density-map network or a person detector.

Owns loading the model and reading its output by shape:

- ``(1, 1, H, W)``: a density map — people per output cell; the map is resized to the
  frame preserving its sum, and each zone's count is the sum over its mask;
- ``(1, N, 5|6)`` or ``(N, 5|6)``: person boxes ``x1, y1, x2, y2, score[, class]`` in
  input-image pixels; boxes above ``score_threshold`` are counted by their feet.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from video.calibration import GroundModel
from video.errors import ModelError
from video.model import CountResult, Detection, ZoneEstimate
from video.zones import ZoneGeometry, zone_counts


class OnnxCounter:
    name = "onnx"

    def __init__(self, path: str, input_size: tuple[int, int] = (640, 360),
                 scale: float = 1.0 / 255.0, swap_rb: bool = True,
                 score_threshold: float = 0.5) -> None:
        try:
            self.net = cv2.dnn.readNetFromONNX(path)
        except cv2.error as exc:
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
        self.input_size = input_size
        self.scale = scale
        self.swap_rb = swap_rb
        self.score_threshold = score_threshold

    def infer(self, frame: np.ndarray) -> np.ndarray:
        blob = cv2.dnn.blobFromImage(frame, self.scale, self.input_size, swapRB=self.swap_rb)
        self.net.setInput(blob)
        return np.asarray(self.net.forward())

    def count(self, frame: np.ndarray, zones: Sequence[ZoneGeometry],
              ground: GroundModel | None, t: float | None = None) -> CountResult:
        out = self.infer(frame)
        if out.ndim == 4 and out.shape[:2] == (1, 1):
            return self._from_density(out[0, 0], frame, zones)
        boxes = out.reshape(-1, out.shape[-1]) if out.ndim in (2, 3) else None
        if boxes is not None and boxes.shape[-1] in (5, 6):
            return zone_counts(self._detections(boxes, frame), zones, 0.7, self.name)
        raise ModelError(f"unsupported ONNX output shape {out.shape}")

    def _from_density(self, density: np.ndarray, frame: np.ndarray,
                      zones: Sequence[ZoneGeometry]) -> CountResult:
        h, w = density.shape
        out = []
        size = (frame.shape[1], frame.shape[0])
        for zone in zones:
            mask = zone.mask(w, h, size).astype(np.float32)
            n = float(max((density * mask).sum(), 0.0))
            d = n / zone.area_m2 if zone.area_m2 else None
            out.append(ZoneEstimate(zone.zone_id, n, d, 0.7))
        return CountResult(tuple(out), self.name)

    def _detections(self, boxes: np.ndarray, frame: np.ndarray) -> list[Detection]:
        sx = frame.shape[1] / self.input_size[0]
        sy = frame.shape[0] / self.input_size[1]
        keep = boxes[boxes[:, 4] >= self.score_threshold]
        return [Detection(float(x1 * sx), float(y1 * sy), float((x2 - x1) * sx),
                          float((y2 - y1) * sy), float(s)) for x1, y1, x2, y2, s, *_ in keep]
