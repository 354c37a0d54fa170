"""Tiered escalation (督办): an overdue task moves up one tier and that tier is told.

street/township centre → district/county centre → city centre. Each run claims
overdue tasks with ``FOR UPDATE SKIP LOCKED`` and escalates each with a
compare-and-set on its tier plus a unique (task, tier) escalation row, so running
the job twice, or in two processes, never escalates a task twice. Escalating
restarts the phase's clock at the new tier.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from grid.deadlines import due_at, start_missing_clocks
from grid.tasks import OPEN_STATES, record_event
from grid.visibility import ancestors_sql

log = logging.getLogger(__name__)

TIERS = ("street", "district", "city")

# The centre of a tier is the grid's ancestor region at that level.
_CENTRE = f"""
SELECT id FROM regions
WHERE level = %(level)s AND {ancestors_sql("%(path)s", "path")}
"""

_OVERDUE = """
SELECT t.id, t.state, t.tier, t.due_kind, t.due_at, t.category, t.severity, r.path
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
WHERE t.due_at < %(now)s AND t.tier <> 'city' AND t.state = ANY(%(open)s)
ORDER BY t.due_at
FOR UPDATE OF t SKIP LOCKED
LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class Escalation:
    task_id: int
    from_tier: str
    to_tier: str
    region_id: str | None   # None where the city has no centre at that level
    supervisors: tuple[str, ...]


def escalate_overdue(conn: psycopg.Connection[Any], now: datetime,
                     limit: int = 200) -> list[Escalation]:
    """Escalate every overdue open task one tier; one transaction; what it did."""
    start_missing_clocks(conn)
    done: list[Escalation] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        tasks = cur.execute(_OVERDUE, {"now": now, "open": list(OPEN_STATES),
                                       "limit": limit}).fetchall()
        for task in tasks:
            escalation = _escalate(cur, task, now)
            if escalation is not None:
                done.append(escalation)
    return done


def _escalate(cur: psycopg.Cursor[Any], task: dict[str, Any], now: datetime) -> Escalation | None:
    to_tier = TIERS[TIERS.index(task["tier"]) + 1]
    centre = cur.execute(_CENTRE, {"level": to_tier, "path": task["path"]}).fetchone()
    region_id = centre["id"] if centre else None
    supervisors = tuple(r["id"] for r in cur.execute(
        "SELECT id FROM people WHERE role = 'operator' AND active AND region_id = %s"
        " ORDER BY id", (region_id,)).fetchall())
    inserted = cur.execute(
        "INSERT INTO task_escalations (task_id, from_tier, to_tier, due_kind, due_at, region_id,"
        " notified) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (task["id"], task["tier"], to_tier, task["due_kind"], task["due_at"], region_id,
         list(supervisors))).fetchone()
    if inserted is None:
        return None  # already escalated to that tier (a concurrent or repeated run)
    new_due = due_at(cur, task["category"], task["severity"], task["due_kind"], now)
    cur.execute("UPDATE tasks SET tier = %s, tier_since = %s, due_at = %s, updated_at = now()"
                " WHERE id = %s AND tier = %s",
                (to_tier, now, new_due, task["id"], task["tier"]))
    note = (f"{task['due_kind']} deadline {task['due_at']:%Y-%m-%d %H:%M:%S} missed; "
            f"escalated from the {task['tier']} centre to the {to_tier} centre "
            f"({region_id or 'none registered'})")
    record_event(cur, task["id"], "system:escalation", "escalate", task["state"], task["state"],
                 note, {"from_tier": task["tier"], "to_tier": to_tier,
                        "supervisors": list(supervisors)})
    log.info("task %s escalated to %s (%s)", task["id"], to_tier, region_id)
    return Escalation(task["id"], task["tier"], to_tier, region_id, supervisors)
