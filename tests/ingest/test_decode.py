"""Decoding: every kind of bad input becomes a dead letter that says what is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.decode import Decoder, Limits
from ingest.records import Accepted, DeadLetter, RejectKind
from ingest.registry import Registry, ZoneInfo

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
TOPIC = "se/v1/camera/CAM-A/density"


def decoder(auto_register: bool = False) -> Decoder:
    registry = Registry()
    registry.devices = {"CAM-A": "camera", "CAM-B": "camera", "SEN-1": "sensor"}
    registry.zones = {"Z-A": ZoneInfo("CAM-A", 100.0), "Z-B": ZoneInfo("CAM-B", 50.0)}
    limits = Limits(max_payload_bytes=4096, max_future=timedelta(minutes=5),
                    max_age=timedelta(days=7), auto_register=auto_register)
    return Decoder("se", registry, limits)


def report(**overrides: object) -> bytes:
    body: dict[str, object] = {"seq": 1, "ts": NOW.isoformat(),
                               "zones": [{"zone_id": "Z-A", "count": 120}]}
    body.update(overrides)
    return json.dumps(body).encode()


def test_valid_report_becomes_rows_with_density_from_registered_area() -> None:
    result = decoder().decode(TOPIC, report(), NOW)
    assert isinstance(result, Accepted)
    (row,) = result.observations
    assert (row.zone_id, row.device_id, row.seq, row.count) == ("Z-A", "CAM-A", 1, 120)
    assert row.density == pytest.approx(1.2)


BAD = [
    ("oversized", TOPIC, b"{" + b" " * 5000 + b"}", RejectKind.OVERSIZED, "exceeds"),
    ("bad topic", "se/v1/camera/CAM-A", report(), RejectKind.BAD_TOPIC, "is not"),
    ("not json", TOPIC, b"{seq: 1", RejectKind.BAD_JSON, "not valid JSON"),
    ("not utf-8", TOPIC, b"\xff\xfe", RejectKind.BAD_JSON, "not valid JSON"),
    ("NaN literal", TOPIC, b'{"seq": 1, "ts": 0, "zones": [{"zone_id": "Z-A", "count": NaN}]}',
     RejectKind.IMPOSSIBLE_VALUE, "finite number"),
    ("array", TOPIC, b"[1, 2]", RejectKind.SCHEMA, "JSON object"),
    ("missing zones", TOPIC, report(zones=None), RejectKind.SCHEMA, "zones"),
    ("extra field", TOPIC, report(colour="red"), RejectKind.SCHEMA, "colour"),
    ("naive time", TOPIC, report(ts="2026-11-22T08:00:00"), RejectKind.SCHEMA, "zone offset"),
    ("negative count", TOPIC, report(zones=[{"zone_id": "Z-A", "count": -3}]),
     RejectKind.IMPOSSIBLE_VALUE, "greater than or equal"),
    ("density above 10", TOPIC, report(zones=[{"zone_id": "Z-A", "count": 1, "density": 12}]),
     RejectKind.IMPOSSIBLE_VALUE, "less than or equal"),
    ("count too high for the area", TOPIC, report(zones=[{"zone_id": "Z-A", "count": 1500}]),
     RejectKind.IMPOSSIBLE_VALUE, "physical limit"),
    ("future", TOPIC, report(ts=(NOW + timedelta(hours=1)).isoformat()), RejectKind.BAD_TIME,
     "future"),
    ("too old", TOPIC, report(ts=(NOW - timedelta(days=30)).isoformat()), RejectKind.BAD_TIME,
     "too old"),
    ("unknown device", "se/v1/camera/CAM-X/density", report(), RejectKind.UNKNOWN_DEVICE,
     "not registered"),
    ("sensor topic for a camera", "se/v1/sensor/CAM-A/reading",
     json.dumps({"seq": 1, "ts": 0, "readings": [{"metric": "x", "value": 1}]}).encode(),
     RejectKind.UNKNOWN_DEVICE, "registered as a camera"),
    ("unknown zone", TOPIC, report(zones=[{"zone_id": "Z-Q", "count": 1}]),
     RejectKind.UNKNOWN_ZONE, "not registered"),
    ("another camera's zone", TOPIC, report(zones=[{"zone_id": "Z-B", "count": 1}]),
     RejectKind.UNKNOWN_ZONE, "belongs to device"),
]


@pytest.mark.parametrize(("case", "topic", "payload", "kind", "says"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_input_becomes_a_dead_letter_with_its_reason(
    case: str, topic: str, payload: bytes, kind: RejectKind, says: str
) -> None:
    result = decoder().decode(topic, payload, NOW)
    assert isinstance(result, DeadLetter), case
    assert result.kind is kind
    assert says in result.reason
    assert result.payload == payload and result.topic == topic


def test_unknown_devices_are_accepted_when_auto_registration_is_on() -> None:
    payload = json.dumps({"seq": 4, "ts": 0, "readings": [{"metric": "noise_db", "value": 61}]})
    result = decoder(auto_register=True).decode(
        "se/v1/sensor/SEN-NEW/reading", payload.encode(), datetime(1970, 1, 2, tzinfo=UTC))
    assert isinstance(result, Accepted)
    assert (result.device_id, result.device_kind) == ("SEN-NEW", "sensor")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = decoder().decode(TOPIC, payload, NOW)
    assert isinstance(result, Accepted | DeadLetter)


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=20))
def test_arbitrary_json_never_raises(value: object) -> None:
    result = decoder().decode(TOPIC, json.dumps(value).encode(), NOW)
    assert isinstance(result, DeadLetter)
