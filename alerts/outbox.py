"""Sending the notification outbox: signed webhooks and MQTT per region, with back-off.

Any number of senders may run. Each claims due deliveries with a lease
(``leased_until``) under ``FOR UPDATE SKIP LOCKED``, sends outside any transaction and
then records the outcome. A sender that dies mid-send leaves its lease to expire and
the delivery is sent again: delivery is at least once, so receivers deduplicate on the
event id. A failed attempt is retried after ``base · 2^(attempt-1)`` seconds (capped)
until ``max_attempts``, then the delivery is marked ``failed`` with the last error.

MQTT: ``<prefix>/v1/alerts/<region_id>`` at QoS 1 for the alert's region and each
ancestor, so every centre subscribes to exactly its own region's topic.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from alerts import webhook
from alerts.events import EVENTS_CHANNEL
from kernel.errors import UnavailableError
from kernel.mqtt import Publisher, PublishError, parse_mqtt_url

log = logging.getLogger(__name__)

_CLAIM = """
UPDATE alert_deliveries d
SET leased_until = now() + make_interval(secs => %(lease)s), attempts = d.attempts + 1
FROM alert_events e
WHERE e.id = d.event_id AND d.id IN (
    SELECT id FROM alert_deliveries
    WHERE state = 'pending' AND next_attempt_at <= now()
      AND (leased_until IS NULL OR leased_until <= now())
    ORDER BY next_attempt_at, id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING d.id, d.channel, d.webhook_id, d.region_id, d.attempts, d.event_id,
          e.kind AS event, e.payload
"""

_DELIVERED = ("UPDATE alert_deliveries SET state = 'delivered', delivered_at = now(),"
              " leased_until = NULL, last_error = NULL WHERE id = %s")

_RETRY = """
UPDATE alert_deliveries
SET state = CASE WHEN %(final)s OR attempts >= %(max)s THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => %(delay)s),
    leased_until = NULL, last_error = %(error)s
WHERE id = %(id)s
"""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    max_attempts: int = 12
    lease_seconds: float = 30.0

    def delay(self, attempts: int) -> float:
        return min(self.max_seconds, self.base_seconds * 2.0 ** max(0, attempts - 1))


@dataclass(frozen=True, slots=True)
class SendResult:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0


class Undeliverable(UnavailableError):
    """Retrying cannot help (the webhook was deleted, the topic is invalid)."""


def body_of(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


class OutboxSender:
    """Sends due deliveries over one autocommit connection."""

    def __init__(self, conn: psycopg.Connection[Any], publisher: Publisher | None,
                 topic_prefix: str, policy: RetryPolicy = RetryPolicy()) -> None:
        self.conn = conn
        self.publisher = publisher
        self.prefix = topic_prefix
        self.policy = policy

    def send_due(self, limit: int = 100) -> SendResult:
        with self.conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_CLAIM, {"lease": self.policy.lease_seconds,
                                        "limit": limit}).fetchall()
            hooks = self._webhooks(cur, {r["webhook_id"] for r in rows if r["webhook_id"]})
        delivered = 0
        for row in rows:
            delivered += self._send_one(row, hooks)
        return SendResult(len(rows), delivered, len(rows) - delivered)

    def _send_one(self, row: Mapping[str, Any], hooks: Mapping[int, Mapping[str, Any]]) -> int:
        try:
            if row["channel"] == "webhook":
                self._post(row, hooks.get(row["webhook_id"]))
            else:
                self._publish(row)
        except (webhook.WebhookError, PublishError, Undeliverable) as exc:
            final = isinstance(exc, Undeliverable)
            self.conn.execute(_RETRY, {"final": final, "max": self.policy.max_attempts,
                                       "delay": self.policy.delay(row["attempts"]),
                                       "error": str(exc)[:1000], "id": row["id"]})
            log.warning("delivery %s (%s, attempt %s) failed: %s", row["id"], row["channel"],
                        row["attempts"], exc)
            return 0
        self.conn.execute(_DELIVERED, (row["id"],))
        return 1

    @staticmethod
    def _webhooks(cur: psycopg.Cursor[Any], ids: set[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = cur.execute("SELECT id, url, secret FROM alert_webhooks WHERE id = ANY(%s)"
                           " AND enabled AND deleted_at IS NULL", (list(ids),))
        return {int(r["id"]): r for r in rows}

    def _post(self, row: Mapping[str, Any], hook: Mapping[str, Any] | None) -> None:
        if hook is None:
            raise Undeliverable("the webhook was disabled or deleted")
        request = webhook.build(hook["url"], hook["secret"], body_of(row["payload"]),
                                event=row["event"], event_id=row["event_id"],
                                delivery_id=row["id"])
        webhook.post(request)

    def _publish(self, row: Mapping[str, Any]) -> None:
        if self.publisher is None:
            raise PublishError("no MQTT broker configured for this sender")
        region = str(row["region_id"])
        if not region or any(c in region for c in "+#/"):
            raise Undeliverable(f"region id {region!r} is not a valid topic level")
        topic = f"{self.prefix}/v1/alerts/{region}"
        self.publisher.publish_all([(topic, body_of(row["payload"]), False)])


def run_notifier(url: str, mqtt_url: str | None, topic_prefix: str, stop: threading.Event,
                 interval: float = 1.0, policy: RetryPolicy = RetryPolicy()) -> None:
    """Send the outbox on every event notification, and at least every ``interval`` s."""
    publisher = Publisher(parse_mqtt_url(mqtt_url)) if mqtt_url else None
    try:
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    _serve(OutboxSender(conn, publisher, topic_prefix, policy), stop, interval)
            except psycopg.OperationalError:
                log.exception("alert notifier lost the database; reconnecting")
                stop.wait(2.0)
    finally:
        if publisher is not None:
            publisher.close()


def _serve(sender: OutboxSender, stop: threading.Event, interval: float) -> None:
    limit = 100
    while not stop.is_set():
        if sender.send_due(limit).claimed == limit:
            continue  # a backlog: keep going
        for _ in sender.conn.notifies(timeout=interval, stop_after=1):
            pass
