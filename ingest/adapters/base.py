"""What every adapter shares: the :class:`Adapter` interface, :class:`AdapterError`, and the
helpers for JSON, time, sequence numbers, topic filters and contract messages.

The vendor modules (``frigate``, ``onvif``, ``thingsboard``) import this, and the
package's registry (``ingest.adapters``) imports them, so nothing imports in a circle.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.payloads import MAX_ZONES_PER_REPORT
from contracts.topics import DEVICE_ID, TopicKind, topic_for
from kernel.errors import InvalidError

log = logging.getLogger(__name__)


ContractMessage = tuple[str, bytes]
"""A contract v1 topic and its JSON payload."""

MAX_READINGS_PER_REPORT = 64  # contracts.payloads.SensorReport.readings max_length
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_SEQ_SPREAD = 1000  # seq = timestamp_ms * 1000 + discriminator (0..999)


class AdapterError(InvalidError):
    """The vendor message cannot be translated; ``reason`` goes to the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Adapter(abc.ABC):
    """Translates one vendor's MQTT messages into contract v1 messages.

    ``stateful`` adapters keep state across messages (Frigate in events mode): every
    ingest replica must receive every one of their messages, so subscribe to their
    filters without ``$share``; identical output from each replica is de-duplicated.
    """

    name: str
    stateful: bool = False

    def __init__(self, name: str, prefix: str) -> None:
        self.name = name
        self.prefix = prefix
        self._filters: list[str] | None = None

    @abc.abstractmethod
    def subscriptions(self) -> list[str]:
        """MQTT 3.1.1 topic filters this adapter consumes."""

    def matches(self, topic: str) -> bool:
        if self._filters is None:
            self._filters = self.subscriptions()
        return any(topic_matches(f, topic) for f in self._filters)

    @abc.abstractmethod
    def translate(self, topic: str, payload: bytes, now: datetime) -> list[ContractMessage]:
        """Contract messages for one vendor message; raise :class:`AdapterError` if none can be.

        ``now`` is when the message was received; it stamps vendor messages that carry no
        time of their own (pass each message's own receive time, not one per batch).
        """

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.subscriptions()}>"


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 matching of a concrete topic against a filter (4.7)."""
    if topic.startswith("$") and topic_filter[:1] in {"+", "#"}:
        return False
    levels = topic.split("/")
    for i, part in enumerate(topic_filter.split("/")):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(levels) == len(topic_filter.split("/"))


def filters_overlap(a: str, b: str) -> bool:
    """Whether some topic matches both filters."""
    pa, pb = a.split("/"), b.split("/")
    for x, y in zip(pa, pb, strict=False):
        if "#" in (x, y):
            return True
        if x != y and "+" not in (x, y):
            return False
    if len(pa) == len(pb):
        return True
    longer = pa if len(pa) > len(pb) else pb
    return longer[min(len(pa), len(pb))] == "#"


# --- helpers for adapter implementations ------------------------------------------------


def load_json(payload: bytes) -> Any:
    """Parse vendor JSON; refuse NaN/Infinity literals and absurd nesting."""
    try:
        return json.loads(payload, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AdapterError(f"not valid JSON: {exc}") from exc


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number in JSON")


def as_dict(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AdapterError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def as_count(value: object, what: str) -> float:
    """A finite number from a number or numeric text (vendors quote numbers)."""
    if isinstance(value, bool) or value is None:
        raise AdapterError(f"{what} must be a number, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if text.lstrip("+-").isdigit() and len(text) < 20 else float(text)
        except ValueError as exc:
            raise AdapterError(f"{what} must be a number, not {text[:40]!r}") from exc
    if not isinstance(value, int | float):
        raise AdapterError(f"{what} must be a number, not {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError as exc:
        raise AdapterError(f"{what} is out of range") from exc
    if not math.isfinite(number):
        raise AdapterError(f"{what} must be finite, not {value!r}")
    return value if isinstance(value, int) and abs(value) < 2**53 else number


def ms_from_seconds(value: object, what: str) -> int:
    """Epoch milliseconds from epoch seconds (float, as Frigate sends them)."""
    return _checked_ms(as_count(value, what) * 1000, what)


def ms_from_millis(value: object, what: str) -> int:
    return _checked_ms(as_count(value, what), what)


def ms_from_iso(value: object, what: str, assume_utc: bool = False) -> int:
    """Epoch milliseconds from ISO 8601; ``assume_utc`` for fields named UtcTime."""
    if not isinstance(value, str):
        raise AdapterError(f"{what} must be an ISO 8601 timestamp, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise AdapterError(f"{what} {value[:40]!r} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None:
        if not assume_utc:
            raise AdapterError(f"{what} {value!r} has no zone offset")
        parsed = parsed.replace(tzinfo=UTC)
    return ms_from_datetime(parsed, what)


def ms_from_datetime(moment: datetime, what: str = "time") -> int:
    try:
        delta = moment - _EPOCH  # a naive ``now`` is a caller's bug: TypeError propagates
    except OverflowError as exc:
        raise AdapterError(f"{what} {moment!r} is out of range") from exc
    return _checked_ms(delta // timedelta(milliseconds=1), what)


def _checked_ms(ms: float, what: str) -> int:
    if not 0 <= ms <= _MAX_MS:
        raise AdapterError(f"{what} is outside 1970..9999")
    return int(round(ms))


def iso_from_ms(ms: int) -> str:
    """ISO 8601 in UTC with milliseconds: exact, readable in dead letters."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds")


def seq_for(ms: int, discriminator: str | None = None) -> int:
    """A per-device sequence number that grows with time and is the same on redelivery.

    ``timestamp_ms * 1000 + d`` where ``d`` (0..999) is a stable hash of what tells two
    messages of the same millisecond apart (rule, object or event id); 0 without one.
    """
    return ms * _SEQ_SPREAD + (stable_hash(discriminator) % _SEQ_SPREAD if discriminator else 0)


def stable_hash(text: str) -> int:
    """63-bit hash, the same in every process (unlike :func:`hash`)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


_NOT_METRIC = re.compile(r"[^a-z0-9_]+")


def sanitize_metric(key: str) -> str:
    """A vendor key as a contract metric name (``^[a-z][a-z0-9_]*$``, ≤ 64 characters)."""
    name = _NOT_METRIC.sub("_", key.strip().lower()).strip("_")
    name = re.sub("_+", "_", name)
    if not name:
        raise AdapterError(f"telemetry key {key[:40]!r} has no letters or digits for a metric")
    if not name[0].isalpha():
        name = f"m_{name}"
    return name[:64].rstrip("_")


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def density_messages(
    prefix: str, device_id: str, ms: int, seq: int, zones: Sequence[tuple[str, float]]
) -> list[ContractMessage]:
    """Density reports without ``density``: the server divides by the zone's area."""
    topic = _topic(prefix, TopicKind.DENSITY, device_id)
    return [
        (topic, _encode({"seq": seq, "ts": iso_from_ms(ms),
                         "zones": [{"zone_id": z, "count": c} for z, c in chunk]}))
        for chunk in _chunks(zones, MAX_ZONES_PER_REPORT)
    ]


def reading_messages(
    prefix: str, device_id: str, ms: int, seq: int,
    readings: Sequence[tuple[str, float, str | None]],
) -> list[ContractMessage]:
    topic = _topic(prefix, TopicKind.READING, device_id)
    return [
        (topic, _encode({"seq": seq, "ts": iso_from_ms(ms), "readings": [
            {"metric": m, "value": v} | ({"unit": u} if u else {}) for m, v, u in chunk
        ]}))
        for chunk in _chunks(readings, MAX_READINGS_PER_REPORT)
    ]


def status_message(prefix: str, device_id: str, state: str, detail: str) -> ContractMessage:
    """A status without ``ts``: the server stamps it when it arrives."""
    body = {"state": state, "detail": detail[:500]}
    return _topic(prefix, TopicKind.STATUS, device_id), _encode(body)


def _topic(prefix: str, kind: TopicKind, device_id: str) -> str:
    if not DEVICE_ID.match(device_id):  # config validation makes this unreachable
        raise AdapterError(f"device id {device_id!r} must match {DEVICE_ID.pattern}")
    return topic_for(prefix, kind, device_id)


def relative_levels(topic: str, root: str) -> list[str] | None:
    """The topic levels after ``root`` (``""`` = no root), or None if not under it."""
    if not root:
        return topic.split("/")
    if not topic.startswith(root + "/"):
        return None
    return topic[len(root) + 1 :].split("/")
