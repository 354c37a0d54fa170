"""Device rule kinds: sensor thresholds, device offline, stale data, camera tampering.

One sample per device in the rule's scope. A device's grid is its own ``grid_code``,
else its place's grid; a device with neither still alerts (event log, webhooks) but
cannot become a grid task.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import psycopg

from alerts.context import CycleContext, keep
from alerts.decide import Condition
from alerts.model import Rule, Sample, Severity, Subject
from alerts.scope import DEVICE_STATUS_TARGETS, SENSOR_TARGETS, targets

Row = Mapping[str, Any]

DEFAULT_TAMPER_PATTERNS = ("lens covered", "scene changed", "frozen frame", "tamper",
                           "obstructed", "out of focus")
_BOOLEAN = (1.0, 1.0)  # value 1 = condition true; fires at 1, clears below 1


def device_subject(row: Row) -> Subject:
    return Subject.from_row(f"device:{row['device_id']}", row)


def fingerprint(rule: Rule, device_id: str) -> str:
    return f"{rule.kind}:{rule.id}:device:{device_id}"


def _sample(ctx: CycleContext, rule: Rule, row: Row, value: float | None, cond: Condition,
            severity: Severity, detail: str, since: Any = None) -> Sample | None:
    fp = fingerprint(rule, row["device_id"])
    if ctx.idle(fp, value, cond):
        return None
    return Sample(rule, device_subject(row), fp, value, cond, rule.severity or severity,
                  detail, since)


def sensor_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    metric = rule.params.get("metric")
    if rule.threshold is None or not metric:
        return []
    below = rule.params.get("direction") == "below"
    base = (rule.threshold, rule.clear_threshold if rule.clear_threshold is not None
            else rule.threshold)
    out: list[Sample] = []
    for row in targets(cur, SENSOR_TARGETS, rule, metric=metric):
        value = float(row["value"]) if ctx.fresh(row["time"]) else None
        subject = device_subject(row)
        threshold, clear, why = ctx.thresholds(rule, subject, base, below=below)
        word, back = ("below", "above") if below else ("above", "below")
        unit = f" {row['unit']}" if row["unit"] else ""
        detail = (f"{metric} {value:g}{unit} {word} {threshold:g}"
                  f" (clears {back} {clear:g}{why})" if value is not None else "no fresh data")
        keep(out, _sample(ctx, rule, row, value, rule.condition(threshold, clear, below=below),
                          Severity.MAJOR, detail))
    return out


# Offline, stale and tamper rules are swept over every device on the timer tick, so the
# store returns only devices where the rule can act: those where its condition may hold
# (each kind's predicate below is a superset of it) and those of its active alerts.
_MAY_BE_OFFLINE = "s.state IN ('offline', 'lost')"
_MAY_BE_STALE = "s.last_seen <= %(seen_before)s"
_MAY_BE_TAMPERED = "s.detail <> ''"


def _status_rows(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext,
                 default_kind: str | None, may_hold: str,
                 **extra: object) -> list[dict[str, Any]]:
    kind = rule.params.get("device_kind", default_kind)
    prefix = fingerprint(rule, "")
    active = [fp[len(prefix):] for fp in ctx.active if fp.startswith(prefix)]
    query = f"{DEVICE_STATUS_TARGETS} AND ({may_hold} OR d.id = ANY(%(active)s::text[]))"
    return targets(cur, query, rule, device_kind=kind, active=active, **extra)


def offline_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    """Offline or lost (Last Will) for ``for_seconds``, counted from the state change."""
    out: list[Sample] = []
    for row in _status_rows(cur, rule, ctx, None, _MAY_BE_OFFLINE):
        if row["state"] is None:
            keep(out, _sample(ctx, rule, row, None, rule.condition(*_BOOLEAN), Severity.MINOR,
                              "never reported"))
            continue
        down = row["state"] in ("offline", "lost")
        detail = f"{row['state']} since {row['changed_at']:%Y-%m-%d %H:%M:%S%z}"
        if row["detail"]:
            detail += f": {row['detail']}"
        keep(out, _sample(ctx, rule, row, 1.0 if down else 0.0, rule.condition(*_BOOLEAN),
                          Severity.MINOR, detail, row["changed_at"] if down else None))
    return out


def stale_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    """No data for more than ``threshold`` seconds (``last_seen``); cameras by default."""
    if rule.threshold is None:
        return []
    base = (rule.threshold, rule.clear_threshold if rule.clear_threshold is not None
            else rule.threshold)
    # the lowest limit any sensitive period could set: no device seen since can be stale
    lowest = min([base[0], *(p.override(*base)[0] for p in ctx.periods
                             if p.rule_id in (None, rule.id))])
    out: list[Sample] = []
    for row in _status_rows(cur, rule, ctx, "camera", _MAY_BE_STALE,
                            seen_before=ctx.now - timedelta(seconds=lowest)):
        seen = row["last_seen"]
        value = (ctx.now - seen).total_seconds() if seen is not None else None
        threshold, clear, why = ctx.thresholds(rule, device_subject(row), base)
        detail = (f"no data for {value:.0f} s (limit {threshold:g} s{why})"
                  if value is not None else "never reported")
        keep(out, _sample(ctx, rule, row, value, rule.condition(threshold, clear),
                          Severity.MINOR, detail))
    return out


def tamper_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    """A camera's status detail names tampering ("lens covered", "scene changed", ...)."""
    patterns = [p.casefold() for p in rule.params.get("patterns") or DEFAULT_TAMPER_PATTERNS]
    out: list[Sample] = []
    for row in _status_rows(cur, rule, ctx, "camera", _MAY_BE_TAMPERED):
        if row["state"] is None:
            keep(out, _sample(ctx, rule, row, None, rule.condition(*_BOOLEAN), Severity.MAJOR,
                              "never reported"))
            continue
        text = (row["detail"] or "").casefold()
        hit = next((p for p in patterns if p in text), None)
        detail = f"tampering: {row['detail']}" if hit else f"status: {row['detail'] or 'ok'}"
        keep(out, _sample(ctx, rule, row, 1.0 if hit else 0.0, rule.condition(*_BOOLEAN),
                          Severity.MAJOR, detail, row["changed_at"] if hit else None))
    return out
