"""Rules as data: list, read, create, update, enable/disable and (soft) delete.

Deleting keeps the row (``deleted_at``) so past alerts keep their rule; the evaluator
resolves a deleted or disabled rule's active alerts on its next cycle.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import ValidationError

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
from alerts.definitions import RuleIn, RulePatch, ScopeIn, check_rule, problems_of
from alerts.errors import Conflict, Forbidden, Invalid, Problem
from alerts.model import RuleKind
from grid.actors import Actor

_PATH, _PATH_JOINS = scope_path_sql("r")
_RULES = f"""
SELECT * FROM (
  SELECT r.*, {_PATH} AS scope_path, count(*) OVER () AS total
  FROM alert_rules r {_PATH_JOINS}
  WHERE r.deleted_at IS NULL AND (%(id)s::bigint IS NULL OR r.id = %(id)s)
    AND (%(kind)s::text IS NULL OR r.kind = %(kind)s)
) rules
WHERE {visible_sql("scope_path")}
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s
"""

_COLUMNS = ("name", "kind", "zone_id", "place_kind", "region_id", "device_id", "threshold",
            "clear_threshold", "for_seconds", "clear_for_seconds", "cooldown_seconds",
            "repeat_seconds", "severity", "params", "schedule", "channels", "enabled")


def rule_out(row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """A stored rule in the API's shape (the same shape it is created with)."""
    return scoped_out(row, actor, tuple(k for k in ("id", "created_by", "created_at",
                                                    "updated_at", *_COLUMNS)
                                        if k not in SCOPE_COLUMNS))


def list_rules(conn: psycopg.Connection[Any], actor: Actor, *, kind: str | None = None,
               limit: int = 50, offset: int = 0,
               rule_id: int | None = None) -> tuple[list[dict[str, Any]], int]:
    rows = read_visible(conn, actor, _RULES, "rules", id=rule_id, kind=kind, limit=limit,
                        offset=offset)
    return [rule_out(r, actor) for r in rows], total_of(rows)


def get_rule(conn: psycopg.Connection[Any], actor: Actor, rule_id: int) -> dict[str, Any]:
    return only(list_rules(conn, actor, rule_id=rule_id, limit=1)[0], f"rule {rule_id}")


def create_rule(conn: psycopg.Connection[Any], actor: Actor, rule: RuleIn) -> dict[str, Any]:
    require_manager(actor)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        values = _prepare(cur, actor, rule, None)
        query = sql.SQL("INSERT INTO alert_rules ({}, created_by) VALUES ({}, %s) RETURNING id"
                        ).format(sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
                                 sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)))
        row = _write(cur, query, [*values, actor.person_id], rule.name)
    return get_rule(conn, actor, int(row["id"]))


def update_rule(conn: psycopg.Connection[Any], actor: Actor, rule_id: int,
                patch: RulePatch) -> dict[str, Any]:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        current = _editable(conn, actor, rule_id)
        merged = _merge(current, patch)
        values = _prepare(cur, actor, merged, rule_id)
        query = sql.SQL("UPDATE alert_rules SET ({}, updated_at) = ({}, now())"
                        " WHERE id = %s RETURNING id").format(
            sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
            sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)))
        _write(cur, query, [*values, rule_id], merged.name)
    return get_rule(conn, actor, rule_id)


def set_enabled(conn: psycopg.Connection[Any], actor: Actor, rule_id: int,
                enabled: bool) -> dict[str, Any]:
    with conn.transaction():
        _editable(conn, actor, rule_id)
        conn.execute("UPDATE alert_rules SET enabled = %s, updated_at = now() WHERE id = %s",
                     (enabled, rule_id))
    return get_rule(conn, actor, rule_id)


def delete_rule(conn: psycopg.Connection[Any], actor: Actor, rule_id: int) -> None:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        _editable(conn, actor, rule_id)
        users = cur.execute(
            "SELECT id, name FROM alert_rules WHERE kind = 'composite' AND deleted_at IS NULL"
            " AND params->'all_of' @> to_jsonb(%s::bigint)", (rule_id,)).fetchall()
        if users:
            names = ", ".join(f"{u['id']} ({u['name']!r})" for u in users)
            raise Conflict(f"rule {rule_id} is part of composite rule(s) {names}; change or "
                           "delete those first")
        cur.execute("UPDATE alert_rules SET deleted_at = now(), enabled = false,"
                    " updated_at = now() WHERE id = %s", (rule_id,))


def _editable(conn: psycopg.Connection[Any], actor: Actor, rule_id: int) -> dict[str, Any]:
    require_manager(actor)
    rule = get_rule(conn, actor, rule_id)
    if not rule["editable"]:
        raise Forbidden(f"rule {rule_id} covers more than your region; an admin (or the "
                        "centre above you) manages it")
    return rule


def _merge(current: dict[str, Any], patch: RulePatch) -> RuleIn:
    changes = patch.model_dump(exclude_unset=True)
    if "kind" in changes and changes["kind"] != current["kind"]:
        raise Invalid.at("body.kind", f"a rule's kind cannot change ({current['kind']}); "
                         "create a new rule instead")
    base = {k: current[k] for k in (*_COLUMNS, "scope") if k not in (
        "zone_id", "place_kind", "region_id", "device_id")}
    try:
        return RuleIn.model_validate({**base, **changes})
    except ValidationError as exc:
        raise Invalid(problems_of(exc, "body")) from exc


def _prepare(cur: psycopg.Cursor[Any], actor: Actor, rule: RuleIn,
             rule_id: int | None) -> list[Any]:
    params = check_rule(rule)
    scope = resolve_scope(cur, actor, rule.scope or ScopeIn())
    if rule.kind is RuleKind.COMPOSITE:
        _check_parts(cur, actor, params["all_of"], rule_id)
    values = {**rule.model_dump(), **scope.columns(), "params": Jsonb(params),
              "schedule": Jsonb(rule.schedule.model_dump()) if rule.schedule else None,
              "channels": sorted(set(rule.channels))}
    return [values[c] for c in _COLUMNS]


def _check_parts(cur: psycopg.Cursor[Any], actor: Actor, ids: list[int],
                 rule_id: int | None) -> None:
    found = visible_rules(cur, actor, ids)
    problems = []
    for i, part in enumerate(ids):
        where = f"body.params.all_of.{i}"
        if part == rule_id:
            problems.append(Problem(where, "a composite rule cannot include itself"))
        elif part not in found:
            problems.append(Problem(where, f"no rule {part}"))
        elif found[part]["kind"] == RuleKind.COMPOSITE:
            problems.append(Problem(where, f"rule {part} is composite; composites do not nest"))
    if problems:
        raise Invalid(problems)


def _write(cur: psycopg.Cursor[Any], query: sql.Composed, values: list[Any],
           name: str) -> dict[str, Any]:
    try:
        row = cur.execute(query, values).fetchone()
    except errors.UniqueViolation as exc:
        raise Conflict(f"a rule named {name!r} already exists") from exc
    assert row is not None
    return dict(row)
