"""Evaluation against the store: state in the database, one alert per problem, scopes."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from alerts.engine import evaluate
from alerts.leader import LeaderLock
from tests.alerts.support import STALE, add_rule, alerts, now, only_rule, run, set_density

T0 = now()


def test_for_duration_survives_a_restart_of_the_evaluator(db_url: str,
                                                          city: psycopg.Connection) -> None:
    city.execute("UPDATE alert_rules SET for_seconds = 30")
    set_density(city, "Z-A", 4.5, T0)
    with psycopg.connect(db_url, autocommit=True) as first:
        evaluate(first, T0, STALE)
    assert alerts(city) == [("zone:Z-A", "pending")]
    # A new process (new connection, no memory) continues the same pending alert.
    with psycopg.connect(db_url, autocommit=True) as second:
        evaluate(second, T0 + timedelta(seconds=20), STALE)
        assert alerts(city) == [("zone:Z-A", "pending")]
        set_density(city, "Z-A", 4.6, T0 + timedelta(seconds=31), seq=1)
        evaluate(second, T0 + timedelta(seconds=31), STALE)
    assert alerts(city) == [("zone:Z-A", "firing")]
    since = city.execute("SELECT pending_since FROM alerts").fetchone()
    assert since == (T0,)


def test_hysteresis_and_no_duplicate_while_active(city: psycopg.Connection) -> None:
    city.execute("UPDATE alert_rules SET cooldown_seconds = 0")
    # zones warn at 2.5, critical at 4.0; the rule uses each zone's own levels
    for i, density in enumerate([4.2, 4.4, 3.0, 4.1, 2.6, 2.4, 4.3]):
        at = T0 + timedelta(seconds=i)
        set_density(city, "Z-A", density, at, seq=i)
        run(city, at)
    assert alerts(city) == [("zone:Z-A", "resolved"), ("zone:Z-A", "firing")]
    # The first alert resolved only when density fell below 2.5, not at 3.0 or 2.6.
    resolved_at = city.execute("SELECT resolved_at FROM alerts ORDER BY id LIMIT 1").fetchone()
    assert resolved_at == (T0 + timedelta(seconds=5),)


def test_a_count_hovering_at_the_threshold_raises_one_alert(city: psycopg.Connection) -> None:
    """The open-nvr lesson: 21 alerts in 15 s. Hysteresis plus a cooldown give one."""
    rule = only_rule(city, "count_above", threshold=400, clear_threshold=380)
    counts = [395, 405, 398, 410, 370, 402, 399, 401, 360, 404] * 3
    for i, count in enumerate(counts):
        at = T0 + timedelta(seconds=i / 2)
        set_density(city, "Z-A", count / 100, at, seq=i)
        run(city, at)
    # One alert: it fired at 405, resolved at 370, and the cooldown kept 402... quiet.
    assert alerts(city, rule) == [("zone:Z-A", "resolved")]
    events = city.execute("SELECT count(*) FROM alert_events WHERE kind = 'firing'").fetchone()
    assert events == (1,)


def test_a_pending_alert_that_never_fired_leaves_no_trace(city: psycopg.Connection) -> None:
    city.execute("UPDATE alert_rules SET for_seconds = 30")
    set_density(city, "Z-A", 4.5, T0)
    run(city, T0)
    set_density(city, "Z-A", 3.0, T0 + timedelta(seconds=5), seq=1)
    result = run(city, T0 + timedelta(seconds=5))
    assert alerts(city) == [] and result.changes == {"drop": 1}


def test_stale_data_does_not_open_alerts(city: psycopg.Connection) -> None:
    set_density(city, "Z-A", 6.0, T0 - timedelta(minutes=10))
    result = run(city, T0)
    assert result.evaluated == 0 and not result.changes   # stale: nothing to decide
    assert alerts(city) == []


def test_severity_comes_from_the_density_level_unless_the_rule_sets_it(
    city: psycopg.Connection
) -> None:
    fixed = add_rule(city, "density_above", threshold=3.0, clear_threshold=2.0,
                     severity="minor")
    set_density(city, "Z-A", 4.2, T0)
    set_density(city, "Z-B", 5.5, T0)
    run(city, T0)
    rows = city.execute("SELECT rule_id, zone_id, severity FROM alerts ORDER BY rule_id, zone_id"
                        ).fetchall()
    assert rows == [(1, "Z-A", "major"), (1, "Z-B", "critical"),
                    (fixed, "Z-A", "minor"), (fixed, "Z-B", "minor")]


def test_a_firing_alert_keeps_its_peak_and_escalates(city: psycopg.Connection) -> None:
    for i, density in enumerate([4.2, 5.6, 4.8]):
        set_density(city, "Z-A", density, T0 + timedelta(seconds=i), seq=i)
        run(city, T0 + timedelta(seconds=i))
    assert city.execute("SELECT value, severity FROM alerts").fetchone() == (5.6, "critical")


def test_a_rule_scoped_to_a_region_does_not_fire_elsewhere(city: psycopg.Connection) -> None:
    rule = only_rule(city, "density_above", threshold=3.0, clear_threshold=2.0,
                     region_id="SB")
    set_density(city, "Z-A", 6.0, T0)
    set_density(city, "Z-B", 6.0, T0)
    run(city, T0)
    assert alerts(city, rule) == [("zone:Z-B", "firing")]


def test_a_rule_scoped_to_a_place_kind_covers_only_those_places(
    city: psycopg.Connection
) -> None:
    rule = only_rule(city, "density_above", place_kind="square")
    for zone in ("Z-A", "Z-A2", "Z-B"):
        set_density(city, zone, 6.0, T0)
    run(city, T0)
    assert alerts(city, rule) == [("zone:Z-A", "firing"), ("zone:Z-A2", "firing")]


def test_a_sensitive_period_lowers_thresholds_in_its_scope_only(
    city: psycopg.Connection
) -> None:
    city.execute("INSERT INTO alert_periods (name, starts_at, ends_at, region_id, factor)"
                 " VALUES ('Lantern Festival', %s, %s, 'SA', 0.75)",
                 (T0 - timedelta(hours=1), T0 + timedelta(hours=1)))
    set_density(city, "Z-A", 3.2, T0)   # 3.2 ≥ 4.0 × 0.75 during the festival in SA
    set_density(city, "Z-B", 3.2, T0)   # SB: normal threshold 4.0
    run(city, T0)
    assert alerts(city) == [("zone:Z-A", "firing")]
    detail = city.execute("SELECT detail FROM alerts").fetchone()
    assert detail is not None and "during 'Lantern Festival'" in detail[0]


def test_a_rule_outside_its_schedule_is_not_evaluated(city: psycopg.Connection) -> None:
    hour = T0.hour
    rule = only_rule(city, "density_above", schedule={
        "start": f"{(hour + 2) % 24:02d}:00", "end": f"{(hour + 3) % 24:02d}:00"})
    set_density(city, "Z-A", 6.0, T0)
    run(city, T0)
    assert alerts(city, rule) == []


def test_disabling_a_rule_resolves_its_alerts(city: psycopg.Connection) -> None:
    set_density(city, "Z-A", 6.0, T0)
    run(city, T0)
    city.execute("UPDATE alert_rules SET enabled = false")
    result = run(city, T0 + timedelta(seconds=1))
    assert alerts(city) == [("zone:Z-A", "resolved")] and result.retired == 1


def test_only_one_leader_and_a_standby_takes_over(db_url: str) -> None:
    first, second = LeaderLock(db_url), LeaderLock(db_url)
    try:
        assert first.acquire()
        assert not second.acquire()
        first.release()  # the leader dies: its session (and lock) ends
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()
