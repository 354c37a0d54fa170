"""The pure decision of one evaluation: what happens to one (rule, subject) alert now.

    (none) ──breached──▶ pending ──held `for`──▶ firing ──cleared `clear_for`──▶ resolved
              │             └──not breached──▶ dropped
              └── within `cooldown` of the last resolution: nothing (no alert storm)

Hysteresis: an alert fires at ``threshold`` and clears only past ``clear_threshold``;
"below" rules (a sensor falling under a limit) mirror both comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Step(StrEnum):
    NOTHING = "nothing"
    OPEN_PENDING = "open_pending"     # condition started; wait for the `for` duration
    OPEN_FIRING = "open_firing"       # condition started (or held long enough already)
    FIRE = "fire"                     # pending long enough
    DROP = "drop"                     # pending, but the condition ended before it fired
    START_CLEARING = "start_clearing"  # firing, past the clear threshold: start `clear_for`
    STOP_CLEARING = "stop_clearing"   # firing, back inside the clear threshold
    RESOLVE = "resolve"               # firing, and cleared for long enough


@dataclass(frozen=True, slots=True)
class Condition:
    threshold: float
    clear_threshold: float
    for_seconds: float = 0.0
    clear_for_seconds: float = 0.0
    below: bool = False

    def breached(self, value: float | None) -> bool:
        if value is None:
            return False
        return value <= self.threshold if self.below else value >= self.threshold

    def cleared(self, value: float) -> bool:
        return value > self.clear_threshold if self.below else value < self.clear_threshold


@dataclass(frozen=True, slots=True)
class Memory:
    """What the store remembers about one fingerprint."""

    state: str | None = None                 # 'pending', 'firing' or None (no active alert)
    pending_since: datetime | None = None
    clear_since: datetime | None = None
    last_resolved_at: datetime | None = None  # the last alert that fired, resolved at


NO_MEMORY = Memory()


def decide(memory: Memory, value: float | None, cond: Condition, now: datetime, *,
           since: datetime | None = None, cooldown_seconds: float = 0.0) -> Step:
    """The next step for one alert. ``value`` is None when there is no fresh data.

    ``since`` is when the condition started according to the data (a device's state
    change), so a `for` duration counts from there rather than from first sight.
    """
    if memory.state is None:
        return _open(memory, value, cond, now, since, cooldown_seconds)
    if memory.state == "pending":
        return _pending(memory, value, cond, now)
    return _firing(memory, value, cond, now)


def _open(memory: Memory, value: float | None, cond: Condition, now: datetime,
          since: datetime | None, cooldown_seconds: float) -> Step:
    if not cond.breached(value):
        return Step.NOTHING
    last = memory.last_resolved_at
    if last is not None and now - last < timedelta(seconds=cooldown_seconds):
        return Step.NOTHING
    held = now - start_of(since, now) >= timedelta(seconds=cond.for_seconds)
    return Step.OPEN_FIRING if held else Step.OPEN_PENDING


def _pending(memory: Memory, value: float | None, cond: Condition, now: datetime) -> Step:
    if not cond.breached(value):
        return Step.DROP
    assert memory.pending_since is not None
    held = now - memory.pending_since >= timedelta(seconds=cond.for_seconds)
    return Step.FIRE if held else Step.NOTHING


def _firing(memory: Memory, value: float | None, cond: Condition, now: datetime) -> Step:
    if value is None:  # a dead camera does not end a surge; device-health rules report it
        return Step.NOTHING
    if not cond.cleared(value):
        return Step.STOP_CLEARING if memory.clear_since is not None else Step.NOTHING
    if cond.clear_for_seconds <= 0:
        return Step.RESOLVE
    if memory.clear_since is None:
        return Step.START_CLEARING
    held = now - memory.clear_since >= timedelta(seconds=cond.clear_for_seconds)
    return Step.RESOLVE if held else Step.NOTHING


def start_of(since: datetime | None, now: datetime) -> datetime:
    """When a newly opened alert's condition started."""
    return min(since, now) if since is not None else now
