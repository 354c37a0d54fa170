"""The alert event log and the notification outbox, written in the evaluator's transaction.

Every notification starts as a row of ``alert_events`` (firing, repeat, resolved,
acknowledged) — the dashboard's live stream reads this log (:mod:`alerts.stream`).
In the same transaction one ``alert_deliveries`` row is queued per destination: each
matching webhook, and each region on the alert's path for MQTT
(``<prefix>/v1/alerts/<region_id>``). :mod:`alerts.outbox` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts.model import Channel, Severity
from grid.visibility import ancestors_sql
from store.channels import ALERT_EVENTS_CHANNEL

EVENTS_CHANNEL = ALERT_EVENTS_CHANNEL  # the name alerts.stream and the outbox know it by
PAYLOAD_VERSION = 1

ALERT_VIEW = """
SELECT a.id, a.rule_id, r.name AS rule_name, r.kind, r.channels, r.repeat_seconds,
       a.fingerprint, a.subject, a.zone_id, a.device_id, a.place_id, pl.kind AS place_kind,
       g.code AS grid_code, g.region_id, rg.path AS region_path, a.state, a.severity,
       a.value, a.detail, a.pending_since, a.fired_at, a.resolved_at, a.acknowledged_at,
       a.acknowledged_by, a.ack_note, a.silence_id, a.task_id, a.notified_at,
       a.last_notified_at, a.notify_count
FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
LEFT JOIN zones z ON z.id = a.zone_id
LEFT JOIN grids g ON g.code = COALESCE(a.grid_code, z.grid_code)
LEFT JOIN regions rg ON rg.id = g.region_id
LEFT JOIN places pl ON pl.id = a.place_id
"""

_PAYLOAD_FIELDS = ("id", "rule_id", "rule_name", "kind", "fingerprint", "subject", "zone_id",
                   "device_id", "place_id", "grid_code", "region_id", "region_path", "state",
                   "severity", "value", "detail", "pending_since", "fired_at", "resolved_at",
                   "acknowledged_at", "acknowledged_by", "ack_note", "task_id")

_RANKS = [s.value for s in Severity]

_WEBHOOK_DELIVERIES = f"""
INSERT INTO alert_deliveries (event_id, channel, webhook_id)
SELECT %(event)s, 'webhook', w.id
FROM alert_webhooks w LEFT JOIN regions wr ON wr.id = w.region_id
WHERE w.enabled AND w.deleted_at IS NULL
  AND (w.region_id IS NULL OR {ancestors_sql("%(path)s::text", "wr.path")})
  AND array_position(%(ranks)s::text[], w.min_severity)
      <= array_position(%(ranks)s::text[], %(severity)s::text)
"""

_MQTT_DELIVERIES = f"""
INSERT INTO alert_deliveries (event_id, channel, region_id)
SELECT %(event)s, 'mqtt', r.id FROM regions r
WHERE {ancestors_sql("%(path)s::text", "r.path")}
"""


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def event_payload(alert: Mapping[str, Any], kind: str, at: datetime,
                  event_id: int | None = None) -> dict[str, Any]:
    """The JSON every channel carries for one event (webhook body, MQTT payload, stream)."""
    return {"version": PAYLOAD_VERSION, "event_id": event_id, "event": kind,
            "at": at.isoformat(),
            "alert": {k: _jsonable(alert.get(k)) for k in _PAYLOAD_FIELDS}}


def emit(cur: psycopg.Cursor[Any], alert: Mapping[str, Any], kind: str, at: datetime) -> int:
    """Record one event and queue its deliveries; return the event id."""
    row = cur.execute("SELECT nextval(pg_get_serial_sequence('alert_events', 'id')) AS id"
                      ).fetchone()
    assert row is not None
    event_id = int(row["id"] if isinstance(row, Mapping) else row[0])
    payload = event_payload(alert, kind, at, event_id)
    cur.execute("INSERT INTO alert_events (id, alert_id, kind, at, grid_code, region_path,"
                " payload) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (event_id, alert["id"], kind, at, alert["grid_code"], alert["region_path"],
                 Jsonb(payload)))
    channels = set(alert["channels"] or ())
    params = {"event": event_id, "path": alert["region_path"], "ranks": _RANKS,
              "severity": alert["severity"]}
    if Channel.WEBHOOK in channels:
        cur.execute(_WEBHOOK_DELIVERIES, params)
    if Channel.MQTT in channels and alert["region_path"] is not None:
        cur.execute(_MQTT_DELIVERIES, params)
    return event_id


def announce(cur: psycopg.Cursor[Any], last_event_id: int) -> None:
    """Wake the outbox sender and stream readers (delivered at commit)."""
    cur.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, str(last_event_id)))
