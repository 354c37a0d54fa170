"""Zone rule kinds: density or count above a threshold, rate of rise, forecast breach.

Each returns one :class:`~alerts.model.Sample` per zone in the rule's scope. Current
values come from ``zone_current`` (kept by ingest); slopes and forecasts from the last
``window_seconds`` of ``crowd_observations`` (:mod:`alerts.trends`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from alerts.context import CycleContext, keep
from alerts.forecast import Trend
from alerts.model import MAX_DENSITY, Rule, Sample, Severity, Subject, severity_of_density
from alerts.scope import ZONE_TARGETS, ZONE_TARGETS_IN, targets
from alerts.trends import fits_for

Row = Mapping[str, Any]


def zone_rows(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[dict[str, Any]]:
    """The zones in ``rule``'s scope this cycle decides: all, or the focused ones. Read
    once per cycle and scope: the zone rules of one scope share the rows (read only)."""
    key = ("zones", tuple(sorted(rule.scope.sql_params().items(), key=str)))
    rows: list[dict[str, Any]] | None = ctx.memo.get(key)
    if rows is None:
        if ctx.zones is None:
            rows = targets(cur, ZONE_TARGETS, rule)
        else:
            rows = targets(cur, ZONE_TARGETS_IN, rule, zones=sorted(ctx.zones)) if ctx.zones else []
        ctx.memo[key] = rows
    return rows

def zone_subject(row: Row) -> Subject:
    return Subject.from_row(f"zone:{row['zone_id']}", row)


def fingerprint(rule: Rule, zone_id: str) -> str:
    return f"{rule.kind}:{rule.id}:{zone_id}"


def _zone_defaults(rule: Rule, row: Row) -> tuple[float, float]:
    """The rule's thresholds, else the zone's own (fire at critical, clear below warn)."""
    if rule.threshold is not None:
        clear = rule.clear_threshold if rule.clear_threshold is not None else rule.threshold
        return rule.threshold, clear
    return row["critical_density"], min(row["warn_density"], row["critical_density"])


def _sample(rule: Rule, row: Row, ctx: CycleContext, value: float | None,
            base: tuple[float, float], severity: Severity, describe: str) -> Sample | None:
    subject = zone_subject(row)
    threshold, clear, why = ctx.thresholds(rule, subject, base)
    fp, cond = fingerprint(rule, row["zone_id"]), rule.condition(threshold, clear)
    if ctx.idle(fp, value, cond):
        return None
    detail = (f"{describe} (fires at {threshold:g}, clears below {clear:g}{why})"
              if value is not None else "no fresh data")
    return Sample(rule, subject, fp, value, cond, rule.severity or severity, detail)


def density_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    out: list[Sample] = []
    for row in zone_rows(cur, rule, ctx):
        value = float(row["density"]) if ctx.fresh(row["time"]) else None
        base = _zone_defaults(rule, row)
        severity = severity_of_density(value if value is not None else base[0])
        keep(out, _sample(rule, row, ctx, value, base, severity,
                          f"density {value or 0:.2f}/m²"))
    return out


def count_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    if rule.threshold is None:
        return []
    base = (rule.threshold, rule.clear_threshold if rule.clear_threshold is not None
            else rule.threshold)
    out: list[Sample] = []
    for row in zone_rows(cur, rule, ctx):
        value = float(row["count"]) if ctx.fresh(row["time"]) else None
        keep(out, _sample(rule, row, ctx, value, base, Severity.MAJOR,
                          f"{value or 0:.0f} people"))
    return out


def rate_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    """Slope over the window (per minute) of density or count, by least squares."""
    if rule.threshold is None:
        return []
    rows = zone_rows(cur, rule, ctx)
    window = float(rule.params.get("window_seconds", 60))
    fits = fits_for(cur, rule, [r["zone_id"] for r in rows], ctx.now,
                    ctx.window_start(window), ctx.trends)
    minimum = int(rule.params.get("min_samples", 3))
    base = (rule.threshold, rule.clear_threshold if rule.clear_threshold is not None
            else rule.threshold)
    unit = "/m²" if rule.params.get("metric", "density") == "density" else " people"
    out: list[Sample] = []
    for row in rows:
        fit = fits.get(row["zone_id"])
        value = fit.trend.slope * 60 if fit is not None and fit.samples >= minimum else None
        current = row["density"] if ctx.fresh(row["time"]) else 0.0
        keep(out, _sample(rule, row, ctx, value, base, severity_of_density(current),
                          f"rising {value or 0:+.2f}{unit} per minute over {window:g} s"))
    return out


def forecast_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    """Density predicted ``horizon_seconds`` ahead by a linear trend or Holt's smoothing."""
    rows = zone_rows(cur, rule, ctx)
    window = float(rule.params.get("window_seconds", 300))
    fits = fits_for(cur, rule, [r["zone_id"] for r in rows], ctx.now,
                    ctx.window_start(window), ctx.trends)
    minimum = int(rule.params.get("min_samples", 5))
    horizon = float(rule.params.get("horizon_seconds", 300))
    out: list[Sample] = []
    for row in rows:
        fit = fits.get(row["zone_id"])
        trend = fit.trend if fit is not None and fit.samples >= minimum else None
        value = min(trend.at(horizon), MAX_DENSITY) if trend is not None else None
        base = _zone_defaults(rule, row)
        severity = severity_of_density(value if value is not None else base[0])
        keep(out, _sample(rule, row, ctx, value, base, severity,
                          _forecast_detail(trend, horizon, base[0])))
    return out


def _forecast_detail(trend: Trend | None, horizon: float, threshold: float) -> str:
    if trend is None:
        return "not enough recent data"
    eta = trend.seconds_to_reach(threshold)
    reach = f"; reaches {threshold:g}/m² in ~{eta:.0f} s" if eta is not None else ""
    return (f"forecast {min(trend.at(horizon), MAX_DENSITY):.2f}/m² in {horizon:g} s"
            f" (now {trend.level:.2f}/m²,"
            f" {trend.slope * 60:+.2f}/m² per minute){reach}")
