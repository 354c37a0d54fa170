"""Camera health from the frames themselves: frozen frame, covered lens, scene change.

Owns the per-camera health state machine. Stream loss is decided by the service (no frame
within the stall timeout); everything else is judged here on a small grey thumbnail:

- frozen: consecutive frames practically identical for ``frozen_seconds`` (live sensors
  always add some noise; a frozen encoder or a stuck decoder repeats the same picture);
- covered: very dark or nearly uniform for ``covered_seconds`` (lens covered, spray-painted,
  pointed at a wall, or the light is gone);
- scene changed: the picture's structure no longer correlates with the long-term
  reference for ``changed_seconds`` (camera moved or knocked); after ``rebase_seconds``
  of reporting it, the new view becomes the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from video.model import Health

_THUMB = (96, 54)


@dataclass(frozen=True, slots=True)
class HealthConfig:
    frozen_seconds: float = 10.0
    frozen_diff: float = 0.15         # mean |Δ| grey level between frames counted as identical
    dark_level: float = 20.0
    flat_std: float = 7.0
    covered_seconds: float = 5.0
    changed_correlation: float = 0.45
    changed_seconds: float = 5.0
    rebase_seconds: float = 60.0
    reference_alpha: float = 0.05     # how fast the reference follows a healthy scene


def thumbnail(frame: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(gray, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def structure_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two thumbnails' gradient magnitudes (insensitive to lighting gain)."""
    ga, gb = _gradient(a), _gradient(b)
    ga, gb = ga - ga.mean(), gb - gb.mean()
    denom = float(np.sqrt((ga * ga).sum() * (gb * gb).sum()))
    return float((ga * gb).sum() / denom) if denom > 1e-6 else 0.0


def _gradient(img: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(img, (3, 3), 0)
    return np.asarray(cv2.magnitude(cv2.Sobel(blurred, cv2.CV_32F, 1, 0),
                                    cv2.Sobel(blurred, cv2.CV_32F, 0, 1)))


class HealthMonitor:
    """Feed it every analysed frame with its time (seconds); it says the camera's health."""

    def __init__(self, config: HealthConfig | None = None) -> None:
        self.config = config or HealthConfig()
        self._previous: np.ndarray | None = None
        self._reference: np.ndarray | None = None
        self._since: dict[Health, float] = {}
        self.state = Health.OK

    def observe(self, frame: np.ndarray, t: float) -> Health:
        thumb = thumbnail(frame)
        conditions = {
            Health.COVERED: self._covered(thumb),
            Health.FROZEN: self._frozen(thumb),
            Health.SCENE_CHANGED: self._changed(thumb),
        }
        self._previous = thumb
        held = {h: self._held(h, on, t) for h, on in conditions.items()}
        self.state = next((h for h in conditions if held[h]), Health.OK)
        self._maintain_reference(thumb, t)
        return self.state

    def _held(self, health: Health, on: bool, t: float) -> float:
        if not on:
            self._since.pop(health, None)
            return 0.0
        start = self._since.setdefault(health, t)
        limit = {Health.COVERED: self.config.covered_seconds,
                 Health.FROZEN: self.config.frozen_seconds}.get(health,
                                                              self.config.changed_seconds)
        return (t - start) if t - start >= limit else 0.0

    def _covered(self, thumb: np.ndarray) -> bool:
        return float(thumb.mean()) < self.config.dark_level or float(
            thumb.std()) < self.config.flat_std

    def _frozen(self, thumb: np.ndarray) -> bool:
        if self._previous is None:
            return False
        return float(np.abs(thumb - self._previous).mean()) < self.config.frozen_diff

    def _changed(self, thumb: np.ndarray) -> bool:
        if self._reference is None:
            return False
        return structure_correlation(thumb, self._reference) < self.config.changed_correlation

    def _maintain_reference(self, thumb: np.ndarray, t: float) -> None:
        changed_since = self._since.get(Health.SCENE_CHANGED)
        if self._reference is None or (
                changed_since is not None and t - changed_since >= self.config.rebase_seconds):
            self._reference = thumb.copy()
            self._since.pop(Health.SCENE_CHANGED, None)
        elif self.state == Health.OK:
            a = self.config.reference_alpha
            self._reference = (1 - a) * self._reference + a * thumb
