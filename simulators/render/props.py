"""Static street furniture: where benches, lamp posts, bins, bollards and trees stand, and
the image primitives that draw them.

Props stand on the ground plane (metres). Those inside the walkable area are obstacles the
crowd walks around; all are drawn in depth order together with the people, so a lamp post
hides whoever walks behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from simulators.render.camera import CameraModel
from simulators.render.geometry import counter_clockwise, edge_points, points_in_polygon

SHIFT = 4  # fixed-point bits for cv2 drawing (sub-pixel positions)
ONE = 1 << SHIFT

Color = tuple[int, int, int]


class PropKind(StrEnum):
    LAMP = "lamp"
    BENCH = "bench"
    BIN = "bin"
    BOLLARD = "bollard"
    TREE = "tree"


@dataclass(frozen=True, slots=True)
class Prop:
    """One piece of street furniture standing at (x, y) metres, rotated ``angle`` radians."""

    kind: PropKind
    x: float
    y: float
    angle: float = 0.0

    @property
    def radius_m(self) -> float:
        """Radius of the circle people keep out of."""
        return {"lamp": 0.15, "bench": 0.9, "bin": 0.3, "bollard": 0.12, "tree": 0.8}[self.kind]


@dataclass(frozen=True, slots=True)
class DrawOp:
    """One cv2 primitive in fixed-point pixels: a filled polygon or a thick line."""

    points: np.ndarray  # (K, 2) int32, scaled by ONE
    color: Color
    thickness: int = -1  # -1: filled polygon; otherwise a polyline of this width (px)

    def draw(self, frame: np.ndarray) -> None:
        if self.thickness < 0:
            cv2.fillConvexPoly(frame, self.points, self.color, cv2.LINE_AA, SHIFT)
        else:
            cv2.polylines(frame, [self.points], False, self.color, self.thickness, cv2.LINE_AA,
                          SHIFT)


@dataclass(frozen=True, slots=True)
class PropSprite:
    """A prop's draw operations, its depth (for the painter's order) and shadow caster."""

    depth: float
    ops: tuple[DrawOp, ...]
    base: tuple[float, float]  # ground position, metres
    height_m: float
    width_m: float


def place_props(
    camera: CameraModel, walkable: np.ndarray, walls: np.ndarray, rng: np.random.Generator
) -> tuple[Prop, ...]:
    """Furniture along the visible walls of the walkable area, plus a few obstacles inside."""
    poly = counter_clockwise(walkable)
    props = _edge_props(camera, poly, walls, rng)
    props += _interior_props(camera, poly, rng)
    return tuple(props)


def _edge_props(
    camera: CameraModel, poly: np.ndarray, walls: np.ndarray, rng: np.random.Generator
) -> list[Prop]:
    props: list[Prop] = []
    points, edges = edge_points(poly, 1.6)
    for k, ((x, y), e) in enumerate(zip(points, edges, strict=True)):
        if not walls[e]:
            continue
        a, b = poly[e], poly[(e + 1) % len(poly)]
        inward = np.array([-(b - a)[1], (b - a)[0]]) / np.linalg.norm(b - a)
        angle = math.atan2(inward[1], inward[0])
        if k % 6 == 0:
            kind, back = PropKind.LAMP, 0.6
        elif k % 6 == 3 and rng.random() < 0.7:
            kind, back = PropKind.BENCH, 1.3
        else:
            kind, back = PropKind.BOLLARD, 0.3
        spot = np.array([x, y]) - inward * back
        props.append(Prop(kind, float(spot[0]), float(spot[1]), angle))
    return [p for p in props if camera.in_view(np.array([[p.x, p.y]]), 200.0)[0]]


def _interior_props(
    camera: CameraModel, poly: np.ndarray, rng: np.random.Generator
) -> list[Prop]:
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    cand = rng.uniform(lo, hi, size=(400, 2))
    cand = cand[points_in_polygon(cand, poly) & camera.in_view(cand, -60.0)]
    kinds = (PropKind.TREE, PropKind.LAMP, PropKind.BIN, PropKind.BIN)
    props: list[Prop] = []
    for kind in kinds:
        far_enough = [
            c for c in cand if all(math.dist(c, (p.x, p.y)) > 6.0 for p in props)
        ]
        if not far_enough:
            break
        x, y = far_enough[int(rng.integers(len(far_enough)))]
        props.append(Prop(kind, float(x), float(y), float(rng.uniform(0, math.pi))))
    return props


def obstacles_of(props: tuple[Prop, ...], walkable: np.ndarray) -> np.ndarray:
    """(M, 3) circles (x, y, radius) of the props standing inside the walkable area."""
    rows = [(p.x, p.y, p.radius_m) for p in props]
    arr = np.array(rows, dtype=float).reshape(-1, 3)
    return arr[points_in_polygon(arr[:, :2], walkable)] if len(arr) else arr


def sprites_for(props: tuple[Prop, ...], camera: CameraModel) -> list[PropSprite]:
    """Pre-computed draw operations of every prop in view."""
    sprites = []
    for prop in props:
        ops = _BUILDERS[prop.kind](prop, camera)
        if ops:
            depth = float(camera.depth(np.array([[prop.x, prop.y]]))[0])
            sprites.append(PropSprite(depth, tuple(ops), (prop.x, prop.y),
                                      _HEIGHT_M[prop.kind], 2 * min(prop.radius_m, 0.5)))
    return sprites


_HEIGHT_M = {
    PropKind.LAMP: 5.5, PropKind.BENCH: 0.8, PropKind.BIN: 0.9, PropKind.BOLLARD: 0.9,
    PropKind.TREE: 4.0,
}


# -- builders ----------------------------------------------------------------------------
def _fixed(px: np.ndarray) -> np.ndarray:
    return np.round(px * ONE).astype(np.int32)


def _valid(px: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(px))) and bool(np.all(np.abs(px) < 20000))


def _scale_at(camera: CameraModel, x: float, y: float) -> float:
    return camera.focal_px / float(camera.depth(np.array([[x, y]]))[0])


def _post(camera: CameraModel, x: float, y: float, height: float, radius: float,
          color: Color) -> list[DrawOp]:
    px = camera.project(np.array([[x, y, 0.0], [x, y, height]]))
    if not _valid(px):
        return []
    width = max(1, round(2 * radius * _scale_at(camera, x, y)))
    return [DrawOp(_fixed(px), color, width)]


def _lamp(prop: Prop, camera: CameraModel) -> list[DrawOp]:
    ops = _post(camera, prop.x, prop.y, 5.5, 0.07, (58, 66, 60))
    arm = np.array([math.cos(prop.angle), math.sin(prop.angle)]) * 0.9
    px = camera.project(np.array([[prop.x, prop.y, 5.4], [prop.x + arm[0], prop.y + arm[1], 5.3]]))
    if ops and _valid(px):
        width = max(1, round(0.08 * _scale_at(camera, prop.x, prop.y)))
        ops.append(DrawOp(_fixed(px), (58, 66, 60), width))
        ops.append(DrawOp(_fixed(px[1:]), (200, 215, 220), width * 2))
    return ops


def _bollard(prop: Prop, camera: CameraModel) -> list[DrawOp]:
    ops = _post(camera, prop.x, prop.y, 0.9, 0.09, (70, 72, 75))
    top = _post(camera, prop.x, prop.y, 0.9, 0.1, (150, 150, 152))
    if top:
        pts = top[0].points
        ops.append(DrawOp(np.vstack([pts[1] + (0, ONE * 2), pts[1]]), (160, 160, 165),
                          top[0].thickness))
    return ops


def _box(camera: CameraModel, centre: tuple[float, float], size: tuple[float, float],
         angle: float, z: tuple[float, float], side: Color, top: Color) -> list[DrawOp]:
    """A box's visible faces: sides facing the camera, then the top."""
    c, s = math.cos(angle), math.sin(angle)
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array(size) / 2.0
    corners = half @ np.array([[c, s], [-s, c]]) + centre
    low = camera.project(np.column_stack([corners, np.full(4, z[0])]))
    high = camera.project(np.column_stack([corners, np.full(4, z[1])]))
    if not (_valid(low) and _valid(high)):
        return []
    ops = []
    for i in range(4):
        j = (i + 1) % 4
        mid = (corners[i] + corners[j]) / 2.0
        outward = mid - np.array(centre)
        if np.dot(outward, -mid) <= 0:  # faces away from the camera at the origin
            continue
        quad = np.array([low[i], low[j], high[j], high[i]])
        shade = 0.8 + 0.2 * abs(math.cos(math.atan2(outward[1], outward[0])))
        ops.append(DrawOp(_fixed(quad), _scaled(side, shade)))
    ops.append(DrawOp(_fixed(high), top))
    return ops


def _bench(prop: Prop, camera: CameraModel) -> list[DrawOp]:
    along = prop.angle + math.pi / 2.0
    centre = (prop.x, prop.y)
    back = (prop.x - 0.22 * math.cos(prop.angle), prop.y - 0.22 * math.sin(prop.angle))
    legs = _box(camera, centre, (1.6, 0.35), along, (0.0, 0.40), (40, 42, 45), (40, 42, 45))
    seat = _box(camera, centre, (1.8, 0.45), along, (0.40, 0.46), (38, 75, 118), (52, 98, 150))
    rest = _box(camera, back, (1.8, 0.06), along, (0.5, 0.85), (38, 75, 118), (52, 98, 150))
    return legs + seat + rest


def _bin(prop: Prop, camera: CameraModel) -> list[DrawOp]:
    return _box(camera, (prop.x, prop.y), (0.45, 0.45), prop.angle, (0.0, 0.9),
                (50, 80, 45), (35, 45, 35))


def _tree(prop: Prop, camera: CameraModel) -> list[DrawOp]:
    ops = _box(camera, (prop.x, prop.y), (1.5, 1.5), prop.angle, (0.0, 0.5),
               (150, 155, 160), (60, 90, 70))
    ops += _post(camera, prop.x, prop.y, 2.6, 0.12, (40, 55, 75))
    offsets = [(0.0, 0.0, 3.4, 1.3), (0.6, 0.2, 3.0, 0.9), (-0.5, 0.3, 3.1, 0.9),
               (0.1, -0.5, 3.9, 0.8), (-0.2, 0.4, 4.1, 0.7)]
    greens = [(45, 95, 60), (40, 110, 70), (55, 120, 80), (50, 130, 85), (60, 140, 95)]
    for (dx, dy, z, r), green in zip(offsets, greens, strict=True):
        ops += _blob(camera, (prop.x + dx, prop.y + dy, z), r, green)
    return ops


def _blob(camera: CameraModel, centre: tuple[float, float, float], radius: float,
          color: Color) -> list[DrawOp]:
    """A sphere drawn as a filled circle (polygon) around its projected centre."""
    px = camera.project(np.array([centre]))
    if not _valid(px):
        return []
    r_px = radius * _scale_at(camera, centre[0], centre[1])
    angles = np.linspace(0, 2 * math.pi, 20, endpoint=False)
    ring = px[0] + np.stack([np.cos(angles), np.sin(angles)], 1) * r_px
    return [DrawOp(_fixed(ring), color)]


def _scaled(color: Color, k: float) -> Color:
    return (int(min(color[0] * k, 255)), int(min(color[1] * k, 255)), int(min(color[2] * k, 255)))


_BUILDERS = {
    PropKind.LAMP: _lamp,
    PropKind.BENCH: _bench,
    PropKind.BIN: _bin,
    PropKind.BOLLARD: _bollard,
    PropKind.TREE: _tree,
}
