"""The social-force model: what people feel from each other and from walls, per step.

Owns the physics of one time step as pure functions of the crowd's arrays (all forces
per unit mass, m/s²) and the model's parameters:
- repulsion from neighbours ``A exp((r_ij - d_ij) / B)``, weaker from behind when walking
  freely, plus a body-contact spring where bodies overlap (Helbing & Molnár 1995; Helbing,
  Farkas & Vicsek 2000), and a sidestep to the right for someone ahead, so head-on
  meetings resolve instead of stalling;
- repulsion from the edge of the walkable area and from static obstacles;
- Weidmann's fundamental diagram: free speed falls with density, to a shuffle when packed;
- neighbour search with a cell list, so a step costs O(N) rather than O(N²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulators.render.geometry import closest_on_boundary, unit


@dataclass(frozen=True, slots=True)
class CrowdParams:
    """Tunables of the pedestrian model (SI units)."""

    speed_mean: float = 1.3
    speed_sd: float = 0.2
    radius_range: tuple[float, float] = (0.18, 0.22)
    relax_s: float = 0.5
    social_a: float = 2.0
    social_b: float = 0.25
    anisotropy: float = 0.3
    sidestep: float = 1.5
    body_k: float = 40.0
    wall_a: float = 5.0
    wall_b: float = 0.2
    cutoff_m: float = 1.0
    group_fraction: float = 0.3
    dwell_probability: float = 0.3
    leave_probability: float = 0.1
    inflow_per_m_s: float = 1.5
    patience_s: float = 30.0
    step_range_m: tuple[float, float] = (2.0, 6.0)


def weidmann_factor(density: np.ndarray) -> np.ndarray:
    """Walking speed as a fraction of free speed at a density (persons/m²), floored at 12%."""
    rho = np.maximum(density, 0.1)
    factor = 1.0 - np.exp(-1.913 * (1.0 / rho - 1.0 / 5.4))
    return np.asarray(np.clip(factor, 0.12, 1.0))


def neighbour_pairs(pos: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of points closer than ``cutoff``, found with a cell list."""
    n = len(pos)
    if n < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cells = np.floor((pos - pos.min(axis=0)) / cutoff).astype(np.int64)
    ny = int(cells[:, 1].max()) + 3
    cell_id = (cells[:, 0] + 1) * ny + cells[:, 1] + 1
    order = np.argsort(cell_id, kind="stable")
    sorted_ids = cell_id[order]
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):  # half the 3x3 block: no repeats
        target = cell_id + dx * ny + dy
        lo = np.searchsorted(sorted_ids, target, side="left")
        hi = np.searchsorted(sorted_ids, target, side="right")
        width = int((hi - lo).max())
        if width == 0:
            continue
        slots = lo[:, None] + np.arange(width)[None]
        valid = slots < hi[:, None]
        a = np.broadcast_to(np.arange(n)[:, None], slots.shape)[valid]
        b = order[slots[valid]]
        if (dx, dy) == (0, 0):
            keep = b > a
            a, b = a[keep], b[keep]
        first.append(a)
        second.append(b)
    i = np.concatenate(first)
    j = np.concatenate(second)
    close = ((pos[i] - pos[j]) ** 2).sum(axis=1) < cutoff * cutoff
    return i[close], j[close]


def density_ahead(pos: np.ndarray, target: np.ndarray, i: np.ndarray, j: np.ndarray,
                  cutoff: float) -> np.ndarray:
    """Persons/m² in the half-disc in front of each person, towards their waypoint.

    Slowing for the people ahead (not those behind) lets anyone walk out of a crowd;
    an all-round slowdown would make walkers clump together.
    """
    n = len(pos)
    e = unit(target - pos)
    d = pos[j] - pos[i]
    ahead_i = (e[i] * d).sum(axis=1) > 0.0
    ahead_j = (e[j] * d).sum(axis=1) < 0.0
    count = np.bincount(i[ahead_i], minlength=n) + np.bincount(j[ahead_j], minlength=n)
    return np.asarray(count / (math.pi * cutoff**2 / 2.0))


def pair_forces(pos: np.ndarray, radius: np.ndarray, desired: np.ndarray,
                local_density: np.ndarray, i: np.ndarray, j: np.ndarray, p: CrowdParams
                ) -> np.ndarray:
    """Repulsion, body contact and sidestepping between the neighbour pairs (i, j)."""
    force = np.zeros_like(pos)
    if not len(i):
        return force
    d = pos[i] - pos[j]
    dist = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
    n_ij = d / dist[:, None]
    overlap = radius[i] + radius[j] - dist
    push = p.social_a * np.exp(np.minimum(overlap, 0.3) / p.social_b)
    body = p.body_k * np.maximum(overlap, 0.0)
    e = unit(desired)
    # Ignoring people behind is for free walking; packed, pushes come from everywhere.
    ease = weidmann_factor(local_density)
    lam = p.anisotropy + (1.0 - p.anisotropy) * (1.0 - ease)
    w_i = lam[i] + (1 - lam[i]) * (1 - (e[i] * n_ij).sum(axis=1)) / 2
    w_j = lam[j] + (1 - lam[j]) * (1 + (e[j] * n_ij).sum(axis=1)) / 2
    f_i = ((push * w_i + body)[:, None]) * n_ij
    f_j = ((push * w_j + body)[:, None]) * n_ij
    # Step aside (keeping right) for someone ahead, so head-on meetings resolve.
    side = push * p.sidestep
    ahead_i = np.maximum(-(e[i] * n_ij).sum(axis=1), 0.0) * side * ease[i]
    ahead_j = np.maximum((e[j] * n_ij).sum(axis=1), 0.0) * side * ease[j]
    f_i += right_of(e[i]) * ahead_i[:, None]
    f_j -= right_of(e[j]) * ahead_j[:, None]
    for axis in (0, 1):
        force[:, axis] += np.bincount(i, weights=f_i[:, axis], minlength=len(pos))
        force[:, axis] -= np.bincount(j, weights=f_j[:, axis], minlength=len(pos))
    return force


def boundary_forces(pos: np.ndarray, radius: np.ndarray, leaving: np.ndarray,
                    walkable: np.ndarray, obstacles: np.ndarray, p: CrowdParams
                    ) -> np.ndarray:
    """Push from the edge of the (counter-clockwise) walkable area and from obstacles."""
    _, dist, inward = closest_on_boundary(pos, walkable)
    force = inward * (p.wall_a * np.exp((radius - dist) / p.wall_b))[:, None]
    force[leaving] *= 0.2  # those on their way out walk up to the edge
    for ox, oy, r in obstacles:
        d = pos - (ox, oy)
        centre_dist = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
        gap = r + radius - centre_dist
        mag = p.wall_a * np.exp(np.minimum(gap, 0.3) / p.wall_b) + p.body_k * np.maximum(gap, 0)
        force += d / centre_dist[:, None] * mag[:, None]
    return np.asarray(force)


def right_of(direction: np.ndarray) -> np.ndarray:
    """The vectors 90° clockwise of ``direction`` (x to the right, y ahead)."""
    return np.stack([direction[:, 1], -direction[:, 0]], axis=1)
