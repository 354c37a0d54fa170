"""Applying decisions to the ``alerts`` table: open, fire, drop, clear, resolve.

The table is the evaluator's only memory. A pending alert that never fired is deleted
when its condition ends (it was never an alert anyone saw); everything that fired stays.
One active row per fingerprint is enforced by the partial unique index
``alerts_one_active``; inserts tolerate a conflict, so a replayed cycle adds nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alerts.decide import Memory, Step, start_of
from alerts.model import DEVICE_KINDS, SEVERITY_RANK, RuleKind, Sample, Severity

log = logging.getLogger(__name__)

_ACTIVE = ("SELECT id, fingerprint, state, pending_since, clear_since, value, severity,"
           " rule_id, zone_id FROM alerts WHERE state IN ('pending', 'firing')")

_RECENTLY_RESOLVED = """
SELECT DISTINCT ON (fingerprint) fingerprint, resolved_at FROM alerts
WHERE state = 'resolved' AND fired_at IS NOT NULL AND resolved_at > %s
ORDER BY fingerprint, resolved_at DESC
"""

_OPEN = """
INSERT INTO alerts (rule_id, zone_id, device_id, place_id, grid_code, subject, fingerprint,
                    state, severity, value, detail, pending_since, fired_at)
VALUES (%(rule)s, %(zone)s, %(device)s, %(place)s, %(grid)s, %(subject)s, %(fp)s, %(state)s,
        %(severity)s, %(value)s, %(detail)s, %(since)s, %(fired)s)
ON CONFLICT (fingerprint) WHERE state IN ('pending', 'firing') DO NOTHING
"""


@dataclass(frozen=True, slots=True)
class Active:
    id: int
    state: str
    pending_since: datetime
    clear_since: datetime | None
    value: float
    severity: str
    rule_id: int = 0
    zone_id: str | None = None


class Ledger:
    """The active alerts and recent resolutions, loaded once per cycle."""

    def __init__(self, cur: psycopg.Cursor[Any], now: datetime, max_cooldown: float) -> None:
        self.active = {r["fingerprint"]: Active(r["id"], r["state"], r["pending_since"],
                                                 r["clear_since"], r["value"], r["severity"],
                                                 r["rule_id"], r["zone_id"])
                       for r in cur.execute(_ACTIVE)}
        since = now - timedelta(seconds=max_cooldown)
        self.resolved: dict[str, datetime] = {
            r["fingerprint"]: r["resolved_at"] for r in cur.execute(_RECENTLY_RESOLVED, (since,))}

    def zones(self) -> frozenset[str]:
        """Zones of active alerts: their ``for`` / ``clear_for`` timers run on."""
        return frozenset(a.zone_id for a in self.active.values() if a.zone_id is not None)

    def of_rule(self, rule_id: int) -> set[str]:
        """Fingerprints of ``rule_id``'s active alerts."""
        return {fp for fp, a in self.active.items() if a.rule_id == rule_id}

    def memory(self, fingerprint: str) -> Memory:
        alert = self.active.get(fingerprint)
        last = self.resolved.get(fingerprint)
        if alert is None:
            return Memory(last_resolved_at=last)
        return Memory(alert.state, alert.pending_since, alert.clear_since, last)


def apply(cur: psycopg.Cursor[Any], step: Step, sample: Sample, alert: Active | None,
          now: datetime) -> None:
    """Write ``step`` for ``sample``'s alert (``alert`` is its active row, if any)."""
    if step in (Step.OPEN_PENDING, Step.OPEN_FIRING):
        _open(cur, sample, step is Step.OPEN_FIRING, now)
        return
    if alert is None:
        return
    if step is Step.FIRE:
        cur.execute("UPDATE alerts SET state = 'firing', fired_at = %s, value = %s,"
                    " severity = %s, detail = %s WHERE id = %s",
                    (now, sample.value, sample.severity, sample.detail, alert.id))
        log.info("alert firing: %s (%s)", sample.fingerprint, sample.detail)
    elif step is Step.DROP:
        cur.execute("DELETE FROM alerts WHERE id = %s AND state = 'pending'", (alert.id,))
    elif step is Step.START_CLEARING:
        cur.execute("UPDATE alerts SET clear_since = %s WHERE id = %s", (now, alert.id))
    elif step is Step.STOP_CLEARING:
        cur.execute("UPDATE alerts SET clear_since = NULL WHERE id = %s", (alert.id,))
    elif step is Step.RESOLVE:
        resolve(cur, alert.id, now)
        log.info("alert resolved: %s (%s)", sample.fingerprint, sample.detail)
    if alert.state == "firing" and step in (Step.NOTHING, Step.START_CLEARING,
                                            Step.STOP_CLEARING):
        _escalate(cur, sample, alert)


def resolve(cur: psycopg.Cursor[Any], alert_id: int, now: datetime, note: str = "") -> None:
    cur.execute("UPDATE alerts SET state = 'resolved', resolved_at = %s, clear_since = NULL,"
                " detail = COALESCE(detail, '') || %s WHERE id = %s AND state = 'firing'",
                (now, note, alert_id))


def _open(cur: psycopg.Cursor[Any], sample: Sample, firing: bool, now: datetime) -> None:
    s = sample.subject
    cur.execute(_OPEN, {
        "rule": sample.rule.id, "zone": s.zone_id, "device": s.device_id, "place": s.place_id,
        "grid": s.grid_code, "subject": s.key, "fp": sample.fingerprint,
        "state": "firing" if firing else "pending", "severity": sample.severity,
        "value": sample.value, "detail": sample.detail,
        "since": start_of(sample.since, now), "fired": now if firing else None})
    if firing:
        log.info("alert firing: %s (%s)", sample.fingerprint, sample.detail)


def _escalate(cur: psycopg.Cursor[Any], sample: Sample, alert: Active) -> None:
    """A firing alert keeps its most extreme value and its worst severity."""
    if sample.value is None or sample.rule.kind in DEVICE_KINDS - {RuleKind.SENSOR_THRESHOLD}:
        return
    below = sample.condition.below
    more = sample.value < alert.value if below else sample.value > alert.value
    worse = SEVERITY_RANK[sample.severity] > SEVERITY_RANK[Severity(alert.severity)]
    if more or worse:
        cur.execute("UPDATE alerts SET value = %s, severity = %s, detail = %s WHERE id = %s",
                    (sample.value if more else alert.value,
                     sample.severity if worse else alert.severity, sample.detail, alert.id))


def retire_unseen(cur: psycopg.Cursor[Any], ledger: Ledger, seen: set[str],
                  now: datetime) -> int:
    """Alerts no rule evaluated this cycle (rule disabled, deleted, out of schedule/scope)."""
    retired = 0
    for fp, alert in ledger.active.items():
        if fp in seen:
            continue
        retired += 1
        if alert.state == "pending":
            cur.execute("DELETE FROM alerts WHERE id = %s AND state = 'pending'", (alert.id,))
        else:
            resolve(cur, alert.id, now, " — resolved: its rule no longer covers this")
            log.info("alert resolved: %s (rule no longer covers it)", fp)
    return retired
