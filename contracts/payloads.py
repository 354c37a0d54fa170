"""Payload models of contract v1, validated with Pydantic where data enters the system.

Timestamps are ISO 8601 with a zone offset (``2026-11-22T08:00:00+08:00``) or epoch
milliseconds (``1795305600000``); a timestamp without a zone is refused because its
meaning depends on the sender's clock settings.

Validation is strict: a number sent as text (``"seq": "17"``) or a boolean where a
number belongs (``"count": true``) is refused, not coerced. Every number is finite and
bounded, and every text is one PostgreSQL can store (no NUL, no lone surrogate), so that
whatever passes here can be stored and read back (a refused batch never wedges ingest).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

# Above 10 persons/m² no crowd can physically stand; such a value is a sensor fault.
MAX_DENSITY = 10.0
MAX_ZONES_PER_REPORT = 256
MAX_COUNT = 1_000_000.0     # people in one zone: beyond any stadium
MAX_READING = 1e12          # |value| of a sensor reading: sums stay exact in float8


def _storable(text: str) -> str:
    """Text PostgreSQL can store: UTF-8 encodable, without NUL characters."""
    if "\x00" in text:
        raise ValueError("text must not contain a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (a lone surrogate was sent)") from exc
    return text


StorableText = Annotated[str, AfterValidator(_storable)]


def _parse_timestamp(value: object) -> datetime:
    if isinstance(value, bool):
        raise ValueError("timestamp must be ISO 8601 text with a zone or epoch milliseconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("timestamp must be finite")
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"epoch milliseconds {value} out of range") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from exc
        if parsed.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no zone offset (add Z or +08:00)")
        return parsed
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamp has no zone offset")
        return value
    raise ValueError("timestamp must be ISO 8601 text with a zone or epoch milliseconds")


Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ZoneCount(_Payload):
    zone_id: StorableText = Field(min_length=1, max_length=64)
    count: FiniteFloat = Field(
        ge=0, le=MAX_COUNT, description="People in the zone (estimates may be fractional)."
    )
    density: FiniteFloat | None = Field(
        None, ge=0, le=MAX_DENSITY,
        description="Persons/m²; omitted means count / the zone's registered walkable area.",
    )
    confidence: FiniteFloat | None = Field(None, ge=0, le=1)


class DensityReport(_Payload):
    """A camera's (or analyser's) counts for its zones at one moment."""

    seq: int = Field(ge=0, lt=2**63, description="Per-device sequence number; the dedup key.")
    ts: Timestamp
    zones: list[ZoneCount] = Field(min_length=1, max_length=MAX_ZONES_PER_REPORT)

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, zones: list[ZoneCount]) -> list[ZoneCount]:
        ids = [z.zone_id for z in zones]
        if len(set(ids)) != len(ids):
            raise ValueError("a zone appears twice in one report")
        return zones


class Reading(_Payload):
    metric: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    value: FiniteFloat = Field(ge=-MAX_READING, le=MAX_READING)
    unit: StorableText | None = Field(None, max_length=16)


class SensorReport(_Payload):
    """A sensor's readings at one moment (footfall, noise, presence counts...)."""

    seq: int = Field(ge=0, lt=2**63)
    ts: Timestamp
    readings: list[Reading] = Field(min_length=1, max_length=64)


class DeviceStatus(_Payload):
    """Retained status; the Last Will sets ``lost``."""

    state: Literal["online", "offline", "lost"]
    ts: Timestamp | None = None
    detail: StorableText | None = Field(None, max_length=500)
