"""How a synthetic person looks and how they are drawn: clothing, build, pose, primitives.

Owns people's appearance (generated per person id from the scene seed, so a person keeps
their clothes for as long as they are on screen) and their figure in the image: a
perspective-correct body of legs, torso, arms and head whose 3-D keypoints are projected
through the camera, so size, lean and foreshortening all follow the geometry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import cv2
import numpy as np

from simulators.render.camera import CameraModel
from simulators.render.geometry import unit
from simulators.render.props import ONE, SHIFT

# BGR palettes, weighted towards the dark and neutral clothes of a real street.
_TOPS = np.array([
    [28, 28, 30], [45, 45, 48], [70, 70, 72], [115, 115, 118], [215, 215, 218],
    [80, 42, 22], [150, 95, 45], [210, 175, 140], [40, 40, 175], [35, 30, 110],
    [60, 115, 55], [70, 100, 100], [145, 185, 205], [45, 75, 110], [40, 185, 215],
    [165, 145, 225], [30, 115, 225], [115, 50, 95],
])
_TOP_WEIGHTS = np.array([14, 9, 7, 6, 8, 6, 5, 3, 3, 2, 2, 2, 4, 3, 1, 2, 1, 1], float)
_BOTTOMS = np.array([
    [120, 82, 52], [82, 52, 32], [30, 30, 32], [95, 95, 98], [120, 155, 175],
    [205, 205, 208], [45, 55, 70],
])
_BOTTOM_WEIGHTS = np.array([10, 8, 12, 5, 3, 1, 2], float)
_BAGS = np.array([[25, 25, 28], [55, 55, 58], [75, 45, 25], [90, 95, 100], [50, 75, 70],
                  [35, 35, 95], [140, 90, 40]])
_BAG_WEIGHTS = np.array([10, 6, 4, 3, 2, 1, 1], float)
_SKINS = np.array([[150, 180, 222], [132, 165, 210], [112, 145, 192], [92, 122, 168],
                   [68, 92, 135]])
_SKIN_WEIGHTS = np.array([4, 6, 5, 2, 1], float)
_HAIRS = np.array([[22, 22, 26], [28, 36, 52], [40, 58, 88], [140, 140, 145]])
_HAIR_WEIGHTS = np.array([10, 5, 2, 1], float)

_SATURATION = 0.7  # CCTV colour is muted

# Keypoint rows of a figure, in the order `_keypoints_3d` builds them.
HEAD_TOP, HEAD, SHOULDER_L, SHOULDER_R, HIP_L, HIP_R, HEM_L, HEM_R = range(8)
FOOT_L, FOOT_R, HAND_L, HAND_R, FOOT, NAPE_L, NAPE_R = range(8, 15)
_N_KEYPOINTS = 15
_AA_ABOVE_PX = 90.0  # figures taller than this get anti-aliased edges


@dataclass(frozen=True, slots=True)
class Looks:
    """Appearance attributes of a set of people (one row each)."""

    height_m: np.ndarray
    build: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    coat: np.ndarray
    hat: np.ndarray
    hat_color: np.ndarray
    bag: np.ndarray  # 0 none, 1 backpack, 2 shoulder bag
    bag_color: np.ndarray

    def take(self, rows: np.ndarray) -> Looks:
        """The looks of the given rows."""
        return Looks(*(getattr(self, f)[rows] for f in _LOOK_FIELDS))


_LOOK_FIELDS = tuple(f.name for f in fields(Looks))


class AppearanceBook:
    """Each person id's appearance, generated in blocks from the seed (order-independent)."""

    _BLOCK = 256

    def __init__(self, seed: int, height_range: tuple[float, float]) -> None:
        self._seed = seed
        self._height_range = height_range
        self._blocks: dict[int, Looks] = {}

    def lookup(self, uids: np.ndarray) -> Looks:
        """Appearance rows for the given person ids (ids only ever grow: older blocks go)."""
        if not len(uids):
            return self._block(0).take(np.zeros(0, dtype=np.int64))
        blocks = uids // self._BLOCK
        needed = np.unique(blocks)
        for stale in [b for b in self._blocks if b < needed[0]]:
            del self._blocks[stale]
        span = [self._block(int(b)) for b in needed]
        joined = Looks(*(np.concatenate([getattr(b, f) for b in span]) for f in _LOOK_FIELDS))
        rows = np.searchsorted(needed, blocks) * self._BLOCK + uids % self._BLOCK
        return joined.take(rows)

    def _block(self, block: int) -> Looks:
        if block not in self._blocks:
            self._blocks[block] = self._generate(block)
        return self._blocks[block]

    def _generate(self, block: int) -> Looks:
        rng = np.random.default_rng([self._seed, 0xA11, block])
        n = self._BLOCK
        lo, hi = self._height_range
        height = np.clip(rng.normal((lo + hi) / 2, (hi - lo) / 4 + 1e-9, n), lo, hi)
        return Looks(
            height_m=height,
            build=np.clip(rng.normal(1.0, 0.1, n), 0.82, 1.3),
            top=_pick(rng, _TOPS, _TOP_WEIGHTS, n, 14),
            bottom=_pick(rng, _BOTTOMS, _BOTTOM_WEIGHTS, n, 10),
            skin=_pick(rng, _SKINS, _SKIN_WEIGHTS, n, 6),
            hair=_pick(rng, _HAIRS, _HAIR_WEIGHTS, n, 5),
            coat=rng.random(n) < 0.25,
            hat=rng.random(n) < 0.12,
            hat_color=_pick(rng, _TOPS, _TOP_WEIGHTS, n, 10),
            bag=rng.choice(3, size=n, p=[0.62, 0.23, 0.15]),
            bag_color=_pick(rng, _BAGS, _BAG_WEIGHTS, n, 8),
        )


def _pick(rng: np.random.Generator, palette: np.ndarray, weights: np.ndarray, n: int,
          jitter: float) -> np.ndarray:
    rows = rng.choice(len(palette), size=n, p=weights / weights.sum())
    colors = palette[rows] + rng.normal(0.0, jitter, (n, 3))
    grey = colors.mean(axis=1, keepdims=True)
    colors = grey + (colors - grey) * _SATURATION
    return np.asarray(np.clip(colors, 0, 255).astype(np.int64))


@dataclass(frozen=True, slots=True)
class Figures:
    """Projected figures of the people in view, ready to draw (row k: ``rows[k]`` of the crowd)."""

    rows: np.ndarray  # indices into the crowd arrays
    points: list[list[list[int]]]  # per figure, keypoints in fixed-point pixels
    scale: np.ndarray  # pixels per metre at each figure's depth
    height_px: np.ndarray
    facing: np.ndarray  # True when walking towards the camera (face visible)
    depth: np.ndarray


def project_figures(
    camera: CameraModel, pos: np.ndarray, heading: np.ndarray, phase: np.ndarray,
    speed: np.ndarray, looks: Looks,
) -> Figures:
    """Project the body keypoints of everyone in view (feet at ``pos``) into the image."""
    kp3 = _keypoints_3d(pos, heading, phase, speed, looks)
    px = camera.project(kp3.reshape(-1, 3)).reshape(len(pos), _N_KEYPOINTS, 2)
    rows = _in_view(camera, px)
    px = np.clip(px[rows], -8000.0, 8000.0)
    depth = camera.depth(pos[rows])
    view = unit(pos[rows])
    return Figures(
        rows=rows,
        points=np.round(px * ONE).astype(np.int64).tolist(),
        scale=camera.focal_px / np.maximum(depth, 1e-3),
        height_px=px[:, FOOT, 1] - px[:, HEAD_TOP, 1],
        facing=(heading[rows] * view).sum(axis=1) < 0.0,
        depth=depth,
    )


def _in_view(camera: CameraModel, px: np.ndarray) -> np.ndarray:
    foot, head = px[:, FOOT], px[:, HEAD_TOP]
    finite = np.isfinite(px).all(axis=(1, 2))
    foot = np.nan_to_num(foot, nan=-1e6)
    head = np.nan_to_num(head, nan=1e6)
    margin = np.abs(foot[:, 1] - head[:, 1]) / 2.0 + 1.0
    inside = (foot[:, 1] > 0) & (head[:, 1] < camera.height) & (foot[:, 0] > -margin) & (
        foot[:, 0] < camera.width + margin)
    return np.flatnonzero(inside & finite)


def _keypoints_3d(pos: np.ndarray, heading: np.ndarray, phase: np.ndarray, speed: np.ndarray,
                  looks: Looks) -> np.ndarray:
    n = len(pos)
    h = looks.height_m
    view = unit(pos)
    lateral = np.stack([view[:, 1], -view[:, 0]], axis=1)  # image-right across the view
    along = np.abs((heading * view).sum(axis=1))
    across = np.abs((heading * lateral).sum(axis=1))
    shoulder = 0.42 * looks.build * h / 1.7
    width = shoulder * along + 0.27 * looks.build * across
    hip = width * 0.72
    swing = np.sin(phase) * np.clip(speed / 1.3, 0.0, 1.0)
    stride = (0.32 * swing)[:, None] * heading
    kp = np.zeros((n, _N_KEYPOINTS, 3))

    def put(row: int, z: np.ndarray | float, side: np.ndarray | float,
            extra: np.ndarray | float = 0.0) -> None:
        kp[:, row, :2] = pos + lateral * np.broadcast_to(side, n)[:, None] + extra
        kp[:, row, 2] = z

    head_r = 0.118 * h / 1.7
    put(HEAD_TOP, h, 0.0)
    put(HEAD, h - head_r, 0.0)
    put(SHOULDER_L, 0.8 * h, -width / 2)
    put(SHOULDER_R, 0.8 * h, width / 2)
    put(HIP_L, 0.5 * h, -hip / 2)
    put(HIP_R, 0.5 * h, hip / 2)
    hem = np.where(looks.coat, 0.3, 0.45) * h
    put(HEM_L, hem, -hip / 2 * np.where(looks.coat, 1.12, 1.0))
    put(HEM_R, hem, hip / 2 * np.where(looks.coat, 1.12, 1.0))
    put(FOOT_L, 0.0, -hip / 3, stride)
    put(FOOT_R, 0.0, hip / 3, -stride)
    put(HAND_L, 0.47 * h, -(width / 2 + 0.03), -0.6 * stride)
    put(HAND_R, 0.47 * h, width / 2 + 0.03, 0.6 * stride)
    put(FOOT, 0.0, 0.0)
    put(NAPE_L, 0.855 * h, -width * 0.24)
    put(NAPE_R, 0.855 * h, width * 0.24)
    return kp


def draw_person(frame: np.ndarray, fig: Figures, k: int, looks: Looks, shade_right: bool
                ) -> None:
    """Draw figure ``k`` of ``fig`` onto ``frame`` (``looks`` holds the whole crowd's)."""
    row = int(fig.rows[k])
    p = fig.points[k]
    s = float(fig.scale[k])
    top = _bgr(looks.top[row])
    if fig.height_px[k] < 22.0:
        _draw_tiny(frame, p, s, top, _bgr(looks.bottom[row]), _bgr(looks.hair[row]))
        return
    bottom = _bgr(looks.bottom[row])
    build = float(looks.build[row])
    leg_w = max(1, round(0.13 * s * build))
    arm_w = max(1, round(0.085 * s * build))
    line = cv2.LINE_AA if fig.height_px[k] > _AA_ABOVE_PX else cv2.LINE_8
    cv2.line(frame, p[HIP_L], p[FOOT_L], bottom, leg_w, line, SHIFT)
    cv2.line(frame, p[HIP_R], p[FOOT_R], bottom, leg_w, line, SHIFT)
    if fig.height_px[k] > 60.0:
        shoe = max(1, round(0.045 * s))
        cv2.circle(frame, p[FOOT_L], shoe * ONE, (30, 30, 32), -1, line, SHIFT)
        cv2.circle(frame, p[FOOT_R], shoe * ONE, (30, 30, 32), -1, line, SHIFT)
    bag = int(looks.bag[row])
    torso = np.array([p[NAPE_L], p[NAPE_R], p[SHOULDER_R], p[HEM_R], p[HEM_L], p[SHOULDER_L]],
                     np.int32)
    cv2.fillConvexPoly(frame, torso, top, line, SHIFT)
    _shade_torso(frame, p, top, shade_right, line)
    cv2.line(frame, p[SHOULDER_L], p[HAND_L], top, arm_w, line, SHIFT)
    cv2.line(frame, p[SHOULDER_R], p[HAND_R], top, arm_w, line, SHIFT)
    bag_color = _bgr(looks.bag_color[row])
    if bag == 1:
        _draw_backpack(frame, p, s, bag_color, bool(fig.facing[k]), line)
    elif bag == 2:
        _draw_shoulder_bag(frame, p, s, bag_color, line)
    _draw_head(frame, p, s, looks, row, bool(fig.facing[k]), line)


def _draw_tiny(frame: np.ndarray, p: list[list[int]], s: float, top: tuple[int, ...],
               bottom: tuple[int, ...], hair: tuple[int, ...]) -> None:
    """A distant figure: trunk, legs and head as three primitives."""
    hips = _mid(p[HIP_L], p[HIP_R])
    width = max(1, round(0.36 * s))
    cv2.line(frame, hips, p[FOOT], bottom, max(1, round(0.24 * s)), cv2.LINE_AA, SHIFT)
    cv2.line(frame, _mid(p[SHOULDER_L], p[SHOULDER_R]), hips, top, width, cv2.LINE_AA, SHIFT)
    radius = max(ONE // 2, round(0.1 * s * ONE))
    cv2.circle(frame, p[HEAD], radius, hair, -1, cv2.LINE_AA, SHIFT)


def _shade_torso(frame: np.ndarray, p: list[list[int]], top: tuple[int, ...],
                 shade_right: bool, line: int) -> None:
    """Darken the torso's side away from the sun."""
    dark = tuple(int(c * 0.8) for c in top)
    sh_mid = _lerp(p[SHOULDER_L], p[SHOULDER_R], 0.62 if shade_right else 0.38)
    hem_mid = _lerp(p[HEM_L], p[HEM_R], 0.62 if shade_right else 0.38)
    if shade_right:
        quad = [sh_mid, p[NAPE_R], p[SHOULDER_R], p[HEM_R], hem_mid]
    else:
        quad = [p[SHOULDER_L], p[NAPE_L], sh_mid, hem_mid, p[HEM_L]]
    cv2.fillConvexPoly(frame, np.array(quad, np.int32), dark, line, SHIFT)


def _draw_head(frame: np.ndarray, p: list[list[int]], s: float, looks: Looks, row: int,
               facing: bool, line: int) -> None:
    axes = (max(ONE, round(0.095 * s * ONE)), max(ONE, round(0.118 * s * ONE)))
    angle = math.degrees(math.atan2(p[HEAD_TOP][0] - p[HEAD][0], p[HEAD][1] - p[HEAD_TOP][1]))
    hair = _bgr(looks.hair[row])
    if facing:
        cv2.ellipse(frame, p[HEAD], axes, -angle, 0, 360, _bgr(looks.skin[row]), -1, line, SHIFT)
        cv2.ellipse(frame, p[HEAD], axes, -angle, 180, 360, hair, -1, line, SHIFT)
    else:
        cv2.ellipse(frame, p[HEAD], axes, -angle, 0, 360, hair, -1, line, SHIFT)
    if looks.hat[row]:
        brim = (round(axes[0] * 1.25), round(axes[1] * 0.55))
        cv2.ellipse(frame, p[HEAD], brim, -angle, 180, 360, _bgr(looks.hat_color[row]), -1,
                    line, SHIFT)


def _draw_backpack(frame: np.ndarray, p: list[list[int]], s: float, color: tuple[int, ...],
                   behind: bool, line: int) -> None:
    a = _lerp(p[SHOULDER_L], p[HEM_L], 0.12)
    b = _lerp(p[SHOULDER_R], p[HEM_R], 0.12)
    c = _lerp(p[SHOULDER_R], p[HEM_R], 0.7)
    d = _lerp(p[SHOULDER_L], p[HEM_L], 0.7)
    if behind:  # only the straps show from the front
        width = max(1, round(0.025 * s))
        strap = tuple(int(v * 0.6) for v in color)
        cv2.line(frame, _lerp(a, b, 0.22), _lerp(d, c, 0.18), strap, width, line, SHIFT)
        cv2.line(frame, _lerp(a, b, 0.78), _lerp(d, c, 0.82), strap, width, line, SHIFT)
        return
    left, right = _lerp(a, b, 0.14), _lerp(a, b, 0.86)
    low_left, low_right = _lerp(d, c, 0.14), _lerp(d, c, 0.86)
    octagon = [_lerp(left, right, 0.2), _lerp(left, right, 0.8), _lerp(right, low_right, 0.2),
               _lerp(right, low_right, 0.8), _lerp(low_right, low_left, 0.2),
               _lerp(low_right, low_left, 0.8), _lerp(low_left, left, 0.2),
               _lerp(low_left, left, 0.8)]
    cv2.fillConvexPoly(frame, np.array(octagon, np.int32), color, line, SHIFT)


def _draw_shoulder_bag(frame: np.ndarray, p: list[list[int]], s: float,
                       color: tuple[int, ...], line: int) -> None:
    centre = _lerp(p[HIP_R], p[HAND_R], 0.4)
    half = (max(ONE, round(0.12 * s * ONE)), max(ONE, round(0.1 * s * ONE)))
    strap = tuple(int(c * 0.5) for c in color)
    cv2.line(frame, p[SHOULDER_R], centre, strap, max(1, round(0.015 * s)), line, SHIFT)
    cv2.ellipse(frame, centre, half, 0, 0, 360, color, -1, line, SHIFT)


def _bgr(c: np.ndarray) -> tuple[int, int, int]:
    return (int(c[0]), int(c[1]), int(c[2]))


def _mid(a: list[int], b: list[int]) -> list[int]:
    return [(a[0] + b[0]) // 2, (a[1] + b[1]) // 2]


def _lerp(a: list[int], b: list[int], t: float) -> list[int]:
    return [round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t)]
