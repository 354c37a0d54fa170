"""Ground-plane polygon helpers in metres: area, containment, boundary distance, sampling.

Owns the vectorised geometry the crowd model and the zone ground truth share, so a
person is "in a zone" by exactly the same rule everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Polygon = tuple[tuple[float, float], ...]


def as_polygon(points: Sequence[Sequence[float]] | np.ndarray) -> Polygon:
    """A hashable polygon (tuple of (x, y) floats) from any sequence of points."""
    return tuple((float(x), float(y)) for x, y in np.asarray(points, dtype=float).reshape(-1, 2))


def polygon_area(polygon: Polygon | np.ndarray) -> float:
    """Unsigned area by the shoelace formula."""
    pts = np.asarray(polygon, dtype=float)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def counter_clockwise(polygon: Polygon | np.ndarray) -> np.ndarray:
    """The polygon's vertices as an array in counter-clockwise order."""
    pts = np.asarray(polygon, dtype=float)
    signed = np.dot(pts[:, 0], np.roll(pts[:, 1], -1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], -1))
    return pts if signed > 0 else pts[::-1].copy()


def points_in_polygon(points: np.ndarray, polygon: Polygon | np.ndarray) -> np.ndarray:
    """Boolean mask of the points strictly inside the polygon (even-odd rule)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    poly = np.asarray(polygon, dtype=float)
    x, y = pts[:, 0], pts[:, 1]
    inside = np.zeros(len(pts), dtype=bool)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < x_cross)
    return inside


def closest_on_boundary(
    points: np.ndarray, polygon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest boundary point, its distance and the inward unit normal of that edge.

    ``polygon`` must be counter-clockwise (see :func:`counter_clockwise`).
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    edge = b - a
    length2 = np.maximum((edge**2).sum(axis=1), 1e-12)
    rel = pts[:, None, :] - a[None, :, :]
    s = np.clip((rel * edge[None]).sum(axis=2) / length2[None], 0.0, 1.0)
    foot = a[None] + s[..., None] * edge[None]
    dist2 = ((pts[:, None, :] - foot) ** 2).sum(axis=2)
    nearest = np.argmin(dist2, axis=1)
    rows = np.arange(len(pts))
    normals = np.stack([-edge[:, 1], edge[:, 0]], axis=1) / np.sqrt(length2)[:, None]
    return foot[rows, nearest], np.sqrt(dist2[rows, nearest]), normals[nearest]


def sample_in_polygon(rng: np.random.Generator, polygon: np.ndarray, n: int) -> np.ndarray:
    """``n`` points uniformly inside the polygon (rejection sampling in its bounding box)."""
    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        cand = rng.uniform(lo, hi, size=(max(2 * (n - count), 16), 2))
        cand = cand[points_in_polygon(cand, polygon)]
        found.append(cand)
        count += len(cand)
    return np.concatenate(found)[:n]


def edge_points(polygon: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing`` metres along each edge, with the index of their edge."""
    points: list[np.ndarray] = []
    edges: list[np.ndarray] = []
    for i, (a, b) in enumerate(zip(polygon, np.roll(polygon, -1, axis=0), strict=True)):
        steps = max(int(np.linalg.norm(b - a) / spacing), 1)
        s = (np.arange(steps) + 0.5) / steps
        points.append(a + s[:, None] * (b - a))
        edges.append(np.full(steps, i))
    return np.concatenate(points), np.concatenate(edges)


def hex_lattice(polygon: np.ndarray, spacing: float) -> np.ndarray:
    """Points of a hexagonal lattice with the given spacing that fall inside the polygon."""
    lo, hi = polygon.min(axis=0), polygon.max(axis=0)
    row_step = spacing * np.sqrt(3.0) / 2.0
    rows = np.arange(lo[1], hi[1] + row_step, row_step)
    cols = np.arange(lo[0], hi[0] + spacing, spacing)
    gx, gy = np.meshgrid(cols, rows)
    gx = gx + (np.arange(len(rows)) % 2)[:, None] * spacing / 2.0
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return np.asarray(pts[points_in_polygon(pts, polygon)])


def unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` scaled to length 1 (zero rows stay zero)."""
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(np.divide(v, norm, out=np.zeros_like(v), where=norm > 1e-9))
