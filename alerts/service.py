"""The alert evaluator process: leader election plus a change-driven evaluation loop.

Every instance runs this loop; only the one holding the advisory lock evaluates, and
it evaluates *on the session that holds the lock*, so a leader whose session dies can
never finish a cycle after a standby took over.

What wakes a cycle: ingest's triggers NOTIFY ``sharpeyes_alert_inputs`` with the zones a
statement changed (migration 0018) or ``sensor_current``; the loop collects them
(:class:`~alerts.focus.ChangeFeed`) and the next cycle decides those zones, plus the
zones of active alerts (their ``for`` / ``clear_for`` timers). A timer tick every
``interval`` seconds also sweeps the time-driven rules (offline, stale, tamper) so "no
data" and "held for 10 minutes" are seen without new messages. The first cycle on a
session, and any cycle whose rules or periods changed, sweeps everything. Wake-ups are at
least ``min_gap`` apart, so a busy ingest cannot spin the evaluator.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.engine import CycleResult, evaluate
from alerts.focus import ChangeFeed
from alerts.leader import LeaderLock
from alerts.trends import TrendCache
from store.channels import ALERT_INPUTS_CHANNEL

log = logging.getLogger(__name__)

INPUTS_CHANNEL = ALERT_INPUTS_CHANNEL


def utc_now() -> datetime:
    return datetime.now(UTC)


class CycleStats:
    """Recent cycle durations and sizes, for the bench and for monitoring; thread-safe."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._seconds: deque[float] = deque(maxlen=keep)
        self._evaluated: deque[int] = deque(maxlen=keep)
        self.cycles = 0
        self.sweeps = 0   # cycles that decided every subject

    def record(self, result: CycleResult) -> None:
        with self._lock:
            self._seconds.append(result.seconds)
            self._evaluated.append(result.evaluated)
            self.cycles += 1
            self.sweeps += result.swept

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
    feed, signature, next_tick = ChangeFeed(), None, 0.0
    try:
        while not stop.is_set():
            try:
                if not leader.acquire():
                    stop.wait(interval)
                    continue
                conn = leader.connection
                if listening is not conn:
                    conn.execute(f"LISTEN {INPUTS_CHANNEL}")
                    listening, feed, signature = conn, ChangeFeed(), None  # sweep first
                _collect(conn, feed, 0.0)
                tick = time.monotonic() >= next_tick
                if tick:
                    next_tick = time.monotonic() + interval
                result = evaluate(conn, clock(), timedelta(seconds=stale_after), trends=trends,
                                  focus=feed.take(timers=tick, signature=signature))
                signature = result.signature
                if stats is not None:
                    stats.record(result)
                _wait(conn, stop, feed, next_tick, min_gap)
            except psycopg.Error:
                log.exception("alert evaluation lost the database; standing by")
                leader.release()
                stop.wait(min(interval, 1.0))
    finally:
        leader.release()


def _collect(conn: psycopg.Connection[Any], feed: ChangeFeed, timeout: float) -> None:
    """Note notifications (those already received first) until one asks for a cycle or
    ``timeout`` passes. Each ``notifies()`` runs to its end: closing it early would drop
    the rest of a packet it received, and with them zones that changed."""
    deadline = time.monotonic() + timeout
    while True:
        woke = False
        for note in conn.notifies(timeout=max(0.0, deadline - time.monotonic()), stop_after=1):
            woke = feed.add(note.payload) or woke
        if woke or time.monotonic() >= deadline:
            return


def _wait(conn: psycopg.Connection[Any], stop: threading.Event, feed: ChangeFeed,
          next_tick: float, min_gap: float) -> None:
    """Until the next cycle: the timer tick, or a change after ``min_gap``."""
    if stop.wait(min(min_gap, max(0.0, next_tick - time.monotonic()))):
        return
    _collect(conn, feed, max(0.0, next_tick - time.monotonic()))
