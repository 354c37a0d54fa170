"""Alerts as the evaluator recorded them, within the caller's scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from psycopg import sql
from pydantic import BaseModel

from api.deps import ActorDep, ConnDep
from api.pagination import Page, PageDep
from api.scope import region_scope

router = APIRouter(prefix="/api/v1", tags=["alerts"])


class AlertOut(BaseModel):
    id: int
    rule_id: int
    zone_id: str
    state: str
    severity: str
    value: float
    pending_since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    task_id: int | None


_QUERY = """
SELECT a.id, a.rule_id, a.zone_id, a.state, a.severity, a.value, a.pending_since,
       a.fired_at, a.resolved_at, a.task_id, count(*) OVER () AS total
FROM alerts a JOIN zones z ON z.id = a.zone_id
JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
WHERE {scope} AND (%(state)s::text IS NULL OR a.state = %(state)s)
ORDER BY a.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


@router.get("/alerts", response_model=Page[AlertOut])
def list_alerts(
    actor: ActorDep, conn: ConnDep, page: PageDep,
    state: Annotated[Literal["pending", "firing", "resolved"] | None, Query()] = None,
) -> Page[AlertOut]:
    scope, params = region_scope(actor)
    rows = conn.execute(sql.SQL(_QUERY).format(scope=scope),
                        {**params, "state": state, "limit": page.limit,
                         "offset": page.offset}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=[AlertOut(**r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)
