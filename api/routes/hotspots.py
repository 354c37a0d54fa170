"""Hotspots: zones ranked by their current density, within the caller's scope."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response
from psycopg import sql
from pydantic import BaseModel, Field

from api.deps import ActorDep, ConnDep, ServicesDep
from api.pagination import Page, PageDep
from contracts.levels import level_of
from contracts.payloads import MAX_DENSITY
from grid.visibility import sees_sql

router = APIRouter(prefix="/api/v1", tags=["hotspots"])


class HotspotOut(BaseModel):
    zone_id: str
    zone_name: str
    zone_name_latin: str | None = None
    place_name: str | None
    place_name_latin: str | None = None
    grid_code: str
    grid_name: str | None = None
    grid_name_latin: str | None = None
    density: float
    count: float
    level: str
    warn_density: float
    critical_density: float
    time: datetime
    stale: bool = Field(False, description="No report for longer than the stale window.")
    lon: float | None = Field(None, description="Where the zone is (its camera, else its "
                              "place), WGS 84; null where neither is known.")
    lat: float | None = None


_JOINS = """
FROM zone_current c JOIN zones z ON z.id = c.zone_id
JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
"""

_FILTERS = """
WHERE {scope}
  AND (%(min_density)s::float8 IS NULL OR c.density >= %(min_density)s)
  AND (%(grid)s::text IS NULL OR z.grid_code = %(grid)s)
  AND (%(fresh)s::bool IS NOT TRUE OR c.time >= now() - %(stale)s)
"""

# The page and the total are two queries: the page walks zone_current_density_idx and
# stops after `limit` rows, which a window count over every zone would prevent.
_PAGE = """
SELECT z.id AS zone_id, z.name AS zone_name, p.name AS place_name, z.grid_code,
       z.name_latin AS zone_name_latin, p.name_latin AS place_name_latin,
       g.name AS grid_name, g.name_latin AS grid_name_latin,
       c.density, c.count, c.time, z.warn_density, z.critical_density,
       c.time < now() - %(stale)s AS stale,
       COALESCE(d.lon, p.lon) AS lon, COALESCE(d.lat, p.lat) AS lat
""" + _JOINS + """LEFT JOIN places p ON p.id = z.place_id
LEFT JOIN devices d ON d.id = z.device_id""" + _FILTERS + """
ORDER BY c.density DESC, c.zone_id
LIMIT %(limit)s OFFSET %(offset)s
"""

_TOTAL = "SELECT count(*) AS total" + _JOINS + _FILTERS


@router.get("/hotspots", response_model=Page[HotspotOut])
def hotspots(
    actor: ActorDep, conn: ConnDep, page: PageDep, services: ServicesDep,
    min_density: Annotated[float | None, Query(ge=0, le=MAX_DENSITY)] = None,
    grid_code: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    fresh: Annotated[bool, Query(description="Only zones that reported recently.")] = False,
) -> Response:
    """Zones by current density, densest first, with their level and thresholds."""
    scope, params = sees_sql(actor)
    stale = timedelta(seconds=services.settings.stale_after_seconds)
    values = {**params, "stale": stale, "min_density": min_density, "grid": grid_code,
              "fresh": fresh, "limit": page.limit, "offset": page.offset}
    rows = conn.execute(sql.SQL(_PAGE).format(scope=scope), values).fetchall()
    counted = conn.execute(sql.SQL(_TOTAL).format(scope=scope), values).fetchone()
    items = [HotspotOut(level=level_of(r["density"]).value, **r) for r in rows]
    out = Page(items=items, total=int(counted["total"]) if counted else 0,
               limit=page.limit, offset=page.offset)
    # Already validated: serialize once; the dashboard polls this more than anything.
    return Response(out.model_dump_json(), media_type="application/json")
