"""The pure alert decision: hysteresis, `for` durations, stale data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.decide import Condition, Step, decide

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
COND = Condition(threshold=4.0, clear_threshold=2.5, for_seconds=30)


@pytest.mark.parametrize(("state", "since_s", "value", "step"), [
    (None, None, 3.9, Step.NOTHING),
    (None, None, 4.0, Step.OPEN_PENDING),
    (None, None, None, Step.NOTHING),
    ("pending", 10, 4.5, Step.NOTHING),      # not held long enough
    ("pending", 30, 4.5, Step.FIRE),         # held for 30 s
    ("pending", 10, 3.0, Step.DROP),         # dipped before firing
    ("pending", 10, None, Step.DROP),        # data went stale before firing
    ("firing", 60, 3.0, Step.NOTHING),       # between clear and fire: hysteresis keeps it
    ("firing", 60, 2.49, Step.RESOLVE),
    ("firing", 60, None, Step.NOTHING),      # a dead camera does not end a surge
])
def test_decision_table(state: str | None, since_s: int | None, value: float | None,
                        step: Step) -> None:
    since = T0 if since_s is not None else None
    now = T0 + timedelta(seconds=since_s or 0)
    assert decide(state, since, value, COND, now) is step


def test_zero_duration_fires_immediately() -> None:
    assert decide(None, None, 4.0, Condition(4.0, 2.5, 0), T0) is Step.OPEN_FIRING


def test_a_signal_flapping_around_the_threshold_fires_once() -> None:
    cond = Condition(4.0, 2.5, 0)
    state: str | None = None
    fired = 0
    for i, value in enumerate([3.9, 4.1, 3.9, 4.2, 3.8, 4.05, 3.95, 4.1] * 5):
        step = decide(state, T0, value, cond, T0 + timedelta(seconds=i))
        if step is Step.OPEN_FIRING:
            fired += 1
            state = "firing"
        elif step is Step.RESOLVE:
            state = None
    assert fired == 1
