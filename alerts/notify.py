"""Who hears about which alert, once per cycle: silences, first notice, repeats, resolution.

- A firing alert matched by an active silence (or maintenance window) is marked with
  it: recorded, shown, but neither notified nor dispatched. When the silence ends and
  the alert still fires, it is notified then.
- A firing alert is announced once (``firing``), then again every ``repeat_seconds``
  of its rule (``repeat``) until a person acknowledges it.
- A resolution is announced only for alerts whose firing was announced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from alerts.events import ALERT_VIEW, emit
from alerts.model import Scope, Subject

_ACTIVE_SILENCES = """
SELECT s.id, s.rule_id, s.zone_id, s.device_id, s.place_kind, s.region_id, r.path AS region_path
FROM alert_silences s LEFT JOIN regions r ON r.id = s.region_id
WHERE s.starts_at <= %(now)s AND s.ends_at > %(now)s AND s.expired_at IS NULL
ORDER BY s.id
"""

_DUE = f"""
({ALERT_VIEW}
 WHERE a.state = 'firing' AND a.silence_id IS NULL
   AND (a.notified_at IS NULL
        OR (a.acknowledged_at IS NULL AND r.repeat_seconds IS NOT NULL
            AND a.last_notified_at + make_interval(secs => r.repeat_seconds) <= %(now)s)))
UNION ALL
({ALERT_VIEW}
 WHERE a.state = 'resolved' AND a.notified_at IS NOT NULL AND NOT a.resolve_notified)
ORDER BY id
"""


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    rule_id: int | None
    scope: Scope

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Silence:
        return cls(int(row["id"]), row["rule_id"],
                   Scope(row["zone_id"], row["place_kind"], row["region_id"],
                         row["region_path"], row["device_id"]))

    def matches(self, alert: Mapping[str, Any]) -> bool:
        if self.rule_id is not None and self.rule_id != alert["rule_id"]:
            return False
        return self.scope.covers(Subject.from_row(alert["subject"] or "", alert))


@dataclass(frozen=True, slots=True)
class Notified:
    firing: int = 0
    repeats: int = 0
    resolved: int = 0
    last_event_id: int = 0

    @property
    def any(self) -> bool:
        return self.last_event_id > 0


def apply_silences(cur: psycopg.Cursor[Any], now: datetime) -> None:
    """Mark each firing alert with the silence covering it now (or none)."""
    silences = [Silence.from_row(r) for r in cur.execute(_ACTIVE_SILENCES, {"now": now})]
    if not silences:
        cur.execute("UPDATE alerts SET silence_id = NULL"
                    " WHERE state = 'firing' AND silence_id IS NOT NULL")
        return
    for alert in cur.execute(ALERT_VIEW + " WHERE a.state = 'firing'").fetchall():
        match = next((s.id for s in silences if s.matches(alert)), None)
        if match != alert["silence_id"]:
            cur.execute("UPDATE alerts SET silence_id = %s WHERE id = %s", (match, alert["id"]))


def notify_due(cur: psycopg.Cursor[Any], now: datetime) -> Notified:
    """Emit every notification due now; return what was emitted."""
    apply_silences(cur, now)
    counts = {"firing": 0, "repeat": 0, "resolved": 0}
    last = 0
    for alert in cur.execute(_DUE, {"now": now}).fetchall():
        if alert["state"] == "resolved":
            kind = "resolved"
            cur.execute("UPDATE alerts SET resolve_notified = true WHERE id = %s", (alert["id"],))
        else:
            kind = "firing" if alert["notified_at"] is None else "repeat"
            cur.execute("UPDATE alerts SET notified_at = COALESCE(notified_at, %s),"
                        " last_notified_at = %s, notify_count = notify_count + 1"
                        " WHERE id = %s", (now, now, alert["id"]))
        last = emit(cur, alert, kind, now)
        counts[kind] += 1
    return Notified(counts["firing"], counts["repeat"], counts["resolved"], last)
