"""Dead letters: what ingest refused, with the raw bytes and the reason.

Letters are scoped like the registry (:func:`grid.visibility.registry_sql`) by the region
of the device their topic names: centre operators see and replay only their subtree's;
letters whose device is unknown (or whose topic names none) only admins and city-wide
integrators. A letter outside the caller's scope is answered like one that does not exist.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from psycopg import sql
from pydantic import BaseModel

from api.audit import record
from api.deps import ActorDep, ConnDep, require
from api.pagination import Page, PageDep
from api.params import Id
from grid.actors import Actor, Role
from grid.visibility import registry_sql

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
    payload_size: int | None          # bytes received (the payload kept may be a prefix)
    payload_sha256: str | None
    payload_truncated: bool           # only a prefix was kept: the payload was oversized
    redacted: bool                    # identifying fields were removed before storing
    replayed_at: datetime | None
    replay_requested_at: datetime | None
    replay_attempts: int
    last_replay_error: str | None


class ReplayOut(BaseModel):
    requested: int
    detail: str


# The device a contract topic names (<prefix>/v1/<collection>/<device>/<leaf>), and the
# region it is registered in.
_SCOPED = """
FROM dead_letters l
LEFT JOIN devices d
  ON d.id = substring(l.topic from '(?:^|/)v1/(?:camera|sensor|device)/([^/]+)/[^/]+$')
LEFT JOIN places p ON p.id = d.place_id
LEFT JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)
LEFT JOIN regions r ON r.id = g.region_id
WHERE {scope}
"""


def _scoped(actor: Actor, query: str) -> tuple[sql.Composed, dict[str, object]]:
    scope, params = registry_sql(actor)
    return sql.SQL(query.replace("{scoped}", _SCOPED)).format(scope=scope), params


MAX_PAGE_BYTES = 8 * 2**20


@router.get("", response_model=Page[DeadLetterOut])
def list_dead_letters(conn: ConnDep, actor: ActorDep, page: PageDep,
                      kind: Annotated[str | None, Query(max_length=32)] = None,
                      max_bytes: Annotated[int, Query(
                          ge=1024, le=MAX_PAGE_BYTES,
                          description="Stop adding letters once their payloads reach this "
                          "many bytes (a page may then hold fewer than `limit`; continue "
                          "from `offset` + the items returned).")] = 2**20) -> (
                          Page[DeadLetterOut]):
    query, params = _scoped(actor, "SELECT l.*, count(*) OVER () AS total {scoped}"
                            " AND (%(kind)s::text IS NULL OR l.error_kind = %(kind)s)"
                            " ORDER BY l.id DESC LIMIT %(limit)s OFFSET %(offset)s")
    rows = conn.execute(query, {**params, "kind": kind, "limit": page.limit,
                                "offset": page.offset}).fetchall()
    items: list[DeadLetterOut] = []
    used = 0
    for r in rows:
        raw = bytes(r["payload"])
        used += 2 * len(raw)   # as base64 and as text, about twice its size on the wire
        if items and used > max_bytes:
            break
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
WHERE replayed_at IS NULL AND replay_requested_at IS NULL AND NOT payload_truncated
  AND id IN (SELECT l.id {scoped} AND (%(id)s::bigint IS NULL OR l.id = %(id)s))
  AND (%(kind)s::text IS NULL OR error_kind = %(kind)s)
"""


@router.post("/{letter_id}/replay", response_model=ReplayOut, status_code=202,
             responses={404: {"description": "no such letter in your scope"},
                        409: {"description": "truncated or already replayed"}})
def replay_one(letter_id: Id, conn: ConnDep, actor: ActorDep) -> ReplayOut:
    """Ask ingest to decode this letter again (after registering the device or zone)."""
    query, params = _scoped(actor, "SELECT l.replayed_at, l.payload_truncated {scoped}"
                                   " AND l.id = %(id)s")
    row = conn.execute(query, {**params, "id": letter_id}).fetchone()
    if row is None:
        raise HTTPException(404, f"dead letter {letter_id} does not exist or is outside "
                                 "your scope")
    if row["payload_truncated"]:
        raise HTTPException(409, f"dead letter {letter_id} kept only a prefix of an oversized "
                                 "payload: it cannot be replayed; have the sender split it")
    if row["replayed_at"] is not None:
        raise HTTPException(409, f"dead letter {letter_id} was already replayed and stored")
    marked = _mark(conn, actor, letter_id=letter_id)
    record(conn, actor, "dead_letter", letter_id, "replay", None, {"requested": marked})
    return ReplayOut(requested=marked, detail="ingest replays marked letters within seconds")


@router.post("/replay", response_model=ReplayOut, status_code=202)
def replay_many(conn: ConnDep, actor: ActorDep,
                kind: Annotated[str | None, Query(max_length=32)] = None) -> ReplayOut:
    """Ask ingest to replay every letter not yet stored (of one ``kind``, if given)."""
    marked = _mark(conn, actor, kind=kind)
    record(conn, actor, "dead_letter", kind or "*", "replay", None, {"requested": marked})
    return ReplayOut(requested=marked, detail="ingest replays marked letters within seconds")


def _mark(conn: ConnDep, actor: Actor, *, letter_id: int | None = None,
          kind: str | None = None) -> int:
    """Mark the caller's letters not yet replayed (one, of one kind, or all) for replay."""
    query, params = _scoped(actor, _MARK)
    return conn.execute(query, {**params, "id": letter_id, "kind": kind}).rowcount
