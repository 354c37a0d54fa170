"""The audit log: who changed what (rules, devices, zones, tasks, people, API keys).

Route handlers call :func:`record` on the connection that made the change, inside the
same transaction where there is one, so a change and its audit row commit together::

    before = row_as_it_was
    after = conn.execute("UPDATE ... RETURNING *").fetchone()
    record(conn, actor, "zone", zone_id, "update", before, after)

Each row stores the entity's region path so that centre operators can read the changes
inside their subtree; :func:`record` finds it from the entity (or takes it as
``region_path=``). Secrets (password and key hashes, webhook secrets, credentials in
stream URLs) are redacted before anything is written. The table is append-only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any

import psycopg
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb

from grid.actors import Actor

REDACTED = "***"
_SECRET_KEYS = frozenset({"password", "password_hash", "key", "key_hash", "secret", "token"})
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")

# The region of an entity, by kind; each query takes the entity id and returns a path.
_GRID_PATH = "SELECT r.path FROM grids g JOIN regions r ON r.id = g.region_id WHERE g.code = %s"


def _scoped(table: str) -> str:
    """Alert rules, periods and silences: the region of their zone, else their region."""
    return (f"SELECT COALESCE(zr.path, rr.path) FROM {table} a"
            " LEFT JOIN regions rr ON rr.id = a.region_id LEFT JOIN zones z ON z.id = a.zone_id"
            " LEFT JOIN grids g ON g.code = z.grid_code"
            " LEFT JOIN regions zr ON zr.id = g.region_id WHERE a.id::text = %s")


_REGION_OF: dict[str, str] = {
    "zone": "SELECT r.path FROM zones z JOIN grids g ON g.code = z.grid_code"
            " JOIN regions r ON r.id = g.region_id WHERE z.id = %s",
    "device": "SELECT r.path FROM devices d LEFT JOIN places p ON p.id = d.place_id"
              " JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)"
              " JOIN regions r ON r.id = g.region_id WHERE d.id = %s",
    "task": "SELECT r.path FROM tasks t JOIN grids g ON g.code = t.grid_code"
            " JOIN regions r ON r.id = g.region_id WHERE t.id::text = %s",
    "grid": _GRID_PATH,
    "region": "SELECT path FROM regions WHERE id = %s",
    "person": "SELECT r.path FROM people p JOIN regions r ON r.id = p.region_id"
              " WHERE p.id = %s",
    "rule": _scoped("alert_rules"),
    "period": _scoped("alert_periods"),
    "silence": _scoped("alert_silences"),
}


def redact(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy safe to store and show: no secrets, no credentials in URLs, no blobs."""
    if values is None:
        return None
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name in _SECRET_KEYS and value is not None:
            clean[name] = REDACTED
        elif isinstance(value, str):
            clean[name] = _URL_CREDENTIALS.sub(REDACTED + "@", value)
        elif isinstance(value, bytes | bytearray | memoryview):
            clean[name] = f"<{len(value)} bytes>"
        else:
            clean[name] = value
    return clean


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def _jsonb(values: Mapping[str, Any] | None) -> Jsonb | None:
    clean = redact(values)
    if clean is None:
        return None
    return Jsonb(clean, dumps=partial(json.dumps, default=_json_default))


def region_of(conn: psycopg.Connection[Any], entity: str, entity_id: str) -> str | None:
    """The region path an entity belongs to, when its kind is known and it exists."""
    query = _REGION_OF.get(entity)
    if query is None:
        return None
    row = conn.cursor(row_factory=tuple_row).execute(query, (entity_id,)).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def record(conn: psycopg.Connection[Any], actor: Actor | str, entity: str, entity_id: object,
           action: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
           *, region_path: str | None = None) -> int:
    """Append one audit row; returns its id. ``before`` is None for a creation, ``after``
    None for a deletion (find the region before deleting, or pass ``region_path``)."""
    key = str(entity_id)
    path = region_path or region_of(conn, entity, key)
    if isinstance(actor, Actor):
        label, role = actor.label, actor.role.value
        # An operator's change is inside their subtree even where the entity has no region.
        path = path or actor.region_path
    else:
        label, role = actor, None
    row = conn.cursor(row_factory=tuple_row).execute(
        "INSERT INTO audit_log (actor, actor_role, entity, entity_id, action, region_path,"
        " before, after) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (label, role, entity, key, action, path, _jsonb(before), _jsonb(after))).fetchone()
    assert row is not None
    return int(row[0])


def changed_fields(before: Mapping[str, Any] | None,
                   after: Mapping[str, Any] | None) -> list[str]:
    """Names whose values differ between the two snapshots (all of them on create/delete)."""
    old, new = before or {}, after or {}
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
