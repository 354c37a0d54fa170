"""A zone's density time series (bucketed on TimescaleDB or plain PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from psycopg import sql
from pydantic import BaseModel

from api.deps import ActorDep, ConnDep, ServicesDep
from api.scope import region_scope
from store.timeseries import zone_series

router = APIRouter(prefix="/api/v1/zones", tags=["zones"])


class SeriesPoint(BaseModel):
    bucket: datetime
    density: float
    peak_density: float
    count: float
    samples: int


class SeriesOut(BaseModel):
    zone_id: str
    bucket_seconds: int
    warn_density: float
    critical_density: float
    points: list[SeriesPoint]


@router.get("/{zone_id}/series", response_model=SeriesOut)
def series(
    zone_id: str, actor: ActorDep, conn: ConnDep, services: ServicesDep,
    minutes: Annotated[int, Query(ge=1, le=60 * 24 * 31)] = 60,
    bucket_seconds: Annotated[int, Query(ge=1, le=86400)] = 60,
) -> SeriesOut:
    scope, params = region_scope(actor)
    zone = conn.execute(
        sql.SQL("SELECT z.warn_density, z.critical_density FROM zones z"
                " JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id"
                " WHERE z.id = %(zone)s AND {scope}").format(scope=scope),
        {**params, "zone": zone_id},
    ).fetchone()
    if zone is None:
        raise HTTPException(404, f"zone {zone_id} does not exist or is outside your scope")
    until = datetime.now(UTC)
    rows = zone_series(conn, zone_id, until - timedelta(minutes=minutes), until,
                       timedelta(seconds=bucket_seconds), timescale=services.timescale)
    return SeriesOut(zone_id=zone_id, bucket_seconds=bucket_seconds,
                     warn_density=zone["warn_density"],
                     critical_density=zone["critical_density"],
                     points=[SeriesPoint(**r) for r in rows])
