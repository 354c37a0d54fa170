"""The alert evaluator process: leader election plus a timer-driven evaluation loop.

Every instance runs this loop; only the one holding the advisory lock evaluates, and
it evaluates *on the session that holds the lock*, so a leader whose session dies can
never finish a cycle after a standby took over. Cycles run every ``interval`` seconds
(so "no data" and "held for 10 minutes" are seen without new messages) and sooner when
ingest changes an input: triggers on ``zone_current``, ``sensor_current`` and
``device_status`` NOTIFY ``sharpeyes_alert_inputs``. Wake-ups are at least ``min_gap``
apart, so a busy ingest cannot spin the evaluator.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.engine import CycleResult, evaluate
from alerts.leader import LeaderLock
from alerts.trends import TrendCache

log = logging.getLogger(__name__)

INPUTS_CHANNEL = "sharpeyes_alert_inputs"


def utc_now() -> datetime:
    return datetime.now(UTC)


class CycleStats:
    """Recent cycle durations and sizes, for the bench and for monitoring; thread-safe."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._seconds: deque[float] = deque(maxlen=keep)
        self._evaluated: deque[int] = deque(maxlen=keep)
        self.cycles = 0

    def record(self, result: CycleResult) -> None:
        with self._lock:
            self._seconds.append(result.seconds)
            self._evaluated.append(result.evaluated)
            self.cycles += 1

    def durations(self) -> list[float]:
        with self._lock:
            return list(self._seconds)

    def sizes(self) -> list[int]:
        with self._lock:
            return list(self._evaluated)


def run_alerts(url: str, stop: threading.Event, interval: float, stale_after: float, *,
               min_gap: float = 0.2, stats: CycleStats | None = None,
               clock: Callable[[], datetime] = utc_now) -> None:
    """Evaluate while this process holds the leader lock; stand by otherwise."""
    leader = LeaderLock(url)
    trends = TrendCache()
    listening: object = None
    try:
        while not stop.is_set():
            try:
                if not leader.acquire():
                    stop.wait(interval)
                    continue
                conn = leader.connection
                if listening is not conn:
                    conn.execute(f"LISTEN {INPUTS_CHANNEL}")
                    listening = conn
                result = evaluate(conn, clock(), timedelta(seconds=stale_after), trends=trends)
                if stats is not None:
                    stats.record(result)
                _wait(conn, stop, interval, min_gap)
            except psycopg.Error:
                log.exception("alert evaluation lost the database; standing by")
                leader.release()
                stop.wait(min(interval, 1.0))
    finally:
        leader.release()


def _wait(conn: psycopg.Connection[Any], stop: threading.Event, interval: float,
          min_gap: float) -> None:
    """Until the next cycle: ``interval``, or an input change after ``min_gap``."""
    gap = min(min_gap, interval)
    if stop.wait(gap):
        return
    remaining = interval - gap
    if remaining > 0:
        for _ in conn.notifies(timeout=remaining, stop_after=1):
            pass
