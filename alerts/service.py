"""The alert evaluator process: leader election plus a fixed-period evaluation loop."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts.engine import evaluate
from alerts.leader import LeaderLock

log = logging.getLogger(__name__)


def run_alerts(url: str, stop: threading.Event, interval: float, stale_after: float) -> None:
    """Evaluate every ``interval`` seconds while this process holds the leader lock."""
    leader = LeaderLock(url)
    conn: psycopg.Connection[Any] | None = None
    try:
        while not stop.is_set():
            if not leader.acquire():
                stop.wait(interval)
                continue
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(url, autocommit=True)
                evaluate(conn, datetime.now(UTC), timedelta(seconds=stale_after))
            except psycopg.OperationalError:
                log.exception("alert evaluation lost the database; retrying")
                conn = None
                leader.release()
            stop.wait(interval)
    finally:
        leader.release()
        if conn is not None:
            conn.close()
