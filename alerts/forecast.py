"""Short-term forecasts of a zone's density from its recent history (预测预警).

Two methods over points ``(t, y)`` where ``t`` is seconds relative to now (≤ 0):

- ``linear``: least-squares line (what ``regr_slope``/``regr_intercept`` compute in SQL);
- ``holt``: Holt's linear exponential smoothing (level + trend), time-aware so uneven
  spacing is handled; it follows a change of slope faster than a fitted line.

Both return a :class:`Trend`; :meth:`Trend.at` extrapolates it ``h`` seconds ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Trend:
    level: float        # estimate now (t = 0)
    slope: float        # per second

    def at(self, seconds_ahead: float) -> float:
        return max(0.0, self.level + self.slope * seconds_ahead)

    def seconds_to_reach(self, threshold: float) -> float | None:
        """When the trend reaches ``threshold`` (0 if already there, None if never)."""
        if self.level >= threshold:
            return 0.0
        if self.slope <= 0:
            return None
        return (threshold - self.level) / self.slope


def linear(points: Sequence[tuple[float, float]]) -> Trend | None:
    """Ordinary least squares; None with fewer than two distinct times."""
    n = len(points)
    if n < 2:
        return None
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    slope = sum((t - mean_t) * (y - mean_y) for t, y in points) / sxx
    return Trend(mean_y - slope * mean_t, slope)


def holt(points: Sequence[tuple[float, float]], alpha: float = 0.5, beta: float = 0.3) -> (
    Trend | None
):
    """Holt's level/trend smoothing over points sorted by time; extrapolated to t = 0."""
    if len(points) < 2:
        return None
    (t0, y0), (t1, y1) = points[0], points[1]
    if t1 <= t0:
        return None
    level, slope, last_t = y0, (y1 - y0) / (t1 - t0), t0
    for t, y in points[1:]:
        dt = t - last_t
        if dt <= 0:
            continue
        previous = level
        level = alpha * y + (1 - alpha) * (level + slope * dt)
        slope = beta * (level - previous) / dt + (1 - beta) * slope
        last_t = t
    return Trend(level - slope * last_t, slope)  # last_t ≤ 0: carry the level to now
