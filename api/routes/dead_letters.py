"""Dead letters: what ingest refused, with the raw bytes and the reason."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from api.audit import record
from api.deps import ActorDep, ConnDep, require
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
    replayed_at: datetime | None
    replay_requested_at: datetime | None
    replay_attempts: int
    last_replay_error: str | None


class ReplayOut(BaseModel):
    requested: int
    detail: str


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
        items.append(DeadLetterOut(
            payload_base64=base64.b64encode(raw).decode(), payload_text=text,
            **{k: v for k, v in r.items() if k in DeadLetterOut.model_fields}))
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


_MARK = """
UPDATE dead_letters SET replay_requested_at = now()
WHERE replayed_at IS NULL AND replay_requested_at IS NULL AND {condition}
"""


@router.post("/{letter_id}/replay", response_model=ReplayOut, status_code=202)
def replay_one(letter_id: int, conn: ConnDep, actor: ActorDep) -> ReplayOut:
    """Ask ingest to decode this letter again (after registering the device or zone)."""
    row = conn.execute("SELECT replayed_at FROM dead_letters WHERE id = %s",
                       (letter_id,)).fetchone()
    if row is None:
        raise HTTPException(404, f"dead letter {letter_id} does not exist")
    if row["replayed_at"] is not None:
        raise HTTPException(409, f"dead letter {letter_id} was already replayed and stored")
    marked = conn.execute(_MARK.format(condition="id = %s"), (letter_id,)).rowcount
    record(conn, actor, "dead_letter", letter_id, "replay", None, {"requested": marked})
    return ReplayOut(requested=marked, detail="ingest replays marked letters within seconds")


@router.post("/replay", response_model=ReplayOut, status_code=202)
def replay_many(conn: ConnDep, actor: ActorDep,
                kind: Annotated[str | None, Query(max_length=32)] = None) -> ReplayOut:
    """Ask ingest to replay every letter not yet stored (of one ``kind``, if given)."""
    marked = conn.execute(_MARK.format(condition="(%s::text IS NULL OR error_kind = %s)"),
                          (kind, kind)).rowcount
    record(conn, actor, "dead_letter", kind or "*", "replay", None, {"requested": marked})
    return ReplayOut(requested=marked, detail="ingest replays marked letters within seconds")
