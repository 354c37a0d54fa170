"""HTTP ingest for systems that can only POST, and the API keys that authorise it.

Accepted messages are published to the broker on their contract topics (QoS 1)
and acknowledged to the caller only after the broker has them; from there they
take the same path as any MQTT message (ingest validates, de-duplicates, stores or
dead-letters). Envelope and payload schema errors are refused at once with 422.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, Field, ValidationError

from api.audit import record
from api.deps import ConnDep, ServicesDep, require
from api.keys import ApiKeyHolder, hash_key, new_key, refused_devices, resolve_key
from api.params import Id
from contracts.payloads import DensityReport, DeviceStatus, SensorReport
from contracts.topics import DEVICE_ID, TopicKind, topic_for
from grid.actors import Actor, Role
from kernel.mqtt import PublishError
from kernel.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_MODELS: dict[str, type[BaseModel]] = {
    "density": DensityReport, "reading": SensorReport, "status": DeviceStatus}


class IngestItem(BaseModel):
    kind: Literal["density", "reading", "status"]
    device_id: str = Field(pattern=DEVICE_ID.pattern)
    payload: dict[str, Any] = Field(description="A contract v1 payload of this kind.")


class IngestBatch(BaseModel):
    messages: list[IngestItem] = Field(min_length=1, max_length=1000)


class IngestAccepted(BaseModel):
    accepted: int


def _api_key_holder(conn: ConnDep, key: str | None) -> ApiKeyHolder:
    if not key:
        raise HTTPException(401, "send an API key in the X-API-Key header")
    holder = resolve_key(conn, key)
    if holder is None:
        raise HTTPException(401, "unknown or revoked API key")
    return holder


def _time_problem(model: BaseModel, settings: Settings) -> str | None:
    """The window ingest accepts, checked here too so the caller hears it at once."""
    ts = getattr(model, "ts", None)
    if ts is None:
        return None
    now = datetime.now(UTC)
    if ts > now + timedelta(seconds=settings.max_clock_skew_seconds):
        return f"timestamp {ts.isoformat()} is in the future"
    if ts < now - timedelta(seconds=settings.max_report_age_seconds):
        return f"timestamp {ts.isoformat()} is too old"
    return None


def _check_payloads(batch: IngestBatch, settings: Settings) -> None:
    problems = []
    for i, item in enumerate(batch.messages):
        try:
            model = _MODELS[item.kind].model_validate(item.payload)
            if (late := _time_problem(model, settings)) is not None:
                problems.append({"location": f"messages.{i}.payload.ts", "message": late})
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"])
                problems.append({"location": f"messages.{i}.payload.{where}",
                                 "message": err["msg"]})
    if problems:
        raise HTTPException(422, f"{len(problems)} problem(s): " + "; ".join(
            f"{p['location']}: {p['message']}" for p in problems[:3]))


@router.post("/ingest", response_model=IngestAccepted, status_code=202,
             responses={401: {}, 403: {}, 503: {"description": "broker unavailable"}})
def ingest(batch: IngestBatch, conn: ConnDep, services: ServicesDep,
           x_api_key: Annotated[str | None, Header()] = None) -> IngestAccepted:
    holder = _api_key_holder(conn, x_api_key)
    refused = refused_devices(conn, holder, (item.device_id for item in batch.messages))
    if refused:
        shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5
                                          else "")
        raise HTTPException(403, f"key {holder.name!r} may not report for {shown}: a key "
                                 "acts only for its device or the registered devices of "
                                 "its region")
    _check_payloads(batch, services.settings)
    if services.publisher is None:
        raise HTTPException(503, "this API instance has no broker connection")
    prefix = services.settings.topic_prefix
    messages = [(topic_for(prefix, TopicKind(item.kind), item.device_id),
                 json.dumps(item.payload).encode(), item.kind == "status")
                for item in batch.messages]
    try:
        services.publisher.publish_all(messages)
    except PublishError as exc:
        raise HTTPException(503, f"the broker did not take the messages: {exc}") from exc
    return IngestAccepted(accepted=len(messages))


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["integrator", "device"]
    device_id: str | None = Field(None, pattern=DEVICE_ID.pattern,
                                  description="A device key: the one device it acts for.")
    region_id: str | None = Field(None, min_length=1, max_length=64, description=(
        "An integrator key: the region whose registered devices it acts for (the city's "
        "root region: every device)."))


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: str
    device_id: str | None
    region_id: str | None = Field(description="Integrator keys: the region they act in; "
                                  "null on keys issued before keys had regions (city-wide).")
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="Shown only now; store it in the device or integration.")


_ADMIN = require(Role.ADMIN)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["api keys"])
def create_key(body: ApiKeyIn, conn: ConnDep, actor: Annotated[Actor, _ADMIN]) -> ApiKeyCreated:
    if (body.role == "device") != (body.device_id is not None):
        raise HTTPException(422, "a device key needs device_id; an integrator key has none")
    if (body.role == "integrator") != (body.region_id is not None):
        raise HTTPException(422, "an integrator key needs region_id (the region whose "
                                 "devices it reports for; the city's root region for all); "
                                 "a device key has none")
    if body.device_id and not conn.execute("SELECT 1 FROM devices WHERE id = %s",
                                           (body.device_id,)).fetchone():
        raise HTTPException(422, f"device {body.device_id} is not registered")
    if body.region_id and not conn.execute("SELECT 1 FROM regions WHERE id = %s",
                                           (body.region_id,)).fetchone():
        raise HTTPException(422, f"region {body.region_id} does not exist")
    key = new_key()
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO api_keys (name, prefix, key_hash, role, device_id, region_id,"
            " created_by) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *",
            (body.name, key[:8], hash_key(key), body.role, body.device_id, body.region_id,
             actor.person_id),
        ).fetchone()
        assert row is not None
        record(conn, actor, "api_key", row["id"], "create", None, row)
    return ApiKeyCreated(key=key, **row)


@router.get("/api-keys", response_model=list[ApiKeyOut], tags=["api keys"])
def list_keys(conn: ConnDep, _actor: Annotated[Actor, _ADMIN]) -> list[ApiKeyOut]:
    return [ApiKeyOut(**r) for r in conn.execute("SELECT * FROM api_keys ORDER BY id")]


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, tags=["api keys"],
               responses={404: {"description": "no such key"}})
def revoke_key(key_id: Id, conn: ConnDep, actor: Annotated[Actor, _ADMIN]) -> ApiKeyOut:
    with conn.transaction():
        row = conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
                           " WHERE id = %s RETURNING *", (key_id,)).fetchone()
        if row is None:
            raise HTTPException(404, f"API key {key_id} does not exist")
        record(conn, actor, "api_key", key_id, "revoke", None, row)
    return ApiKeyOut(**row)
