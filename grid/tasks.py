"""The five-step task loop (五步闭环) and the one table of allowed transitions.

    reported 发现报告 → dispatched 调度派遣 → handling 协调处置 → follow_up 跟踪回访
    → closed 评价结案; side exits: rejected (back to dispatch), merged, cancelled.

Every change appends a ``task_events`` row (the table refuses updates and deletes).
Errors form one small hierarchy, mapped to HTTP statuses by the API::

    TaskError
    ├── TaskNotFound        (404) — also for tasks outside the actor's scope
    ├── ActionNotAllowed    (403) — the role may never do this
    └── TransitionConflict  (409) — not from this state, not by this person, missing note
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from grid.actors import Actor, Role

OPEN_STATES = ("reported", "dispatched", "handling", "follow_up", "rejected")
_CENTRE = frozenset({Role.OPERATOR, Role.ADMIN})


class TaskError(Exception):
    """Base of task errors; ``str(error)`` says why, for the person who asked."""


class TaskNotFound(TaskError):
    pass


class ActionNotAllowed(TaskError):
    pass


class TransitionConflict(TaskError):
    pass


@dataclass(frozen=True, slots=True)
class Transition:
    sources: frozenset[str]
    target: str
    roles: frozenset[Role]
    assignee_only: bool = False
    needs_note: bool = False


TRANSITIONS: dict[str, Transition] = {
    "accept": Transition(frozenset({"dispatched"}), "handling", frozenset({Role.WORKER}),
                         assignee_only=True),
    "reject": Transition(frozenset({"dispatched"}), "rejected", frozenset({Role.WORKER}),
                         assignee_only=True, needs_note=True),
    "resolve": Transition(frozenset({"handling"}), "follow_up", frozenset({Role.WORKER}),
                          assignee_only=True),
    "close": Transition(frozenset({"follow_up"}), "closed", _CENTRE),
    "cancel": Transition(frozenset({"reported", "dispatched", "handling", "rejected"}),
                         "cancelled", _CENTRE, needs_note=True),
}

_TASK_WITH_SCOPE = """
SELECT t.*, r.path AS region_path
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
WHERE t.id = %s
"""


def can_see(actor: Actor, task: dict[str, Any]) -> bool:
    """Workers see their own and their grids' tasks; centres see their region subtree."""
    if actor.role is Role.WORKER:
        return task["assignee_id"] == actor.person_id or task["grid_code"] in actor.grid_codes
    return actor.covers_region(task["region_path"])


def _check(actor: Actor, task: dict[str, Any], action: str, note: str | None) -> Transition:
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise TransitionConflict(f"unknown action {action!r}; one of {sorted(TRANSITIONS)}")
    if actor.role not in rule.roles:
        allowed = ", ".join(sorted(r.value for r in rule.roles))
        raise ActionNotAllowed(f"{action} is for {allowed}, not {actor.role.value}")
    if task["state"] not in rule.sources:
        raise TransitionConflict(
            f"cannot {action} a task that is {task['state']}; "
            f"{action} applies to {', '.join(sorted(rule.sources))}"
        )
    if rule.assignee_only and task["assignee_id"] != actor.person_id:
        raise TransitionConflict(f"only the assigned worker may {action} this task")
    if rule.needs_note and not (note and note.strip()):
        raise TransitionConflict(f"{action} needs a note giving the reason")
    if action == "close" and task["discovered_by"] == actor.label:
        raise TransitionConflict("whoever discovered a task cannot close it (采办分离)")
    return rule


def apply_action(
    conn: psycopg.Connection[Any],
    task_id: int,
    actor: Actor,
    action: str,
    *,
    note: str | None = None,
    rating: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Move a task by ``action`` on behalf of ``actor``; return the updated task."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        task = cur.execute(_TASK_WITH_SCOPE + " FOR UPDATE OF t", (task_id,)).fetchone()
        if task is None or not can_see(actor, task):
            raise TaskNotFound(f"task {task_id} does not exist or is outside your scope")
        rule = _check(actor, task, action, note)
        cur.execute(
            "UPDATE tasks SET state = %s, updated_at = now(),"
            " closed_at = CASE WHEN %s IN ('closed', 'cancelled') THEN now() END,"
            " rating = COALESCE(%s, rating) WHERE id = %s",
            (rule.target, rule.target, rating, task_id),
        )
        record_event(cur, task_id, actor.label, action, task["state"], rule.target, note, evidence)
        updated = cur.execute(_TASK_WITH_SCOPE, (task_id,)).fetchone()
    assert updated is not None
    return updated


def record_event(
    cur: psycopg.Cursor[Any],
    task_id: int,
    actor: str,
    action: str,
    from_state: str | None,
    to_state: str,
    note: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> None:
    """Append one audit event (who, when, from, to, note, evidence)."""
    cur.execute(
        "INSERT INTO task_events (task_id, actor, action, from_state, to_state, note, evidence)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (task_id, actor, action, from_state, to_state, note,
         Jsonb(evidence) if evidence is not None else None),
    )
