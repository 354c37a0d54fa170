"""Periodic jobs (APScheduler 3), run only by the leader of the scheduler lock.

APScheduler keeps no shared state here: every job reads and writes the database
and is idempotent, so a restart, or a standby taking over mid-run, never does a
job's work twice. Leadership is a PostgreSQL advisory lock held on a dedicated
connection (:class:`alerts.leader.LeaderLock`); a process that loses it pauses.
A database that goes away (a restart, a failover) is waited out: the jobs pause, the
lock is sought again every ``check_every`` seconds, and whoever wins it resumes them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

from alerts.leader import LeaderLock
from kernel.progress import StageHealth
from store import locks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    seconds: float
    run: Callable[[], None]


def run_scheduler(url: str, jobs: list[Job], stop: threading.Event,
                  check_every: float = 1.0, health: StageHealth | None = None) -> None:
    """Run ``jobs`` on their intervals while this process holds the scheduler lock."""
    leader = LeaderLock(url, key=locks.SCHEDULER)
    if health is not None:
        health.extra = lambda: _leaderless(url, leader)
    scheduler = BackgroundScheduler(timezone="UTC")
    for job in jobs:
        scheduler.add_job(_guarded(job, leader, health), "interval", seconds=job.seconds,
                          id=job.name, max_instances=1, coalesce=True)
    scheduler.start(paused=True)
    try:
        while not stop.is_set():
            if _lead(leader):
                scheduler.resume()
            else:
                scheduler.pause()
            stop.wait(check_every)
    finally:
        scheduler.shutdown(wait=True)
        leader.release()


def _lead(leader: LeaderLock) -> bool:
    """Whether this process leads; ``False`` while the database cannot be reached."""
    try:
        return leader.acquire()
    except psycopg.Error as exc:
        leader.release()
        log.warning("scheduler: database unreachable (%s); jobs paused until it is back",
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return False


def _leaderless(url: str, leader: LeaderLock) -> str | None:
    """Why no scheduler runs the jobs, if none does: this process does not lead and no
    session holds the lock (a standby is fine; nobody at all is not)."""
    if leader.held():
        return None
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND ((classid::bigint << 32) | objid::bigint) = %s", (locks.SCHEDULER,)
            ).fetchone()
    except psycopg.Error as exc:
        return f"scheduler cannot reach the database: {str(exc).strip()[:200]}"
    return None if row and row[0] else "no process holds the scheduler lock: jobs are not run"


def _guarded(job: Job, leader: LeaderLock,
             health: StageHealth | None = None) -> Callable[[], None]:
    def run() -> None:
        if not leader.held():
            return  # leadership was lost between checks: the new leader runs it
        try:
            job.run()
        except Exception as exc:
            log.exception("scheduled job %s failed; it runs again next interval", job.name)
            if health is not None:
                health.failed(f"job {job.name}", str(exc) or type(exc).__name__)
            return
        if health is not None:
            health.progressed(f"job {job.name}")

    return run
