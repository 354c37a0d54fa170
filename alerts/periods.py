"""Sensitive periods (major events, holidays): stricter (or looser) thresholds for a while.

A period scales the thresholds of every threshold rule in its scope by ``factor``, or
replaces one rule's thresholds outright (``rule_id`` with ``threshold`` and
``clear_threshold``). The evaluator applies the most sensitive period in force
(:func:`alerts.scope.thresholds`).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.access import (
    SCOPE_COLUMNS,
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
from alerts.definitions import ScopeIn, ordering_problems
from alerts.errors import Forbidden, Invalid, Problem
from alerts.model import THRESHOLD_KINDS, RuleKind
from grid.actors import Actor

_PATH, _JOINS = scope_path_sql("p", devices=False)
_LIST = f"""
SELECT * FROM (
  SELECT p.*, {_PATH} AS scope_path, count(*) OVER () AS total,
         (p.starts_at <= now() AND p.ends_at > now()) AS active
  FROM alert_periods p {_JOINS}
  WHERE (%(id)s::bigint IS NULL OR p.id = %(id)s)
    AND (%(active)s::boolean IS NULL OR %(active)s = (p.starts_at <= now() AND p.ends_at > now()))
) periods
WHERE {visible_sql("scope_path")}
ORDER BY starts_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
"""

_INSERT = """
INSERT INTO alert_periods (name, starts_at, ends_at, rule_id, zone_id, place_kind, region_id,
                           factor, threshold, clear_threshold, created_by)
VALUES (%(name)s, %(starts_at)s, %(ends_at)s, %(rule_id)s, %(zone_id)s, %(place_kind)s,
        %(region_id)s, %(factor)s, %(threshold)s, %(clear_threshold)s, %(created_by)s)
RETURNING id
"""


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="e.g. Lantern Festival")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    rule_id: int | None = Field(default=None, description="Only this rule (needed for "
                                "absolute thresholds).")
    scope: ScopeIn = Field(default_factory=lambda: ScopeIn())
    factor: float | None = Field(default=None, gt=0, le=10,
                                 description="Multiply the thresholds (0.8 = stricter).")
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    clear_threshold: float | None = Field(default=None, allow_inf_nan=False)


def period_out(row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    return scoped_out(row, actor, ("id", "name", "starts_at", "ends_at", "rule_id", "factor",
                                   "threshold", "clear_threshold", "created_by",
                                   "created_at", "active"), SCOPE_COLUMNS[:3])


def list_periods(conn: psycopg.Connection[Any], actor: Actor, *, active: bool | None = None,
                 limit: int = 50, offset: int = 0,
                 period_id: int | None = None) -> tuple[list[dict[str, Any]], int]:
    rows = read_visible(conn, actor, _LIST, "periods", id=period_id, active=active,
                        limit=limit, offset=offset)
    return [period_out(r, actor) for r in rows], total_of(rows)


def get_period(conn: psycopg.Connection[Any], actor: Actor, period_id: int) -> dict[str, Any]:
    return only(list_periods(conn, actor, period_id=period_id, limit=1)[0],
                f"period {period_id}")


def create_period(conn: psycopg.Connection[Any], actor: Actor, body: PeriodIn) -> dict[str, Any]:
    require_manager(actor, "periods")
    _check_shape(body)
    clear = body.clear_threshold if body.clear_threshold is not None else body.threshold
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if body.rule_id is not None:
            _check_rule(cur, actor, body, clear)
        scope = resolve_scope(cur, actor, body.scope)
        row = cur.execute(_INSERT, {
            **scope.columns(), "name": body.name, "starts_at": body.starts_at,
            "ends_at": body.ends_at, "rule_id": body.rule_id, "factor": body.factor,
            "threshold": body.threshold, "clear_threshold": clear,
            "created_by": actor.person_id}).fetchone()
    assert row is not None
    return get_period(conn, actor, int(row["id"]))


def delete_period(conn: psycopg.Connection[Any], actor: Actor, period_id: int) -> None:
    require_manager(actor, "periods")
    with conn.transaction():
        if not get_period(conn, actor, period_id)["editable"]:
            raise Forbidden(f"period {period_id} covers more than your region")
        conn.execute("DELETE FROM alert_periods WHERE id = %s", (period_id,))


def _check_shape(body: PeriodIn) -> None:
    problems = []
    if body.ends_at <= body.starts_at:
        problems.append(Problem("body.ends_at", "must be after starts_at"))
    if (body.factor is None) == (body.threshold is None):
        problems.append(Problem("body.factor", "give either factor (scales every rule's "
                                "thresholds) or threshold (replaces one rule's), not both"))
    if body.threshold is not None and body.rule_id is None:
        problems.append(Problem("body.rule_id", "absolute thresholds need a rule_id: the "
                                "same number means different things to different rules"))
    if body.clear_threshold is not None and body.threshold is None:
        problems.append(Problem("body.clear_threshold", "needs a threshold"))
    if body.scope.device_id is not None:
        problems.append(Problem("body.scope.device_id", "periods are scoped by zone, place "
                                "kind or region"))
    if problems:
        raise Invalid(problems)


def _check_rule(cur: psycopg.Cursor[Any], actor: Actor, body: PeriodIn,
                clear: float | None) -> None:
    assert body.rule_id is not None
    rule = visible_rules(cur, actor, [body.rule_id]).get(body.rule_id)
    if rule is None:
        raise Invalid.at("body.rule_id", f"no rule {body.rule_id}")
    kind = RuleKind(rule["kind"])
    if kind not in THRESHOLD_KINDS:
        raise Invalid.at("body.rule_id", f"rule {body.rule_id} is {kind}, which has no "
                         "threshold to change")
    if body.threshold is not None:
        below = (rule["params"] or {}).get("direction") == "below"
        problems = ordering_problems(kind, body.threshold, clear, below)
        if problems:
            raise Invalid(problems)
