"""The static scene behind the people: paved ground, kerb and road, far facades and sky.

Owns the background image a camera sees of an empty scene (before street furniture,
shadows, lighting and noise). Ground detail is computed procedurally from the ground
coordinates of every pixel (grout lines anti-aliased by the ground a pixel covers, and
faded where they are finer than a pixel), so the texture is perspective-correct at any
distance without aliasing.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from simulators.render.camera import CameraModel
from simulators.render.geometry import closest_on_boundary, points_in_polygon

_MAX_RANGE_M = 400.0
_SKY_LOW = np.array([222.0, 214.0, 205.0])
_SKY_HIGH = np.array([200.0, 170.0, 140.0])
_HAZE = np.array([205.0, 205.0, 202.0])
_PAVING = np.array([148.0, 153.0, 158.0])
_BAND = np.array([92.0, 104.0, 146.0])
_STRIPE = np.array([112.0, 114.0, 116.0])
_TACTILE = np.array([40.0, 175.0, 212.0])
_KERB = np.array([178.0, 180.0, 182.0])
_ASPHALT = np.array([70.0, 72.0, 75.0])
_SIDEWALK = np.array([128.0, 140.0, 160.0])
_ROAD_WIDTH_M = 8.0
_SIDEWALK_WIDTH_M = 4.0


def render_background(
    camera: CameraModel, walkable: np.ndarray, walls: np.ndarray, seed: int
) -> np.ndarray:
    """The empty scene as a BGR uint8 image of the camera's size.

    ``walkable`` is counter-clockwise; ``walls[k]`` tells whether edge k is a visible
    kerb (with the road beyond it) rather than open paving people walk in from.
    """
    rng = np.random.default_rng([seed, 0xB6])
    canvas = np.empty((camera.height, camera.width, 3), np.float32)
    chunk = 128
    for top in range(0, camera.height, chunk):
        rows = slice(top, min(top + chunk, camera.height))
        canvas[rows] = _render_rows(camera, walkable, walls, seed, rows)
    canvas += rng.normal(0.0, 3.0, canvas.shape[:2]).astype(np.float32)[..., None]
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    _draw_facades(image, camera, walkable, walls, rng)
    _vignette(image)
    return image


def _render_rows(
    camera: CameraModel, walkable: np.ndarray, walls: np.ndarray, seed: int, rows: slice
) -> np.ndarray:
    """Colours of the pixel rows ``rows``: sky above the horizon, ground below."""
    v = np.arange(rows.start, rows.stop) + 0.5
    u = np.arange(camera.width) + 0.5
    uu, vv = np.meshgrid(u, v)
    out = np.empty(uu.shape + (3,), np.float32)
    sky_t = np.clip(1.0 - vv / max(camera.horizon_row, 1.0), 0.0, 1.0)[..., None]
    out[:] = _SKY_LOW + (_SKY_HIGH - _SKY_LOW) * sky_t
    ground_rows = vv > camera.horizon_row + 0.5
    if not ground_rows.any():
        return out
    pix = np.stack([uu[ground_rows], vv[ground_rows]], axis=1)
    ground = camera.image_to_ground(pix)
    depth = camera.depth(ground)
    near = np.isfinite(ground[:, 0]) & (depth < _MAX_RANGE_M)
    footprint = _footprint(camera, pix[:, 1], depth)
    colors = np.broadcast_to(_HAZE, (len(pix), 3)).astype(np.float32)
    colors[near] = _ground_color(ground[near], footprint[near], walkable, walls, seed)
    haze = (1.0 - np.exp(-depth / 260.0))[:, None]
    out[ground_rows] = colors * (1.0 - haze) + _HAZE * haze
    return out


def _footprint(camera: CameraModel, v: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Metres of ground one pixel covers (the larger of its two sides)."""
    tilt = math.radians(camera.tilt_deg)
    r = (v - camera.height / 2.0) / camera.focal_px
    denom = np.maximum(r * math.cos(tilt) + math.sin(tilt), 1e-6)
    along = camera.height_m / (camera.focal_px * denom**2)
    return np.maximum(along, depth / camera.focal_px)


def _ground_color(
    ground: np.ndarray, fp: np.ndarray, walkable: np.ndarray, walls: np.ndarray, seed: int
) -> np.ndarray:
    inside = points_in_polygon(ground, walkable)
    colors = _paving(ground, fp, seed)
    outside = np.flatnonzero(~inside)
    if len(outside):
        foot, dist, _ = closest_on_boundary(ground[outside], walkable)
        edge = _nearest_edge(foot, walkable)
        street = walls[edge]
        idx = outside[street]
        colors[idx] = _street(ground[idx], foot[street], dist[street], fp[idx], seed)
    return np.asarray(colors * _weathering(ground, seed)[:, None])


def _nearest_edge(foot: np.ndarray, walkable: np.ndarray) -> np.ndarray:
    a = walkable
    b = np.roll(walkable, -1, axis=0)
    edge = b - a
    rel = foot[:, None, :] - a[None]
    cross = np.abs(rel[..., 0] * edge[None, :, 1] - rel[..., 1] * edge[None, :, 0])
    return np.asarray(np.argmin(cross / np.linalg.norm(edge, axis=1)[None], axis=1))


def _hash01(*ints: np.ndarray, seed: int) -> np.ndarray:
    """A deterministic pseudo-random value in [0, 1) per integer lattice cell."""
    h = np.full(ints[0].shape, seed * 0x9E3779B1 & 0xFFFFFFFF, dtype=np.uint64)
    for k, values in enumerate(ints):
        h ^= (values.astype(np.int64).astype(np.uint64) + np.uint64(k * 0x632BE5AB))
        h *= np.uint64(0x2545F4914F6CDD1D)
        h ^= h >> np.uint64(29)
    return (h & np.uint64(0xFFFFFF)).astype(np.float64) / float(0x1000000)


def _joint(coord: np.ndarray, period: float, fp: np.ndarray, half_width: float) -> np.ndarray:
    """Coverage (0..1) of the grout line nearest to ``coord``, faded when under a pixel."""
    phase = np.mod(coord, period)
    dist = np.minimum(phase, period - phase)
    cover = np.clip((half_width - dist) / fp + 0.5, 0.0, 1.0)
    return np.asarray(cover * np.clip(period / (8.0 * fp), 0.0, 1.0))


def _paving(ground: np.ndarray, fp: np.ndarray, seed: int) -> np.ndarray:
    """Running-bond 0.6 x 0.3 m granite setts with coloured bands and a tactile strip."""
    x, y = ground[:, 0], ground[:, 1]
    row = np.floor(y / 0.3)
    shifted = x + (row % 2) * 0.3
    col = np.floor(shifted / 0.6)
    tone = _hash01(col, row, seed=seed)[:, None]
    color = _PAVING * (0.9 + 0.18 * tone) + (tone - 0.5) * np.array([-4.0, 0.0, 6.0])
    band = (np.mod(row, 24) < 3)[:, None]
    color = np.where(band, _BAND * (0.92 + 0.16 * tone), color)
    stripe = (np.mod(np.floor(x / 0.6), 14) == 0)[:, None]
    color = np.where(stripe & ~band, _STRIPE * (0.95 + 0.1 * tone), color)
    grout = np.maximum(_joint(shifted, 0.6, fp, 0.007), _joint(y, 0.3, fp, 0.007))[:, None]
    color = color * (1.0 - 0.35 * grout)
    tactile = (np.abs(x - 3.3) < 0.15)[:, None]
    color = np.where(tactile, _TACTILE * (0.95 + 0.08 * tone), color)
    return color.astype(np.float32)


def _street(
    ground: np.ndarray, foot: np.ndarray, dist: np.ndarray, fp: np.ndarray, seed: int
) -> np.ndarray:
    """Kerb, road with dashed lane line, far sidewalk, by distance from the kerb."""
    along = foot[:, 0] + foot[:, 1]
    color = np.broadcast_to(_ASPHALT, (len(ground), 3)).astype(np.float32).copy()
    kerb = dist < 0.3
    color[kerb] = _KERB * (1.0 - 0.3 * _joint(along[kerb], 1.0, fp[kerb], 0.006))[:, None]
    centre = np.abs(dist - (0.3 + _ROAD_WIDTH_M / 2.0)) < 0.07
    dash = centre & (np.mod(along, 6.0) < 3.0)
    color[dash] = (205.0, 208.0, 210.0)
    edge_line = np.abs(dist - 0.55) < 0.06
    color[edge_line] = (190.0, 195.0, 198.0)
    walk = dist > 0.3 + _ROAD_WIDTH_M
    tile = _hash01(np.floor(along[walk] / 0.4), np.floor(dist[walk] / 0.4), seed=seed + 1)
    grout = np.maximum(_joint(along[walk], 0.4, fp[walk], 0.006),
                       _joint(dist[walk], 0.4, fp[walk], 0.006))
    color[walk] = (_SIDEWALK * (0.92 + 0.14 * tile[:, None])) * (1 - 0.3 * grout[:, None])
    return color


def _weathering(ground: np.ndarray, seed: int) -> np.ndarray:
    """Slow brightness variation (stains, wear): two octaves of value noise."""
    total = np.ones(len(ground))
    for cell, amp in ((4.0, 0.06), (1.0, 0.035)):
        total += amp * (_value_noise(ground / cell, seed + int(cell * 10)) - 0.5) * 2.0
    return total.astype(np.float32)


def _value_noise(p: np.ndarray, seed: int) -> np.ndarray:
    i = np.floor(p)
    f = p - i
    f = f * f * (3.0 - 2.0 * f)
    ix, iy = i[:, 0], i[:, 1]
    a = _hash01(ix, iy, seed=seed)
    b = _hash01(ix + 1, iy, seed=seed)
    c = _hash01(ix, iy + 1, seed=seed)
    d = _hash01(ix + 1, iy + 1, seed=seed)
    top = a + (b - a) * f[:, 0]
    bottom = c + (d - c) * f[:, 0]
    return np.asarray(top + (bottom - top) * f[:, 1])


def _draw_facades(
    image: np.ndarray, camera: CameraModel, walkable: np.ndarray, walls: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Building fronts beyond the road behind the farthest visible kerb."""
    far = _farthest_wall(walkable, walls)
    if far is None:
        return
    a, b = walkable[far], walkable[(far + 1) % len(walkable)]
    direction = (b - a) / np.linalg.norm(b - a)
    outward = np.array([direction[1], -direction[0]])
    offset = 0.3 + _ROAD_WIDTH_M + _SIDEWALK_WIDTH_M
    start = a + outward * offset - direction * 80.0
    position = 0.0
    while position < np.linalg.norm(b - a) + 160.0:
        width = float(rng.uniform(8.0, 20.0))
        _building(image, camera, start + direction * position, direction, width, rng)
        position += width


def _farthest_wall(walkable: np.ndarray, walls: np.ndarray) -> int | None:
    mids = (walkable + np.roll(walkable, -1, axis=0)) / 2.0
    candidates = [k for k in range(len(walkable)) if walls[k]]
    if not candidates:
        return None
    return max(candidates, key=lambda k: float(mids[k, 1]))


def _building(
    image: np.ndarray, camera: CameraModel, origin: np.ndarray, direction: np.ndarray,
    width: float, rng: np.random.Generator,
) -> None:
    height = float(rng.uniform(9.0, 30.0))
    wall = np.array(rng.choice([[160, 175, 190], [150, 150, 150], [110, 120, 150],
                                [190, 195, 200], [120, 140, 160]])) * rng.uniform(0.85, 1.05)
    _quad(image, camera, origin, direction, (0.0, width), (0.0, height), tuple(wall))
    _quad(image, camera, origin, direction, (0.0, width), (0.0, 3.2), (70, 66, 60))
    sign = tuple(int(c) for c in rng.choice([[40, 40, 180], [160, 90, 30], [40, 150, 200],
                                              [60, 130, 40]]))
    _quad(image, camera, origin, direction, (0.5, width - 0.5), (3.3, 4.0), sign)
    glass = np.array([92.0, 84.0, 74.0])
    for floor_z in np.arange(5.0, height - 1.5, 3.0):
        for x in np.arange(1.0, width - 1.5, 2.2):
            lit = glass * rng.uniform(0.85, 1.25)
            _quad(image, camera, origin, direction, (x, x + 1.3), (floor_z, floor_z + 1.6),
                  tuple(lit))


def _quad(
    image: np.ndarray, camera: CameraModel, origin: np.ndarray, direction: np.ndarray,
    span: tuple[float, float], z: tuple[float, float], color: tuple[float, ...],
) -> None:
    a = origin + direction * span[0]
    b = origin + direction * span[1]
    corners = np.array([[*a, z[0]], [*b, z[0]], [*b, z[1]], [*a, z[1]]])
    px = camera.project(corners)
    if not np.all(np.isfinite(px)) or np.abs(px).max() > 30000:
        return
    pts = np.round(px * 16).astype(np.int32)
    cv2.fillConvexPoly(image, pts, tuple(float(c) for c in color), cv2.LINE_AA, 4)


def _vignette(image: np.ndarray) -> None:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    gain = 1.0 - 0.12 * r2
    image[:] = np.clip(image * gain[..., None], 0, 255).astype(np.uint8)
