"""Silences and maintenance windows (reason, author, expiry), and webhook subscriptions.

Silenced alerts are still recorded and listed (``silenced: true``) but neither notified
nor dispatched. Webhooks are admin-only; a new webhook's signing secret is in the
creation response and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from alerts import silences, subscriptions
from alerts.silences import SilenceIn
from alerts.subscriptions import WebhookIn
from api.audit import record
from api.deps import ActorDep, ConnDep
from api.pagination import Page, PageDep
from api.params import Id
from api.routes.alerts import ERROR_RESPONSES
from api.routes.rules import ScopeOut

router = APIRouter(prefix="/api/v1/silences", tags=["silences"])
webhooks_router = APIRouter(prefix="/api/v1/webhooks", tags=["silences"])


class SilenceOut(BaseModel):
    id: int
    kind: str
    rule_id: int | None
    scope: ScopeOut
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    expired_at: datetime | None
    expired_by: str | None
    active: bool
    editable: bool


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    region_id: str | None
    min_severity: str
    enabled: bool
    created_by: str | None
    created_at: datetime
    secret: str | None = None   # only in the creation response


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    event: str
    state: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None
    created_at: datetime


@router.get("", response_model=Page[SilenceOut], responses=ERROR_RESPONSES)
def list_silences(actor: ActorDep, conn: ConnDep, page: PageDep,
                  active: Annotated[bool | None, Query()] = None) -> Any:
    rows, total = silences.list_silences(conn, actor, active=active, limit=page.limit,
                                         offset=page.offset)
    return Page(items=[SilenceOut(**r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("", response_model=SilenceOut, status_code=201, responses=ERROR_RESPONSES)
def create_silence(body: SilenceIn, actor: ActorDep, conn: ConnDep) -> Any:
    silence = silences.create_silence(conn, actor, body)
    record(conn, actor, "silence", silence["id"], "create", None, silence)
    return SilenceOut(**silence)


@router.get("/{silence_id}", response_model=SilenceOut, responses=ERROR_RESPONSES)
def get_silence(silence_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    return SilenceOut(**silences.get_silence(conn, actor, silence_id))


@router.delete("/{silence_id}", response_model=SilenceOut, responses=ERROR_RESPONSES)
def expire_silence(silence_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    """End a silence now; it stays on record with who ended it."""
    silence = silences.expire_silence(conn, actor, silence_id)
    record(conn, actor, "silence", silence_id, "expire", None, silence)
    return SilenceOut(**silence)


@webhooks_router.get("", response_model=list[WebhookOut], responses=ERROR_RESPONSES)
def list_webhooks(actor: ActorDep, conn: ConnDep) -> Any:
    return [WebhookOut(**w) for w in subscriptions.list_webhooks(conn, actor)]


@webhooks_router.post("", response_model=WebhookOut, status_code=201, responses=ERROR_RESPONSES)
def create_webhook(body: WebhookIn, actor: ActorDep, conn: ConnDep) -> Any:
    webhook = subscriptions.create_webhook(conn, actor, body)
    record(conn, actor, "webhook", webhook["id"], "create", None, webhook)
    return WebhookOut(**webhook)


@webhooks_router.delete("/{webhook_id}", status_code=204, response_model=None,
                         responses=ERROR_RESPONSES)
def delete_webhook(webhook_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    subscriptions.delete_webhook(conn, actor, webhook_id)
    record(conn, actor, "webhook", webhook_id, "delete", None, None)
    return Response(status_code=204)


@webhooks_router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut],
                     responses=ERROR_RESPONSES)
def webhook_deliveries(webhook_id: Id, actor: ActorDep, conn: ConnDep,
                       limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Any:
    return [DeliveryOut(**d) for d in subscriptions.deliveries(conn, actor, webhook_id,
                                                              limit)]
