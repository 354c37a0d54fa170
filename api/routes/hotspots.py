"""Hotspots: zones ranked by their current density, within the caller's scope."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from psycopg import sql
from pydantic import BaseModel

from api.deps import ActorDep, ConnDep
from api.pagination import Page, PageDep
from api.scope import region_scope
from contracts.levels import level_of

router = APIRouter(prefix="/api/v1", tags=["hotspots"])


class HotspotOut(BaseModel):
    zone_id: str
    zone_name: str
    place_name: str | None
    grid_code: str
    density: float
    count: float
    level: str
    warn_density: float
    critical_density: float
    time: datetime


_QUERY = """
SELECT z.id AS zone_id, z.name AS zone_name, p.name AS place_name, z.grid_code,
       c.density, c.count, c.time, z.warn_density, z.critical_density,
       count(*) OVER () AS total
FROM zone_current c JOIN zones z ON z.id = c.zone_id
JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
LEFT JOIN places p ON p.id = z.place_id
WHERE {scope}
ORDER BY c.density DESC, z.id
LIMIT %(limit)s OFFSET %(offset)s
"""


@router.get("/hotspots", response_model=Page[HotspotOut])
def hotspots(actor: ActorDep, conn: ConnDep, page: PageDep) -> Page[HotspotOut]:
    scope, params = region_scope(actor)
    rows = conn.execute(sql.SQL(_QUERY).format(scope=scope),
                        {**params, "limit": page.limit, "offset": page.offset}).fetchall()
    items = [HotspotOut(level=level_of(r["density"]).value, **{k: v for k, v in r.items()
                                                                if k != "total"}) for r in rows]
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
