"""One camera's analysis pipeline: health, ground model, counting, motion, line crossings.

Owns the per-camera state (background model, self-calibration, scale estimate, previous
frame for flow) and turns each sampled frame into an :class:`Analysis`. Frames are used
and dropped; nothing that identifies a person is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from video.calibration import CalibrationSpec, GroundModel, from_spec
from video.counting import (
    AutoCounter,
    Counter,
    DetectionCounter,
    ModelOptions,
    ScaleEstimator,
    build_counter,
)
from video.flow import CountingLine, FlowMeter, LineCounter
from video.health import HealthMonitor
from video.learned import LearnedCounter
from video.model import CountResult, Crossing, Health, Motion, Zone
from video.zones import ZoneGeometry, prepare_zones

# A frozen or covered camera shows nothing to count. A changed scene still does: a dense
# crowd arriving changes the picture's structure as much as a knocked camera (synthetic
# plaza: gradient correlation 0.18-0.3 either way), and a surge must not go uncounted.
BLIND = frozenset({Health.FROZEN, Health.COVERED})
DOUBT = 0.5   # confidence factor while the scene-change verdict holds


def _doubtful(result: CountResult) -> CountResult:
    zones = tuple(replace(z, confidence=z.confidence * DOUBT) for z in result.zones)
    return replace(result, zones=zones)


@dataclass(frozen=True, slots=True, eq=False)
class Analysis:
    t: float
    index: int
    health: Health
    result: CountResult | None
    motion: tuple[Motion, ...] = ()
    crossings: tuple[Crossing, ...] = ()


@dataclass(frozen=True, slots=True)
class AnalyzerOptions:
    method: str = "auto"
    models: ModelOptions = field(default=ModelOptions())
    flow: bool = False
    lines: tuple[CountingLine, ...] = field(default=())


class CameraAnalyzer:
    """Feed sampled frames to :meth:`analyse`; counts are skipped while the camera is frozen or
    covered, and kept with half the confidence while its scene looks changed."""

    def __init__(self, zones: Sequence[Zone], calibration: CalibrationSpec | None = None,
                 options: AnalyzerOptions | None = None) -> None:
        self.options = options or AnalyzerOptions()
        self.zones = tuple(zones) or (Zone("frame"),)
        self.calibration = calibration
        self.counter: Counter = build_counter(self.options.method, self.options.models)
        self.health = HealthMonitor()
        self.ground: GroundModel | None = None
        self._estimator: ScaleEstimator | None = None
        self._geometry: list[ZoneGeometry] = []
        self._size: tuple[int, int] | None = None
        self._native: tuple[int, int] | None = None
        self._flow = FlowMeter() if self.options.flow or self.options.lines else None
        self._lines = LineCounter(self.options.lines) if self.options.lines else None

    def analyse(self, frame: np.ndarray, t: float, index: int,
                native_size: tuple[int, int] | None = None) -> Analysis:
        """One sampled frame; ``native_size`` is the stream's size when ``frame`` was scaled
        down (zones and calibration refer to the stream's pixels)."""
        health = self.health.observe(frame, t)
        if health in BLIND:
            return Analysis(t, index, health, None)
        self._prepare(frame, native_size)
        result = self.counter.count(frame, self._geometry, self.ground, t)
        if health == Health.SCENE_CHANGED:
            result = _doubtful(result)
        self._learn_scale(result)
        motion: tuple[Motion, ...] = ()
        crossings: tuple[Crossing, ...] = ()
        if self._flow is not None:
            field_ = self._flow.update(frame, t)
            if field_ is not None:
                motion = self._flow.motion(field_, self._geometry, self.ground)
                if self._lines is not None:
                    crossings = self._lines.update(field_, result, self._geometry)
        return Analysis(t, index, health, result, motion, crossings)

    @property
    def geometry(self) -> tuple[ZoneGeometry, ...]:
        """The zones as prepared for the analysed frames."""
        return tuple(self._geometry)

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(w, h) of the analysed frames (after any downscaling by the source)."""
        return self._size

    def _prepare(self, frame: np.ndarray, native_size: tuple[int, int] | None) -> None:
        size = (frame.shape[1], frame.shape[0])
        native = native_size or size
        if (size, native) == (self._size, self._native):
            return
        self._size, self._native = size, native
        if self.calibration is not None:
            ground = from_spec(self.calibration, *native)
            self.ground = ground if native == size else ground.scaled(*size)
        else:
            self._estimator = ScaleEstimator(*size)
        self._geometry = self._zones_at(size)

    def _zones_at(self, size: tuple[int, int]) -> list[ZoneGeometry]:
        """The zones (drawn on the stream's pixels) prepared for analysed frames of ``size``."""
        assert self._native is not None
        sx, sy = size[0] / self._native[0], size[1] / self._native[1]
        zones = [z if z.polygon is None or (sx, sy) == (1.0, 1.0) else
                 Zone(z.zone_id, tuple((x * sx, y * sy) for x, y in z.polygon), z.area_m2)
                 for z in self.zones]
        return prepare_zones(zones, *size, self.ground)

    def _learn_scale(self, result: CountResult) -> None:
        if self._estimator is None or not isinstance(
                self.counter, AutoCounter | DetectionCounter | LearnedCounter):
            return
        model = self._estimator.add(result.detections)
        if model is not None and model is not self.ground:
            self.ground = model
            assert self._size is not None
            self._geometry = self._zones_at(self._size)
