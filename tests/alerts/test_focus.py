"""Change-driven evaluation (issue 17): a cycle decides the zones with new data and the
zones of active alerts; time-driven rules on the timer tick; everything when rules change.

Against the real store: migration 0018's triggers announce which zones a statement
changed, and the evaluator loop is woken by that notification, not by its timer.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import psycopg

from alerts.engine import evaluate
from alerts.focus import ChangeFeed, Focus
from alerts.service import CycleStats, run_alerts
from store.channels import ALERT_INPUTS_CHANNEL, ZONE_CHANGES_PREFIX
from tests.alerts.support import STALE, add_rule, alerts, now, only_rule, set_density, set_status
from tests.helpers import wait_until

T0 = now()


def _sweep(db: psycopg.Connection, at: object = T0) -> int:
    """A full cycle; the signature a focused cycle must carry."""
    result = evaluate(db, at, STALE)  # type: ignore[arg-type]
    assert result.swept
    return result.signature


def test_a_changed_zone_is_decided_without_a_sweep_and_an_unchanged_one_is_not(
    city: psycopg.Connection,
) -> None:
    signature = _sweep(city)
    set_density(city, "Z-A", 5.0, T0)
    set_density(city, "Z-B", 5.0, T0)  # changed too, but no notification named it
    result = evaluate(city, T0, STALE, focus=Focus(frozenset({"Z-A"}), signature=signature))
    assert not result.swept and result.evaluated == 1
    assert alerts(city) == [("zone:Z-A", "firing")]
    # Z-B is decided once its change is announced (or at a sweep), not before.
    result = evaluate(city, T0, STALE, focus=Focus(frozenset({"Z-B"}), signature=signature))
    assert not result.swept
    assert alerts(city) == [("zone:Z-A", "firing"), ("zone:Z-B", "firing")]


def test_a_pending_for_timer_fires_with_no_new_data(city: psycopg.Connection) -> None:
    city.execute("UPDATE alert_rules SET for_seconds = 10")
    signature = _sweep(city)
    set_density(city, "Z-A", 5.0, T0)
    evaluate(city, T0, STALE, focus=Focus(frozenset({"Z-A"}), signature=signature))
    assert alerts(city) == [("zone:Z-A", "pending")]
    idle = Focus(frozenset(), signature=signature)  # nothing changed since
    result = evaluate(city, T0 + timedelta(seconds=5), STALE, focus=idle)
    assert not result.swept and alerts(city) == [("zone:Z-A", "pending")]
    evaluate(city, T0 + timedelta(seconds=11), STALE, focus=idle)
    assert alerts(city) == [("zone:Z-A", "firing")]


def test_offline_and_stale_rules_fire_on_the_timer_tick_and_keep_their_alerts_between(
    city: psycopg.Connection,
) -> None:
    offline = only_rule(city, "device_offline", for_seconds=0)
    stale = add_rule(city, "stale_data", threshold=60.0)
    set_status(city, "CAM-A", "online", T0 - timedelta(minutes=10))
    set_status(city, "CAM-B", "online", T0, last_seen=T0 - timedelta(minutes=5))
    signature = _sweep(city, T0 - timedelta(minutes=10))  # before: nothing to say
    assert alerts(city) == []
    set_status(city, "CAM-A", "offline", T0 - timedelta(seconds=1))  # a Last Will
    between = Focus(frozenset(), signature=signature)  # no tick: device rules wait
    assert evaluate(city, T0, STALE, focus=between).evaluated == 0
    assert alerts(city) == []
    tick = Focus(frozenset(), timers=True, signature=signature)
    result = evaluate(city, T0, STALE, focus=tick)
    assert not result.swept
    assert alerts(city, offline) == [("device:CAM-A", "firing")]
    assert alerts(city, stale) == [("device:CAM-B", "firing")]
    result = evaluate(city, T0 + timedelta(seconds=1), STALE, focus=between)
    assert result.retired == 0  # not decided this cycle is not "no longer covered"
    assert len(alerts(city)) == 2 and {s for _, s in alerts(city)} == {"firing"}


def test_a_rule_edit_makes_the_next_cycle_a_full_sweep(city: psycopg.Connection) -> None:
    signature = _sweep(city)
    set_density(city, "Z-B", 3.0, T0)  # below the zone's critical 4.0: nothing yet
    focus = Focus(frozenset(), signature=signature)
    assert not evaluate(city, T0, STALE, focus=focus).swept
    city.execute("UPDATE alert_rules SET threshold = 2.0, updated_at = now()")
    result = evaluate(city, T0, STALE, focus=focus)  # Z-B's data did not change
    assert result.swept and result.signature != signature
    assert alerts(city) == [("zone:Z-B", "firing")]


def test_zone_current_statements_announce_the_zones_they_changed(
    city: psycopg.Connection, db_url: str,
) -> None:
    city.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2)"
                 " SELECT 'ZONE-WITH-A-LONG-NAME-' || i, 'CAM-A', 'G-A', 'z' || i, 100"
                 " FROM generate_series(1, 1500) i")
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {ALERT_INPUTS_CHANNEL}")
        city.execute("INSERT INTO zone_current (zone_id, time, count, density, device_id)"
                     " SELECT id, now(), 1, 0.01, device_id FROM zones")
        city.execute("UPDATE zone_current SET density = 0.02 WHERE zone_id = 'Z-A'")
        city.execute("UPDATE zone_current SET density = 0.03 WHERE false")  # changes nothing
        feed, payloads = ChangeFeed(), []
        for note in listener.notifies(timeout=1.0):
            payloads.append(note.payload)
            feed.add(note.payload)
    zone_notes = [p for p in payloads if p.startswith(ZONE_CHANGES_PREFIX)]
    assert len(zone_notes) >= 5  # 1,503 zones x ~26 bytes: in chunks under NOTIFY's limit
    assert all(len(p.encode()) < 8000 for p in zone_notes)
    assert json.loads(zone_notes[-1][len(ZONE_CHANGES_PREFIX):]) == ["Z-A"]
    assert len(feed.zones) == 1503 and {"Z-A", "Z-B", "Z-A2"} <= feed.zones


def test_new_data_wakes_a_focused_cycle_long_before_the_timer_and_no_sweep(
    city: psycopg.Connection, db_url: str,
) -> None:
    stop, stats = threading.Event(), CycleStats()
    thread = threading.Thread(target=run_alerts, args=(db_url, stop, 30.0, 120.0),
                              kwargs={"min_gap": 0.05, "stats": stats}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: stats.cycles >= 1, what="the first cycle")
        time.sleep(0.3)
        started = time.monotonic()
        set_density(city, "Z-A", 5.0, now())   # as ingest would: zone_current changes
        wait_until(lambda: alerts(city) == [("zone:Z-A", "firing")], timeout=3,
                   what="the alert")
        assert time.monotonic() - started < 1.0
        assert stats.sweeps == 1 and stats.cycles >= 2  # only the first cycle swept
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
