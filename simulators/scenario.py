"""Scenario timelines: the true crowd density of a zone as a function of time."""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass


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
