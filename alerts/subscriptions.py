"""Webhook subscriptions (admins only): where signed alert events are POSTed.

The signing secret is generated (or given) at creation and shown once; listings never
include it. Deleting keeps the row so the delivery history stays readable.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from alerts.errors import Forbidden, Invalid, NotFound
from alerts.model import Severity
from grid.actors import Actor, Role

_FIELDS = ("id", "name", "url", "region_id", "min_severity", "enabled", "created_by",
           "created_at")


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2000,
                     description="http(s) URL that receives POSTed JSON events")
    secret: str | None = Field(default=None, min_length=16, max_length=200,
                               description="HMAC key; generated when left out")
    region_id: str | None = Field(default=None, max_length=64,
                                  description="Only alerts in this region's subtree")
    min_severity: Severity = Severity.MINOR
    enabled: bool = True


def _admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("webhooks are managed by admins")


def list_webhooks(conn: psycopg.Connection[Any], actor: Actor) -> list[dict[str, Any]]:
    _admin(actor)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(f"SELECT {', '.join(_FIELDS)} FROM alert_webhooks"
                           " WHERE deleted_at IS NULL ORDER BY id").fetchall()


def create_webhook(conn: psycopg.Connection[Any], actor: Actor,
                   body: WebhookIn) -> dict[str, Any]:
    """Create a subscription; the result is the only time its secret is shown."""
    _admin(actor)
    secret = body.secret or secrets.token_urlsafe(32)
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if body.region_id is not None and cur.execute(
                "SELECT 1 FROM regions WHERE id = %s", (body.region_id,)).fetchone() is None:
            raise Invalid.at("body.region_id", f"no region {body.region_id!r}")
        row = cur.execute(
            "INSERT INTO alert_webhooks (name, url, secret, region_id, min_severity, enabled,"
            f" created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {', '.join(_FIELDS)}",
            (body.name, body.url, secret, body.region_id, body.min_severity, body.enabled,
             actor.person_id)).fetchone()
    assert row is not None
    return {**row, "secret": secret}


def delete_webhook(conn: psycopg.Connection[Any], actor: Actor, webhook_id: int) -> None:
    _admin(actor)
    done = conn.execute("UPDATE alert_webhooks SET deleted_at = now(), enabled = false"
                        " WHERE id = %s AND deleted_at IS NULL", (webhook_id,))
    if done.rowcount == 0:
        raise NotFound(f"webhook {webhook_id} does not exist")


def deliveries(conn: psycopg.Connection[Any], actor: Actor, webhook_id: int,
               limit: int = 50) -> list[dict[str, Any]]:
    """The latest deliveries to one webhook, to see why a receiver hears nothing."""
    _admin(actor)
    with conn.cursor(row_factory=dict_row) as cur:
        if cur.execute("SELECT 1 FROM alert_webhooks WHERE id = %s",
                       (webhook_id,)).fetchone() is None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        return cur.execute(
            "SELECT d.id, d.event_id, e.kind AS event, d.state, d.attempts, d.next_attempt_at,"
            " d.delivered_at, d.last_error, d.created_at FROM alert_deliveries d"
            " JOIN alert_events e ON e.id = d.event_id WHERE d.webhook_id = %s"
            " ORDER BY d.id DESC LIMIT %s", (webhook_id, limit)).fetchall()
