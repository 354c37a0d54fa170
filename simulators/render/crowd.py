"""Who is on the plaza and where they are going: waypoints, groups, entering and leaving.

Owns where every synthetic person is (metres), their plans and the head count: a
controller keeps the number of people at the target, newcomers walk in through the
boundary points they may use (normally the edges outside the camera's view) and leavers
walk out through them. Between arrivals people wander by a Metropolis walk (symmetric
random steps; a step that would leave the area is spent standing), so in the long run
they spread evenly instead of gathering in the middle; some pause, small groups walk
together. The forces that move them are in ``forces.py``; pixels are elsewhere.
"""

from __future__ import annotations

import math

import numpy as np

from simulators.render.forces import (
    CrowdParams,
    boundary_forces,
    density_ahead,
    neighbour_pairs,
    pair_forces,
    weidmann_factor,
)
from simulators.render.geometry import (
    closest_on_boundary,
    counter_clockwise,
    hex_lattice,
    points_in_polygon,
    polygon_area,
    sample_in_polygon,
    unit,
)

_EXIT_REACH_M = 0.8
_SPAWN_CLEARANCE_M = 0.4  # newcomers appear out of view; the forces part them
_LOCAL_WEIGHT = 0.3
_MEAN_GROUP = 2.6

_AGENT_ARRAYS = (
    "pos", "vel", "heading", "radius", "v0", "uid", "leader", "offset", "phase", "dwell",
    "target", "leaving", "patience",
)


class Crowd:
    """The people on the walkable area and one integration step of their motion.

    Everyone is either a leader (``leader == uid``, choosing their own waypoints) or a
    follower walking beside their group's leader towards the same waypoint. Per-person
    state is kept as parallel arrays (row k is one person), listed in ``_AGENT_ARRAYS``.
    """

    pos: np.ndarray  # (N, 2) feet on the ground, metres
    vel: np.ndarray  # (N, 2) m/s
    heading: np.ndarray  # (N, 2) unit vector the body faces
    radius: np.ndarray  # body radius, metres
    v0: np.ndarray  # free walking speed, m/s
    uid: np.ndarray  # person id, increasing (kept sorted)
    leader: np.ndarray  # uid of the group's leader (own uid when alone)
    offset: np.ndarray  # (N, 2) place beside the leader, metres
    phase: np.ndarray  # gait phase, radians
    dwell: np.ndarray  # seconds left standing still
    target: np.ndarray  # (N, 2) current waypoint
    leaving: np.ndarray  # heading for a way out
    patience: np.ndarray  # seconds left before giving up on the waypoint

    def __init__(
        self,
        walkable: np.ndarray,
        entries: np.ndarray,
        obstacles: np.ndarray,
        rng: np.random.Generator,
        params: CrowdParams | None = None,
    ) -> None:
        self.walkable = counter_clockwise(walkable)
        self.entries = np.asarray(entries, dtype=float).reshape(-1, 2)
        self.obstacles = np.asarray(obstacles, dtype=float).reshape(-1, 3)
        self.rng = rng
        self.params = params or CrowdParams()
        self._inflow = _entry_length(self.entries) * self.params.inflow_per_m_s
        self._area = polygon_area(self.walkable)
        self._next_uid = 0
        self._spawn_credit = 0.0
        self.local_density = np.zeros(0)
        self._set_arrays(_empty_arrays())

    # -- state -----------------------------------------------------------------------
    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for name in _AGENT_ARRAYS:
            setattr(self, name, arrays[name])

    def _arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in _AGENT_ARRAYS}

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def speed(self) -> np.ndarray:
        """Current walking speed of everyone (m/s)."""
        return np.asarray(np.linalg.norm(self.vel, axis=1))

    @property
    def is_leader(self) -> np.ndarray:
        """Mask of the people who choose their own waypoints."""
        return np.asarray(self.leader == self.uid)

    # -- population ------------------------------------------------------------------
    def populate(self, count: int) -> None:
        """Place ``count`` people at once, spread evenly over the area (a warm start)."""
        if count <= 0:
            return
        spots = self._starting_spots(count)
        self._add(spots, self._form_groups(spots), self._wander_targets(spots))
        dwelling = self.rng.random(count) < self.params.dwell_probability
        self.dwell[-count:] = np.where(dwelling, self.rng.uniform(1.0, 20.0, count), 0.0)
        self._sync_followers()

    def _starting_spots(self, count: int) -> np.ndarray:
        density = max(count / polygon_area(self.walkable), 1.0)
        spacing = math.sqrt(2.0 / (math.sqrt(3.0) * density)) * 0.98
        lattice = hex_lattice(self.walkable, spacing)
        while len(lattice) < count:
            spacing *= 0.95
            lattice = hex_lattice(self.walkable, spacing)
        chosen = lattice[self.rng.choice(len(lattice), size=count, replace=False)]
        moved = chosen + self.rng.uniform(-0.25, 0.25, size=chosen.shape) * spacing
        inside = points_in_polygon(moved, self.walkable)
        return np.where(inside[:, None], moved, chosen)

    def _form_groups(self, spots: np.ndarray) -> np.ndarray:
        """Index (within ``spots``) of each person's leader: small groups of neighbours."""
        leader = np.arange(len(spots))
        grouped = np.zeros(len(spots), dtype=bool)
        for i in self.rng.permutation(len(spots)):
            if grouped[i] or self.rng.random() > self.params.group_fraction / _MEAN_GROUP:
                continue
            dist = np.linalg.norm(spots - spots[i], axis=1)
            dist[grouped] = np.inf
            dist[i] = np.inf
            near = np.argsort(dist)[: int(self.rng.integers(1, 4))]
            near = near[dist[near] < 1.3]
            if len(near):
                leader[near] = i
                grouped[np.append(near, i)] = True
        return leader

    def _add(self, spots: np.ndarray, leader_index: np.ndarray, targets: np.ndarray) -> None:
        n = len(spots)
        p = self.params
        v0 = np.clip(self.rng.normal(p.speed_mean, p.speed_sd, n), 0.6, 2.0)
        v0 = np.minimum(v0, v0[leader_index])
        direction = unit(targets - spots)
        uids = np.arange(self._next_uid, self._next_uid + n, dtype=np.int64)
        self._next_uid += n
        new = {
            "pos": spots.astype(float),
            "vel": direction * v0[:, None] * 0.5,
            "heading": np.where(np.any(direction, axis=1)[:, None], direction, (0.0, -1.0)),
            "radius": self.rng.uniform(*p.radius_range, n),
            "v0": v0,
            "uid": uids,
            "leader": uids[leader_index],
            "offset": spots - spots[leader_index],
            "phase": self.rng.uniform(0.0, 2.0 * math.pi, n),
            "dwell": np.zeros(n),
            "target": targets,
            "leaving": np.zeros(n, dtype=bool),
            "patience": np.full(n, p.patience_s),
        }
        merged = {k: np.concatenate([getattr(self, k), v]) for k, v in new.items()}
        self._set_arrays(merged)

    def _remove(self, gone: np.ndarray) -> None:
        if gone.any():
            keep = ~gone
            self._set_arrays({k: v[keep] for k, v in self._arrays().items()})
            self.local_density = self.local_density[keep]

    def _wander_targets(self, origins: np.ndarray) -> np.ndarray:
        """A waypoint 3-10 m from each origin inside the walkable area (for newcomers)."""
        targets = sample_in_polygon(self.rng, self.walkable, len(origins))
        pending = np.arange(len(origins))
        for _ in range(12):
            if not len(pending):
                break
            cand, _ = self._propose(origins[pending], 1.0)
            ok = points_in_polygon(cand, self.walkable)
            targets[pending[ok]] = cand[ok]
            pending = pending[~ok]
        return targets

    def _propose(self, origins: np.ndarray, scale: np.ndarray | float
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Symmetric random steps of 3-10 m (times ``scale``) and their lengths."""
        n = len(origins)
        angle = self.rng.uniform(0.0, 2.0 * math.pi, n)
        reach = self.rng.uniform(*self.params.step_range_m, n) * np.broadcast_to(scale, n)
        step = np.stack([np.cos(angle), np.sin(angle)], axis=1) * reach[:, None]
        return origins + step, reach

    def _control_population(self, target_count: int, dt: float) -> None:
        present = len(self)
        surplus = present - int(self.leaving.sum()) - target_count
        if surplus > 0:
            self._send_away(surplus)
        elif present < target_count:
            self._spawn_credit = min(self._spawn_credit + self._inflow * dt, self._inflow)
            budget = min(target_count - present, int(self._spawn_credit))
            if budget > 0:
                self._spawn_credit -= self._spawn(budget)
        else:
            self._spawn_credit = 0.0

    def _send_away(self, count: int) -> None:
        staying = np.flatnonzero(~self.leaving & self.is_leader)
        if not len(staying):
            return
        dist = np.linalg.norm(self.pos[staying, None, :] - self.entries[None], axis=2)
        nearest = dist.argmin(axis=1)
        chosen = np.argsort(dist.min(axis=1), kind="stable")[:count]
        idx = staying[chosen]
        self.target[idx] = self.entries[nearest[chosen]]
        self.dwell[idx] = 0.0
        self.leaving[idx] = True
        self.patience[idx] = self.params.patience_s

    def _spawn(self, budget: int) -> int:
        free = self._free_entries()
        spawned = 0
        for start in self.rng.permutation(free)[:budget]:
            size = 1
            if self.rng.random() < self.params.group_fraction / _MEAN_GROUP:
                size = int(self.rng.integers(2, 5))
            spawned += self._spawn_party(start, min(size, budget - spawned))
            if spawned >= budget:
                break
        return spawned

    def _free_entries(self) -> np.ndarray:
        if not len(self):
            return self.entries
        d = np.linalg.norm(self.entries[:, None, :] - self.pos[None], axis=2).min(axis=1)
        return np.asarray(self.entries[d > _SPAWN_CLEARANCE_M])

    def _spawn_party(self, start: np.ndarray, size: int) -> int:
        _, _, inward = closest_on_boundary(start[None], self.walkable)
        tangent = np.array([inward[0, 1], -inward[0, 0]])
        offsets = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.55], [0.5, 0.55]])[:size]
        spots = start + offsets[:, :1] * tangent + offsets[:, 1:] * inward[0]
        spots = spots[points_in_polygon(spots, self.walkable)]
        if len(spots):
            # Newcomers head for anywhere on the area, so the far side fills as well.
            goal = sample_in_polygon(self.rng, self.walkable, 1)
            self._add(spots, np.zeros(len(spots), dtype=np.int64), goal + (spots - spots[0]))
        return len(spots)

    # -- motion ----------------------------------------------------------------------
    def step(self, dt: float, target_count: int) -> None:
        """Advance everyone by ``dt`` seconds and keep the head count near ``target_count``."""
        substeps = max(1, math.ceil(dt / 0.05))
        for _ in range(substeps):
            self._control_population(target_count, dt / substeps)
            if len(self):
                self._integrate(dt / substeps)
                self._arrive(dt / substeps)
                self._sync_followers()

    def _integrate(self, dt: float) -> None:
        p = self.params
        i, j = neighbour_pairs(self.pos, p.cutoff_m)
        n = len(self)
        neighbours = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        self.local_density = neighbours / (math.pi * p.cutoff_m**2)
        ahead = density_ahead(self.pos, self.target, i, j, p.cutoff_m)
        desired = self._desired_velocity(self._crowding(ahead))
        force = (desired - self.vel) / p.relax_s
        force += pair_forces(self.pos, self.radius, desired, self.local_density, i, j, p)
        force += boundary_forces(self.pos, self.radius, self.leaving, self.walkable,
                                 self.obstacles, p)
        force += self._group_forces()
        self.vel = self.vel + force * dt
        self._limit_speed(desired)
        self.pos = self.pos + self.vel * dt
        self._confine()
        speed = self.speed
        moving = speed > 0.15
        blended = self.heading * 0.85 + unit(self.vel) * 0.15
        self.heading = np.where(moving[:, None], unit(blended), self.heading)
        self.phase = (self.phase + 2.0 * math.pi * speed * dt / 1.3) % (2.0 * math.pi)

    def _crowding(self, local: np.ndarray) -> np.ndarray:
        """The density people react to: mostly the area's, partly what is around them.

        Reacting only to the few neighbours within a metre would make walkers clump
        (slow where crowded, so more crowded); the area's density keeps them spread.
        """
        overall = len(self) / self._area
        return (1.0 - _LOCAL_WEIGHT) * overall + _LOCAL_WEIGHT * local

    def _desired_velocity(self, crowding: np.ndarray) -> np.ndarray:
        """Towards the waypoint at the speed the crowding allows (zero while pausing)."""
        speed = self.v0 * weidmann_factor(crowding)
        speed = np.where(self.dwell > 0.0, 0.0, speed)
        to_target = self.target - self.pos
        dist = np.linalg.norm(to_target, axis=1)
        speed = np.minimum(speed, dist / 0.5 + 0.05)
        return np.asarray(unit(to_target) * speed[:, None])

    def _group_forces(self) -> np.ndarray:
        """Followers keep within about a metre of their leader."""
        force = np.zeros_like(self.pos)
        lead = self._leader_index()
        follower = lead != np.arange(len(self))
        if follower.any():
            gap = self.pos[lead[follower]] + 0.5 * self.offset[follower] - self.pos[follower]
            dist = np.linalg.norm(gap, axis=1)
            pull = np.clip(1.5 * (dist - 0.4), 0.0, 2.0)
            force[follower] = unit(gap) * pull[:, None]
        return force

    def _leader_index(self) -> np.ndarray:
        """Each person's leader as an index (uids are kept sorted)."""
        idx = np.minimum(np.searchsorted(self.uid, self.leader), len(self) - 1)
        present = self.uid[idx] == self.leader
        return np.where(present, idx, np.arange(len(self)))

    def _sync_followers(self) -> None:
        """Followers whose leader left lead themselves; the rest copy their leader's plan."""
        if not len(self):
            return
        lead = self._leader_index()
        self.leader = self.uid[lead]
        follower = lead != np.arange(len(self))
        idx = lead[follower]
        self.target[follower] = self.target[idx] + self.offset[follower]
        self.dwell[follower] = self.dwell[idx]
        self.leaving[follower] = self.leaving[idx]
        self.patience[follower] = self.params.patience_s

    def _limit_speed(self, desired: np.ndarray) -> None:
        cap = np.minimum(np.linalg.norm(desired, axis=1) * 1.2 + 0.15, 2.2)
        speed = np.maximum(self.speed, 1e-9)
        self.vel *= np.minimum(1.0, cap / speed)[:, None]

    def _confine(self) -> None:
        outside = ~points_in_polygon(self.pos, self.walkable)
        if outside.any():
            foot, _, inward = closest_on_boundary(self.pos[outside], self.walkable)
            self.pos[outside] = foot + inward * 0.02
            normal_speed = (self.vel[outside] * inward).sum(axis=1)
            self.vel[outside] -= inward * np.minimum(normal_speed, 0.0)[:, None]

    def _arrive(self, dt: float) -> None:
        """Leaders at their waypoint pick the next one (or leave); leavers at an exit go."""
        self.dwell = np.maximum(self.dwell - dt, 0.0)
        self.patience = self.patience - dt
        dist = np.linalg.norm(self.target - self.pos, axis=1)
        self._remove(self.leaving & (dist < _EXIT_REACH_M))
        dist = np.linalg.norm(self.target - self.pos, axis=1)
        crowding = self._crowding(self.local_density)
        reach = 0.3 + 0.3 * np.clip(crowding - 1.5, 0.0, 5.0)
        due = self.is_leader & (self.dwell <= 0.0) & ((dist < reach) | (self.patience < 0.0))
        stuck = due & self.leaving
        for k in np.flatnonzero(stuck):
            self.target[k] = self._nearest_entry(self.pos[k])
        self._choose_next(np.flatnonzero(due & ~self.leaving))
        self.patience[due] = self.params.patience_s

    def _choose_next(self, idx: np.ndarray) -> None:
        """Leave (less likely when packed) or wander on, maybe pausing first.

        Wandering is a Metropolis walk: a symmetric random step, and a step that would
        leave the area is spent standing still instead, so in the long run people are
        spread evenly over the area rather than drawn to its middle.
        """
        if not len(idx):
            return
        p = self.params
        ease = weidmann_factor(self._crowding(self.local_density[idx]))
        leave = self.rng.random(len(idx)) < p.leave_probability * ease
        pause = self.rng.random(len(idx)) < p.dwell_probability + 0.5 * (1.0 - ease)
        step, reach = self._propose(self.pos[idx], np.clip(2.0 * ease, 0.3, 1.0))
        inside = points_in_polygon(step, self.walkable)
        self.target[idx] = np.where(inside[:, None], step, self.pos[idx])
        wait = np.where(inside, 0.0, reach / self.v0[idx])
        self.dwell[idx] = wait + np.where(pause, self.rng.uniform(3.0, 25.0, len(idx)), 0.0)
        self.dwell[idx[leave]] = 0.0
        for k in idx[leave]:
            self.target[k] = self._exit_for(self.pos[k])
        self.leaving[idx[leave]] = True

    def _exit_for(self, point: np.ndarray) -> np.ndarray:
        """The nearest of a few random ways out, so leavers do not all cross the area."""
        options = self.entries[self.rng.integers(len(self.entries), size=8)]
        return np.asarray(options[np.linalg.norm(options - point, axis=1).argmin()])

    def _nearest_entry(self, point: np.ndarray) -> np.ndarray:
        return np.asarray(self.entries[np.linalg.norm(self.entries - point, axis=1).argmin()])


def _empty_arrays() -> dict[str, np.ndarray]:
    arrays = {name: np.zeros(0) for name in _AGENT_ARRAYS}
    for name in ("pos", "vel", "heading", "target"):
        arrays[name] = np.zeros((0, 2))
    arrays["uid"] = np.zeros(0, dtype=np.int64)
    arrays["leader"] = np.zeros(0, dtype=np.int64)
    arrays["offset"] = np.zeros((0, 2))
    arrays["leaving"] = np.zeros(0, dtype=bool)
    return arrays


def _entry_length(entries: np.ndarray) -> float:
    if len(entries) < 2:
        return 1.0
    steps = np.linalg.norm(np.diff(entries, axis=0), axis=1)
    return float(np.minimum(steps, 1.0).sum())
