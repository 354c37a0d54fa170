"""The five-step task loop (五步闭环) and the one table of allowed transitions.

    reported 发现报告 → dispatched 调度派遣 → handling 协调处置 → follow_up 跟踪回访
    → closed 评价结案; side exits: rejected (back to dispatch), merged, cancelled.

Some actions record work without changing the state (arrive, report, help,
follow-up visits, feedback). Every action appends a ``task_events`` row (the table
refuses updates and deletes). Errors form one small hierarchy, mapped to HTTP
statuses by the API::

    TaskError
    ├── TaskNotFound        (404) — also for tasks outside the actor's scope
    ├── ActionNotAllowed    (403) — the role may never do this
    └── TransitionConflict  (409) — not from this state, not by this person, missing input
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from grid.actors import Actor, Role
from grid.deadlines import due_at, phase_for
from grid.visibility import covers, sees_task
from kernel.errors import ConflictError, ForbiddenError, NotFoundError, SharpEyesError

OPEN_STATES = ("reported", "dispatched", "handling", "follow_up", "rejected")
_CENTRE = frozenset({Role.OPERATOR, Role.ADMIN})
_WORKER = frozenset({Role.WORKER})
_BEFORE_HANDLING = frozenset({"reported", "dispatched", "handling", "rejected"})


class TaskError(SharpEyesError):
    """Base of task errors; ``str(error)`` says why, for the person who asked."""


class TaskNotFound(TaskError, NotFoundError):
    pass


class ActionNotAllowed(TaskError, ForbiddenError):
    pass


class TransitionConflict(TaskError, ConflictError):
    pass


@dataclass(frozen=True, slots=True)
class Transition:
    sources: frozenset[str]
    target: str | None            # None: the state stays (the action records work)
    roles: frozenset[Role]
    assignee_only: bool = False
    needs_note: bool = False


TRANSITIONS: dict[str, Transition] = {
    "accept": Transition(frozenset({"dispatched"}), "handling", _WORKER, assignee_only=True),
    "reject": Transition(frozenset({"dispatched"}), "rejected", _WORKER, assignee_only=True,
                         needs_note=True),
    "arrive": Transition(frozenset({"handling"}), None, _WORKER, assignee_only=True),
    "report": Transition(frozenset({"handling"}), None, _WORKER, assignee_only=True),
    "help": Transition(frozenset({"handling"}), None, _WORKER, assignee_only=True,
                       needs_note=True),
    "resolve": Transition(frozenset({"handling"}), "follow_up", _WORKER, assignee_only=True),
    "dispatch": Transition(frozenset({"reported", "rejected"}), "dispatched", _CENTRE),
    "reassign": Transition(frozenset({"dispatched", "handling"}), "dispatched", _CENTRE),
    "follow_up": Transition(frozenset({"follow_up"}), None, _CENTRE, needs_note=True),
    "close": Transition(frozenset({"follow_up"}), "closed", _CENTRE),
    "feedback": Transition(frozenset({"follow_up", "closed"}), None, _CENTRE),
    "cancel": Transition(_BEFORE_HANDLING, "cancelled", _CENTRE, needs_note=True),
    "merge": Transition(_BEFORE_HANDLING, "merged", _CENTRE),
}


@dataclass(frozen=True, slots=True)
class ActionInput:
    """What a person may send with an action; each action reads what it needs."""

    note: str | None = None
    rating: int | None = None             # close: the centre's evaluation, 1–5
    satisfaction: int | None = None       # feedback: the citizen's, 1–5
    assignee_id: str | None = None        # dispatch, reassign
    merge_into: int | None = None         # merge
    lon: float | None = None              # arrive
    lat: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


_TASK_WITH_SCOPE = """
SELECT t.*, r.path AS region_path
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
WHERE t.id = %s
"""


def can_see(actor: Actor, task: dict[str, Any]) -> bool:
    """Workers see their own and their grids' tasks; centres see their region subtree."""
    return sees_task(actor, task["region_path"], task["grid_code"], task["assignee_id"])


def _check(actor: Actor, task: dict[str, Any], action: str, given: ActionInput) -> Transition:
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
    if rule.needs_note and not (given.note and given.note.strip()):
        raise TransitionConflict(f"{action} needs a note giving the reason")
    if action == "close" and task["discovered_by"] == actor.label:
        raise TransitionConflict("whoever discovered a task cannot close it (采办分离)")
    return rule


def apply_action(
    conn: psycopg.Connection[Any],
    task_id: int,
    actor: Actor,
    action: str,
    given: ActionInput | None = None,
) -> dict[str, Any]:
    """Carry out ``action`` on behalf of ``actor``; return the updated task."""
    given = given or ActionInput()
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        task = cur.execute(_TASK_WITH_SCOPE + " FOR UPDATE OF t", (task_id,)).fetchone()
        if task is None or not can_see(actor, task):
            raise TaskNotFound(f"task {task_id} does not exist or is outside your scope")
        rule = _check(actor, task, action, given)
        now = cur.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        changes, evidence = _EFFECTS[action](cur, task, actor, given, now)
        target = rule.target or task["state"]
        changes.update(_deadline(cur, task, target, changes, now))
        _update(cur, task_id, target, changes)
        record_event(cur, task_id, actor.label, action, task["state"], target, given.note,
                     {**given.evidence, **evidence} or None)
        updated = cur.execute(_TASK_WITH_SCOPE, (task_id,)).fetchone()
    assert updated is not None
    return updated


Effect = tuple[dict[str, Any], dict[str, Any]]  # (column changes, evidence for the event)


def _on_time(task: dict[str, Any], phase: str, now: datetime) -> dict[str, Any]:
    if task["due_kind"] != phase or task["due_at"] is None:
        return {}
    return {"due_at": task["due_at"].isoformat(), "on_time": now <= task["due_at"]}


def _accept(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
            now: datetime) -> Effect:
    return {"accepted_at": now}, _on_time(task, "accept", now)


def _arrive(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
            now: datetime) -> Effect:
    if task["arrived_at"] is not None:
        raise TransitionConflict("arrival was already recorded for this task")
    if (given.lon is None) != (given.lat is None):
        raise TransitionConflict("give both lon and lat, or neither")
    changes = {"arrived_at": now, "arrived_lon": given.lon, "arrived_lat": given.lat}
    located = {"lon": given.lon, "lat": given.lat} if given.lon is not None else {}
    return changes, {**_on_time(task, "arrive", now), **located}


def _resolve(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
             now: datetime) -> Effect:
    return {"resolved_at": now}, _on_time(task, "resolve", now)


def _assign(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
            now: datetime) -> Effect:
    person = given.assignee_id
    if not person:
        raise TransitionConflict("say who takes the task: assignee_id")
    row = cur.execute(
        "SELECT r.path FROM grid_members m JOIN people p ON p.id = m.person_id"
        " JOIN grids g ON g.code = m.grid_code JOIN regions r ON r.id = g.region_id"
        " WHERE m.person_id = %s AND p.active LIMIT 1", (person,)).fetchone()
    if row is None or not covers(actor, row["path"]):
        raise TransitionConflict(f"{person} is not an active grid worker in your region")
    changes = {"assignee_id": person, "accepted_at": None, "arrived_at": None}
    return changes, {"assignee_id": person, "previous_assignee": task["assignee_id"]}


def _close(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
           now: datetime) -> Effect:
    return {"closed_at": now, "rating": given.rating, "close_note": given.note}, (
        {"rating": given.rating} if given.rating else {})


def _cancel(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
            now: datetime) -> Effect:
    return {"closed_at": now}, {}


def _merge(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
           now: datetime) -> Effect:
    target = given.merge_into
    if target is None or target == task["id"]:
        raise TransitionConflict("merge_into must name another task")
    other = cur.execute(_TASK_WITH_SCOPE, (target,)).fetchone()
    if other is None or not can_see(actor, other):   # absent and out of scope read the same
        raise TransitionConflict(f"merge_into: task {target} does not exist or is outside "
                                 "your scope")
    if other["state"] not in OPEN_STATES:
        raise TransitionConflict(f"task {target} is {other['state']}; merge into an open task")
    if (other["zone_id"], other["grid_code"]) != (task["zone_id"], task["grid_code"]):
        raise TransitionConflict(f"task {target} is for another place; merge only duplicates")
    return {"merged_into": target, "closed_at": now}, {"merged_into": target}


def _feedback(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
              now: datetime) -> Effect:
    if given.satisfaction is None:
        raise TransitionConflict("feedback needs the citizen's satisfaction (1–5)")
    cur.execute("INSERT INTO task_feedback (task_id, recorded_by, satisfaction, comment)"
                " VALUES (%s, %s, %s, %s)",
                (task["id"], actor.person_id, given.satisfaction, given.note))
    return {}, {"satisfaction": given.satisfaction}


def _nothing(cur: Any, task: dict[str, Any], actor: Actor, given: ActionInput,
             now: datetime) -> Effect:
    return {}, {}


_EFFECTS = {
    "accept": _accept, "reject": _nothing, "arrive": _arrive, "report": _nothing,
    "help": _nothing, "resolve": _resolve, "dispatch": _assign, "reassign": _assign,
    "follow_up": _nothing, "close": _close, "feedback": _feedback, "cancel": _cancel,
    "merge": _merge,
}


def _deadline(cur: Any, task: dict[str, Any], target: str, changes: dict[str, Any],
              now: datetime) -> dict[str, Any]:
    """Start the clock of the phase the task enters; keep it when the phase is unchanged."""
    arrived = (changes.get("arrived_at", task["arrived_at"])) is not None
    phase = phase_for(task, target, arrived)
    if phase == task["due_kind"] and "assignee_id" not in changes:
        return {}
    return {"due_kind": phase,
            "due_at": due_at(cur, task["category"], task["severity"], phase, now)}


_COLUMNS = frozenset({"accepted_at", "arrived_at", "arrived_lon", "arrived_lat", "resolved_at",
                      "closed_at", "rating", "close_note", "assignee_id", "merged_into",
                      "due_kind", "due_at"})


def _update(cur: Any, task_id: int, state: str, changes: dict[str, Any]) -> None:
    assert set(changes) <= _COLUMNS  # column names below come from this fixed set only
    sets = "".join(f", {column} = %({column})s" for column in sorted(changes))
    cur.execute(f"UPDATE tasks SET state = %(state)s, updated_at = now(){sets}"
                " WHERE id = %(id)s", {**changes, "state": state, "id": task_id})


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
