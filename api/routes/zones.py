"""The zone registry (walkable area and thresholds per camera zone) and a zone's series.

Admins and integrators create, change and delete zones; centre operators may change
the thresholds of zones in their subtree (nothing else); everyone signed in reads the
zones in their scope with their current density. Every change is in the audit log.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from psycopg import sql
from pydantic import BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.audit import record
from api.deps import REGISTRY_WRITERS, WATCHERS, ActorDep, ConnDep, ServicesDep, roles_gate
from api.pagination import Page, PageDep
from api.params import NO_NUL
from api.routes.devices import check_placement, registry_scope, visible_row
from contracts.levels import level_of
from contracts.payloads import MAX_DENSITY
from contracts.topics import DEVICE_ID
from grid.actors import Actor, Role
from grid.visibility import sees_sql
from store.importer.rows import DEFAULT_CRITICAL_DENSITY, DEFAULT_WARN_DENSITY, ID
from store.timeseries import zone_series

router = APIRouter(prefix="/api/v1/zones", tags=["zones"])

ZoneId = Annotated[str, Path(min_length=1, max_length=64, description="The zone id.")]
_ID = f"^{ID.pattern}$"
_Density = Field(gt=0, le=MAX_DENSITY, description="persons/m²")
_THRESHOLDS = frozenset({"warn_density", "critical_density"})
ImagePoint = Annotated[list[Annotated[float, Field(ge=0, le=100_000)]],
                       Field(min_length=2, max_length=2)]


class _Thresholds(BaseModel):
    @model_validator(mode="after")
    def _ordered(self) -> _Thresholds:
        warn, critical = getattr(self, "warn_density", None), getattr(
            self, "critical_density", None)
        if warn is not None and critical is not None and warn > critical:
            raise ValueError(f"warn_density {warn:g} is above critical_density {critical:g}")
        return self


class ZoneIn(_Thresholds):
    id: str = Field(pattern=_ID, description="Letters, digits, . _ : - ; at most 64.")
    device_id: str = Field(pattern=DEVICE_ID.pattern, description="The camera that counts it.")
    grid_code: str = Field(pattern=_ID)
    place_id: str | None = Field(None, pattern=_ID)
    name: str = Field(min_length=1, max_length=200)
    area_m2: float = Field(gt=0, le=10_000_000, description="Walkable ground, m².")
    warn_density: float = Field(DEFAULT_WARN_DENSITY, gt=0, le=MAX_DENSITY)
    critical_density: float = Field(DEFAULT_CRITICAL_DENSITY, gt=0, le=MAX_DENSITY)
    polygon: list[ImagePoint] | None = Field(None, min_length=3, max_length=256,
                                             description="Image points [x, y] (pixels).")


class ZonePatch(_Thresholds):
    """Fields to change; operators may change only the two thresholds."""

    # Required fields may be changed, not removed: ``null`` is refused, and not documented.
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    place_id: str | None = Field(None, pattern=_ID)
    area_m2: Annotated[float, Field(gt=0, le=10_000_000)] | SkipJsonSchema[None] = None
    warn_density: Annotated[float, Field(gt=0, le=MAX_DENSITY)] | SkipJsonSchema[None] = None
    critical_density: Annotated[float, Field(gt=0, le=MAX_DENSITY)] | SkipJsonSchema[None] = None
    polygon: list[ImagePoint] | None = Field(None, min_length=3, max_length=256)

    @model_validator(mode="after")
    def _required_kept(self) -> ZonePatch:
        for name in ("name", "area_m2", "warn_density", "critical_density"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be removed, only changed")
        return self


class ZoneOut(BaseModel):
    id: str
    device_id: str
    grid_code: str
    place_id: str | None
    region_path: str
    name: str
    area_m2: float
    warn_density: float
    critical_density: float
    polygon: list[list[float]] | None
    density: float | None = Field(description="Latest report, persons/m².")
    count: float | None
    level: str | None
    time: datetime | None


_SELECT = """
SELECT z.id, z.device_id, z.grid_code, z.place_id, r.path AS region_path, z.name, z.area_m2,
       z.warn_density, z.critical_density, z.polygon, c.density, c.count, c.time,
       count(*) OVER () AS total
FROM zones z JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
LEFT JOIN zone_current c ON c.zone_id = z.id
WHERE {scope}
"""

_FILTERS = """
  AND (%(grid)s::text IS NULL OR z.grid_code = %(grid)s)
  AND (%(device)s::text IS NULL OR z.device_id = %(device)s)
  AND (%(place)s::text IS NULL OR z.place_id = %(place)s)
  AND (%(min_density)s::float8 IS NULL OR c.density >= %(min_density)s)
  AND (%(q)s::text IS NULL OR strpos(lower(z.id), lower(%(q)s)) > 0
       OR strpos(lower(z.name), lower(%(q)s)) > 0)
ORDER BY z.id LIMIT %(limit)s OFFSET %(offset)s
"""


def _out(row: dict[str, Any]) -> ZoneOut:
    level = level_of(row["density"]).value if row["density"] is not None else None
    return ZoneOut(level=level, **{k: v for k, v in row.items() if k != "total"})


def _visible(conn: ConnDep, actor: Actor, zone_id: str) -> dict[str, Any]:
    return visible_row(conn, actor, _SELECT, "z.id", zone_id, "zone")


@router.get("", response_model=Page[ZoneOut])
def list_zones(
    actor: ActorDep, conn: ConnDep, page: PageDep,
    grid_code: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    device_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    place_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    min_density: Annotated[float | None, Query(ge=0, le=MAX_DENSITY)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=64, pattern=NO_NUL)] = None,
) -> Page[ZoneOut]:
    """Zones in your scope with their latest density, by id."""
    scope, params = registry_scope(actor)
    rows = conn.execute(sql.SQL(_SELECT + _FILTERS).format(scope=scope), {
        **params, "grid": grid_code, "device": device_id, "place": place_id,
        "min_density": min_density, "q": q, "limit": page.limit,
        "offset": page.offset}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=[_out(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/{zone_id}", response_model=ZoneOut, responses={404: {}})
def get_zone(zone_id: ZoneId, actor: ActorDep, conn: ConnDep) -> ZoneOut:
    return _out(_visible(conn, actor, zone_id))


def _check_device(conn: ConnDep, actor: Actor, device_id: str) -> None:
    scope, params = registry_scope(actor)
    row = conn.execute(sql.SQL(
        "SELECT d.kind FROM devices d LEFT JOIN places p ON p.id = d.place_id"
        " LEFT JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)"
        " LEFT JOIN regions r ON r.id = g.region_id WHERE d.id = %(id)s AND {}").format(scope),
        {**params, "id": device_id}).fetchone()
    if row is None:
        raise HTTPException(422, f"device {device_id} is not registered (or not in your scope)")
    if row["kind"] != "camera":
        raise HTTPException(422, f"device {device_id} is a {row['kind']}; zones are counted "
                                 "by cameras")


@router.post("", response_model=ZoneOut, status_code=201,
             responses={409: {"description": "the id is taken"}})
def create_zone(body: ZoneIn, actor: Annotated[Actor, roles_gate(*REGISTRY_WRITERS)],
                conn: ConnDep) -> ZoneOut:
    """Register a zone of a camera; reports for it are stored from now on."""
    with conn.transaction():
        _check_device(conn, actor, body.device_id)
        check_placement(conn, actor, body.place_id, body.grid_code)
        if conn.execute("SELECT 1 FROM zones WHERE id = %s", (body.id,)).fetchone():
            raise HTTPException(409, f"zone {body.id} already exists")
        conn.execute(
            "INSERT INTO zones (id, device_id, place_id, grid_code, name, area_m2,"
            " warn_density, critical_density, polygon) VALUES (%(id)s, %(device_id)s,"
            " %(place_id)s, %(grid_code)s, %(name)s, %(area_m2)s, %(warn_density)s,"
            " %(critical_density)s, %(polygon)s::jsonb)",
            {**body.model_dump(), "polygon": _polygon_json(body.polygon)})
        created = _visible(conn, actor, body.id)
        record(conn, actor, "zone", body.id, "create", None, created)
    return _out(created)


def _polygon_json(polygon: list[list[float]] | None) -> str | None:
    return None if polygon is None else json.dumps([[float(x), float(y)] for x, y in polygon])


def _may_patch(actor: Actor, fields: set[str]) -> None:
    if actor.role in REGISTRY_WRITERS:
        return
    if actor.role is Role.OPERATOR and fields <= _THRESHOLDS:
        return
    if actor.role is Role.OPERATOR:
        raise HTTPException(403, "centre operators may change only warn_density and "
                                 "critical_density")
    raise HTTPException(403, "changing zones needs the admin, integrator or operator role")


@router.patch("/{zone_id}", response_model=ZoneOut, responses={404: {}})
def update_zone(zone_id: ZoneId, body: ZonePatch, actor: ActorDep, conn: ConnDep) -> ZoneOut:
    """Change a zone; thresholds apply to the next evaluation."""
    _may_patch(actor, set(body.model_fields_set))
    changes = body.model_dump(include=body.model_fields_set)
    with conn.transaction():
        before = _visible(conn, actor, zone_id)
        merged = {**before, **changes}
        if merged["warn_density"] > merged["critical_density"]:
            raise HTTPException(422, f"warn_density {merged['warn_density']:g} would be above "
                                     f"critical_density {merged['critical_density']:g}")
        if "place_id" in changes:
            check_placement(conn, actor, changes["place_id"], before["grid_code"])
        if "polygon" in changes:
            changes["polygon"] = _polygon_json(changes["polygon"])
        if changes:
            sets = sql.SQL(", ").join(
                sql.SQL("{} = %({})s" + ("::jsonb" if k == "polygon" else "")).format(
                    sql.Identifier(k), sql.SQL(k)) for k in changes)
            conn.execute(sql.SQL("UPDATE zones SET {} WHERE id = %(id)s").format(sets),
                         {**changes, "id": zone_id})
        after = _visible(conn, actor, zone_id)
        record(conn, actor, "zone", zone_id, "update", before, after)
    return _out(after)


@router.delete("/{zone_id}", status_code=204, response_class=Response,
               responses={404: {}, 409: {"description": "alerts, tasks or rules refer to it"}})
def delete_zone(zone_id: ZoneId, actor: Annotated[Actor, roles_gate(*REGISTRY_WRITERS)],
                conn: ConnDep) -> Response:
    """Remove a zone that nothing refers to; its history stays in the time series."""
    with conn.transaction():
        before = _visible(conn, actor, zone_id)
        conn.execute("DELETE FROM zone_current WHERE zone_id = %s", (zone_id,))
        conn.execute("DELETE FROM zones WHERE id = %s", (zone_id,))
        record(conn, actor, "zone", zone_id, "delete", before, None,
               region_path=before["region_path"])
    return Response(status_code=204)


class SeriesPoint(BaseModel):
    bucket: datetime
    density: float
    peak_density: float
    count: float
    samples: int


class SeriesOut(BaseModel):
    zone_id: str
    zone_name: str | None = None
    zone_name_latin: str | None = None
    bucket_seconds: int
    warn_density: float
    critical_density: float
    points: list[SeriesPoint]


@router.get("/{zone_id}/series", response_model=SeriesOut, responses={404: {}},
            dependencies=[roles_gate(*WATCHERS)])
def series(
    zone_id: ZoneId, actor: ActorDep, conn: ConnDep, services: ServicesDep,
    minutes: Annotated[int, Query(ge=1, le=60 * 24 * 31)] = 60,
    bucket_seconds: Annotated[int, Query(ge=1, le=86400)] = 60,
) -> Response:
    """Mean and peak density per bucket over the last ``minutes``, with the thresholds."""
    if minutes * 60 // bucket_seconds > 10_000:
        raise HTTPException(422, "at most 10000 buckets: raise bucket_seconds or lower minutes")
    scope, params = sees_sql(actor)
    zone = conn.execute(
        sql.SQL("SELECT z.warn_density, z.critical_density, z.name, z.name_latin FROM zones z"
                " JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id"
                " WHERE z.id = %(zone)s AND {scope}").format(scope=scope),
        {**params, "zone": zone_id},
    ).fetchone()
    if zone is None:
        raise HTTPException(404, f"zone {zone_id} does not exist or is outside your scope")
    until = datetime.now(UTC)
    rows = zone_series(conn, zone_id, until - timedelta(minutes=minutes), until,
                       timedelta(seconds=bucket_seconds), timescale=services.timescale)
    out = SeriesOut(zone_id=zone_id, zone_name=zone["name"], zone_name_latin=zone["name_latin"],
                    bucket_seconds=bucket_seconds,
                    warn_density=zone["warn_density"], critical_density=zone["critical_density"],
                    points=[SeriesPoint(**r) for r in rows])
    # Already validated: serialize once (FastAPI would validate the 288 points again).
    return Response(out.model_dump_json(), media_type="application/json")
