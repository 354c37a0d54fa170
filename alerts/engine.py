"""One evaluation cycle of the density rules against ``zone_current``, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.decide import Condition, Step, decide
from grid.dispatch import ALERT_CHANNEL

log = logging.getLogger(__name__)

_TARGETS = """
SELECT r.id AS rule_id, r.severity, r.for_seconds,
       COALESCE(r.threshold, z.critical_density) AS threshold,
       COALESCE(r.clear_threshold, LEAST(z.warn_density, z.critical_density)) AS clear_threshold,
       z.id AS zone_id, c.density, c.time
FROM alert_rules r
JOIN zones z ON r.zone_id IS NULL OR r.zone_id = z.id
LEFT JOIN zone_current c ON c.zone_id = z.id
WHERE r.enabled AND r.kind = 'density_above'
"""

_ACTIVE = (
    "SELECT id, fingerprint, state, pending_since FROM alerts"
    " WHERE state IN ('pending', 'firing')"
)


@dataclass(frozen=True, slots=True)
class CycleResult:
    evaluated: int
    changes: dict[Step, int]


def fingerprint(rule_id: int, zone_id: str) -> str:
    return f"density_above:{rule_id}:{zone_id}"


def evaluate(conn: psycopg.Connection[Any], now: datetime, stale_after: timedelta) -> CycleResult:
    """Evaluate every (rule, zone); apply and return the changes."""
    changes: dict[Step, int] = {}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        active = {a["fingerprint"]: a for a in cur.execute(_ACTIVE).fetchall()}
        targets = cur.execute(_TARGETS).fetchall()
        for target in targets:
            step = _evaluate_one(cur, target, active, now, stale_after)
            if step is not Step.NOTHING:
                changes[step] = changes.get(step, 0) + 1
        if changes.get(Step.FIRE) or changes.get(Step.OPEN_FIRING):
            cur.execute(f"NOTIFY {ALERT_CHANNEL}")
    return CycleResult(len(targets), changes)


def _evaluate_one(cur: psycopg.Cursor[Any], target: dict[str, Any], active: dict[str, Any],
                  now: datetime, stale_after: timedelta) -> Step:
    fp = fingerprint(target["rule_id"], target["zone_id"])
    alert = active.get(fp)
    fresh = target["time"] is not None and now - target["time"] <= stale_after
    value = float(target["density"]) if fresh else None
    cond = Condition(target["threshold"], target["clear_threshold"], target["for_seconds"])
    step = decide(alert["state"] if alert else None, alert["pending_since"] if alert else None,
                  value, cond, now)
    _apply(cur, step, fp, target, alert, value, now)
    return step


def _apply(cur: psycopg.Cursor[Any], step: Step, fp: str, target: dict[str, Any],
           alert: dict[str, Any] | None, value: float | None, now: datetime) -> None:
    if step in (Step.OPEN_PENDING, Step.OPEN_FIRING):
        firing = step is Step.OPEN_FIRING
        cur.execute(
            "INSERT INTO alerts (rule_id, zone_id, fingerprint, state, severity, value,"
            " pending_since, fired_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (target["rule_id"], target["zone_id"], fp, "firing" if firing else "pending",
             target["severity"], value, now, now if firing else None),
        )
        if firing:
            log.info("alert firing: %s at %.2f/m²", fp, value)
        return
    assert alert is not None or step is Step.NOTHING
    if step is Step.FIRE:
        cur.execute("UPDATE alerts SET state = 'firing', fired_at = %s, value = %s WHERE id = %s",
                    (now, value, alert["id"]))  # type: ignore[index]
        log.info("alert firing: %s at %.2f/m²", fp, value)
    elif step in (Step.DROP, Step.RESOLVE):
        cur.execute("UPDATE alerts SET state = 'resolved', resolved_at = %s WHERE id = %s",
                    (now, alert["id"]))  # type: ignore[index]
        if step is Step.RESOLVE:
            log.info("alert resolved: %s", fp)
    elif alert is not None and value is not None:
        cur.execute("UPDATE alerts SET value = GREATEST(value, %s) WHERE id = %s",
                    (value, alert["id"]))
