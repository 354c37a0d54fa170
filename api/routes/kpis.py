"""KPIs (考核): per worker, grid or centre; weekly statistics and the monthly ranking.

Every report is JSON by default, CSV with ``format=csv``; the weekly statistics
also render as a PNG chart with ``format=png``, in Chinese for ``lang=zh`` (or an
``Accept-Language`` that prefers it). Centres see their subtree, workers only themselves.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel

from api.charts import Language, ranking_chart, weekly_chart
from api.deps import ActorDep, ConnDep
from api.params import Timestamp
from api.problem_titles import prefers_chinese
from grid.actors import Actor, Role
from grid.kpi import GroupBy, Period, kpis, ranking
from grid.visibility import sees_sql

router = APIRouter(prefix="/api/v1", tags=["kpis"])

Format = Literal["json", "csv", "png"]
TableFormat = Literal["json", "csv"]         # /kpis has no chart
LangQuery = Annotated[Literal["en", "zh", "zh-CN"] | None, Query(
    description="Language of a png chart; unset: from Accept-Language.")]


def _chart_language(request: Request, lang: str | None) -> Language:
    if lang is not None:
        return "zh" if lang.startswith("zh") else "en"
    return "zh" if prefers_chinese(request.headers.get("accept-language")) else "en"


class KpiRow(BaseModel):
    key: str
    name: str | None = None
    name_latin: str | None = None
    grids: str | None = None
    received: int
    accepted: int
    accepted_on_time: int
    accept_p50_s: float | None
    accept_p90_s: float | None
    arrive_p50_s: float | None
    arrive_p90_s: float | None
    resolve_p50_s: float | None
    resolve_p90_s: float | None
    escalation_rate: float | None
    lowest_tier_share: float | None
    rating: float | None
    citizen_satisfaction: float | None
    online_s: float | None = None
    week: str | None = None
    rank: int | None = None


def _scoped_rows(conn: ConnDep, actor: Actor, by: GroupBy, period: Period) -> list[dict[str, Any]]:
    if actor.role in (Role.INTEGRATOR,):
        raise HTTPException(403, "KPIs are for centres, viewers and workers")
    if actor.role is Role.WORKER and by is not GroupBy.WORKER:
        raise HTTPException(403, "workers see only their own figures (by=worker)")
    scope, params = sees_sql(actor)
    rows = kpis(conn, by, period, scope, params)
    if actor.role is Role.WORKER:
        rows = [r for r in rows if r["key"] == actor.person_id]
    return _named(conn, by, rows)


# The name of each row's person, grid or centre, so tables and CSV read as words.
_NAMES = {
    GroupBy.WORKER: "SELECT p.id AS key, p.display_name AS name, p.name_latin,"
                    " string_agg(m.grid_code, ', ' ORDER BY m.grid_code) AS grids FROM people p"
                    " LEFT JOIN grid_members m ON m.person_id = p.id WHERE p.id = ANY(%s)"
                    " GROUP BY p.id",
    GroupBy.GRID: "SELECT code AS key, name, name_latin, NULL AS grids FROM grids"
                  " WHERE code = ANY(%s)",
}
_REGION_NAMES = ("SELECT id AS key, name, name_latin, NULL AS grids FROM regions"
                 " WHERE id = ANY(%s)")


def _named(conn: ConnDep, by: GroupBy, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not rows:
        return rows
    query = _NAMES.get(by, _REGION_NAMES)
    names = {r["key"]: r for r in conn.execute(query, ([r["key"] for r in rows],)).fetchall()}
    return [{**r, **{k: v for k, v in names.get(r["key"], {}).items() if k != "key"}}
            for r in rows]


def _respond(rows: list[dict[str, Any]], fmt: Format, filename: str) -> Any:
    if fmt == "csv":
        buffer = io.StringIO()
        fields = list(KpiRow.model_fields)
        writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return Response(buffer.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{filename}.csv"'})
    if fmt == "png":
        raise HTTPException(422, "png is available for the weekly statistics and the ranking")
    return [KpiRow(**r) for r in rows]


@router.get("/kpis", response_model=list[KpiRow],
            responses={200: {"content": {"text/csv": {}}}})
def get_kpis(actor: ActorDep, conn: ConnDep, by: GroupBy = GroupBy.WORKER,
             since: Timestamp | None = None, until: Timestamp | None = None,
             format: TableFormat = "json") -> Any:
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=7)
    if since >= until:
        raise HTTPException(422, "since must be before until")
    rows = _scoped_rows(conn, actor, by, Period(since, until))
    return _respond(rows, format, f"kpis-{by.value}")


@router.get("/kpis/weekly", response_model=list[KpiRow],
            responses={200: {"content": {"image/png": {}, "text/csv": {}}}})
def weekly(actor: ActorDep, conn: ConnDep, request: Request, by: GroupBy = GroupBy.CITY,
           weeks: Annotated[int, Query(ge=1, le=52)] = 8, format: Format = "json",
           lang: LangQuery = None) -> Any:
    """Weekly statistics (一周一统计): one row per group and ISO week, oldest first."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    rows: list[dict[str, Any]] = []
    for i in range(weeks - 1, -1, -1):
        start = monday - timedelta(weeks=i)
        week = f"{start:%G-W%V}"
        rows += [{**r, "week": week} for r in _scoped_rows(
            conn, actor, by, Period(start, start + timedelta(weeks=1)))]
    if format == "png":
        totals = _weekly_totals(rows, [f"{monday - timedelta(weeks=i):%G-W%V}"
                                       for i in range(weeks - 1, -1, -1)])
        return Response(weekly_chart(totals, by.value, _chart_language(request, lang)),
                        media_type="image/png", headers={"Vary": "Accept-Language"})
    return _respond(rows, format, f"weekly-{by.value}")


def _weekly_totals(rows: list[dict[str, Any]], weeks: list[str]) -> list[dict[str, Any]]:
    totals = []
    for week in weeks:
        of_week = [r for r in rows if r["week"] == week]
        received = sum(r["received"] for r in of_week)
        escalated = sum((r["escalation_rate"] or 0) * r["received"] for r in of_week)
        totals.append({"week": week, "received": received,
                       "accepted_on_time": sum(r["accepted_on_time"] for r in of_week),
                       "escalation_rate": escalated / received if received else 0.0})
    return totals


@router.get("/kpis/ranking", response_model=list[KpiRow],
            responses={200: {"content": {"image/png": {}, "text/csv": {}}}})
def monthly_ranking(actor: ActorDep, conn: ConnDep, request: Request,
                    month: Annotated[str | None, Query(
                        pattern=r"^(19|20|21)\d\d-(0[1-9]|1[0-2])$")] = None,
                    by: GroupBy = GroupBy.WORKER, format: Format = "json",
                    lang: LangQuery = None) -> Any:
    """Monthly ranking (一月一通报) by on-time acceptance, resolution time, rating."""
    start = (datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC) if month
             else datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    end = (start + timedelta(days=32)).replace(day=1)
    rows = ranking(_scoped_rows(conn, actor, by, Period(start, end)))
    if format == "png":
        chart = ranking_chart(rows, start.year, start.month, by.value,
                              _chart_language(request, lang))
        return Response(chart, media_type="image/png", headers={"Vary": "Accept-Language"})
    return _respond(rows, format, f"ranking-{start:%Y-%m}-{by.value}")


class PresenceIn(BaseModel):
    online: bool


@router.post("/me/presence", status_code=204, tags=["auth"])
def presence(body: PresenceIn, actor: ActorDep, conn: ConnDep) -> Response:
    """A worker's app reports going on or off duty; the KPIs sum the online time."""
    if actor.role is not Role.WORKER:
        raise HTTPException(403, "presence is recorded for grid workers")
    conn.execute("INSERT INTO worker_presence (person_id, online) VALUES (%s, %s)",
                 (actor.person_id, body.online))
    return Response(status_code=204)
