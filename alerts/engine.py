"""One evaluation cycle of the enabled rules against the store, in one transaction.

Order within a cycle: load rules, sensitive periods and the alert ledger; evaluate each
rule in schedule (composite rules last, so they see this cycle's alerts); retire alerts
no rule covers any more; then notify (silences, first notices, repeats, resolutions).
``NOTIFY sharpeyes_alerts`` wakes the dispatcher when an alert was announced as firing.

A cycle given a :class:`~alerts.focus.Focus` decides only what changed (see
:mod:`alerts.focus`); it sweeps everything when the rules or periods in force differ
from those the focus was taken under, and returns the signature of its own.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts.composite import composite_samples
from alerts.context import CycleContext
from alerts.decide import Step, decide
from alerts.device_rules import offline_samples, sensor_samples, stale_samples, tamper_samples
from alerts.events import announce
from alerts.focus import Focus
from alerts.lifecycle import Ledger, apply, retire_unseen
from alerts.model import Rule, RuleKind, Sample
from alerts.notify import Notified, notify_due
from alerts.schedule import schedule_active
from alerts.scope import active_periods
from alerts.trends import TrendCache
from alerts.zone_rules import count_samples, density_samples, forecast_samples, rate_samples
from store.channels import ALERT_CHANNEL

log = logging.getLogger(__name__)

Sampler = Callable[[psycopg.Cursor[Any], Rule, CycleContext], list[Sample]]

SAMPLERS: dict[RuleKind, Sampler] = {
    RuleKind.DENSITY_ABOVE: density_samples,
    RuleKind.COUNT_ABOVE: count_samples,
    RuleKind.RATE_OF_RISE: rate_samples,
    RuleKind.FORECAST_BREACH: forecast_samples,
    RuleKind.SENSOR_THRESHOLD: sensor_samples,
    RuleKind.DEVICE_OFFLINE: offline_samples,
    RuleKind.STALE_DATA: stale_samples,
    RuleKind.CAMERA_TAMPER: tamper_samples,
    RuleKind.COMPOSITE: composite_samples,
}

_RULES = """
SELECT r.*, rg.path AS region_path
FROM alert_rules r LEFT JOIN regions rg ON rg.id = r.region_id
WHERE r.enabled AND r.deleted_at IS NULL
ORDER BY (r.kind = 'composite'), r.id
"""


@dataclass(frozen=True, slots=True)
class CycleResult:
    evaluated: int                # subjects that needed a decision (breached, or alerting)
    changes: dict[Step, int]
    notified: Notified = field(default_factory=Notified)
    retired: int = 0              # alerts no rule covers any more (disabled, out of schedule)
    seconds: float = 0.0
    swept: bool = True            # every subject was looked at (no focus, or rules changed)
    signature: int = 0            # of the rules in schedule and the periods in force


def evaluate(conn: psycopg.Connection[Any], now: datetime, stale_after: timedelta, *,
             trends: TrendCache | None = None, focus: Focus | None = None) -> CycleResult:
    """Evaluate the rules once at ``now``; apply and return the changes.

    ``trends`` keeps trend fits between cycles (the evaluator loop passes one); without
    it every cycle refits, which tests want. Without ``focus`` every subject is decided.
    """
    started = time.perf_counter()
    changes: Counter[Step] = Counter()
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_RULES).fetchall()
        live = [(row, Rule.from_row(row)) for row in rows]
        live = [(row, rule) for row, rule in live if schedule_active(rule.schedule, now)]
        rules = [rule for _row, rule in live]
        periods = active_periods(cur, now)
        signature = hash(repr(([row for row, _rule in live], periods)))
        if focus is not None and focus.signature != signature:
            focus = None  # rules, schedules or periods changed: decide everything again
        ledger = Ledger(cur, now, max((r.cooldown_seconds for r in rules), default=0.0))
        zones = None if focus is None else focus.zones | ledger.zones()
        ctx = CycleContext(now, stale_after, periods, trends, frozenset(ledger.active), zones)
        seen: set[str] = set()
        kept: set[str] = set()   # alerts of rules this cycle leaves alone: not retired
        for rule in rules:
            if focus is None or focus.decides(rule.kind):
                _evaluate_rule(cur, rule, ctx, ledger, seen, changes)
            else:
                kept |= ledger.of_rule(rule.id)
        retired = retire_unseen(cur, ledger, seen | kept, now)
        notified = notify_due(cur, now)
        if notified.firing:
            cur.execute(f"NOTIFY {ALERT_CHANNEL}")
        if notified.any:
            announce(cur, notified.last_event_id)
    return CycleResult(len(seen), dict(changes), notified, retired,
                       time.perf_counter() - started, focus is None, signature)


def _evaluate_rule(cur: psycopg.Cursor[Any], rule: Rule, ctx: CycleContext, ledger: Ledger,
                   seen: set[str], changes: Counter[Step]) -> None:
    for sample in SAMPLERS[rule.kind](cur, rule, ctx):
        if sample.fingerprint in seen:
            continue
        seen.add(sample.fingerprint)
        step = decide(ledger.memory(sample.fingerprint), sample.value, sample.condition,
                      ctx.now, since=sample.since, cooldown_seconds=rule.cooldown_seconds)
        apply(cur, step, sample, ledger.active.get(sample.fingerprint), ctx.now)
        if step is not Step.NOTHING:
            changes[step] += 1
