"""Deadlines per phase (分类分级): how long a task may stay unaccepted, unattended, unresolved.

Each phase has its own clock, started when the task enters it (and restarted when it
escalates to a higher tier): ``accept`` while waiting for a worker, ``arrive`` once
accepted, ``resolve`` once the worker is on site. The windows come from the
``task_deadlines`` table, the most specific (category, severity) row winning.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

_WINDOWS = """
SELECT accept_seconds, arrive_seconds, resolve_seconds FROM task_deadlines
WHERE category IN (%(category)s, '*') AND severity IN (%(severity)s, '*')
ORDER BY (category = %(category)s) DESC, (severity = %(severity)s) DESC
LIMIT 1
"""

PHASE_OF_STATE = {"reported": "accept", "dispatched": "accept", "rejected": "accept"}


def phase_for(task: dict[str, Any], state: str, arrived: bool) -> str | None:
    """Which deadline runs for a task in ``state``; None when no clock runs."""
    if state in PHASE_OF_STATE:
        return PHASE_OF_STATE[state]
    if state == "handling":
        return "resolve" if arrived else "arrive"
    return None


def due_at(cur: psycopg.Cursor[Any], category: str, severity: str, phase: str | None,
           start: datetime) -> datetime | None:
    if phase is None:
        return None
    with cur.connection.cursor(row_factory=dict_row) as windows:
        row = windows.execute(_WINDOWS, {"category": category, "severity": severity}).fetchone()
    if row is None:
        return None
    return start + timedelta(seconds=int(row[f"{phase}_seconds"]))


_UNTIMED = """
SELECT id, state, category, severity, arrived_at, tier_since, updated_at FROM tasks
WHERE due_at IS NULL AND state IN ('reported', 'dispatched', 'rejected', 'handling')
FOR UPDATE SKIP LOCKED
"""


def start_missing_clocks(conn: psycopg.Connection[Any]) -> int:
    """Start the deadline of open tasks that have none (created by another path, or
    before deadlines existed), counting from when they entered their state."""
    started = 0
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for task in cur.execute(_UNTIMED).fetchall():
            phase = phase_for(task, task["state"], task["arrived_at"] is not None)
            due = due_at(cur, task["category"], task["severity"], phase, task["updated_at"])
            cur.execute("UPDATE tasks SET due_kind = %s, due_at = %s WHERE id = %s",
                        (phase, due, task["id"]))
            started += 1
    return started
