"""Silences and maintenance windows: who, why, what, until when.

A silence matches firing alerts by rule and/or scope (zone, device, place kind, region
subtree); matched alerts are still recorded and shown but neither notified nor turned
into tasks. Every silence expires; a person may end one early (kept, with who ended it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.access import (
    only,
    read_visible,
    require_manager,
    resolve_scope,
    scope_path_sql,
    scoped_out,
    total_of,
    visible_rules,
    visible_sql,
)
from alerts.definitions import ScopeIn
from alerts.errors import Conflict, Forbidden, Invalid, Problem
from grid.actors import Actor

MAX_SILENCE = timedelta(days=90)

_PATH, _JOINS = scope_path_sql("s")
_LIST = f"""
SELECT * FROM (
  SELECT s.*, {_PATH} AS scope_path, count(*) OVER () AS total,
         (s.expired_at IS NULL AND s.starts_at <= now() AND s.ends_at > now()) AS active
  FROM alert_silences s {_JOINS}
  WHERE (%(id)s::bigint IS NULL OR s.id = %(id)s)
    AND (%(active)s::boolean IS NULL OR %(active)s = (s.expired_at IS NULL
         AND s.starts_at <= now() AND s.ends_at > now()))
) silences
WHERE {visible_sql("scope_path")}
ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_INSERT = """
INSERT INTO alert_silences (kind, rule_id, zone_id, device_id, place_kind, region_id,
                            starts_at, ends_at, reason, created_by)
VALUES (%(kind)s, %(rule_id)s, %(zone_id)s, %(device_id)s, %(place_kind)s, %(region_id)s,
        %(starts_at)s, %(ends_at)s, %(reason)s, %(created_by)s)
RETURNING id
"""


class SilenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["silence", "maintenance"] = "silence"
    rule_id: int | None = Field(default=None, description="Only alerts of this rule.")
    scope: ScopeIn = Field(default_factory=lambda: ScopeIn())
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    ends_at: AwareDatetime | None = Field(default=None, description="Or give duration_minutes.")
    duration_minutes: float | None = Field(default=None, gt=0, le=MAX_SILENCE.days * 1440)
    reason: str = Field(min_length=1, max_length=2000)


def silence_out(row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    return scoped_out(row, actor, ("id", "kind", "rule_id", "starts_at", "ends_at", "reason",
                                   "created_by", "created_at", "expired_at", "expired_by",
                                   "active"))


def list_silences(conn: psycopg.Connection[Any], actor: Actor, *, active: bool | None = None,
                  limit: int = 50, offset: int = 0,
                  silence_id: int | None = None) -> tuple[list[dict[str, Any]], int]:
    rows = read_visible(conn, actor, _LIST, "silences", id=silence_id, active=active,
                        limit=limit, offset=offset)
    return [silence_out(r, actor) for r in rows], total_of(rows)


def get_silence(conn: psycopg.Connection[Any], actor: Actor, silence_id: int) -> dict[str, Any]:
    return only(list_silences(conn, actor, silence_id=silence_id, limit=1)[0],
                f"silence {silence_id}")


def create_silence(conn: psycopg.Connection[Any], actor: Actor,
                   body: SilenceIn) -> dict[str, Any]:
    require_manager(actor, "silences")
    starts, ends = _window(body, datetime.now(UTC))
    if not body.reason.strip():
        raise Invalid.at("body.reason", "say why (it is shown to everyone who sees the alerts)")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if body.rule_id is not None and not visible_rules(cur, actor, [body.rule_id]):
            raise Invalid.at("body.rule_id", f"no rule {body.rule_id}")
        scope = resolve_scope(cur, actor, body.scope)
        if body.rule_id is None and not any(scope.columns().values()):
            raise Invalid.at("body.scope", "a silence needs a rule_id or a scope; silencing "
                             "everything is not allowed")
        row = cur.execute(_INSERT, {**scope.columns(), "kind": body.kind,
                                    "rule_id": body.rule_id, "starts_at": starts,
                                    "ends_at": ends, "reason": body.reason.strip(),
                                    "created_by": actor.person_id}).fetchone()
    assert row is not None
    return get_silence(conn, actor, int(row["id"]))


def _window(body: SilenceIn, now: datetime) -> tuple[datetime, datetime]:
    starts = body.starts_at or now
    if (body.ends_at is None) == (body.duration_minutes is None):
        raise Invalid.at("body.ends_at", "give exactly one of ends_at or duration_minutes")
    ends = body.ends_at or starts + timedelta(minutes=body.duration_minutes or 0)
    problems = []
    if ends <= starts:
        problems.append(Problem("body.ends_at", "must be after starts_at"))
    elif ends <= now:
        problems.append(Problem("body.ends_at", "is in the past: the silence would never apply"))
    elif ends - starts > MAX_SILENCE:
        problems.append(Problem("body.ends_at", f"silences last at most {MAX_SILENCE.days} "
                                "days; create a new one when it expires"))
    if problems:
        raise Invalid(problems)
    return starts, ends


def expire_silence(conn: psycopg.Connection[Any], actor: Actor,
                   silence_id: int) -> dict[str, Any]:
    """End a silence now (it stays on record, with who ended it)."""
    require_manager(actor, "silences")
    with conn.transaction():
        silence = get_silence(conn, actor, silence_id)
        if not silence["editable"]:
            raise Forbidden(f"silence {silence_id} covers more than your region")
        if silence["expired_at"] is not None or silence["ends_at"] <= datetime.now(UTC):
            raise Conflict(f"silence {silence_id} has already ended")
        conn.execute("UPDATE alert_silences SET expired_at = now(), expired_by = %s"
                     " WHERE id = %s", (actor.person_id, silence_id))
    return get_silence(conn, actor, silence_id)
