"""Alerts as the evaluator recorded them, their event stream and acknowledgement.

Everything is within the caller's scope: admins see all, centres their region subtree,
workers their grids. The alerts package's errors become problem details in
:mod:`api.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from psycopg import sql
from pydantic import BaseModel, Field

from alerts.ack import acknowledge, get_alert
from alerts.stream import read_events
from api.deps import ActorDep, ConnDep
from api.errors import problem
from api.pagination import Page, PageDep
from api.params import Id
from contracts.levels import level_of
from grid.actors import Actor, Role
from grid.visibility import sees, sees_sql

router = APIRouter(prefix="/api/v1", tags=["alerts"])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "not your role or region"}, 404: {"description": "not found"},
    409: {"description": "conflicts with the current state"},
    422: {"description": "invalid; `errors` lists each problem and where"}}


class AlertOut(BaseModel):
    id: int
    rule_id: int
    rule_name: str | None = None
    kind: str | None = None
    subject: str | None = None
    zone_id: str | None
    device_id: str | None = None
    place_id: str | None = None
    grid_code: str | None = None
    state: str
    severity: str
    value: float
    detail: str | None = None
    pending_since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None
    silenced: bool = False
    task_id: int | None
    zone_name: str | None = None
    zone_name_latin: str | None = None
    place_name: str | None = None
    place_name_latin: str | None = None
    level: str | None = Field(None, description="Density level of `value` (density rules).")


class AckIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class EventOut(BaseModel):
    id: int
    alert_id: int
    kind: str
    at: datetime
    payload: dict[str, Any]


_QUERY = """
SELECT a.id, a.rule_id, ru.name AS rule_name, ru.kind, a.subject, a.zone_id, a.device_id,
       a.place_id, g.code AS grid_code, a.state, a.severity, a.value, a.detail,
       a.pending_since, a.fired_at, a.resolved_at, a.acknowledged_at, a.acknowledged_by,
       a.ack_note, a.silence_id IS NOT NULL AS silenced, a.task_id, count(*) OVER () AS total,
       z.name AS zone_name, z.name_latin AS zone_name_latin, p.name AS place_name,
       p.name_latin AS place_name_latin
FROM alerts a JOIN alert_rules ru ON ru.id = a.rule_id
LEFT JOIN zones z ON z.id = a.zone_id
LEFT JOIN places p ON p.id = COALESCE(a.place_id, z.place_id)
LEFT JOIN grids g ON g.code = COALESCE(a.grid_code, z.grid_code)
LEFT JOIN regions r ON r.id = g.region_id
WHERE {scope} AND (%(state)s::text IS NULL OR a.state = %(state)s)
  AND (%(kind)s::text IS NULL OR ru.kind = %(kind)s)
  AND (%(severity)s::text IS NULL OR a.severity = %(severity)s)
ORDER BY a.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


def can_see_alert(actor: Actor, alert: Mapping[str, Any]) -> bool:
    return sees(actor, alert["region_path"], alert["grid_code"])


def _level(row: Mapping[str, Any]) -> str | None:
    return level_of(row["value"]).value if row.get("kind") == "density_above" else None


def _out(row: Mapping[str, Any]) -> AlertOut:
    return AlertOut(silenced=row.get("silence_id") is not None, level=_level(row),
                    **{k: v for k, v in row.items() if k in AlertOut.model_fields
                       and k != "level"})


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    actor: ActorDep, conn: ConnDep, page: PageDep,
    state: Annotated[Literal["pending", "firing", "resolved"] | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    severity: Annotated[Literal["minor", "major", "critical"] | None, Query()] = None,
) -> Page[AlertOut]:
    scope, params = sees_sql(actor)
    rows = conn.execute(sql.SQL(_QUERY).format(scope=scope),
                        {**params, "state": state, "kind": kind, "severity": severity,
                         "limit": page.limit, "offset": page.offset}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=[AlertOut(**r, level=_level(r)) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/alerts/events", response_model=list[EventOut])
def alert_events(
    actor: ActorDep, conn: ConnDep,
    after: Annotated[int, Query(ge=0, description="Last event id already seen.")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    """The live stream as a poll: events after ``after``, oldest first (SSE reads the same)."""
    events = read_events(conn, after, limit=limit, everything=actor.role is Role.ADMIN,
                         region_path=None if actor.role is Role.WORKER else actor.region_path,
                         grid_codes=actor.grid_codes if actor.role is Role.WORKER else ())
    return [EventOut(id=e.id, alert_id=e.alert_id, kind=e.kind, at=e.at, payload=e.payload)
            for e in events]


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=ERROR_RESPONSES)
def get_one(alert_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    with conn.cursor() as cur:
        return _out(get_alert(cur, alert_id, lambda a: can_see_alert(actor, a)))


@router.post("/alerts/{alert_id}/ack", response_model=AlertOut, responses=ERROR_RESPONSES)
def ack_alert(alert_id: Id, actor: ActorDep, conn: ConnDep,
              body: Annotated[AckIn | None, Body()] = None) -> Any:
    """A person acknowledges an alert: it stays until resolved, but repeats stop."""
    if actor.role not in (Role.ADMIN, Role.OPERATOR, Role.WORKER):
        return problem(403, "acknowledging alerts needs the admin, operator or worker role")
    alert = acknowledge(conn, alert_id, actor.person_id, (body or AckIn()).note,
                        lambda a: can_see_alert(actor, a))
    return _out(alert)
