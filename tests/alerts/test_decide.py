"""The pure alert decision: hysteresis, `for` and `clear_for` durations, cooldown, "below"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.decide import NO_MEMORY, Condition, Memory, Step, decide

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
    memory = Memory(state, T0 if since_s is not None else None)
    now = T0 + timedelta(seconds=since_s or 0)
    assert decide(memory, value, COND, now) is step


def test_zero_duration_fires_immediately() -> None:
    assert decide(NO_MEMORY, 4.0, Condition(4.0, 2.5), T0) is Step.OPEN_FIRING


def test_a_condition_that_began_long_ago_in_the_data_fires_at_first_sight() -> None:
    # A camera offline since 08:00, first evaluated at 08:05 with for = 60 s.
    cond = Condition(1.0, 1.0, for_seconds=60)
    later = T0 + timedelta(minutes=5)
    assert decide(NO_MEMORY, 1.0, cond, later, since=T0) is Step.OPEN_FIRING
    assert decide(NO_MEMORY, 1.0, cond, T0 + timedelta(seconds=30), since=T0) is (
        Step.OPEN_PENDING)


def test_clear_for_needs_the_value_to_stay_clear_before_resolving() -> None:
    cond = Condition(4.0, 2.5, clear_for_seconds=20)
    firing = Memory("firing", T0)
    assert decide(firing, 2.0, cond, T0) is Step.START_CLEARING
    clearing = Memory("firing", T0, clear_since=T0)
    assert decide(clearing, 2.0, cond, T0 + timedelta(seconds=10)) is Step.NOTHING
    assert decide(clearing, 3.0, cond, T0 + timedelta(seconds=15)) is Step.STOP_CLEARING
    assert decide(clearing, 2.0, cond, T0 + timedelta(seconds=20)) is Step.RESOLVE


def test_no_new_alert_within_the_cooldown_of_the_last_one() -> None:
    cond = Condition(4.0, 2.5)
    memory = Memory(last_resolved_at=T0)
    assert decide(memory, 5.0, cond, T0 + timedelta(seconds=30), cooldown_seconds=60) is (
        Step.NOTHING)
    assert decide(memory, 5.0, cond, T0 + timedelta(seconds=60), cooldown_seconds=60) is (
        Step.OPEN_FIRING)


def test_below_rules_mirror_both_thresholds() -> None:
    cond = Condition(threshold=-10.0, clear_threshold=-5.0, below=True)
    assert decide(NO_MEMORY, -9.0, cond, T0) is Step.NOTHING
    assert decide(NO_MEMORY, -10.0, cond, T0) is Step.OPEN_FIRING
    firing = Memory("firing", T0)
    assert decide(firing, -6.0, cond, T0) is Step.NOTHING
    assert decide(firing, -4.0, cond, T0) is Step.RESOLVE


def test_a_signal_flapping_around_the_threshold_fires_once() -> None:
    cond = Condition(4.0, 2.5)
    memory = NO_MEMORY
    fired = 0
    for i, value in enumerate([3.9, 4.1, 3.9, 4.2, 3.8, 4.05, 3.95, 4.1] * 5):
        step = decide(memory, value, cond, T0 + timedelta(seconds=i))
        if step is Step.OPEN_FIRING:
            fired += 1
            memory = Memory("firing", T0)
        elif step is Step.RESOLVE:
            memory = Memory(last_resolved_at=T0 + timedelta(seconds=i))
    assert fired == 1
