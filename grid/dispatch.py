"""Dispatcher (调度派遣): every firing alert becomes a task for the grid it belongs to.

An alert's grid is the one the evaluator recorded (its zone's grid, its device's
``grid_code`` or its device's place's grid); alerts from before that column existed
fall back to their zone's grid. Silenced alerts, and alerts of rules whose channels
leave out ``task``, are not dispatched; an alert with no grid at all is marked
dispatched without a task (it still reaches the event log and webhooks).

An alert about a place that already has an open task is merged into that task instead
of opening another: zone alerts by zone, device and place alerts by subject. The
assignee is the on-duty worker of the grid with the fewest open tasks, else the grid
leader. Work is claimed with ``FOR UPDATE SKIP LOCKED``, so several dispatchers never
dispatch one alert twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from grid.actors import SYSTEM_DISPATCHER
from grid.deadlines import due_at
from grid.tasks import OPEN_STATES, record_event
from store.channels import ALERT_CHANNEL

log = logging.getLogger(__name__)


_CLAIM = """
SELECT a.id, a.zone_id, a.severity, a.value, a.detail, a.subject,
       COALESCE(a.grid_code, z.grid_code) AS grid_code,
       COALESCE(a.device_id, z.device_id) AS device_id, d.kind AS device_kind,
       COALESCE(z.name, d.name, p.name, a.subject) AS subject_name,
       r.name AS rule_name, r.kind AS rule_kind
FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
LEFT JOIN zones z ON z.id = a.zone_id
LEFT JOIN devices d ON d.id = COALESCE(a.device_id, z.device_id)
LEFT JOIN places p ON p.id = a.place_id
WHERE a.state = 'firing' AND a.dispatched_at IS NULL AND a.silence_id IS NULL
  AND 'task' = ANY(r.channels)
ORDER BY a.id
FOR UPDATE OF a SKIP LOCKED
LIMIT %s
"""

# Category of the task by rule kind (deadlines and tiers depend on it).
_CATEGORY = {"sensor_threshold": "sensor", "device_offline": "device_fault",
             "stale_data": "device_fault", "camera_tamper": "device_tamper"}

_OPEN_TASK_BY_ZONE = """
SELECT id, title, assignee_id FROM tasks WHERE zone_id = %s AND state = ANY(%s)
ORDER BY id LIMIT 1 FOR UPDATE
"""

_OPEN_TASK_BY_SUBJECT = """
SELECT t.id, t.title, t.assignee_id FROM tasks t JOIN alerts a ON a.id = t.alert_id
WHERE a.subject = %s AND t.state = ANY(%s)
ORDER BY t.id LIMIT 1 FOR UPDATE OF t
"""

# The grid's own on-duty workers (fewest open tasks first), then its leader, then an
# on-duty worker of a neighbouring grid (cells whose bounding boxes touch, nearest first).
_ASSIGNEE = """
SELECT m.person_id
FROM grids home
JOIN grids g ON g.code = home.code
     OR (g.min_lon <= home.max_lon + 1e-7 AND g.max_lon >= home.min_lon - 1e-7
         AND g.min_lat <= home.max_lat + 1e-7 AND g.max_lat >= home.min_lat - 1e-7)
JOIN grid_members m ON m.grid_code = g.code
JOIN people p ON p.id = m.person_id
LEFT JOIN tasks t ON t.assignee_id = m.person_id AND t.state = ANY(%(open)s)
WHERE home.code = %(grid)s AND m.on_duty AND p.active
  AND NOT m.person_id = ANY(%(exclude)s)
  AND (g.code = home.code OR m.duty = 'worker')
GROUP BY m.person_id, m.duty, g.code, g.min_lon, g.max_lon, g.min_lat, g.max_lat,
         home.min_lon, home.max_lon, home.min_lat, home.max_lat
ORDER BY (g.code = %(grid)s) DESC, (m.duty = 'worker') DESC,
         abs((g.min_lon + g.max_lon) - (home.min_lon + home.max_lon))
           + abs((g.min_lat + g.max_lat) - (home.min_lat + home.max_lat)),
         count(t.id), m.person_id
LIMIT 1
"""

_REJECTED = """
SELECT t.id, t.grid_code, t.title,
       ARRAY(SELECT DISTINCT substr(e.actor, length('person:') + 1) FROM task_events e
             WHERE e.task_id = t.id AND e.action = 'reject') AS rejecters
FROM tasks t
WHERE t.state = 'rejected'
ORDER BY t.id
FOR UPDATE OF t SKIP LOCKED
LIMIT %s
"""


@dataclass(frozen=True, slots=True)
class Dispatched:
    """A task that was opened (or an alert merged into one), to notify after commit."""

    task_id: int
    alert_id: int | None      # None: a rejected task dispatched again
    assignee_id: str | None
    merged: bool
    title: str


Notifier = Callable[[Dispatched], None]


def dispatch_pending(conn: psycopg.Connection[Any], limit: int = 100) -> list[Dispatched]:
    """Turn undispatched firing alerts into tasks; one transaction; returns what it did."""
    done: list[Dispatched] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        for alert in cur.execute(_CLAIM, (limit,)).fetchall():
            if alert["grid_code"] is None:
                log.warning("alert %s (%s) has no grid; not dispatched", alert["id"],
                            alert["subject"])
                cur.execute("UPDATE alerts SET dispatched_at = now() WHERE id = %s",
                            (alert["id"],))
                continue
            done.append(_dispatch_one(cur, alert))
        done += redispatch_rejected(cur)
    return done


def _open_task(cur: psycopg.Cursor[Any], alert: dict[str, Any]) -> dict[str, Any] | None:
    if alert["zone_id"] is not None:
        return cur.execute(_OPEN_TASK_BY_ZONE, (alert["zone_id"], list(OPEN_STATES))).fetchone()
    return cur.execute(_OPEN_TASK_BY_SUBJECT, (alert["subject"], list(OPEN_STATES))).fetchone()


def _discoverer(alert: dict[str, Any]) -> str:
    """Who discovered it (采办分离): the camera or sensor, else the alert rules."""
    if alert["device_id"] is not None:
        return f"{alert['device_kind'] or 'device'}:{alert['device_id']}"
    return "system:alerts"


def _title(alert: dict[str, Any]) -> str:
    if alert["rule_kind"] == "density_above" or alert["detail"] is None:
        return f"{alert['rule_name']}: {alert['subject_name']} at {alert['value']:.2f}/m²"
    return f"{alert['rule_name']}: {alert['subject_name']}: {alert['detail']}"


def _dispatch_one(cur: psycopg.Cursor[Any], alert: dict[str, Any]) -> Dispatched:
    open_task = _open_task(cur, alert)
    if open_task is not None:
        return _merge(cur, alert, open_task)
    title = _title(alert)[:500]
    discoverer = _discoverer(alert)
    task = cur.execute(
        "INSERT INTO tasks (alert_id, zone_id, grid_code, category, severity, title, state,"
        " discovered_by) VALUES (%s, %s, %s, %s, %s, %s, 'reported', %s)"
        " RETURNING id",
        (alert["id"], alert["zone_id"], alert["grid_code"],
         _CATEGORY.get(alert["rule_kind"], "crowd_density"), alert["severity"], title,
         discoverer),
    ).fetchone()
    assert task is not None
    task_id = int(task["id"])
    record_event(cur, task_id, discoverer, "report", None, "reported",
                 f"alert {alert['id']}: {alert['detail'] or alert['value']}")
    assignee = _assign(cur, task_id, alert["grid_code"])
    cur.execute("UPDATE alerts SET dispatched_at = now(), task_id = %s WHERE id = %s",
                (task_id, alert["id"]))
    return Dispatched(task_id, int(alert["id"]), assignee, False, title)


def likely_assignee(cur: psycopg.Cursor[Any], grid_code: str) -> str | None:
    """The person a task in ``grid_code`` would be dispatched to now, by the same rule as
    :func:`dispatch_pending` (the demo names them before its surge)."""
    row = cur.execute(_ASSIGNEE, {"open": list(OPEN_STATES), "grid": grid_code,
                                  "exclude": []}).fetchone()
    return None if row is None else str(row["person_id"])


def _assign(cur: psycopg.Cursor[Any], task_id: int, grid_code: str,
            from_state: str = "reported", exclude: tuple[str, ...] = ()) -> str | None:
    row = cur.execute(_ASSIGNEE, {"open": list(OPEN_STATES), "grid": grid_code,
                                  "exclude": list(exclude)}).fetchone()
    if row is None:
        log.warning("task %s: nobody on duty in or around grid %s; left for the centre",
                    task_id, grid_code)
        return None
    person = str(row["person_id"])
    task = cur.execute("SELECT category, severity FROM tasks WHERE id = %s",
                       (task_id,)).fetchone()
    assert task is not None
    now = cur.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
    cur.execute(
        "UPDATE tasks SET state = 'dispatched', assignee_id = %s, updated_at = now(),"
        " accepted_at = NULL, due_kind = 'accept', due_at = %s WHERE id = %s",
        (person, due_at(cur, task["category"], task["severity"], "accept", now), task_id),
    )
    record_event(cur, task_id, SYSTEM_DISPATCHER, "dispatch", from_state, "dispatched",
                 f"assigned to {person}", {"assignee_id": person})
    return person


def redispatch_rejected(cur: psycopg.Cursor[Any], limit: int = 100) -> list[Dispatched]:
    """A rejected task goes back to dispatch: to someone else than who rejected it."""
    done = []
    for task in cur.execute(_REJECTED, (limit,)).fetchall():
        rejecters = tuple(r for r in (task["rejecters"] or []) if r)
        person = _assign(cur, int(task["id"]), task["grid_code"], "rejected", rejecters)
        if person is not None:
            done.append(Dispatched(int(task["id"]), None, person, False, str(task["title"])))
    return done


def _merge(cur: psycopg.Cursor[Any], alert: dict[str, Any], task: dict[str, Any]) -> Dispatched:
    task_id = int(task["id"])
    cur.execute("UPDATE alerts SET dispatched_at = now(), task_id = %s WHERE id = %s",
                (task_id, alert["id"]))
    state = cur.execute("SELECT state FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert state is not None
    record_event(cur, task_id, SYSTEM_DISPATCHER, "merge_alert", state["state"], state["state"],
                 f"alert {alert['id']} for the same place merged into this task")
    return Dispatched(task_id, int(alert["id"]), task["assignee_id"], True, str(task["title"]))


def run_dispatcher(url: str, stop: threading.Event, interval: float,
                   notify: Notifier | None = None) -> None:
    """Dispatch on every alert notification, and at least every ``interval`` seconds."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"LISTEN {ALERT_CHANNEL}")
                while not stop.is_set():
                    for item in dispatch_pending(conn):
                        log.info("task %s %s (alert %s, assignee %s)", item.task_id,
                                 "merged" if item.merged else "opened", item.alert_id,
                                 item.assignee_id)
                        if notify is not None:
                            notify(item)
                    for _ in conn.notifies(timeout=interval, stop_after=1):
                        pass
        except psycopg.OperationalError:
            log.exception("dispatcher lost the database; reconnecting")
            stop.wait(2.0)


def task_notification(item: Dispatched) -> bytes:
    """The JSON a worker's phone receives on its task topic."""
    return json.dumps({"task_id": item.task_id, "alert_id": item.alert_id,
                       "merged": item.merged, "title": item.title}).encode()
