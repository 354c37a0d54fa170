"""Alert rules and sensitive periods, managed as data (admins; operators in their region).

Validation explains what is wrong: 422 problem details list every problem with its
location (``body.params.metric``), 409 reports conflicts (a taken name, a rule used by
a composite), 403 a scope outside the caller's region.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from alerts import periods, rule_store
from alerts.definitions import RuleIn, RulePatch
from alerts.periods import PeriodIn
from api.audit import record
from api.deps import ActorDep, ConnDep
from api.pagination import Page, PageDep
from api.params import Id
from api.routes.alerts import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])
periods_router = APIRouter(prefix="/api/v1/periods", tags=["rules"])


class ScopeOut(BaseModel):
    zone_id: str | None
    place_kind: str | None
    region_id: str | None
    device_id: str | None = None


class RuleOut(BaseModel):
    id: int
    name: str
    kind: str
    scope: ScopeOut
    threshold: float | None
    clear_threshold: float | None
    for_seconds: float
    clear_for_seconds: float
    cooldown_seconds: float
    repeat_seconds: float | None
    severity: str | None
    params: dict[str, Any]
    schedule: dict[str, Any] | None
    channels: list[str]
    enabled: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    editable: bool


class PeriodOut(BaseModel):
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    rule_id: int | None
    scope: ScopeOut
    factor: float | None
    threshold: float | None
    clear_threshold: float | None
    created_by: str | None
    created_at: datetime
    active: bool
    editable: bool


@router.get("", response_model=Page[RuleOut], responses=ERROR_RESPONSES)
def list_rules(actor: ActorDep, conn: ConnDep, page: PageDep,
               kind: Annotated[str | None, Query(max_length=32)] = None) -> Any:
    rows, total = rule_store.list_rules(conn, actor, kind=kind, limit=page.limit,
                                        offset=page.offset)
    return Page(items=[RuleOut(**r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("", response_model=RuleOut, status_code=201, responses=ERROR_RESPONSES)
def create_rule(body: RuleIn, actor: ActorDep, conn: ConnDep) -> Any:
    rule = rule_store.create_rule(conn, actor, body)
    record(conn, actor, "rule", rule["id"], "create", None, rule)
    return RuleOut(**rule)


@router.get("/{rule_id}", response_model=RuleOut, responses=ERROR_RESPONSES)
def get_rule(rule_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    return RuleOut(**rule_store.get_rule(conn, actor, rule_id))


@router.patch("/{rule_id}", response_model=RuleOut, responses=ERROR_RESPONSES)
def update_rule(rule_id: Id, body: RulePatch, actor: ActorDep, conn: ConnDep) -> Any:
    before = rule_store.get_rule(conn, actor, rule_id)
    rule = rule_store.update_rule(conn, actor, rule_id, body)
    record(conn, actor, "rule", rule_id, "update", before, rule)
    return RuleOut(**rule)


@router.post("/{rule_id}/disable", response_model=RuleOut, responses=ERROR_RESPONSES)
def disable_rule(rule_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    rule = rule_store.set_enabled(conn, actor, rule_id, False)
    record(conn, actor, "rule", rule_id, "disable", None, rule)
    return RuleOut(**rule)


@router.post("/{rule_id}/enable", response_model=RuleOut, responses=ERROR_RESPONSES)
def enable_rule(rule_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    rule = rule_store.set_enabled(conn, actor, rule_id, True)
    record(conn, actor, "rule", rule_id, "enable", None, rule)
    return RuleOut(**rule)


@router.delete("/{rule_id}", status_code=204, response_model=None,
                responses=ERROR_RESPONSES)
def delete_rule(rule_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    """Soft delete: past alerts keep their rule; active ones resolve on the next cycle."""
    before = rule_store.get_rule(conn, actor, rule_id)
    rule_store.delete_rule(conn, actor, rule_id)
    record(conn, actor, "rule", rule_id, "delete", before, None)
    return Response(status_code=204)


@periods_router.get("", response_model=Page[PeriodOut], responses=ERROR_RESPONSES)
def list_periods(actor: ActorDep, conn: ConnDep, page: PageDep,
                 active: bool | None = None) -> Any:
    rows, total = periods.list_periods(conn, actor, active=active, limit=page.limit,
                                       offset=page.offset)
    return Page(items=[PeriodOut(**r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@periods_router.post("", response_model=PeriodOut, status_code=201, responses=ERROR_RESPONSES)
def create_period(body: PeriodIn, actor: ActorDep, conn: ConnDep) -> Any:
    period = periods.create_period(conn, actor, body)
    record(conn, actor, "period", period["id"], "create", None, period)
    return PeriodOut(**period)


@periods_router.get("/{period_id}", response_model=PeriodOut, responses=ERROR_RESPONSES)
def get_period(period_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    return PeriodOut(**periods.get_period(conn, actor, period_id))


@periods_router.delete("/{period_id}", status_code=204, response_model=None,
                        responses=ERROR_RESPONSES)
def delete_period(period_id: Id, actor: ActorDep, conn: ConnDep) -> Any:
    before = periods.get_period(conn, actor, period_id)
    periods.delete_period(conn, actor, period_id)
    record(conn, actor, "period", period_id, "delete", before, None)
    return Response(status_code=204)
