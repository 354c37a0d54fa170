"""Task deadlines per category and severity (分类分级), managed by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from api.audit import record
from api.deps import ActorDep, ConnDep, require
from grid.actors import Actor, Role

router = APIRouter(prefix="/api/v1/task-deadlines", tags=["tasks"])


class DeadlineRow(BaseModel):
    category: str = Field(min_length=1, max_length=64, description="'*' for any category")
    severity: str = Field(pattern=r"^(\*|minor|major|critical)$")
    accept_seconds: int = Field(gt=0, le=30 * 86400)
    arrive_seconds: int = Field(gt=0, le=30 * 86400)
    resolve_seconds: int = Field(gt=0, le=90 * 86400)

    @model_validator(mode="after")
    def _ordered(self) -> DeadlineRow:
        if self.resolve_seconds < self.accept_seconds:
            raise ValueError("resolve_seconds must not be shorter than accept_seconds")
        return self


@router.get("", response_model=list[DeadlineRow])
def list_deadlines(conn: ConnDep, _actor: ActorDep) -> list[DeadlineRow]:
    rows = conn.execute("SELECT * FROM task_deadlines ORDER BY category, severity").fetchall()
    return [DeadlineRow(**r) for r in rows]


@router.put("", response_model=DeadlineRow)
def put_deadline(body: DeadlineRow, conn: ConnDep,
                 admin: Annotated[Actor, require(Role.ADMIN)]) -> DeadlineRow:
    """Create or replace the windows for one (category, severity); applies to new phases."""
    conn.execute(
        "INSERT INTO task_deadlines VALUES (%(category)s, %(severity)s, %(accept_seconds)s,"
        " %(arrive_seconds)s, %(resolve_seconds)s) ON CONFLICT (category, severity) DO UPDATE"
        " SET accept_seconds = EXCLUDED.accept_seconds, arrive_seconds = EXCLUDED.arrive_seconds,"
        " resolve_seconds = EXCLUDED.resolve_seconds", body.model_dump())
    record(conn, admin, "task_deadline", f"{body.category}/{body.severity}", "put", None,
           body.model_dump())
    return body
