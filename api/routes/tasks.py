"""Grid tasks: list, read, audit trail, and the loop's actions (accept, resolve, close...)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query
from psycopg import sql
from pydantic import BaseModel, Field

from api.deps import ActorDep, ConnDep
from api.pagination import Page, PageDep
from api.scope import task_scope
from grid.tasks import TRANSITIONS, apply_action, can_see

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

TaskAction = StrEnum("TaskAction", {name: name for name in TRANSITIONS})  # type: ignore[misc]
TaskState = Annotated[str | None, Query(pattern="^(reported|dispatched|handling|follow_up|"
                                               "closed|rejected|merged|cancelled)$")]


class TaskOut(BaseModel):
    id: int
    alert_id: int | None
    zone_id: str | None
    grid_code: str
    category: str
    severity: str
    title: str
    state: str
    discovered_by: str
    assignee_id: str | None
    tier: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    rating: int | None


class EventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None
    evidence: dict[str, Any] | None


class ActionIn(BaseModel):
    note: str | None = Field(None, max_length=2000, description="Reason or remark.")
    rating: int | None = Field(None, ge=1, le=5, description="Evaluation when closing.")


_LIST = """
SELECT t.*, count(*) OVER () AS total
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
WHERE {scope} AND (%(state)s::text IS NULL OR t.state = %(state)s)
  AND (%(assignee)s::text IS NULL OR t.assignee_id = %(assignee)s)
ORDER BY t.id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_ONE = """
SELECT t.*, r.path AS region_path
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
WHERE t.id = %s
"""


@router.get("", response_model=Page[TaskOut])
def list_tasks(actor: ActorDep, conn: ConnDep, page: PageDep, state: TaskState = None,
               assignee: Annotated[str | None, Query(max_length=64)] = None) -> Page[TaskOut]:
    scope, params = task_scope(actor)
    rows = conn.execute(sql.SQL(_LIST).format(scope=scope), {
        **params, "state": state, "assignee": assignee, "limit": page.limit,
        "offset": page.offset}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=[TaskOut(**r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


def _visible_task(conn: ConnDep, actor: ActorDep, task_id: int) -> dict[str, Any]:
    row = conn.execute(_ONE, (task_id,)).fetchone()
    if row is None or not can_see(actor, row):
        raise HTTPException(404, f"task {task_id} does not exist or is outside your scope")
    return dict(row)


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: int, actor: ActorDep, conn: ConnDep) -> TaskOut:
    return TaskOut(**_visible_task(conn, actor, task_id))


@router.get("/{task_id}/events", response_model=list[EventOut])
def task_events(task_id: int, actor: ActorDep, conn: ConnDep) -> list[EventOut]:
    _visible_task(conn, actor, task_id)
    rows = conn.execute("SELECT * FROM task_events WHERE task_id = %s ORDER BY id",
                        (task_id,)).fetchall()
    return [EventOut(**r) for r in rows]


@router.post("/{task_id}/{action}", response_model=TaskOut,
             responses={403: {"description": "role may not"}, 404: {"description": "no task"},
                        409: {"description": "not allowed from this state or by you"}})
def act_on_task(task_id: int, action: TaskAction, actor: ActorDep, conn: ConnDep,
                body: Annotated[ActionIn | None, Body()] = None) -> TaskOut:
    body = body or ActionIn(note=None, rating=None)
    task = apply_action(conn, task_id, actor, action.value, note=body.note, rating=body.rating)
    return TaskOut(**task)
