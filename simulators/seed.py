"""Load a sample :class:`~simulators.city.City` into the store.

This module owns putting demo data into an empty (migrated) database, and nothing
else: the schema belongs to ``store/``, the data's shape to ``simulators.city``.

``seed_city`` writes every table with COPY inside one transaction, so a load either
lands completely or not at all. It is idempotent: when the city's regions are
already present it writes nothing and reports ``created=False``. Concurrent seeders
serialize on a transaction-scoped advisory lock.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from kernel.errors import ConflictError
from kernel.passwords import hash_password
from simulators.city import City, demo_logins
from store import locks

log = logging.getLogger(__name__)

# Arbitrary constant shared by every sharpeyes process: "sample data being seeded".
SEED_LOCK_KEY = locks.SEED

DEFAULT_RULE_NAME = "Zone density above its critical level"

Row = tuple[Any, ...]


class SeedConflictError(ConflictError, RuntimeError):
    """The database holds some, but not all, of this city's regions (another city)."""


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """Rows written per table by one ``seed_city`` call (all zero when not created)."""

    created: bool
    regions: int = 0
    grids: int = 0
    people: int = 0
    grid_members: int = 0
    places: int = 0
    devices: int = 0
    zones: int = 0
    alert_rules: int = 0


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    rows: Callable[[City, dict[str, str]], Iterable[Row]]


def seed_city(conn: psycopg.Connection, city: City) -> SeedSummary:
    """Load ``city`` in one transaction unless its regions are already there.

    With an autocommit or idle connection the load is committed on return. Inside a
    transaction the caller already opened, it runs in a savepoint and the caller
    commits. Any error rolls the whole load back and propagates.
    """
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEED_LOCK_KEY,))
        if _city_present(conn, city):
            log.info("city %s is already seeded; nothing to do", city.regions[0].id)
            return SeedSummary(created=False)
        hashes = _hashes_by_username(city)
        counts = {table.name: _copy(conn, table, city, hashes) for table in _TABLES}
        rules = _ensure_default_rule(conn)
    summary = _summary(counts, rules)
    log.info("seeded city %s (scale %d) in %.2fs: %s", city.regions[0].id, city.scale,
             time.perf_counter() - started, summary)
    return summary


def _summary(counts: dict[str, int], alert_rules: int) -> SeedSummary:
    return SeedSummary(
        created=True, regions=counts["regions"], grids=counts["grids"], people=counts["people"],
        grid_members=counts["grid_members"], places=counts["places"], devices=counts["devices"],
        zones=counts["zones"], alert_rules=alert_rules,
    )


def _hashes_by_username(city: City) -> dict[str, str]:
    """Password hash per username; scrypt is slow, so each distinct password is hashed once."""
    logins = demo_logins(city)
    by_password = {password: hash_password(password) for password in set(logins.values())}
    return {username: by_password[password] for username, password in logins.items()}


def _city_present(conn: psycopg.Connection, city: City) -> bool:
    """True if every region of ``city`` exists, False if none; a partial match is refused."""
    ids = [region.id for region in city.regions]
    row = conn.execute("SELECT count(*) FROM regions WHERE id = ANY(%s)", (ids,)).fetchone()
    found = int(row[0]) if row else 0
    if 0 < found < len(ids):
        raise SeedConflictError(
            f"{found} of the city's {len(ids)} regions already exist: "
            "the database holds a different sample city (other scale?)"
        )
    return found == len(ids)


def _copy(conn: psycopg.Connection, table: _Table, city: City, hashes: dict[str, str]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.columns))
    )
    written = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in table.rows(city, hashes):
            copy.write_row(row)
            written += 1
    log.info("seed: %d rows into %s", written, table.name)
    return written


def _ensure_default_rule(conn: psycopg.Connection) -> int:
    """Add the default density rule if there is no rule at all; rows inserted (0 or 1)."""
    cur = conn.execute(
        "INSERT INTO alert_rules (name, kind) SELECT %s, 'density_above'"
        " WHERE NOT EXISTS (SELECT 1 FROM alert_rules)",
        (DEFAULT_RULE_NAME,),
    )
    return cur.rowcount


def _json(value: Sequence[Any] | dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


# Row builders, one per table, in foreign-key order.


def _region_rows(city: City, _: dict[str, str]) -> Iterable[Row]:
    return ((r.id, r.parent_id, r.level, r.name, r.path) for r in city.regions)


def _grid_rows(city: City, _: dict[str, str]) -> Iterable[Row]:
    return (
        (g.code, g.region_id, g.name, _json(g.geojson()), g.min_lon, g.min_lat, g.max_lon,
         g.max_lat)
        for g in city.grids
    )


def _person_rows(city: City, hashes: dict[str, str]) -> Iterable[Row]:
    return (
        (p.id, p.username, p.display_name, p.role, p.region_id, p.phone, hashes[p.username],
         p.active)
        for p in city.people
    )


def _member_rows(city: City, _: dict[str, str]) -> Iterable[Row]:
    return ((m.grid_code, m.person_id, m.duty, m.on_duty) for m in city.grid_members)


def _place_rows(city: City, _: dict[str, str]) -> Iterable[Row]:
    return ((p.id, p.name, p.kind, p.grid_code, p.lon, p.lat) for p in city.places)


def _device_rows(city: City, _: dict[str, str]) -> Iterable[Row]:
    return (
        (d.id, d.kind, d.name, d.place_id, d.grid_code, d.source, d.lon, d.lat, d.stream_url)
        for d in city.devices
    )


def _zone_rows(city: City, _: dict[str, str]) -> Iterable[Row]:
    return (
        (z.id, z.device_id, z.place_id, z.grid_code, z.name, z.area_m2, z.warn_density,
         z.critical_density, _json(z.polygon))
        for z in city.zones
    )


_TABLES: tuple[_Table, ...] = (
    _Table("regions", ("id", "parent_id", "level", "name", "path"), _region_rows),
    _Table("grids", ("code", "region_id", "name", "boundary", "min_lon", "min_lat", "max_lon",
                     "max_lat"), _grid_rows),
    _Table("people", ("id", "username", "display_name", "role", "region_id", "phone",
                      "password_hash", "active"), _person_rows),
    _Table("grid_members", ("grid_code", "person_id", "duty", "on_duty"), _member_rows),
    _Table("places", ("id", "name", "kind", "grid_code", "lon", "lat"), _place_rows),
    _Table("devices", ("id", "kind", "name", "place_id", "grid_code", "source", "lon", "lat",
                       "stream_url"), _device_rows),
    _Table("zones", ("id", "device_id", "place_id", "grid_code", "name", "area_m2",
                     "warn_density", "critical_density", "polygon"), _zone_rows),
)
