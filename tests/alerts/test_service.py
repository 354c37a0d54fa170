"""The evaluator loop: leader failover without duplicates, wake-ups on new data."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from alerts.service import CycleStats, run_alerts
from store.locks import ALERTS_LEADER
from tests.alerts.support import now, set_density
from tests.helpers import wait_until

_LEADER_PID = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
               " AND objid = %s AND database = (SELECT oid FROM pg_database"
               " WHERE datname = current_database())")


@contextmanager
def evaluator(db_url: str, interval: float = 0.2) -> Iterator[tuple[threading.Event, CycleStats]]:
    stop, stats = threading.Event(), CycleStats()
    thread = threading.Thread(target=run_alerts, args=(db_url, stop, interval, 120.0),
                              kwargs={"min_gap": 0.05, "stats": stats}, daemon=True)
    thread.start()
    try:
        yield stop, stats
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive()


def leader_pid(db: psycopg.Connection) -> int | None:
    row = db.execute(_LEADER_PID, (ALERTS_LEADER & 0xFFFFFFFF,)).fetchone()
    return None if row is None else int(row[0])


def test_a_standby_takes_over_when_the_leader_dies_without_duplicates(
    city: psycopg.Connection, db_url: str
) -> None:
    city.execute("UPDATE alert_rules SET for_seconds = 1.5")
    set_density(city, "Z-A", 5.0, now())
    with evaluator(db_url) as first, evaluator(db_url) as second:
        wait_until(lambda: first[1].cycles or second[1].cycles, what="a leader")
        wait_until(lambda: city.execute("SELECT 1 FROM alerts").fetchone(), what="pending")
        (stop_leader, _), (_, standby) = (first, second) if first[1].cycles else (second, first)
        old = leader_pid(city)
        stop_leader.set()                                         # the leader process dies:
        city.execute("SELECT pg_terminate_backend(%s)", (old,))   # its session ends with it
        wait_until(lambda: leader_pid(city) not in (None, old), what="a new leader")
        wait_until(lambda: city.execute("SELECT 1 FROM alerts WHERE state = 'firing'"
                                        ).fetchone(), what="the alert to fire")
        before = standby.cycles
        wait_until(lambda: standby.cycles > before + 5, what="more cycles by the new leader")
    rows = city.execute("SELECT state, fired_at - pending_since FROM alerts").fetchall()
    assert len(rows) == 1 and rows[0][0] == "firing"
    assert rows[0][1].total_seconds() < 5   # the `for` kept counting across the failover
    assert city.execute("SELECT count(*) FROM alert_events").fetchone() == (1,)


def test_new_data_wakes_the_evaluator_before_its_timer(
    city: psycopg.Connection, db_url: str
) -> None:
    with evaluator(db_url, interval=5.0) as (_, stats):
        wait_until(lambda: stats.cycles >= 1, what="the first cycle")
        time.sleep(0.2)
        started = time.monotonic()
        set_density(city, "Z-A", 5.0, now())   # as ingest would: zone_current changes
        wait_until(lambda: city.execute("SELECT 1 FROM alerts").fetchone(), timeout=3,
                   what="the alert")
        assert time.monotonic() - started < 1.0
