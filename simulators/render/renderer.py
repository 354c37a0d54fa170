"""Frames from a scene: crowd motion, painter's-order drawing, shadows, lighting, sensor
noise and compression; plus the frame iterator and the video-file writer.

Owns the per-frame pipeline. Everything random is drawn from generators seeded by the
scene's seed, so the same ``SceneSpec`` always yields byte-identical frames.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from kernel.errors import UnavailableError
from simulators.render.background import render_background
from simulators.render.camera import CameraModel
from simulators.render.crowd import Crowd
from simulators.render.draw import (
    AppearanceBook,
    Figures,
    Looks,
    draw_person,
    project_figures,
)
from simulators.render.forces import CrowdParams
from simulators.render.geometry import Polygon
from simulators.render.props import (
    Prop,
    PropSprite,
    obstacles_of,
    place_props,
    sprites_for,
)
from simulators.render.scene import FrameTruth, Layout, SceneSpec, count_in_zones, layout_for

log = logging.getLogger(__name__)

_SHADOW_DARKEN = 0.45  # how much of the light a full shadow takes away
_NOISE_PAD = 16


class RenderError(UnavailableError):
    """The renderer cannot produce what was asked (e.g. no encoder for a codec)."""


@dataclass(frozen=True, slots=True)
class StaticScene:
    """What never changes during a sequence: layout, furniture, background, sun."""

    layout: Layout
    props: tuple[Prop, ...]
    sprites: tuple[PropSprite, ...]
    background: np.ndarray
    background_dark: np.ndarray  # the background times the shadow darkening
    prop_shadows: np.ndarray  # half-resolution mask of the furniture's shadows
    sun: np.ndarray  # ground direction (and length per metre of height) shadows fall


@lru_cache(maxsize=6)
def static_scene(camera: CameraModel, walkable: Polygon, seed: int, clutter: bool) -> StaticScene:
    """Build (or reuse) the static part of a scene; it takes a moment at 720p."""
    layout = layout_for(camera, walkable)
    rng = np.random.default_rng([seed, 0x57A7])
    props = place_props(camera, layout.walkable, layout.walls, rng) if clutter else ()
    azimuth = rng.uniform(0.0, 2.0 * math.pi)
    elevation = math.radians(rng.uniform(38.0, 62.0))
    sun = np.array([math.cos(azimuth), math.sin(azimuth)]) / math.tan(elevation)
    background = render_background(camera, layout.walkable, layout.walls, seed)
    sprites = tuple(sprites_for(props, camera))
    dark = (background.astype(np.float32) * _SHADOW_DARKEN).astype(np.uint8)
    shadows = np.zeros((camera.height // 2, camera.width // 2), np.uint8)
    if sprites:
        cast_shadows(shadows, camera, np.array([sp.base for sp in sprites]),
                     np.array([sp.height_m for sp in sprites]),
                     np.array([sp.width_m for sp in sprites]), sun)
    for shared in (background, dark, shadows):
        shared.setflags(write=False)  # cached and shared between renderers
    return StaticScene(layout, props, sprites, background, dark, shadows, sun)


def cast_shadows(mask: np.ndarray, camera: CameraModel, feet: np.ndarray, heights: np.ndarray,
                 widths: np.ndarray, sun: np.ndarray) -> None:
    """Paint standing objects' ground shadows into a half-resolution mask."""
    if not len(feet):
        return
    tips = feet + sun[None] * (heights * 0.9)[:, None]
    ends = camera.ground_to_image(np.concatenate([feet, tips]))
    ok = np.all(np.isfinite(ends.reshape(2, -1, 2)), axis=(0, 2))
    ok &= np.all(np.abs(np.nan_to_num(ends)).reshape(2, -1, 2) < 20000, axis=(0, 2))
    scale = camera.focal_px / np.maximum(camera.depth(feet), 1e-3)
    thickness = np.maximum(1, np.round(widths * scale / 2.0)).astype(int).tolist()
    pts = np.round(np.nan_to_num(ends) * 8).astype(np.int64).reshape(2, -1, 2).tolist()
    for k in np.flatnonzero(ok).tolist():
        cv2.line(mask, pts[0][k], pts[1][k], 255, thickness[k], cv2.LINE_8, 4)


@lru_cache(maxsize=3)
def _noise_bank(width: int, height: int, sigma: float, seed: int) -> tuple[np.ndarray, ...]:
    """A few frames of Gaussian sensor noise split into positive and negative parts."""
    if sigma <= 0:
        return ()
    rng = np.random.default_rng([seed, 0x7015E])
    bank = []
    for _ in range(3):
        noise = rng.normal(0.0, sigma, (height + _NOISE_PAD, width + _NOISE_PAD, 3))
        noise = np.round(noise)
        bank.append(np.clip(noise, 0, 255).astype(np.uint8))
        bank.append(np.clip(-noise, 0, 255).astype(np.uint8))
    for shared in bank:
        shared.setflags(write=False)
    return tuple(bank)


class SceneRenderer:
    """Renders a scene frame by frame; ``next_frame()`` gives the frame and its truth."""

    def __init__(self, spec: SceneSpec) -> None:
        self.spec = spec
        self.index = 0
        cam = spec.camera
        self._static = static_scene(cam, spec.walkable_polygon(), spec.seed, spec.clutter)
        layout = self._static.layout
        params = CrowdParams(group_fraction=spec.group_fraction)
        self.crowd = Crowd(layout.walkable, layout.entries,
                           obstacles_of(self._static.props, layout.walkable),
                           np.random.default_rng([spec.seed, 1]), params)
        self._book = AppearanceBook(spec.seed, spec.person_height_range)
        self._rng = np.random.default_rng([spec.seed, 2])
        self._phases = np.random.default_rng([spec.seed, 3]).uniform(0, 2 * math.pi, 5)
        self._noise = _noise_bank(cam.width, cam.height, spec.noise_sigma, spec.seed)
        self._area = spec.walkable_area_m2
        self.crowd.populate(self._target_count(0.0))
        self._warm_up()

    @property
    def t(self) -> float:
        """Time (s) of the next frame."""
        return self.index / self.spec.fps

    def _target_count(self, t: float) -> int:
        return round(self.spec.density_at(t) * self._area)

    def _warm_up(self) -> None:
        """Let the crowd settle (before t = 0) from its evenly spread start."""
        dt = 1.0 / self.spec.fps
        for _ in range(round(self.spec.warmup_s * self.spec.fps)):
            self.crowd.step(dt, self._target_count(0.0))

    def skip(self, frames: int) -> None:
        """Advance the crowd ``frames`` frames without drawing them."""
        for _ in range(frames):
            self._advance()

    def _advance(self) -> None:
        self.index += 1
        self.crowd.step(1.0 / self.spec.fps, self._target_count(self.t))

    def next_frame(self) -> tuple[np.ndarray, FrameTruth]:
        """The current frame and its ground truth, then step the world on by one frame."""
        t = self.t
        positions = self.crowd.pos.copy()
        truth = FrameTruth(t, self.index, count_in_zones(self.spec.zones, positions), positions)
        frame = self._compose(t)
        self._advance()
        return frame, truth

    # -- composition ---------------------------------------------------------------------
    def _compose(self, t: float) -> np.ndarray:
        spec = self.spec
        gain, sunlight = self._lighting(t)
        crowd = self.crowd
        looks = self._book.lookup(crowd.uid)
        figs = project_figures(spec.camera, crowd.pos, crowd.heading, crowd.phase, crowd.speed,
                               looks)
        frame = self._background_with_shadows(figs.rows, looks.height_m, sunlight)
        self._paint(frame, figs, looks)
        frame = cv2.multiply(frame, (*gain, 0.0))  # type: ignore[call-overload]  # a Scalar
        frame = cv2.GaussianBlur(frame, (3, 3), 0.6)
        self._add_noise(frame)
        if spec.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
            if not ok:
                raise RenderError("JPEG encoding failed")
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            if decoded is None:
                raise RenderError("JPEG decoding failed")
            frame = decoded
        return np.asarray(frame)

    def _lighting(self, t: float) -> tuple[tuple[float, float, float], float]:
        """Per-channel gain (slow drift, a colour cast) and how sunny it is (0..1)."""
        drift = self.spec.lighting_drift
        ph = self._phases
        cloud = 0.6 * math.sin(2 * math.pi * t / 53.0 + ph[0]) + 0.4 * math.sin(
            2 * math.pi * t / 17.0 + ph[1])
        level = 1.0 + drift * cloud
        cast = drift * 0.3 * math.sin(2 * math.pi * t / 71.0 + ph[2])
        sunny = 0.75 + 0.25 * cloud if drift > 0 else 1.0
        return (level * (1 + cast), level, level * (1 - cast)), sunny

    def _background_with_shadows(self, visible: np.ndarray, heights: np.ndarray,
                                 sunlight: float) -> np.ndarray:
        static = self._static
        if not self.spec.shadows:
            return static.background.copy()
        mask = static.prop_shadows.copy()
        cam = self.spec.camera
        cast_shadows(mask, cam, self.crowd.pos[visible], heights[visible],
                     np.full(len(visible), 0.38), static.sun)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.6)
        mask = cv2.resize(mask, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)
        dark = cv2.multiply(static.background_dark, alpha, scale=sunlight / 255.0)
        return cv2.subtract(static.background, dark)

    def _paint(self, frame: np.ndarray, figs: Figures, looks: Looks) -> None:
        """People and furniture, farthest first (painter's algorithm)."""
        sprites = self._static.sprites
        depths = np.concatenate([figs.depth, [s.depth for s in sprites]])
        order = np.argsort(-depths, kind="stable").tolist()
        view = self.crowd.pos[figs.rows] / np.maximum(figs.depth[:, None], 1e-6)
        lateral = np.stack([view[:, 1], -view[:, 0]], axis=1)
        shade_right = ((lateral @ self._static.sun) > 0).tolist()
        n_people = len(figs.rows)
        for item in order:
            if item < n_people:
                draw_person(frame, figs, item, looks, shade_right[item])
            else:
                for op in sprites[item - n_people].ops:
                    op.draw(frame)

    def _add_noise(self, frame: np.ndarray) -> None:
        if self.spec.noise_sigma <= 0:
            return
        h, w = frame.shape[:2]
        pick = int(self._rng.integers(len(self._noise) // 2)) * 2
        dy, dx = (int(v) for v in self._rng.integers(0, _NOISE_PAD, 2))
        cv2.add(frame, self._noise[pick][dy:dy + h, dx:dx + w], dst=frame)
        cv2.subtract(frame, self._noise[pick + 1][dy:dy + h, dx:dx + w], dst=frame)


def render_frames(spec: SceneSpec, seconds: float) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """BGR uint8 frames and their ground truth for ``seconds`` of the scene.

    ``seconds=math.inf`` renders forever (for live streams).
    """
    renderer = SceneRenderer(spec)
    count = itertools.count() if math.isinf(seconds) else range(round(seconds * spec.fps))
    for _ in count:
        yield renderer.next_frame()


def write_video(spec: SceneSpec, seconds: float, path: Path, codec: str = "mp4v"
                ) -> list[FrameTruth]:
    """Render to a video file (``mp4v`` in .mp4, or ``MJPG``/``XVID`` in .avi); the truths.

    H.264 (``avc1``) needs an encoder that the pip OpenCV wheels do not ship.
    """
    cam = spec.camera
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), spec.fps,
                             (cam.width, cam.height))
    if not writer.isOpened():
        writer.release()
        raise RenderError(f"OpenCV has no encoder for codec {codec!r} writing {path}")
    truths: list[FrameTruth] = []
    total = round(seconds * spec.fps)
    started = last_log = time.monotonic()
    try:
        for frame, truth in render_frames(spec, seconds):
            writer.write(frame)
            truths.append(truth)
            now = time.monotonic()
            if now - last_log >= 5.0:
                last_log = now
                log.info("%s: %d/%d frames (%.1f fps)", path.name, len(truths), total,
                         len(truths) / (now - started))
    finally:
        writer.release()
    log.info("wrote %s: %d frames %dx%d at %.1f fps (%s)", path, len(truths), cam.width,
             cam.height, spec.fps, codec)
    return truths
