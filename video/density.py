"""A density-map network (CSRNet) for zones already called dense: people per cell.

Owns running the network on the part of a frame that covers the dense zones, at a scale
chosen from the frame's size, and summing its map per zone. Cells below ``floor`` people
(per cell of the frame at scale 1) are dropped: the network spreads a thin haze over
background and sparse scenes (a flat grey image reads as ~77 people), and the floor
removes most of it while keeping what a crowd puts there (ShanghaiTech B, 40 images:
relative error 0.16 → 0.15 at 0.003).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from video.model import DensityPatch
from video.runtime import open_session

MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 1, 3)
STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 1, 3)


@dataclass(frozen=True, slots=True)
class DensitySpec:
    path: Path
    sha256: str | None
    max_side: int = 1024       # the frame is scaled so its long side is at most this
    floor: float = 0.003       # measured on ShanghaiTech B
    large_people_px: float = 100.0   # detected people this tall (median, frame pixels) or
    large_scale: float = 0.75        # taller are seen at this further scale: trained on
    # small heads (Part A), the network reads large people's bodies as more people.
    # ShanghaiTech B, 1024 px: 0.75x beat 1x and 0.5x (0.16 against 0.21 and 0.18); on A,
    # where people are small, 1x beat 0.75x (0.144 against 0.157, 40 images)


class DensityNet:
    """Runs the density network on a frame region."""

    def __init__(self, spec: DensitySpec, providers: Sequence[str] = ("cpu",),
                 threads: int = 1) -> None:
        self.spec = spec
        self.session = open_session(spec.path, spec.sha256, providers, threads)
        self.input_name = self.session.get_inputs()[0].name

    def scale_for(self, frame_size: tuple[int, int], people_px: float | None = None) -> float:
        """The network's scale for frames of ``frame_size`` whose detected people are
        ``people_px`` tall (median; ``None``: none detected)."""
        scale = min(1.0, self.spec.max_side / max(frame_size))
        if people_px is not None and people_px >= self.spec.large_people_px:
            scale *= self.spec.large_scale
        return scale

    def patch(self, frame: np.ndarray, box: tuple[int, int, int, int],
              people_px: float | None = None) -> DensityPatch:
        """The density over ``box`` of ``frame``."""
        x0, y0, x1, y1 = box
        scale = self.scale_for((frame.shape[1], frame.shape[0]), people_px)
        crop = frame[y0:y1, x0:x1]
        size = (max(8, round(crop.shape[1] * scale)), max(8, round(crop.shape[0] * scale)))
        img = crop if size == (crop.shape[1], crop.shape[0]) else cv2.resize(
            crop, size, interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        data = (img[:, :, ::-1].astype(np.float32) / 255.0 - MEAN) / STD
        blob = np.ascontiguousarray(data.transpose(2, 0, 1)[None])
        grid = np.asarray(self.session.run(None, {self.input_name: blob})[0])[0, 0]
        floor = self.spec.floor / (scale * scale)   # cells of a scaled frame hold more people
        return DensityPatch(np.where(grid > floor, grid, 0.0).astype(np.float32), box)
