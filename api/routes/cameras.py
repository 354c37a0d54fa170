"""A camera's occupancy heatmap (人流热力图), rendered from stored counts, never frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Response
from psycopg import sql

from api.deps import ActorDep, ConnDep
from api.params import Timestamp
from grid.visibility import sees_sql
from video.heatmap import heatmap_png

router = APIRouter(prefix="/api/v1/cameras", tags=["video"])


@router.get("/{camera_id}/heatmap.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 404: {"description": "no data"}})
def camera_heatmap(camera_id: str, actor: ActorDep, conn: ConnDep,
                   since: Timestamp | None = None, until: Timestamp | None = None) -> Response:
    """Occupancy over a window (default the last 24 hours) as a PNG."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=24)
    if since >= until:
        raise HTTPException(422, "since must be before until")
    scope, params = sees_sql(actor)
    visible = conn.execute(
        sql.SQL("SELECT 1 FROM devices d LEFT JOIN places p ON p.id = d.place_id"
                " JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)"
                " JOIN regions r ON r.id = g.region_id"
                " WHERE d.id = %(camera)s AND d.kind = 'camera' AND {scope}").format(scope=scope),
        {**params, "camera": camera_id}).fetchone()
    if visible is None:
        raise HTTPException(404, f"camera {camera_id} does not exist or is outside your scope")
    png = heatmap_png(conn, camera_id, since, until)
    if png is None:
        raise HTTPException(404, f"no occupancy recorded for {camera_id} in that window")
    return Response(png, media_type="image/png")
