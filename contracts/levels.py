"""Crowd density levels (persons/m²), after G. Keith Still's bands in DESIGN.md."""

from __future__ import annotations

from enum import StrEnum


class DensityLevel(StrEnum):
    FREE_FLOW = "free_flow"      # < 1
    STABLE = "stable"            # 1 – 2.5
    CAPACITY = "capacity"        # 2.5 – 3.5
    UNSTABLE = "unstable"        # 3.5 – 5 (a moving crowd is critical near 4)
    CONGESTED = "congested"      # ≥ 5: dangerous


_UPPER_BOUNDS = (
    (1.0, DensityLevel.FREE_FLOW),
    (2.5, DensityLevel.STABLE),
    (3.5, DensityLevel.CAPACITY),
    (5.0, DensityLevel.UNSTABLE),
)


def level_of(density: float) -> DensityLevel:
    for bound, level in _UPPER_BOUNDS:
        if density < bound:
            return level
    return DensityLevel.CONGESTED
