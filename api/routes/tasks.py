"""Grid tasks: list, read, audit trail, escalations, photos, and the loop's actions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, HTTPException, Query, Response, UploadFile
from psycopg import sql
from pydantic import BaseModel, Field

from api.audit import record
from api.deps import ActorDep, ConnDep, ServicesDep
from api.pagination import Page, PageDep
from api.params import Id
from grid.photos import MAX_BYTES, PhotoRejected, prepare_photo
from grid.tasks import TRANSITIONS, ActionInput, apply_action, can_see
from grid.visibility import task_sql

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
    accepted_at: datetime | None
    arrived_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    due_kind: str | None = Field(description="Which deadline runs: accept, arrive, resolve.")
    due_at: datetime | None
    overdue: bool = False
    merged_into: int | None
    rating: int | None
    assignee_name: str | None = None
    assignee_name_latin: str | None = None
    grid_name: str | None = None
    grid_name_latin: str | None = None
    zone_name: str | None = None
    zone_name_latin: str | None = None
    place_name: str | None = None
    place_name_latin: str | None = None
    lon: float | None = Field(None, description="Where the task is (its place), WGS 84.")
    lat: float | None = None


class EventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None
    evidence: dict[str, Any] | None
    actor_name: str | None = Field(None, description="The acting person's name, if a person.")
    actor_name_latin: str | None = None
    assignee_name: str | None = Field(None, description="dispatch, reassign: who took it.")
    assignee_name_latin: str | None = None


class EscalationOut(BaseModel):
    id: int
    from_tier: str
    to_tier: str
    due_kind: str
    due_at: datetime
    at: datetime
    region_id: str | None
    notified: list[str]


class PhotoOut(BaseModel):
    id: int
    uploaded_by: str
    uploaded_at: datetime
    width: int
    height: int
    sha256: str
    original_sha256: str


class ActionIn(BaseModel):
    note: str | None = Field(None, max_length=2000, description="Reason, remark or visit record.")
    rating: int | None = Field(None, ge=1, le=5, description="close: the centre's evaluation.")
    satisfaction: int | None = Field(None, ge=1, le=5, description="feedback: the citizen's.")
    assignee_id: str | None = Field(None, max_length=64, description="dispatch, reassign.")
    merge_into: int | None = Field(None, ge=1, description="merge: the open task to keep.")
    lon: float | None = Field(None, ge=-180, le=180, description="arrive: where the worker is.")
    lat: float | None = Field(None, ge=-90, le=90)


# Names for the people and places a task refers to, so the UI shows words, not ids.
_NAMES = """, pe.display_name AS assignee_name, pe.name_latin AS assignee_name_latin,
       g.name AS grid_name, g.name_latin AS grid_name_latin, z.name AS zone_name,
       z.name_latin AS zone_name_latin, pl.name AS place_name, pl.name_latin AS place_name_latin,
       pl.lon, pl.lat
"""
_NAME_JOINS = """
LEFT JOIN people pe ON pe.id = t.assignee_id LEFT JOIN zones z ON z.id = t.zone_id
LEFT JOIN places pl ON pl.id = z.place_id
"""

_LIST = """
SELECT t.*, t.due_at < now() AS overdue, count(*) OVER () AS total""" + _NAMES + """
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
""" + _NAME_JOINS + """
WHERE {scope} AND (%(state)s::text IS NULL OR t.state = %(state)s)
  AND (%(assignee)s::text IS NULL OR t.assignee_id = %(assignee)s)
  AND (NOT %(overdue)s OR t.due_at < now())
ORDER BY t.id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_ONE = """
SELECT t.*, t.due_at < now() AS overdue, r.path AS region_path""" + _NAMES + """
FROM tasks t JOIN grids g ON g.code = t.grid_code JOIN regions r ON r.id = g.region_id
""" + _NAME_JOINS + """
WHERE t.id = %s
"""


@router.get("", response_model=Page[TaskOut])
def list_tasks(actor: ActorDep, conn: ConnDep, page: PageDep, state: TaskState = None,
               assignee: Annotated[str | None, Query(max_length=64)] = None,
               overdue: bool = False) -> Page[TaskOut]:
    scope, params = task_sql(actor)
    rows = conn.execute(sql.SQL(_LIST).format(scope=scope), {
        **params, "state": state, "assignee": assignee, "overdue": overdue,
        "limit": page.limit, "offset": page.offset}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=[_task_out(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


def _task_out(row: dict[str, Any]) -> TaskOut:
    fields = {k: v for k, v in row.items() if k in TaskOut.model_fields and k != "overdue"}
    return TaskOut(**fields, overdue=bool(row.get("overdue")))


def _visible_task(conn: ConnDep, actor: ActorDep, task_id: int) -> dict[str, Any]:
    row = conn.execute(_ONE, (task_id,)).fetchone()
    if row is None or not can_see(actor, row):
        raise HTTPException(404, f"task {task_id} does not exist or is outside your scope")
    return dict(row)


_EVENTS = """
SELECT e.*, pe.display_name AS actor_name, pe.name_latin AS actor_name_latin,
       pa.display_name AS assignee_name, pa.name_latin AS assignee_name_latin
FROM task_events e
LEFT JOIN people pe ON e.actor = 'person:' || pe.id
LEFT JOIN people pa ON pa.id = e.evidence->>'assignee_id'
WHERE e.task_id = %s ORDER BY e.id
"""

_NO_TASK: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such task in your scope"}}


@router.get("/{task_id}", response_model=TaskOut, responses=_NO_TASK)
def get_task(task_id: Id, actor: ActorDep, conn: ConnDep) -> TaskOut:
    return _task_out(_visible_task(conn, actor, task_id))


@router.get("/{task_id}/events", response_model=list[EventOut], responses=_NO_TASK)
def task_events(task_id: Id, actor: ActorDep, conn: ConnDep) -> list[EventOut]:
    _visible_task(conn, actor, task_id)
    rows = conn.execute(_EVENTS, (task_id,)).fetchall()
    return [EventOut(**r) for r in rows]


@router.get("/{task_id}/escalations", response_model=list[EscalationOut],
            responses=_NO_TASK)
def task_escalations(task_id: Id, actor: ActorDep, conn: ConnDep) -> list[EscalationOut]:
    _visible_task(conn, actor, task_id)
    rows = conn.execute("SELECT * FROM task_escalations WHERE task_id = %s ORDER BY id",
                        (task_id,)).fetchall()
    return [EscalationOut(**r) for r in rows]


@router.post("/{task_id}/photos", response_model=TaskOut, status_code=201,
             responses={404: {}, 409: {}, 413: {"description": "over 8 MiB or the pixel "
                                                             "budget"}, 415: {}})
def report_with_photos(task_id: Id, actor: ActorDep, conn: ConnDep, services: ServicesDep,
                       photos: Annotated[list[UploadFile], File(description="JPEG or PNG",
                                                            min_length=1, max_length=5)],
                       note: Annotated[str | None, Form(max_length=2000)] = None) -> TaskOut:
    """Report progress with photos (the ``report`` action); at most 5 photos of 8 MiB and
    ``SHARPEYES_PHOTO_MAX_MEGAPIXELS`` (40) each, checked from the header before
    decoding."""
    if not 1 <= len(photos) <= 5:
        raise HTTPException(422, "send between 1 and 5 photos")
    max_pixels = int(services.settings.photo_max_megapixels * 1_000_000)
    prepared = [_prepared(p, max_pixels) for p in photos]
    with conn.transaction():
        task = apply_action(conn, task_id, actor, "report", ActionInput(
            note=note, evidence={"photos": [p.sha256 for p in prepared]}))
        for photo in prepared:
            conn.execute(
                "INSERT INTO task_photos (task_id, uploaded_by, content_type, width, height,"
                " sha256, original_sha256, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (task_id, actor.person_id, photo.content_type, photo.width, photo.height,
                 photo.sha256, photo.original_sha256, photo.data))
        record(conn, actor, "task", task_id, "report", None,
               {"photos": [p.sha256 for p in prepared], "note": note})
    return _task_out(task)


def _prepared(upload: UploadFile, max_pixels: int) -> Any:
    data = upload.file.read(MAX_BYTES + 1)
    try:
        return prepare_photo(data, upload.content_type, max_pixels)
    except PhotoRejected as exc:
        raise HTTPException(exc.status, f"{upload.filename}: {exc}") from exc


@router.get("/{task_id}/photos", response_model=list[PhotoOut], responses=_NO_TASK)
def list_photos(task_id: Id, actor: ActorDep, conn: ConnDep) -> list[PhotoOut]:
    _visible_task(conn, actor, task_id)
    rows = conn.execute("SELECT id, uploaded_by, uploaded_at, width, height, sha256,"
                        " original_sha256 FROM task_photos WHERE task_id = %s ORDER BY id",
                        (task_id,)).fetchall()
    return [PhotoOut(**r) for r in rows]


@router.get("/{task_id}/photos/{photo_id}", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}},
                       404: {"description": "no such task or photo in your scope"}})
def get_photo(task_id: Id, photo_id: Id, actor: ActorDep, conn: ConnDep) -> Response:
    _visible_task(conn, actor, task_id)
    row = conn.execute("SELECT data, content_type FROM task_photos WHERE id = %s"
                       " AND task_id = %s", (photo_id, task_id)).fetchone()
    if row is None:
        raise HTTPException(404, f"task {task_id} has no photo {photo_id}")
    return Response(bytes(row["data"]), media_type=row["content_type"])


@router.post("/{task_id}/{action}", response_model=TaskOut,
             responses={403: {"description": "role may not"}, 404: {"description": "no task"},
                        409: {"description": "not allowed from this state or by you"}})
def act_on_task(task_id: Id, action: TaskAction, actor: ActorDep, conn: ConnDep,
                body: Annotated[ActionIn | None, Body()] = None) -> TaskOut:
    given = ActionInput(**(body.model_dump() if body else {}))
    task = apply_action(conn, task_id, actor, action.value, given)
    record(conn, actor, "task", task_id, action.value, None,
           {k: task[k] for k in ("state", "assignee_id", "tier", "due_kind", "due_at")})
    return _task_out(task)
