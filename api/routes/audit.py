"""``GET /api/v1/audit``: the audit log, newest first; admins see all, operators their subtree."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from psycopg import sql
from pydantic import BaseModel, Field

from api.audit import changed_fields
from api.deps import ActorDep, ConnDep
from api.pagination import Page, PageDep
from api.params import NO_NUL, Timestamp
from grid.actors import Actor, Role
from grid.visibility import covers_sql

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description="'person:<id>', 'api-key:<id>' or 'system:<component>'.")
    actor_role: str | None
    entity: str = Field(description="device, zone, task, rule, silence, api_key, person, ...")
    entity_id: str
    action: str
    region_path: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: list[str] = Field(description="Fields whose values differ.")


_QUERY = """
SELECT *, count(*) OVER () AS total FROM audit_log
WHERE {scope}
  AND (%(entity)s::text IS NULL OR entity = %(entity)s)
  AND (%(entity_id)s::text IS NULL OR entity_id = %(entity_id)s)
  AND (%(actor)s::text IS NULL OR actor = %(actor)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_Filter = Annotated[str | None, Query(min_length=1, max_length=128, pattern=NO_NUL)]


def _scope(actor: Actor) -> tuple[sql.Composable, dict[str, object]]:
    if actor.role not in (Role.ADMIN, Role.OPERATOR):
        raise HTTPException(403, "the audit log is for admins and centre operators")
    return covers_sql(actor, "region_path")


@router.get("", response_model=Page[AuditOut])
def list_audit(
    actor: ActorDep, conn: ConnDep, page: PageDep,
    entity: _Filter = None, entity_id: _Filter = None,
    by: Annotated[str | None, Query(min_length=1, max_length=128,
                                    description="Who: e.g. person:P-1.")] = None,
    action: _Filter = None,
    since: Timestamp | None = None, until: Timestamp | None = None,
) -> Page[AuditOut]:
    """Changes to rules, devices, zones, tasks, people and API keys, filterable."""
    if since and until and since >= until:
        raise HTTPException(422, "since must be before until")
    scope, params = _scope(actor)
    rows = conn.execute(sql.SQL(_QUERY).format(scope=scope), {
        **params, "entity": entity, "entity_id": entity_id, "actor": by, "action": action,
        "since": since, "until": until, "limit": page.limit, "offset": page.offset,
    }).fetchall()
    items = [AuditOut(changed=changed_fields(r["before"], r["after"]),
                      **{k: v for k, v in r.items() if k != "total"}) for r in rows]
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
