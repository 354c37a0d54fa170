"""The pure decision of one evaluation: what happens to one (rule, zone) now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Step(StrEnum):
    NOTHING = "nothing"
    OPEN_PENDING = "open_pending"   # condition started; wait for the `for` duration
    OPEN_FIRING = "open_firing"     # condition started and `for` is zero
    FIRE = "fire"                   # pending long enough
    DROP = "drop"                   # pending, but the condition ended before it fired
    RESOLVE = "resolve"             # firing, and the value fell below the clear threshold


@dataclass(frozen=True, slots=True)
class Condition:
    threshold: float
    clear_threshold: float
    for_seconds: float


def decide(
    state: str | None,
    pending_since: datetime | None,
    value: float | None,
    cond: Condition,
    now: datetime,
) -> Step:
    """Hysteresis: fire at ``threshold``, clear only below ``clear_threshold``.

    ``value`` is None when the zone has no fresh data: a pending alert is dropped,
    a firing one stays firing (a dead camera does not end a surge; stale-data rules
    report the camera itself).
    """
    above = value is not None and value >= cond.threshold
    if state is None:
        if not above:
            return Step.NOTHING
        return Step.OPEN_FIRING if cond.for_seconds <= 0 else Step.OPEN_PENDING
    if state == "pending":
        if not above:
            return Step.DROP
        assert pending_since is not None
        held = now - pending_since >= timedelta(seconds=cond.for_seconds)
        return Step.FIRE if held else Step.NOTHING
    if value is not None and value < cond.clear_threshold:
        return Step.RESOLVE
    return Step.NOTHING
