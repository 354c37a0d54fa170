"""Foreground mass per person: a sparse-zone count that does not inherit HOG's recall.

Owns the ``auto`` method's sparse-scene foreground count. HOG finds only part of the people
in a sparse or medium crowd (in the synthetic bench 25–35%, 10% at 1/m² where people
overlap), so a regression calibrated from *how many* people it found per frame inherits
that recall. What a detection does tell reliably is what *one* person looks like: for
each detected box that stands apart from other detections and from other foreground, the
perspective-weighted foreground mass inside it is one person's mass (with whatever shadow
residue and background error comes with a person in this camera). The median over many
such boxes is the per-person mass, and a zone's count is its weighted foreground mass
divided by it — precision of the detector is used, never its recall.

Foreground here is not MOG2's label (its variance-scaled test calls grey clothes on grey
paving "shadow" and lets people learnt into high-variance pixels vanish) but the distance
of the analysis frame from MOG2's background image: any channel more than ``threshold``
grey levels away, minus pixels that look like a cast shadow (darker, same chromaticity).
Occlusion is corrected per cell like the regression's (coverage f → −ln(1 − f) layers).

Identifies nobody: the map is a per-pixel weight of the current frame, summed per zone
and replaced on the next frame; boxes contribute one number each.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from video.model import Detection


@dataclass(frozen=True, slots=True)
class MassConfig:
    threshold: float = 25.0          # grey levels (any channel) away from the background
    shadow_ratio: tuple[float, float] = (0.4, 0.95)   # brightness / background of a shadow
    shadow_chroma: float = 0.03      # largest chromaticity change of a shadow pixel
    cell: int = 12                   # occlusion-correction cell, analysis pixels
    ring: float = 2.0                # an isolated box: mass in the ring around it (half a box
                                     # width each side, a quarter height above and below)
                                     # at most this many times the mass inside
    min_people: int = 3              # isolated boxes before the per-person mass is used
    keep: int = 300                  # most recent isolated boxes kept (numbers, no pixels)


class ForegroundMass:
    """Weighted foreground of the last frame, and the per-person mass learnt from
    isolated detections."""

    def __init__(self, config: MassConfig | None = None) -> None:
        self.config = config or MassConfig()
        self._map: np.ndarray | None = None
        self._samples: deque[float] = deque(maxlen=self.config.keep)

    def observe(self, small: np.ndarray, background: np.ndarray | None,
                area_weight: np.ndarray) -> None:
        """Weighted foreground of ``small`` (analysis-size BGR) against ``background``."""
        if background is None or background.shape != small.shape or small.ndim != 3:
            self._map = None
            return
        c = self.config
        on = cv2.absdiff(small, background).max(axis=2) > c.threshold
        frame = small.astype(np.float32)
        bg = background.astype(np.float32)
        fsum = cv2.add(cv2.add(frame[..., 0], frame[..., 1]), frame[..., 2]) + 1.0
        bsum = cv2.add(cv2.add(bg[..., 0], bg[..., 1]), bg[..., 2]) + 1.0
        ratio = fsum / bsum
        chroma = np.abs(frame / fsum[..., None] - bg / bsum[..., None]).max(axis=2)
        lo, hi = c.shadow_ratio
        shadow = (ratio > lo) & (ratio < hi) & (chroma < c.shadow_chroma)
        fg = cv2.morphologyEx((on & ~shadow).astype(np.uint8), cv2.MORPH_OPEN,
                              np.ones((2, 2), np.uint8))
        h, w = fg.shape
        cover = cv2.resize(fg.astype(np.float32), (max(1, w // c.cell), max(1, h // c.cell)),
                           interpolation=cv2.INTER_AREA)
        layers = -np.log1p(-np.clip(cover, 0.0, 0.95)) / np.maximum(cover, 1e-3)
        self._map = fg * cv2.resize(layers, (w, h), interpolation=cv2.INTER_NEAREST) * area_weight

    def learn(self, detections: Sequence[Detection], scale: float) -> int:
        """Adds the mass of every isolated detection (``scale``: analysis px per frame px);
        returns how many were isolated."""
        if self._map is None or not detections:
            return 0
        m = self._map
        ah, aw = m.shape
        boxes = np.array([[d.x, d.y, d.w, d.h] for d in detections], float) * scale
        added = 0
        for j, (x, y, w, h) in enumerate(boxes):
            ex = (x - 0.5 * w, y - 0.25 * h, x + 1.5 * w, y + 1.25 * h)
            o = np.delete(boxes, j, axis=0)
            if len(o) and np.any((o[:, 0] < ex[2]) & (o[:, 0] + o[:, 2] > ex[0])
                                 & (o[:, 1] < ex[3]) & (o[:, 1] + o[:, 3] > ex[1])):
                continue
            x0, y0 = int(max(0, x)), int(max(0, y))
            x1, y1 = int(min(aw, x + w)), int(min(ah, y + h))
            inner = float(m[y0:y1, x0:x1].sum())
            X0, Y0 = int(max(0, ex[0])), int(max(0, ex[1]))
            X1, Y1 = int(min(aw, ex[2])), int(min(ah, ex[3]))
            outer = float(m[Y0:Y1, X0:X1].sum()) - inner
            if inner > 0 and outer <= self.config.ring * inner:
                self._samples.append(inner)
                added += 1
        return added

    @property
    def per_person(self) -> float | None:
        """Median weighted foreground of one isolated person, once enough were seen."""
        if len(self._samples) < self.config.min_people:
            return None
        return float(np.median(np.fromiter(self._samples, float)))

    def count(self, mask: np.ndarray) -> float | None:
        """People in the region ``mask`` (analysis size), or None before calibration."""
        per = self.per_person
        if per is None or self._map is None or per <= 0:
            return None
        return float(self._map[mask.astype(bool)].sum()) / per
