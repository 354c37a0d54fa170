"""The alerting vocabulary: rule kinds, severities, channels, rules as loaded, and samples.

A *rule* is data (a row of ``alert_rules``); each evaluation cycle a rule's kind turns
the store into *samples*, one per subject (a zone, a device, a place) the rule covers.
:mod:`alerts.decide` then says what happens to that subject's alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from alerts.decide import Condition
from contracts.levels import DensityLevel, level_of
from contracts.payloads import MAX_DENSITY as MAX_DENSITY  # the one limit (ingest refuses above)
from grid.visibility import in_subtree


class RuleKind(StrEnum):
    DENSITY_ABOVE = "density_above"
    COUNT_ABOVE = "count_above"
    RATE_OF_RISE = "rate_of_rise"
    FORECAST_BREACH = "forecast_breach"
    SENSOR_THRESHOLD = "sensor_threshold"
    DEVICE_OFFLINE = "device_offline"
    STALE_DATA = "stale_data"
    CAMERA_TAMPER = "camera_tamper"
    COMPOSITE = "composite"


ZONE_KINDS = frozenset({RuleKind.DENSITY_ABOVE, RuleKind.COUNT_ABOVE, RuleKind.RATE_OF_RISE,
                        RuleKind.FORECAST_BREACH})
DEVICE_KINDS = frozenset({RuleKind.SENSOR_THRESHOLD, RuleKind.DEVICE_OFFLINE,
                          RuleKind.STALE_DATA, RuleKind.CAMERA_TAMPER})
# Kinds with a numeric threshold, which sensitive periods may override.
THRESHOLD_KINDS = frozenset({*ZONE_KINDS, RuleKind.SENSOR_THRESHOLD, RuleKind.STALE_DATA})


class Severity(StrEnum):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}

_SEVERITY_OF_LEVEL = {
    DensityLevel.FREE_FLOW: Severity.MINOR,
    DensityLevel.STABLE: Severity.MINOR,
    DensityLevel.CAPACITY: Severity.MINOR,
    DensityLevel.UNSTABLE: Severity.MAJOR,
    DensityLevel.CONGESTED: Severity.CRITICAL,
}


def severity_of_density(density: float) -> Severity:
    """Unstable (3.5–5/m²) is major, congested (≥ 5/m²) critical, anything lower minor."""
    return _SEVERITY_OF_LEVEL[level_of(density)]


def worst(*severities: Severity) -> Severity:
    return max(severities, key=SEVERITY_RANK.__getitem__)


class Channel(StrEnum):
    """Where a rule's alerts go besides the event log (the dashboard stream)."""

    TASK = "task"
    WEBHOOK = "webhook"
    MQTT = "mqtt"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which subjects a rule (or silence, or period) covers; every set field must match."""

    zone_id: str | None = None
    place_kind: str | None = None
    region_id: str | None = None
    region_path: str | None = None
    device_id: str | None = None

    def sql_params(self) -> dict[str, str | None]:
        return {"zone": self.zone_id, "place_kind": self.place_kind,
                "region_path": self.region_path, "device": self.device_id}

    def covers(self, subject: Subject) -> bool:
        """Whether ``subject`` lies inside this scope (evaluated in Python)."""
        return ((self.zone_id is None or self.zone_id == subject.zone_id)
                and (self.device_id is None or self.device_id == subject.device_id)
                and (self.place_kind is None or self.place_kind == subject.place_kind)
                and (self.region_path is None
                     or in_subtree(subject.region_path, self.region_path)))


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    name: str
    kind: RuleKind
    scope: Scope
    threshold: float | None
    clear_threshold: float | None
    for_seconds: float
    clear_for_seconds: float
    cooldown_seconds: float
    severity: Severity | None
    params: Mapping[str, Any]
    schedule: Mapping[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rule:
        scope = Scope(row["zone_id"], row["place_kind"], row["region_id"], row["region_path"],
                      row["device_id"])
        return cls(int(row["id"]), row["name"], RuleKind(row["kind"]), scope, row["threshold"],
                   row["clear_threshold"], float(row["for_seconds"]),
                   float(row["clear_for_seconds"]), float(row["cooldown_seconds"]),
                   Severity(row["severity"]) if row["severity"] else None,
                   row["params"] or {}, row["schedule"])

    def condition(self, threshold: float, clear: float, *, below: bool = False) -> Condition:
        return Condition(threshold, clear, self.for_seconds, self.clear_for_seconds, below)


@dataclass(frozen=True, slots=True)
class Subject:
    """What an alert is about, and where it belongs (grid, region, place)."""

    key: str                      # 'zone:Z-1', 'device:CAM-1', 'place:P-1'
    zone_id: str | None
    device_id: str | None
    place_id: str | None
    place_kind: str | None
    grid_code: str | None
    region_path: str | None

    @classmethod
    def from_row(cls, key: str, row: Mapping[str, Any]) -> Subject:
        return cls(key, row.get("zone_id"), row.get("device_id"), row.get("place_id"),
                   row.get("place_kind"), row.get("grid_code"), row.get("region_path"))


@dataclass(frozen=True, slots=True)
class Sample:
    """What one rule sees of one subject in this cycle."""

    rule: Rule
    subject: Subject
    fingerprint: str
    value: float | None           # None: no fresh data
    condition: Condition
    severity: Severity
    detail: str
    since: datetime | None = None  # the condition has held since (from the data itself)
