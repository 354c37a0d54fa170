"""Composite rules: other rules agree within one place (camera and sensor, two cameras).

``params = {"all_of": [rule ids], "min_devices": n}``: the composite is true at a place
when every listed rule has a firing alert about that place (a zone or device there) and
those alerts come from at least ``min_devices`` distinct devices. Evaluated after every
other rule in the same cycle, so it sees this cycle's alerts.
"""

from __future__ import annotations

from typing import Any

import psycopg

from alerts.context import CycleContext
from alerts.model import Rule, Sample, Severity, Subject, worst
from alerts.scope import PLACE_TARGETS, targets

_PARTS = """
SELECT a.place_id, count(DISTINCT a.rule_id) AS rules, count(DISTINCT a.device_id) AS devices,
       array_agg(DISTINCT a.severity) AS severities, array_agg(DISTINCT a.id) AS alerts
FROM alerts a
WHERE a.state = 'firing' AND a.rule_id = ANY(%(rules)s) AND a.place_id = ANY(%(places)s)
GROUP BY a.place_id
"""


def fingerprint(rule: Rule, place_id: str) -> str:
    return f"{rule.kind}:{rule.id}:place:{place_id}"


def composite_samples(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext) -> list[Sample]:
    wanted = [int(r) for r in rule.params.get("all_of", [])]
    if not wanted:
        return []
    min_devices = int(rule.params.get("min_devices", 1))
    places = targets(cur, PLACE_TARGETS, rule)
    parts = {r["place_id"]: r for r in cur.execute(
        _PARTS, {"rules": wanted, "places": [p["place_id"] for p in places]})}
    out = []
    for place in places:
        part = parts.get(place["place_id"])
        agree = (part is not None and part["rules"] == len(set(wanted))
                 and part["devices"] >= min_devices)
        severity = Severity.MAJOR
        detail = "not all conditions hold"
        if agree and part is not None:
            severity = worst(*(Severity(s) for s in part["severities"]))
            detail = (f"rules {sorted(set(wanted))} agree at {place['name']} over"
                      f" {part['devices']} device(s): alerts {sorted(part['alerts'])}")
        fp, value, cond = fingerprint(rule, place["place_id"]), 1.0 if agree else 0.0, (
            rule.condition(1.0, 1.0))
        if not ctx.idle(fp, value, cond):
            out.append(Sample(rule, Subject.from_row(f"place:{place['place_id']}", place), fp,
                              value, cond, rule.severity or severity, detail))
    return out
