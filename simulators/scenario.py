"""Scenario building blocks: the true crowd density of a zone as a function of time.

This module owns the ground-truth model interface (:class:`DensityModel`), the simple
timelines the demo uses (:class:`OrdinaryDay` background plus :class:`Surge`), and the
deterministic noise every simulator draws from. Noise is a pure function of integer
keys (:func:`stable_key`, :func:`unit`, :func:`normal`), never of a shared random
state, so a run is the same whatever order or thread devices are evaluated in.
Named scenario timelines (ordinary day, festival, evacuation...) are in
``simulators.scenarios``.
"""

from __future__ import annotations

import hashlib
import math
import random
import zlib
from dataclasses import dataclass
from typing import Protocol

_MASK = (1 << 64) - 1


class DensityModel(Protocol):
    """Ground truth: persons/m² in ``zone_id`` at simulated time ``t`` (seconds)."""

    def density(self, zone_id: str, t: float) -> float: ...


def stable_key(*parts: object) -> int:
    """A 64-bit key for ``parts`` (their ``str``), the same on every run and machine."""
    text = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def unit(key: int, n: int) -> float:
    """Uniform in [0, 1), a pure function of ``key`` and ``n`` (the ``n``-th draw of ``key``)."""
    return _mix((key + n * 0x9E3779B97F4A7C15) & _MASK) / 2.0**64


def normal(key: int, n: int) -> float:
    """Standard normal (Box–Muller), a pure function of ``key`` and ``n``."""
    u1 = max(unit(key, 2 * n), 1e-12)
    u2 = unit(key, 2 * n + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


_SQRT12 = math.sqrt(12.0)


def drift(key: int, t: float, step: float) -> float:
    """Smooth noise of mean 0 and deviation about 1: draws at multiples of ``step``, eased
    between (cheap: the world model evaluates it for every zone of every report)."""
    x = t / step
    i = math.floor(x)
    f = x - i
    f = f * f * (3.0 - 2.0 * f)
    return ((unit(key, i) - 0.5) * (1.0 - f) + (unit(key, i + 1) - 0.5) * f) * _SQRT12


@dataclass(frozen=True, slots=True)
class Surge:
    """A crowd building up in one zone, holding, then dispersing (times in seconds)."""

    zone_id: str
    start: float
    ramp: float = 20.0
    hold: float = 90.0
    peak_density: float = 5.5

    def density(self, t: float, base: float) -> float:
        if t < self.start:
            return base
        into = t - self.start
        if into < self.ramp:
            return base + (self.peak_density - base) * into / self.ramp
        if into < self.ramp + self.hold:
            return self.peak_density
        fall = (into - self.ramp - self.hold) / self.ramp
        return max(base, self.peak_density - (self.peak_density - base) * fall)


@dataclass(slots=True)
class OrdinaryDay:
    """Quiet background density per zone: a slow wave plus noise, well below alarm levels."""

    seed: int = 7
    mean: float = 0.6
    amplitude: float = 0.35

    def density(self, zone_id: str, t: float) -> float:
        rng = random.Random(f"{self.seed}:{zone_id}:{int(t)}")
        phase = (zlib.crc32(zone_id.encode()) % 628) / 100.0
        wave = self.mean + self.amplitude * math.sin(t / 60.0 + phase)
        return max(0.0, wave + rng.gauss(0.0, 0.05))


@dataclass(slots=True)
class Scenario:
    """Background plus optional surges; ``density(zone, t)`` is the ground truth."""

    background: OrdinaryDay
    surges: tuple[Surge, ...] = ()

    def density(self, zone_id: str, t: float) -> float:
        base = self.background.density(zone_id, t)
        for surge in self.surges:
            if surge.zone_id == zone_id:
                return surge.density(t, base)
        return base
