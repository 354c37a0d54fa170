"""What one evaluation cycle looks at: every subject (a sweep), or only what changed.

A city's cycle cost should follow what changed, not how many zones there are:

- zone rules (density, count, rate of rise, forecast) decide the zones with new data
  since the last cycle (``zone_current`` announces them, migration 0018) and the zones
  of active (pending or firing) alerts, whose ``for`` / ``clear_for`` timers run on;
- device rules whose condition is time passing without data (offline, stale) and the
  tamper state are swept on the timer tick; sensor rules when ``sensor_current``
  changed or on the tick; composite rules every cycle (they read this cycle's alerts);
- everything is swept when the rules, their schedules or the sensitive periods in force
  changed (the cycle's :attr:`Focus.signature` differs from the last cycle's), and
  whenever the caller passes no focus (a new leader, a new session: notifications sent
  before it listened are lost, so it cannot know what changed).

A zone whose own thresholds are edited is decided again at its next report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from alerts.model import RuleKind
from store.channels import ZONE_CHANGES_PREFIX

TIMER_KINDS = frozenset({RuleKind.DEVICE_OFFLINE, RuleKind.STALE_DATA,
                         RuleKind.CAMERA_TAMPER})
MAX_FOCUS_ZONES = 1_000_000  # bound on what notifications may pile up between two cycles


@dataclass(frozen=True, slots=True)
class Focus:
    zones: frozenset[str] = frozenset()  # zones with new data since the last cycle
    sensors: bool = False                # sensor_current changed
    timers: bool = False                 # the timer tick: sweep the time-driven rules
    signature: int | None = None         # of the rules and periods the last cycle saw

    def decides(self, kind: RuleKind) -> bool:
        """Whether rules of ``kind`` are evaluated at all this cycle (zone rules always
        are, over the focused zones only); the others keep their alerts as they are."""
        if kind in TIMER_KINDS:
            return self.timers
        if kind is RuleKind.SENSOR_THRESHOLD:
            return self.timers or self.sensors
        return True


class ChangeFeed:
    """Collects what the ``sharpeyes_alert_inputs`` notifications say changed."""

    def __init__(self) -> None:
        self.zones: set[str] = set()
        self.sensors = False
        self.overflowed = False  # too many zones to list: the next cycle sweeps

    def add(self, payload: str) -> bool:
        """Note one notification; whether it asks for a cycle now. ``device_status`` does
        not: the device rules it feeds are swept on the timer tick."""
        if payload.startswith(ZONE_CHANGES_PREFIX):
            try:
                zones = json.loads(payload[len(ZONE_CHANGES_PREFIX):])
            except ValueError:
                zones = None
            if isinstance(zones, list) and len(self.zones) + len(zones) <= MAX_FOCUS_ZONES:
                self.zones.update(str(z) for z in zones)
            else:
                self.overflowed = True
            return True
        if payload == "sensor_current":
            self.sensors = True
            return True
        return False

    def take(self, *, timers: bool, signature: int | None) -> Focus | None:
        """The focus of the next cycle (None: sweep everything); the feed starts empty."""
        focus = None if self.overflowed or signature is None else Focus(
            frozenset(self.zones), self.sensors, timers, signature)
        self.zones, self.sensors, self.overflowed = set(), False, False
        return focus
