"""Forecast arithmetic and schedules (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.forecast import Trend, holt, linear
from alerts.schedule import schedule_active


def ramp(start: float, per_second: float, seconds: int) -> list[tuple[float, float]]:
    """Points (t, y) with t ≤ 0 (relative to now) on a straight ramp."""
    return [(float(t - seconds), start + per_second * t) for t in range(seconds + 1)]


def test_linear_recovers_a_straight_ramp() -> None:
    trend = linear(ramp(1.0, 0.02, 60))
    assert trend is not None
    assert trend.level == pytest.approx(2.2) and trend.slope == pytest.approx(0.02)
    assert trend.at(100) == pytest.approx(4.2)
    assert trend.seconds_to_reach(4.0) == pytest.approx(90)


def test_holt_follows_a_change_of_slope_faster_than_a_fitted_line() -> None:
    flat_then_rising = [(float(t - 60), 1.0 if t < 30 else 1.0 + 0.05 * (t - 30))
                        for t in range(61)]
    fitted, smoothed = linear(flat_then_rising), holt(flat_then_rising, 0.5, 0.3)
    assert fitted is not None and smoothed is not None
    assert smoothed.slope > fitted.slope
    assert smoothed.level == pytest.approx(2.5, abs=0.1)


def test_too_little_data_gives_no_trend() -> None:
    assert linear([(0.0, 1.0)]) is None and holt([(0.0, 1.0)]) is None
    assert linear([(0.0, 1.0), (0.0, 2.0)]) is None


def test_a_falling_trend_never_reaches_and_forecasts_never_go_negative() -> None:
    trend = Trend(level=1.0, slope=-0.1)
    assert trend.seconds_to_reach(4.0) is None and trend.at(60) == 0.0


@pytest.mark.parametrize(("when", "active"), [
    ("2026-11-21T10:00:00+08:00", True),    # Saturday 10:00 Shanghai
    ("2026-11-21T08:59:00+08:00", False),   # before the window
    ("2026-11-23T10:00:00+08:00", False),   # Monday
    ("2026-11-21T02:00:00+00:00", True),    # Saturday 10:00 in Shanghai, given in UTC
])
def test_a_weekend_daytime_schedule(when: str, active: bool) -> None:
    schedule = {"days": ["sat", "sun"], "start": "09:00", "end": "22:00",
                "timezone": "Asia/Shanghai"}
    assert schedule_active(schedule, datetime.fromisoformat(when)) is active


def test_an_overnight_schedule_belongs_to_the_day_it_starts() -> None:
    friday_night = {"days": ["fri"], "start": "22:00", "end": "06:00", "timezone": "UTC"}
    assert schedule_active(friday_night, datetime(2026, 11, 20, 23, 0, tzinfo=UTC))
    assert schedule_active(friday_night, datetime(2026, 11, 21, 5, 0, tzinfo=UTC))
    assert not schedule_active(friday_night, datetime(2026, 11, 21, 23, 0, tzinfo=UTC))
    assert schedule_active(None, datetime(2026, 11, 21, 23, 0, tzinfo=UTC))
