"""Who may manage which rules, silences and periods: admins everything, centre operators
their own region subtree. Scopes given in a request are checked against the store here.

A scope's *path* is the region path of its most specific part (zone, then device,
then region); None means city-wide, which only admins may manage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.definitions import ScopeIn
from alerts.errors import Forbidden, Invalid, NotFound, Problem
from grid.actors import Actor, Role
from grid.visibility import (
    covers,
    in_subtree,
    rule_visibility_params,
    rule_visible,
    rule_visible_sql,
)

MANAGERS = frozenset({Role.ADMIN, Role.OPERATOR})
READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.VIEWER})

_ZONE_PATH = ("SELECT r.path FROM zones z JOIN grids g ON g.code = z.grid_code"
              " JOIN regions r ON r.id = g.region_id WHERE z.id = %s")
_DEVICE_PATH = ("SELECT r.path FROM devices d LEFT JOIN places p ON p.id = d.place_id"
                " LEFT JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)"
                " LEFT JOIN regions r ON r.id = g.region_id WHERE d.id = %s")


def scope_path_sql(t: str, *, devices: bool = True) -> tuple[str, str]:
    """(expression, joins): the scope path of rows of table alias ``t`` (which has
    zone_id and region_id columns, and device_id when ``devices``)."""
    joins = (f" LEFT JOIN regions {t}_rg ON {t}_rg.id = {t}.region_id"
             f" LEFT JOIN zones {t}_z ON {t}_z.id = {t}.zone_id"
             f" LEFT JOIN grids {t}_zg ON {t}_zg.code = {t}_z.grid_code"
             f" LEFT JOIN regions {t}_zr ON {t}_zr.id = {t}_zg.region_id")
    if not devices:
        return f"COALESCE({t}_zr.path, {t}_rg.path)", joins
    joins += (f" LEFT JOIN devices {t}_d ON {t}_d.id = {t}.device_id"
              f" LEFT JOIN places {t}_dp ON {t}_dp.id = {t}_d.place_id"
              f" LEFT JOIN grids {t}_dg"
              f" ON {t}_dg.code = COALESCE({t}_d.grid_code, {t}_dp.grid_code)"
              f" LEFT JOIN regions {t}_dr ON {t}_dr.id = {t}_dg.region_id")
    return f"COALESCE({t}_zr.path, {t}_dr.path, {t}_rg.path)", joins


def visible_sql(path_column: str) -> str:
    """A WHERE fragment matching :func:`visible_path` (parameters from
    :func:`visibility_params`): :func:`grid.visibility.rule_visible_sql`."""
    return rule_visible_sql(path_column)


def visibility_params(actor: Actor) -> dict[str, object]:
    return rule_visibility_params(actor)


def visible_rules(cur: psycopg.Cursor[Any], actor: Actor,
                  ids: list[int]) -> dict[int, dict[str, Any]]:
    """The rules among ``ids`` that exist (not deleted) and that ``actor`` may read, by id
    (kind, params): a rule named in a request but outside the caller's view is answered
    exactly like one that does not exist."""
    if not ids:
        return {}
    path, joins = scope_path_sql("r")
    rows = cur.execute(
        f"SELECT r.id, r.kind, r.params FROM alert_rules r {joins}"
        f" WHERE r.id = ANY(%(ids)s) AND r.deleted_at IS NULL AND {visible_sql(path)}",
        {"ids": ids, **visibility_params(actor)}).fetchall()
    return {int(r["id"]): dict(r) for r in rows}


@dataclass(frozen=True, slots=True)
class ResolvedScope:
    zone_id: str | None
    place_kind: str | None
    region_id: str | None
    device_id: str | None
    path: str | None

    def columns(self) -> dict[str, str | None]:
        return {"zone_id": self.zone_id, "place_kind": self.place_kind,
                "region_id": self.region_id, "device_id": self.device_id}


SCOPE_COLUMNS = ("zone_id", "place_kind", "region_id", "device_id")


def read_visible(conn: psycopg.Connection[Any], actor: Actor, query: str, what: str,
                 **params: object) -> list[dict[str, Any]]:
    """Rows of ``query`` (a paged list filtered by :func:`visible_sql`, with a ``total``
    column) that ``actor`` may read; ``what`` names them in the refusal."""
    if actor.role not in READERS:
        raise Forbidden(f"{what} are for admins, centre operators and viewers")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, {**params, **visibility_params(actor)}).fetchall()


def total_of(rows: list[dict[str, Any]]) -> int:
    return int(rows[0]["total"]) if rows else 0


def only(rows: list[dict[str, Any]], what: str) -> dict[str, Any]:
    """The one row of a lookup by id, or 404 naming ``what`` (e.g. "rule 7")."""
    if not rows:
        raise NotFound(f"{what} does not exist or is outside your scope")
    return rows[0]


def scoped_out(row: dict[str, Any], actor: Actor, fields: tuple[str, ...],
               scope_columns: tuple[str, ...] = SCOPE_COLUMNS) -> dict[str, Any]:
    """A stored rule, silence or period in the API's shape: ``fields``, its ``scope``,
    and whether ``actor`` may edit it."""
    out = {k: row[k] for k in fields}
    out["scope"] = {k: row[k] for k in scope_columns}
    out["editable"] = may_manage(actor, row["scope_path"])
    return out


def require_manager(actor: Actor, what: str = "rules") -> None:
    if actor.role not in MANAGERS:
        raise Forbidden(f"managing {what} needs the admin or operator role, not "
                        f"{actor.role.value}")


def may_manage(actor: Actor, path: str | None) -> bool:
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.OPERATOR and path is not None and covers(actor, path)


def visible_path(actor: Actor, path: str | None) -> bool:
    """Readers see what applies to their region: city-wide, ancestors' and their subtree's."""
    return rule_visible(actor, path)


def resolve_scope(cur: psycopg.Cursor[Any], actor: Actor, scope: ScopeIn,
                  where: str = "body.scope") -> ResolvedScope:
    """Check that every part of ``scope`` exists, fits together and is the actor's to use.

    An operator who gives no zone, device or region gets their own region.
    """
    region_id = scope.region_id
    if actor.role is Role.OPERATOR and not (scope.zone_id or scope.device_id or region_id):
        region_id = _region_of(cur, actor)
    problems: list[Problem] = []
    region_path = _lookup(cur, actor, "SELECT path FROM regions WHERE id = %s", region_id,
                          f"{where}.region_id", "region", problems)
    zone_path = _lookup(cur, actor, _ZONE_PATH, scope.zone_id, f"{where}.zone_id", "zone",
                        problems)
    device_path = _lookup(cur, actor, _DEVICE_PATH, scope.device_id, f"{where}.device_id",
                          "device", problems)
    if scope.place_kind is not None:
        problems += _place_kind_problems(cur, scope.place_kind, f"{where}.place_kind")
    for name, path in (("zone_id", zone_path), ("device_id", device_path)):
        if region_path and path and not in_subtree(path, region_path):
            problems.append(Problem(f"{where}.{name}", f"lies in {path}, outside region "
                                    f"{region_id} ({region_path}): nothing would match"))
    if problems:
        raise Invalid(problems)
    path = zone_path or device_path or region_path
    if not may_manage(actor, path):
        raise Forbidden(f"you manage only region {actor.region_path}; this scope is "
                        f"{path or 'city-wide'}")
    return ResolvedScope(scope.zone_id, scope.place_kind, region_id, scope.device_id, path)


def _region_of(cur: psycopg.Cursor[Any], actor: Actor) -> str | None:
    row = cur.execute("SELECT id FROM regions WHERE path = %s", (actor.region_path,)).fetchone()
    return None if row is None else str(row["id"])


def _lookup(cur: psycopg.Cursor[Any], actor: Actor, query: str, key: str | None,
            location: str, what: str, problems: list[Problem]) -> str | None:
    """The path of the zone, device or region ``key``; one the actor may not see is
    reported exactly as one that does not exist (no existence oracle)."""
    if key is None:
        return None
    row = cur.execute(query, (key,)).fetchone()
    path = None if row is None or row["path"] is None else str(row["path"])
    if row is None or not rule_visible(actor, path):
        problems.append(Problem(location, f"no {what} {key!r}"))
        return None
    return path


def _place_kind_problems(cur: psycopg.Cursor[Any], kind: str, location: str) -> list[Problem]:
    kinds = [r["kind"] for r in cur.execute("SELECT DISTINCT kind FROM places ORDER BY 1")]
    if kind in kinds:
        return []
    known = ", ".join(kinds[:20]) or "none registered yet"
    return [Problem(location, f"no place of kind {kind!r}; known kinds: {known}")]
