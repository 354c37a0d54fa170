"""Who hears about alerts: event log, outbox rows, silences, repeats, acknowledgement."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from alerts.ack import acknowledge
from alerts.stream import read_events
from grid.dispatch import dispatch_pending
from tests.alerts.support import alerts, now, run, set_density

T0 = now()


def events(db: psycopg.Connection) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in db.execute(
        "SELECT e.kind, a.subject FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
        " ORDER BY e.id").fetchall()]


def webhook(db: psycopg.Connection, region: str | None = None,
            min_severity: str = "minor") -> int:
    row = db.execute("INSERT INTO alert_webhooks (name, url, secret, region_id, min_severity)"
                     " VALUES ('hook', 'http://127.0.0.1:9/', 'a-secret-of-16-chars', %s, %s)"
                     " RETURNING id", (region, min_severity)).fetchone()
    assert row is not None
    return int(row[0])


def silence(db: psycopg.Connection, minutes: float, **matchers: str) -> int:
    columns = ", ".join(matchers)
    row = db.execute(
        f"INSERT INTO alert_silences (starts_at, ends_at, reason, created_by, {columns})"
        f" VALUES (%s, %s, 'camera maintenance', 'P-opA', {', '.join(['%s'] * len(matchers))})"
        " RETURNING id",
        (T0 - timedelta(minutes=1), T0 + timedelta(minutes=minutes), *matchers.values()),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_firing_and_resolution_are_logged_and_queued_once_per_destination(
    city: psycopg.Connection
) -> None:
    webhook(city)
    webhook(city, region="SB")                         # not interested in street A
    webhook(city, min_severity="critical")             # 4.5/m² is only major
    set_density(city, "Z-A", 4.5, T0)
    run(city, T0)
    run(city, T0 + timedelta(seconds=1))               # nothing new: nothing queued
    set_density(city, "Z-A", 1.0, T0 + timedelta(seconds=2), seq=1)
    run(city, T0 + timedelta(seconds=2))
    assert events(city) == [("firing", "zone:Z-A"), ("resolved", "zone:Z-A")]
    queued = city.execute("SELECT e.kind, d.channel, COALESCE(d.region_id, d.webhook_id::text)"
                          " FROM alert_deliveries d JOIN alert_events e ON e.id = d.event_id"
                          " ORDER BY d.id").fetchall()
    # one webhook, and MQTT for street A and the city above it, per event
    assert sorted(queued) == sorted([(k, c, t) for k in ("firing", "resolved")
                                     for c, t in (("webhook", "1"), ("mqtt", "C"),
                                                  ("mqtt", "SA"))])


def test_a_silenced_alert_is_recorded_but_not_notified_or_dispatched_until_it_ends(
    city: psycopg.Connection
) -> None:
    silence_id = silence(city, minutes=1, device_id="CAM-A")   # the camera behind Z-A
    set_density(city, "Z-A", 5.0, T0)
    set_density(city, "Z-B", 5.0, T0)
    run(city, T0)
    assert alerts(city) == [("zone:Z-A", "firing"), ("zone:Z-B", "firing")]
    assert events(city) == [("firing", "zone:Z-B")]
    assert [d.alert_id for d in dispatch_pending(city)] == [2]
    silenced = city.execute("SELECT silence_id FROM alerts WHERE zone_id = 'Z-A'").fetchone()
    assert silenced == (silence_id,)
    run(city, T0 + timedelta(minutes=2))                      # the silence has expired
    assert events(city)[-1] == ("firing", "zone:Z-A")
    assert [d.alert_id for d in dispatch_pending(city)] == [1]


def test_an_alert_silenced_from_start_to_end_is_never_announced(
    city: psycopg.Connection
) -> None:
    silence(city, minutes=10, region_id="SA")
    set_density(city, "Z-A", 5.0, T0)
    run(city, T0)
    set_density(city, "Z-A", 1.0, T0 + timedelta(seconds=5), seq=1)
    run(city, T0 + timedelta(seconds=5))
    assert alerts(city) == [("zone:Z-A", "resolved")] and events(city) == []


def test_repeats_while_unacknowledged_and_stops_when_acknowledged(
    city: psycopg.Connection
) -> None:
    city.execute("UPDATE alert_rules SET repeat_seconds = 60")
    set_density(city, "Z-A", 5.0, T0)
    for second in (0, 30, 61, 90, 122):
        run(city, T0 + timedelta(seconds=second))
    assert [k for k, _ in events(city)] == ["firing", "repeat", "repeat"]
    acknowledge(city, 1, "P-opA", "on my way", lambda _a: True)
    run(city, T0 + timedelta(seconds=300))
    assert [k for k, _ in events(city)] == ["firing", "repeat", "repeat", "acknowledged"]
    row = city.execute("SELECT acknowledged_by, ack_note, notify_count FROM alerts").fetchone()
    assert row == ("P-opA", "on my way", 3)


def test_the_stream_is_read_in_order_within_a_scope(city: psycopg.Connection) -> None:
    set_density(city, "Z-A", 5.0, T0)
    set_density(city, "Z-B", 5.0, T0)
    run(city, T0)
    everything = read_events(city, everything=True)
    assert [e.payload["alert"]["zone_id"] for e in everything] == ["Z-A", "Z-B"]
    street_b = read_events(city, region_path="C.SB")
    assert [e.alert_id for e in street_b] == [2]
    worker_a = read_events(city, grid_codes=["G-A"])
    assert [e.alert_id for e in worker_a] == [1]
    assert read_events(city, everything[-1].id, everything=True) == []
    payload = everything[0].payload
    assert payload["event"] == "firing" and payload["event_id"] == everything[0].id
    assert payload["alert"]["region_path"] == "C.SA" and payload["alert"]["severity"]
