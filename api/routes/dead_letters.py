"""Dead letters: what ingest refused, with the raw bytes and the reason."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import ConnDep, require
from api.pagination import Page, PageDep
from grid.actors import Role

router = APIRouter(prefix="/api/v1/dead-letters", tags=["ingest"],
                   dependencies=[require(Role.ADMIN, Role.OPERATOR, Role.INTEGRATOR)])  # type: ignore[list-item]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    error_kind: str
    payload_base64: str
    payload_text: str | None


@router.get("", response_model=Page[DeadLetterOut])
def list_dead_letters(conn: ConnDep, page: PageDep,
                      kind: Annotated[str | None, Query(max_length=32)] = None) -> (
                          Page[DeadLetterOut]):
    rows = conn.execute(
        "SELECT *, count(*) OVER () AS total FROM dead_letters"
        " WHERE %(kind)s::text IS NULL OR error_kind = %(kind)s"
        " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"kind": kind, "limit": page.limit, "offset": page.offset},
    ).fetchall()
    items = []
    for r in rows:
        raw = bytes(r["payload"])
        try:
            text: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        items.append(DeadLetterOut(id=r["id"], received_at=r["received_at"], topic=r["topic"],
                                   reason=r["reason"], error_kind=r["error_kind"],
                                   payload_base64=base64.b64encode(raw).decode(),
                                   payload_text=text))
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
