"""Trends of zones over their recent observations, for rate-of-rise and forecast rules.

A fit reads every observation in a rule's window (1,000 zones reporting each second
over 60 s is 60,000 rows), so fits are kept per rule for ``refit_seconds`` (a rule
parameter, default 5 s) and carried forward along their slope in between: a trend
over a minute of history barely moves in a second. The cache is process memory and
holds only derived values, never alert state; a restarted evaluator simply refits.

Linear fits are least squares in SQL (``regr_slope``/``regr_intercept``); Holt's
smoothing runs in Python over bucket means (about 30 buckets per window).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from alerts.forecast import Trend, holt
from alerts.model import Rule

# One index range scan per zone on (zone_id, time): the cost follows zones × window,
# not the size of the table (a time-only scan of a large table is far slower).
_X = "extract(epoch FROM o.time - %(now)s)::float8"
_IN_WINDOW = ("FROM crowd_observations o"
              " WHERE o.zone_id = z.id AND o.time > %(since)s AND o.time <= %(now)s")

_LINEAR = sql.SQL(
    "SELECT z.id AS zone_id, f.slope, f.level, f.n FROM unnest(%(zones)s::text[]) AS z(id)"
    f" CROSS JOIN LATERAL (SELECT regr_slope(o.{{c}}, {_X}) AS slope,"
    f" regr_intercept(o.{{c}}, {_X}) AS level, count(*) AS n {_IN_WINDOW}) f"
    " WHERE f.slope IS NOT NULL")

_BUCKETS = (
    "SELECT z.id AS zone_id, b.x, b.y FROM unnest(%(zones)s::text[]) AS z(id)"
    f" CROSS JOIN LATERAL (SELECT avg({_X}) AS x, avg(o.density) AS y {_IN_WINDOW}"
    f" GROUP BY floor({_X} / %(bucket)s)) b ORDER BY 1, 2")

DEFAULT_REFIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Fit:
    trend: Trend
    samples: int


class TrendCache:
    """Fits per rule and zone, each with the time it was made (a focused cycle fits only
    the zones it decides). Used by one evaluator thread."""

    def __init__(self) -> None:
        self._fits: dict[str, dict[str, tuple[datetime, Fit | None]]] = {}

    def get(self, key: str, zones: list[str], now: datetime,
            max_age: float) -> tuple[dict[str, Fit], list[str]]:
        """The fits of ``zones`` still young enough, carried to ``now``; the zones to refit."""
        known = self._fits.get(key, {})
        fits: dict[str, Fit] = {}
        stale: list[str] = []
        for zone in zones:
            entry = known.get(zone)
            age = (now - entry[0]).total_seconds() if entry is not None else -1.0
            if entry is None or age < 0 or age >= max_age:
                stale.append(zone)
            elif (f := entry[1]) is not None:
                fits[zone] = Fit(Trend(f.trend.level + f.trend.slope * age, f.trend.slope),
                                 f.samples)
        return fits, stale

    def put(self, key: str, now: datetime, zones: list[str], fits: dict[str, Fit]) -> None:
        """Note the fits made at ``now`` for ``zones`` (a zone without one has too few data)."""
        known = self._fits.setdefault(key, {})
        for zone in zones:
            known[zone] = (now, fits.get(zone))


def fits_for(cur: psycopg.Cursor[Any], rule: Rule, zones: list[str], now: datetime,
             since: datetime, cache: TrendCache | None) -> dict[str, Fit]:
    """Each zone's trend for ``rule`` (its metric, window and method)."""
    key = f"{rule.id}:{json.dumps(dict(rule.params), sort_keys=True)}"
    refit = float(rule.params.get("refit_seconds", DEFAULT_REFIT_SECONDS))
    cached, stale = cache.get(key, zones, now, refit) if cache is not None else ({}, zones)
    if not stale:
        return cached
    params = {"zones": stale, "now": now, "since": since}
    with cur.connection.cursor(row_factory=tuple_row) as rows:   # many rows: no dicts
        if rule.params.get("method") == "holt":
            fits = _holt_fits(rows, params, rule)
        else:
            column = "count" if rule.params.get("metric") == "count" else "density"
            query = _LINEAR.format(c=sql.Identifier(column))
            fits = {zone: Fit(Trend(float(level), float(slope)), int(n))
                    for zone, slope, level, n in rows.execute(query, params)}
    if cache is not None:
        cache.put(key, now, stale, fits)
    return {**cached, **fits}


def _holt_fits(cur: psycopg.Cursor[tuple[Any, ...]], params: dict[str, Any],
               rule: Rule) -> dict[str, Fit]:
    window = (params["now"] - params["since"]).total_seconds()
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for zone, x, y in cur.execute(_BUCKETS, {**params, "bucket": max(1.0, window / 30)}):
        series[zone].append((float(x), float(y)))
    alpha = float(rule.params.get("alpha", 0.5))
    beta = float(rule.params.get("beta", 0.3))
    out = {}
    for zone, points in series.items():
        trend = holt(points, alpha, beta)
        if trend is not None:
            out[zone] = Fit(trend, len(points))
    return out
