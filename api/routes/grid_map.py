"""The dashboard map: grid cells as GeoJSON, each with the highest current density level
of its zones, and the density bands for the legend. No tile server is involved: the
dashboard draws the cells as SVG from this FeatureCollection.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter
from psycopg import sql
from pydantic import BaseModel, Field

from api.deps import ActorDep, ConnDep, ServicesDep
from contracts.levels import DensityLevel, level_of
from grid.visibility import sees_sql

router = APIRouter(prefix="/api/v1", tags=["hotspots"])

# Lower bound of each level, persons/m² (DESIGN.md; tests pin them to level_of).
LEVEL_LOWER_BOUNDS: tuple[tuple[DensityLevel, float], ...] = (
    (DensityLevel.FREE_FLOW, 0.0), (DensityLevel.STABLE, 1.0), (DensityLevel.CAPACITY, 2.5),
    (DensityLevel.UNSTABLE, 3.5), (DensityLevel.CONGESTED, 5.0),
)


class CellProperties(BaseModel):
    code: str
    name: str
    name_latin: str | None = None
    region_id: str
    region_path: str
    zones: int
    max_density: float | None = Field(description="Highest fresh density of its zones.")
    level: str | None = Field(description="Level of max_density; null without fresh data.")
    top_zone_id: str | None
    last_report: datetime | None


class CellFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, lon/lat.")
    properties: CellProperties


class LevelBand(BaseModel):
    level: str
    min_density: float
    max_density: float | None


class GridMapOut(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[CellFeature]
    levels: list[LevelBand] = Field(description="The density bands, for a legend.")
    stale_after_seconds: float
    bbox: list[float] | None = Field(description="[min_lon, min_lat, max_lon, max_lat]")


_QUERY = """
SELECT g.code, g.name, g.name_latin, g.region_id, r.path AS region_path, g.boundary,
       g.min_lon, g.min_lat, g.max_lon, g.max_lat, count(z.id) AS zones,
       max(c.density) FILTER (WHERE c.time > now() - %(stale)s) AS max_density,
       max(c.time) AS last_report,
       (array_agg(z.id ORDER BY c.density DESC NULLS LAST)
            FILTER (WHERE c.time > now() - %(stale)s))[1] AS top_zone_id
FROM grids g JOIN regions r ON r.id = g.region_id
LEFT JOIN zones z ON z.grid_code = g.code
LEFT JOIN zone_current c ON c.zone_id = z.id
WHERE {scope}
GROUP BY g.code, g.name_latin, r.path
ORDER BY g.code
"""


def level_bands() -> list[LevelBand]:
    uppers = [bound for _, bound in LEVEL_LOWER_BOUNDS[1:]] + [None]
    return [LevelBand(level=level.value, min_density=low, max_density=high)
            for (level, low), high in zip(LEVEL_LOWER_BOUNDS, uppers, strict=True)]


def _feature(row: dict[str, Any]) -> CellFeature:
    density = row["max_density"]
    props = CellProperties(level=None if density is None else level_of(density).value,
                           **{k: row[k] for k in CellProperties.model_fields if k != "level"})
    return CellFeature(id=row["code"], geometry=row["boundary"], properties=props)


def _bbox(rows: list[dict[str, Any]]) -> list[float] | None:
    if not rows:
        return None
    return [min(r["min_lon"] for r in rows), min(r["min_lat"] for r in rows),
            max(r["max_lon"] for r in rows), max(r["max_lat"] for r in rows)]


@router.get("/grid-map", response_model=GridMapOut)
def grid_map(actor: ActorDep, conn: ConnDep, services: ServicesDep) -> GridMapOut:
    """Your grid cells with the current level of their most crowded zone."""
    scope, params = sees_sql(actor)
    stale = services.settings.stale_after_seconds
    rows = [dict(r) for r in conn.execute(
        sql.SQL(_QUERY).format(scope=scope),
        {**params, "stale": timedelta(seconds=stale)}).fetchall()]
    return GridMapOut(features=[_feature(r) for r in rows], levels=level_bands(),
                      stale_after_seconds=stale, bbox=_bbox(rows))
