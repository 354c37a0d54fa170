"""The device registry: cameras and sensors, for integrators (and admins) to keep.

Admins and integrators create, change and delete devices; centre operators and viewers
read those in their region subtree. An integrator without a region works city-wide; one
with a region only inside it. Every change is in the audit log. A device still watched
by zones, named by rules or holding an API key cannot be deleted (409 says by what).
:func:`registry_scope` is shared with the zone registry (:mod:`api.routes.zones`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Path, Query, Response
from psycopg import sql
from pydantic import BaseModel, Field, model_validator

from api.audit import record, redact
from api.deps import REGISTRY_READERS, REGISTRY_WRITERS, ActorDep, ConnDep, roles_gate
from api.pagination import Page, PageDep
from contracts.topics import DEVICE_ID
from grid.actors import Actor, Role
from grid.visibility import registry_sees, registry_sql
from store.importer.rows import DEFAULT_SOURCE, ID, SOURCE, STREAM_SCHEMES

router = APIRouter(prefix="/api/v1/devices", tags=["registry"],
                   dependencies=[roles_gate(*REGISTRY_READERS)])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID.pattern, description="The device id.")]
_Writer = Annotated[Actor, roles_gate(*REGISTRY_WRITERS)]
_ID = f"^{ID.pattern}$"


def registry_scope(actor: Actor, path: str = "r.path") -> tuple[sql.Composable, dict[str, Any]]:
    """Which registry rows a caller sees, as a WHERE fragment on a region path column."""
    return registry_sql(actor, path)


def visible_row(conn: ConnDep, actor: Actor, select: str, key: str, value: str,
                what: str) -> dict[str, Any]:
    """The row of ``select`` (a registry query with a ``{scope}`` condition) whose
    ``key`` column is ``value``, or 404 naming ``what``, also when it is out of scope."""
    scope, params = registry_scope(actor)
    row = conn.execute(sql.SQL(select + f" AND {key} = %(id)s").format(scope=scope),
                       {**params, "id": value}).fetchone()
    if row is None:
        raise HTTPException(404, f"{what} {value} does not exist or is outside your scope")
    return dict(row)


class _Placement(BaseModel):
    place_id: str | None = Field(None, pattern=_ID, description="The place it watches.")
    grid_code: str | None = Field(None, pattern=_ID, description="Its grid, if not its place's.")
    source: str = Field(DEFAULT_SOURCE, pattern=f"^{SOURCE.pattern}$",
                        description="The network it belongs to (frigate, onvif, ...).")
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    stream_url: str | None = Field(None, max_length=1000,
                                   description=f"Cameras: a {', '.join(STREAM_SCHEMES)} URL.")

    @model_validator(mode="after")
    def _consistent(self) -> _Placement:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together: give both or neither")
        if self.stream_url is not None:
            parts = urlsplit(self.stream_url)
            if parts.scheme.lower() not in STREAM_SCHEMES or not parts.netloc:
                raise ValueError(f"stream_url must be a {', '.join(STREAM_SCHEMES)} URL "
                                 "with a host")
        return self


class DeviceIn(_Placement):
    id: str = Field(pattern=DEVICE_ID.pattern,
                    description="Letters, digits, . _ : - ; at most 64; the MQTT topic's id.")
    kind: Literal["camera", "sensor"]
    name: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _camera_only(self) -> DeviceIn:
        if self.kind == "sensor" and self.stream_url is not None:
            raise ValueError("only a camera has a stream_url")
        return self


class DevicePatch(_Placement):
    """Fields to change; fields left out keep their values."""

    name: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _name_kept(self) -> DevicePatch:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be removed, only changed")
        return self


class DeviceOut(BaseModel):
    id: str
    kind: str
    name: str
    place_id: str | None
    grid_code: str | None = Field(description="Its own grid, or its place's.")
    region_path: str | None
    source: str
    lon: float | None
    lat: float | None
    stream_url: str | None = Field(description="Credentials are masked.")
    registered: str
    created_at: datetime
    status: str | None = Field(description="online, offline, lost; null if never reported.")
    last_seen: datetime | None
    zones: int


_SELECT = """
SELECT d.id, d.kind, d.name, d.place_id, COALESCE(d.grid_code, p.grid_code) AS grid_code,
       r.path AS region_path, d.source, d.lon, d.lat, d.stream_url, d.registered,
       d.created_at, s.state AS status, s.last_seen,
       (SELECT count(*) FROM zones z WHERE z.device_id = d.id) AS zones,
       count(*) OVER () AS total
FROM devices d LEFT JOIN places p ON p.id = d.place_id
LEFT JOIN grids g ON g.code = COALESCE(d.grid_code, p.grid_code)
LEFT JOIN regions r ON r.id = g.region_id
LEFT JOIN device_status s ON s.device_id = d.id
WHERE {scope}
"""

_FILTERS = """
  AND (%(kind)s::text IS NULL OR d.kind = %(kind)s)
  AND (%(grid)s::text IS NULL OR COALESCE(d.grid_code, p.grid_code) = %(grid)s)
  AND (%(place)s::text IS NULL OR d.place_id = %(place)s)
  AND (%(status)s::text IS NULL OR COALESCE(s.state, 'unknown') = %(status)s)
  AND (%(q)s::text IS NULL OR strpos(lower(d.id), lower(%(q)s)) > 0
       OR strpos(lower(d.name), lower(%(q)s)) > 0)
ORDER BY d.id LIMIT %(limit)s OFFSET %(offset)s
"""


def _out(row: dict[str, Any]) -> DeviceOut:
    return DeviceOut(**{**row, **(redact({"stream_url": row["stream_url"]}) or {})})


def _visible(conn: ConnDep, actor: Actor, device_id: str) -> dict[str, Any]:
    return visible_row(conn, actor, _SELECT, "d.id", device_id, "device")


@router.get("", response_model=Page[DeviceOut])
def list_devices(
    actor: ActorDep, conn: ConnDep, page: PageDep,
    kind: Literal["camera", "sensor"] | None = None,
    grid_code: Annotated[str | None, Query(max_length=64)] = None,
    place_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["online", "offline", "lost", "unknown"] | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=64,
                                   description="Part of the id or name.")] = None,
) -> Page[DeviceOut]:
    scope, params = registry_scope(actor)
    rows = conn.execute(sql.SQL(_SELECT + _FILTERS).format(scope=scope), {
        **params, "kind": kind, "grid": grid_code, "place": place_id, "status": status,
        "q": q, "limit": page.limit, "offset": page.offset}).fetchall()
    total = int(rows[0]["total"]) if rows else 0
    return Page(items=[_out(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.get("/{device_id}", response_model=DeviceOut, responses={404: {}})
def get_device(device_id: DeviceId, actor: ActorDep, conn: ConnDep) -> DeviceOut:
    return _out(_visible(conn, actor, device_id))


_PLACE = ("SELECT p.grid_code, r.path FROM places p JOIN grids g ON g.code = p.grid_code"
          " JOIN regions r ON r.id = g.region_id WHERE p.id = %s")
_GRID = "SELECT r.path FROM grids g JOIN regions r ON r.id = g.region_id WHERE g.code = %s"


def check_placement(conn: ConnDep, actor: Actor, place_id: str | None,
                    grid_code: str | None) -> str | None:
    """The region path a device or zone lands in, after checking that its place and grid
    exist, agree, and lie inside the caller's scope. A place or grid outside the scope is
    answered exactly like one that does not exist."""
    place_grid = None
    if place_id is not None:
        place = conn.execute(_PLACE, (place_id,)).fetchone()
        if place is None or not registry_sees(actor, place["path"], place["grid_code"]):
            raise HTTPException(422, f"place {place_id} does not exist")
        place_grid = place["grid_code"]
        if grid_code is not None and grid_code != place_grid:
            raise HTTPException(422, f"place {place_id} is in grid {place_grid}, "
                                     f"not {grid_code}")
    grid = grid_code or place_grid
    if grid is None:
        if actor.role is not Role.ADMIN and actor.region_path:
            raise HTTPException(403, "a device without grid or place is city-wide; "
                                     "give a grid_code or place_id in your region")
        return None
    row = conn.execute(_GRID, (grid,)).fetchone()
    if row is None or not registry_sees(actor, row["path"], grid):
        raise HTTPException(422, f"grid {grid} does not exist")
    return str(row["path"])


@router.post("", response_model=DeviceOut, status_code=201, responses={409: {}})
def create_device(body: DeviceIn, actor: _Writer, conn: ConnDep) -> DeviceOut:
    """Register a device; it may publish on its topics as soon as this returns."""
    with conn.transaction():
        check_placement(conn, actor, body.place_id, body.grid_code)
        if conn.execute("SELECT 1 FROM devices WHERE id = %s", (body.id,)).fetchone():
            raise HTTPException(409, f"device {body.id} is already registered")
        conn.execute(
            "INSERT INTO devices (id, kind, name, place_id, grid_code, source, lon, lat,"
            " stream_url) VALUES (%(id)s, %(kind)s, %(name)s, %(place_id)s, %(grid_code)s,"
            " %(source)s, %(lon)s, %(lat)s, %(stream_url)s)", body.model_dump())
        created = _visible(conn, actor, body.id)
        record(conn, actor, "device", body.id, "create", None, created)
    return _out(created)


@router.patch("/{device_id}", response_model=DeviceOut, responses={404: {}})
def update_device(device_id: DeviceId, body: DevicePatch, actor: _Writer,
                  conn: ConnDep) -> DeviceOut:
    changes = body.model_dump(include=body.model_fields_set)
    with conn.transaction():
        before = _visible(conn, actor, device_id)
        if before["kind"] == "sensor" and changes.get("stream_url"):
            raise HTTPException(422, "only a camera has a stream_url")
        placement = {k: changes.get(k, before[k]) for k in ("place_id", "grid_code")}
        check_placement(conn, actor, placement["place_id"], placement["grid_code"])
        if changes:
            sets = sql.SQL(", ").join(sql.SQL("{} = %({})s").format(sql.Identifier(k),
                                                                    sql.SQL(k))
                                      for k in changes)
            conn.execute(sql.SQL("UPDATE devices SET {} WHERE id = %(id)s").format(sets),
                         {**changes, "id": device_id})
        after = _visible(conn, actor, device_id)
        record(conn, actor, "device", device_id, "update", before, after)
    return _out(after)


@router.delete("/{device_id}", status_code=204, response_class=Response,
               responses={404: {}, 409: {"description": "still used by zones, rules or keys"}})
def delete_device(device_id: DeviceId, actor: _Writer, conn: ConnDep) -> Response:
    """Remove a device and its status; its history stays in the time series."""
    with conn.transaction():
        before = _visible(conn, actor, device_id)
        conn.execute("DELETE FROM device_status WHERE device_id = %s", (device_id,))
        conn.execute("DELETE FROM sensor_current WHERE device_id = %s", (device_id,))
        conn.execute("DELETE FROM devices WHERE id = %s", (device_id,))
        record(conn, actor, "device", device_id, "delete", before, None,
               region_path=before["region_path"])
    return Response(status_code=204)
