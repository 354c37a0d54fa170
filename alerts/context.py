"""What every rule kind needs to know during one evaluation cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.decide import Condition
from alerts.model import Rule, Sample, Subject
from alerts.scope import Period, thresholds
from alerts.trends import TrendCache


@dataclass(frozen=True, slots=True)
class CycleContext:
    now: datetime
    stale_after: timedelta
    periods: tuple[Period, ...] = ()
    trends: TrendCache | None = None   # fits reused across cycles (see alerts.trends)
    active: frozenset[str] = frozenset()  # fingerprints of pending and firing alerts
    zones: frozenset[str] | None = None   # zone rules decide only these (None: every zone)
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)  # rows rules share

    def fresh(self, time: datetime | None) -> bool:
        """Whether data stamped ``time`` is recent enough to act on."""
        return time is not None and self.now - time <= self.stale_after

    def thresholds(self, rule: Rule, subject: Subject, base: tuple[float, float], *,
                   below: bool = False) -> tuple[float, float, str]:
        return thresholds(rule, subject, base, self.periods, below=below)

    def idle(self, fingerprint: str, value: float | None, cond: Condition) -> bool:
        """Nothing can happen to a subject whose condition does not hold and that has no
        active alert; samplers skip it (most subjects, most of the time)."""
        return fingerprint not in self.active and not cond.breached(value)

    def window_start(self, seconds: float) -> datetime:
        return self.now - timedelta(seconds=seconds)


def keep(samples: list[Sample], sample: Sample | None) -> None:
    """Append ``sample`` unless a sampler skipped it as idle."""
    if sample is not None:
        samples.append(sample)
