"""What a rule covers, in SQL, and the sensitive periods that change its thresholds.

A rule's scope is a conjunction: a zone, a device, a place kind (``places.kind``) and a
region subtree (``regions.path`` prefix); unset parts match everything. The target
queries below return one row per zone, device or place inside a scope, with what an
alert needs to know about where it belongs (grid, region path, place).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from alerts.model import Rule, Scope, Subject
from grid.visibility import subtree_sql

# A rule's region part: unset matches everything, else the region's subtree (the one rule
# of grid.visibility; Scope.covers is its Python twin).
_REGION = f"(%(region_path)s::text IS NULL OR {subtree_sql('r.path', '%(region_path)s')})"

ZONE_TARGETS = f"""
SELECT z.id AS zone_id, z.device_id, z.place_id, p.kind AS place_kind, z.grid_code,
       r.path AS region_path, z.name, z.warn_density, z.critical_density,
       c.density, c.count, c.time
FROM zones z JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
LEFT JOIN places p ON p.id = z.place_id
LEFT JOIN zone_current c ON c.zone_id = z.id
WHERE (%(zone)s::text IS NULL OR z.id = %(zone)s)
  AND (%(device)s::text IS NULL OR z.device_id = %(device)s)
  AND (%(place_kind)s::text IS NULL OR p.kind = %(place_kind)s)
  AND {_REGION}
"""

# The same, for the zones a focused cycle decides (alerts.focus): an index lookup each.
ZONE_TARGETS_IN = ZONE_TARGETS + "  AND z.id = ANY(%(zones)s::text[])\n"

# Devices belong to a grid directly or through their place.
_DEVICE_FROM = f"""
FROM devices d
LEFT JOIN places p ON p.id = d.place_id
LEFT JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)
LEFT JOIN regions r ON r.id = g.region_id
{{join}}
WHERE (%(device)s::text IS NULL OR d.id = %(device)s)
  AND (%(place_kind)s::text IS NULL OR p.kind = %(place_kind)s)
  AND {_REGION}
"""

_DEVICE_COLUMNS = ("d.id AS device_id, d.kind AS device_kind, d.name, d.place_id,"
                   " p.kind AS place_kind, g.code AS grid_code, r.path AS region_path")

DEVICE_STATUS_TARGETS = (
    f"SELECT {_DEVICE_COLUMNS}, s.state, s.changed_at, s.last_seen, s.detail"
    + _DEVICE_FROM.format(join="LEFT JOIN device_status s ON s.device_id = d.id")
    + " AND (%(device_kind)s::text IS NULL OR d.kind = %(device_kind)s)"
)

SENSOR_TARGETS = (
    f"SELECT {_DEVICE_COLUMNS}, s.metric, s.value, s.unit, s.time"
    + _DEVICE_FROM.format(join="JOIN sensor_current s ON s.device_id = d.id")
    + " AND s.metric = %(metric)s"
)

PLACE_TARGETS = f"""
SELECT pl.id AS place_id, pl.kind AS place_kind, pl.name, pl.grid_code, r.path AS region_path
FROM places pl JOIN grids g ON g.code = pl.grid_code JOIN regions r ON r.id = g.region_id
WHERE (%(place_kind)s::text IS NULL OR pl.kind = %(place_kind)s)
  AND {_REGION}
"""


def targets(cur: psycopg.Cursor[Any], query: str, rule: Rule,
            **extra: object) -> list[dict[str, Any]]:
    """Rows of ``query`` inside ``rule``'s scope."""
    return cur.execute(query, {**rule.scope.sql_params(), **extra}).fetchall()


@dataclass(frozen=True, slots=True)
class Period:
    """A sensitive period (major event, holiday): thresholds of matching rules change."""

    id: int
    name: str
    rule_id: int | None
    scope: Scope
    factor: float | None
    threshold: float | None
    clear_threshold: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Period:
        scope = Scope(row["zone_id"], row["place_kind"], row["region_id"], row["region_path"])
        return cls(int(row["id"]), row["name"], row["rule_id"], scope, row["factor"],
                   row["threshold"], row["clear_threshold"])

    def applies(self, rule: Rule, subject: Subject) -> bool:
        return (self.rule_id is None or self.rule_id == rule.id) and self.scope.covers(subject)

    def override(self, threshold: float, clear: float) -> tuple[float, float]:
        if self.factor is not None:
            return threshold * self.factor, clear * self.factor
        assert self.threshold is not None and self.clear_threshold is not None
        return self.threshold, self.clear_threshold


_ACTIVE_PERIODS = """
SELECT p.*, r.path AS region_path FROM alert_periods p LEFT JOIN regions r ON r.id = p.region_id
WHERE p.starts_at <= %(now)s AND p.ends_at > %(now)s ORDER BY p.id
"""


def active_periods(cur: psycopg.Cursor[Any], now: datetime) -> tuple[Period, ...]:
    return tuple(Period.from_row(r) for r in cur.execute(_ACTIVE_PERIODS, {"now": now}))


def thresholds(rule: Rule, subject: Subject, base: tuple[float, float],
               periods: Iterable[Period], *, below: bool = False) -> tuple[float, float, str]:
    """The (threshold, clear threshold) in force for ``subject`` now, and why.

    Where several periods apply, the most sensitive one wins (the lowest threshold,
    or the highest for a "below" rule).
    """
    best, why = base, ""
    for period in periods:
        if period.applies(rule, subject):
            candidate = period.override(*base)
            stricter = candidate[0] > best[0] if below else candidate[0] < best[0]
            if not why or stricter:
                best, why = candidate, f" during {period.name!r}"
    return best[0], best[1], why
