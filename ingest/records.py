"""What a decoded message becomes: rows for the store, or a dead letter with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RejectKind(StrEnum):
    """Why a message went to the dead-letter table (the ``error_kind`` column)."""

    OVERSIZED = "oversized"
    BAD_TOPIC = "bad_topic"
    BAD_JSON = "bad_json"
    SCHEMA = "schema"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_ZONE = "unknown_zone"
    IMPOSSIBLE_VALUE = "impossible_value"
    BAD_TIME = "bad_time"
    ADAPTER = "adapter"          # a vendor message an adapter could not translate
    CONFLICT = "conflict"        # same (device, seq, ts) as a stored message, other values
    DB_REFUSED = "db_refused"    # the database refused it (isolated by splitting its batch)


@dataclass(frozen=True, slots=True)
class ObservationRow:
    time: datetime
    zone_id: str
    device_id: str
    seq: int
    count: float
    density: float
    confidence: float | None


@dataclass(frozen=True, slots=True)
class ReadingRow:
    time: datetime
    device_id: str
    seq: int
    metric: str
    value: float
    unit: str | None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    device_id: str
    state: str
    time: datetime
    detail: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    reason: str
    kind: RejectKind


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message: its rows, and the device that must exist (auto-registration)."""

    device_id: str
    device_kind: str
    observations: tuple[ObservationRow, ...] = ()
    readings: tuple[ReadingRow, ...] = ()
    status: StatusUpdate | None = None
    seen_at: datetime | None = None
    topic: str = ""              # the message it came from, dead-lettered on a conflict
    payload: bytes = b""


Decoded = Accepted | DeadLetter
