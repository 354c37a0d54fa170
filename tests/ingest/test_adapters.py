"""Adapters: vendor payloads, in each vendor's documented format, become contract v1 messages.

Every produced message is decoded by the real :class:`ingest.decode.Decoder` against a
hand-built registry; redelivering a vendor message gives identical output; unmapped
sources and garbage raise :class:`AdapterError` (and nothing else, checked by fuzzing).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.adapters import (
    Adapter,
    AdapterError,
    ContractMessage,
    build_adapters,
    filters_overlap,
    find_adapter,
    sanitize_metric,
    seq_for,
    topic_matches,
)
from ingest.adapters.config import AdapterConfigError, AdaptersConfig, load_adapters_config
from ingest.adapters.frigate import FrigateAdapter
from ingest.adapters.onvif import OnvifAdapter
from ingest.adapters.thingsboard import ThingsBoardAdapter
from ingest.decode import Decoder, Limits
from ingest.records import Accepted, RejectKind
from ingest.registry import Registry, ZoneInfo

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "adapters.example.json"
PREFIX = "se"
NOW = datetime(2026, 11, 22, 8, 0, 0, 123000, tzinfo=UTC)

CONFIG: dict[str, Any] = {
    "frigate": [{
        "name": "frigate", "topic_root": "frigate",
        "cameras": {
            "front_door": {"device_id": "CAM-FD", "zone_id": "Z-FD-VIEW",
                           "zones": {"yard": "Z-FD-YARD", "driveway": "Z-FD-DRIVE"}},
            "back": {"device_id": "CAM-BK", "zones": {"garden": "Z-BK-GARDEN"}},
        },
        "ignore": ["garage"],
    }],
    "onvif": [{
        "name": "onvif", "topic_root": "",
        "devices": {
            "MyDevice": {"device_id": "CAM-MD", "sensor_id": "CNT-MD",
                         "lines": {"MyImportantFence1": "line_in", "MyImportantFence2": "line_out"},
                         "ignore_rules": ["MyLineInfo"]},
            "BoschCamera1": {"device_id": "CAM-BC", "sensor_id": "CNT-BC",
                             "occupancy": {"Occupancy": "Z-BC-HALL"},
                             "counters": {"1/Counter 4": "footfall_in_total"}},
        },
    }],
    "thingsboard": [{
        "name": "tb",
        "devices": {
            "Device A": {"device_id": "SEN-A", "metrics": {"humidity": "humidity_pct"},
                         "units": {"temperature": "degC"}},
            "Device B": {"device_id": "SEN-B"},
            "Gate Counter": {"device_id": "CAM-GC", "sensor_id": "SEN-GC",
                             "zones": {"people": "Z-GC"}},
        },
        "ignore": ["Device Z"],
    }],
}

DEVICES = {"CAM-FD": "camera", "CAM-BK": "camera", "CAM-MD": "camera", "CNT-MD": "sensor",
           "CAM-BC": "camera", "CNT-BC": "sensor", "SEN-A": "sensor", "SEN-B": "sensor",
           "CAM-GC": "camera", "SEN-GC": "sensor"}
ZONES = {"Z-FD-VIEW": "CAM-FD", "Z-FD-YARD": "CAM-FD", "Z-FD-DRIVE": "CAM-FD",
         "Z-BK-GARDEN": "CAM-BK", "Z-BC-HALL": "CAM-BC", "Z-GC": "CAM-GC"}


def adapters(**overrides: Any) -> list[Adapter]:
    return build_adapters(AdaptersConfig.model_validate({**CONFIG, **overrides}), PREFIX)


def adapter(kind: type[Adapter], **overrides: Any) -> Adapter:
    return next(a for a in adapters(**overrides) if isinstance(a, kind))


def decoder() -> Decoder:
    registry = Registry()
    registry.devices = dict(DEVICES)
    registry.zones = {z: ZoneInfo(d, 100.0) for z, d in ZONES.items()}
    limits = Limits(max_payload_bytes=65536, max_future=timedelta(minutes=5),
                    max_age=timedelta(days=7), auto_register=False)
    return Decoder(PREFIX, registry, limits)


def accepted(messages: list[ContractMessage], at: datetime) -> list[Accepted]:
    """Each message must pass the real decoder (time checks relative to ``at``)."""
    results = [decoder().decode(topic, payload, at) for topic, payload in messages]
    for result in results:
        assert isinstance(result, Accepted), result
    return results  # type: ignore[return-value]


def bodies(messages: list[ContractMessage]) -> list[tuple[str, dict[str, Any]]]:
    return [(topic, json.loads(payload)) for topic, payload in messages]


def ms(moment: str) -> int:
    return (datetime.fromisoformat(moment) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        milliseconds=1)


# --- Frigate ---------------------------------------------------------------------------


def test_frigate_zone_and_camera_counts_become_density_reports_without_density() -> None:
    """docs.frigate.video/integrations/mqtt, "frigate/<zone_name>/<object_name>" and
    "frigate/<camera_name>/<object_name>": the payload is the count of objects."""
    frigate = adapter(FrigateAdapter)
    zone = frigate.translate("frigate/yard/person", b"3", NOW)
    view = frigate.translate("frigate/front_door/person", b"5\n", NOW)
    assert bodies(zone) == [("se/v1/camera/CAM-FD/density", {
        "seq": seq_for(ms("2026-11-22T08:00:00.123+00:00"), "frigate/yard/person\n3"),
        "ts": "2026-11-22T08:00:00.123+00:00", "zones": [{"zone_id": "Z-FD-YARD", "count": 3}]})]
    assert bodies(view)[0][1]["zones"] == [{"zone_id": "Z-FD-VIEW", "count": 5}]
    (row,) = accepted(zone, NOW)[0].observations
    assert (row.zone_id, row.count, row.density) == ("Z-FD-YARD", 3, 0.03)
    accepted(view, NOW)


def test_frigate_same_count_message_twice_is_byte_identical() -> None:
    frigate = adapter(FrigateAdapter)
    first = frigate.translate("frigate/yard/person", b"3", NOW)
    assert frigate.translate("frigate/yard/person", b"3", NOW) == first
    later = frigate.translate("frigate/yard/person", b"4", NOW)
    assert json.loads(later[0][1])["seq"] != json.loads(first[0][1])["seq"]


def test_frigate_camera_without_whole_view_zone_and_ignored_names_yield_nothing() -> None:
    frigate = adapter(FrigateAdapter)
    assert frigate.translate("frigate/back/person", b"2", NOW) == []
    assert frigate.translate("frigate/garage/person", b"2", NOW) == []


def test_frigate_unmapped_camera_is_an_adapter_error_that_says_what_to_do() -> None:
    with pytest.raises(AdapterError) as err:
        adapter(FrigateAdapter).translate("frigate/side_gate/person", b"1", NOW)
    assert "'side_gate' is not mapped in adapter 'frigate'" in err.value.reason
    assert "ignore" in err.value.reason


@pytest.mark.parametrize("payload", [b"many", b"", b"\xff", b"NaN", b"1e999", b"true"])
def test_frigate_garbage_counts_are_adapter_errors(payload: bytes) -> None:
    with pytest.raises(AdapterError):
        adapter(FrigateAdapter).translate("frigate/yard/person", payload, NOW)


def test_frigate_active_mode_reads_only_the_active_topics() -> None:
    """Frigate 0.12+ docs: "frigate/<zone_name>/<object_name>/active"."""
    frigate = adapter(FrigateAdapter, frigate=[{**CONFIG["frigate"][0], "count_source": "active"}])
    assert frigate.subscriptions() == ["frigate/+/person/active", "frigate/available"]
    assert bodies(frigate.translate("frigate/driveway/person/active", b"2", NOW))[0][1][
        "zones"] == [{"zone_id": "Z-FD-DRIVE", "count": 2}]
    with pytest.raises(AdapterError):
        frigate.translate("frigate/driveway/person", b"2", NOW)


def test_frigate_available_sets_every_mapped_camera_online_or_offline() -> None:
    """docs.frigate.video/integrations/mqtt, "frigate/available": "online" / "offline"."""
    messages = adapter(FrigateAdapter).translate("frigate/available", b"offline", NOW)
    assert [(t, b["state"]) for t, b in bodies(messages)] == [
        ("se/v1/device/CAM-FD/status", "offline"), ("se/v1/device/CAM-BK/status", "offline")]
    accepted(messages, NOW)


def _event(kind: str, event_id: str, zones: list[str], frame_time: float,
           label: str = "person", camera: str = "front_door") -> bytes:
    """The "frigate/events" example of docs.frigate.video/integrations/mqtt (fields we read
    plus a representative selection of the others, as documented)."""
    after = {"id": event_id, "camera": camera, "frame_time": frame_time,
             "snapshot_time": frame_time, "label": label, "sub_label": None,
             "top_score": 0.958984375, "false_positive": False, "start_time": 1607123955.475377,
             "end_time": frame_time if kind == "end" else None, "score": 0.87890625,
             "box": [432, 496, 544, 854], "area": 40096, "region": [218, 440, 693, 915],
             "current_zones": zones, "entered_zones": ["yard", "driveway"], "thumbnail": None,
             "has_snapshot": False, "has_clip": False, "stationary": False,
             "motionless_count": 0, "position_changes": 2}
    before = {**after, "frame_time": frame_time - 0.2, "current_zones": ["driveway"]}
    return json.dumps({"type": kind, "before": before, "after": after}).encode()


def test_frigate_events_mode_rebuilds_person_counts_per_zone() -> None:
    """docs.frigate.video/integrations/mqtt, "frigate/events" (type new/update/end)."""
    frigate = adapter(FrigateAdapter, frigate=[{**CONFIG["frigate"][0], "count_source": "events"}])
    assert frigate.stateful and frigate.subscriptions() == ["frigate/events", "frigate/available"]
    t = 1795305600.25  # 2026-11-22T00:00:00.250Z
    frigate.translate("frigate/events", _event("new", "a", ["driveway"], t), NOW)
    out = frigate.translate("frigate/events", _event("update", "b", ["yard", "driveway"], t + 1),
                            NOW)
    assert bodies(out) == [("se/v1/camera/CAM-FD/density", {
        "seq": seq_for(ms("2026-11-22T00:00:01.250+00:00"), "b"),
        "ts": "2026-11-22T00:00:01.250+00:00",
        "zones": [{"zone_id": "Z-FD-VIEW", "count": 2}, {"zone_id": "Z-FD-YARD", "count": 1},
                  {"zone_id": "Z-FD-DRIVE", "count": 2}]})]
    accepted(out, datetime(2026, 11, 22, tzinfo=UTC))
    end = frigate.translate("frigate/events", _event("end", "a", ["driveway"], t + 2), NOW)
    assert [z["count"] for z in bodies(end)[0][1]["zones"]] == [1, 1, 1]
    again = frigate.translate("frigate/events", _event("end", "a", ["driveway"], t + 2), NOW)
    assert again == end  # redelivery: same bytes, de-duplicated by the store
    assert frigate.translate("frigate/events", _event("new", "c", [], t, label="car"), NOW) == []
    with pytest.raises(AdapterError, match="camera 'yard' is not mapped"):  # a zone, not a camera
        frigate.translate("frigate/events", _event("new", "d", [], t, camera="yard"), NOW)


def test_frigate_events_doc_example_verbatim() -> None:
    """The exact "after" of the docs example (camera front_door, zones yard and driveway)."""
    doc = {"type": "update", "before": {}, "after": {
        "id": "1607123955.475377-mxklsc", "camera": "front_door", "frame_time": 1607123962.082975,
        "snapshot_time": 1607123961.837752, "label": "person", "top_score": 0.958984375,
        "false_positive": False, "start_time": 1607123955.475377, "end_time": None,
        "score": 0.87890625, "box": [432, 496, 544, 854], "area": 40096,
        "region": [218, 440, 693, 915], "current_zones": ["yard", "driveway"],
        "entered_zones": ["yard", "driveway"], "thumbnail": None, "has_snapshot": False,
        "has_clip": False, "stationary": False, "motionless_count": 0, "position_changes": 2}}
    frigate = adapter(FrigateAdapter, frigate=[{**CONFIG["frigate"][0], "count_source": "events",
                                                "seq": "event_id"}])
    out = frigate.translate("frigate/events", json.dumps(doc).encode(), NOW)
    (topic, body), = bodies(out)
    assert body["ts"] == "2020-12-04T23:19:22.083+00:00"
    assert [z["count"] for z in body["zones"]] == [1, 1, 1]
    accepted(out, datetime(2020, 12, 5, tzinfo=UTC))


@pytest.mark.parametrize("payload", [
    b"{}", b"[]", b'{"type": "new"}', b'{"type": "new", "after": {"label": "person"}}',
    b'{"type": "gone", "after": {}}',
    b'{"type": "new", "after": {"label": "person", "camera": "front_door", "id": "x"}}',
    b'{"type": "new", "after": {"label": "person", "camera": "front_door", "id": "x",'
    b' "frame_time": 1e300}}',
    b'{"type": "new", "after": {"label": "person", "camera": "front_door", "id": "x",'
    b' "frame_time": 1, "current_zones": "yard"}}',
])
def test_frigate_malformed_events_are_adapter_errors(payload: bytes) -> None:
    frigate = adapter(FrigateAdapter, frigate=[{**CONFIG["frigate"][0], "count_source": "events"}])
    with pytest.raises(AdapterError):
        frigate.translate("frigate/events", payload, NOW)


# --- ONVIF -----------------------------------------------------------------------------

CROSSED_TOPIC = "MyDevice/onvif-ej/RuleEngine/LineDetector/Crossed/&1/2/MyImportantFence1"
CROSSED = {"UtcTime": "2008-10-10T12:24:57.321Z",
           "Source": {"VideoSource": "1", "AnalyticsConfiguration": "2",
                      "Rule": "MyImportantFence1"},
           "Data": {"ObjectId": "15"}}
AT_2008 = datetime(2008, 10, 10, 12, 25, tzinfo=UTC)


def test_onvif_line_crossing_from_the_core_spec_example_becomes_a_line_in_reading() -> None:
    """ONVIF Core Specification, Event Broker, "JSON Event Payload" example (first message)."""
    out = adapter(OnvifAdapter).translate(CROSSED_TOPIC, json.dumps(CROSSED).encode(), NOW)
    assert bodies(out) == [("se/v1/sensor/CNT-MD/reading", {
        "seq": seq_for(ms("2008-10-10T12:24:57.321+00:00"), "1/MyImportantFence1|15"),
        "ts": "2008-10-10T12:24:57.321+00:00",
        "readings": [{"metric": "line_in", "value": 1, "unit": "persons"}]})]
    (row,) = accepted(out, AT_2008)[0].readings
    assert (row.device_id, row.metric, row.value) == ("CNT-MD", "line_in", 1)


def test_onvif_counter_and_occupancy_use_the_analytics_spec_count_item() -> None:
    """ONVIF Analytics Service Specification, rules annex: LineCounting publishes
    tns1:RuleEngine/CountAggregation/Counter and OccupancyCounting publishes
    .../OccupancyCounter, both with Data/Count (xs:int); topic form as Bosch documents it
    ("BoschCamera1/onvif-ej/RuleEngine/CountAggregation/Counter/&1/Counter 4")."""
    onvif = adapter(OnvifAdapter)
    source = {"VideoSource": "1", "AnalyticsConfiguration": "1"}
    counter = {"UtcTime": "2026-11-22T07:59:58Z", "Source": {**source, "Rule": "Counter 4"},
               "Data": {"Count": "27"}}
    occupancy = {**counter, "Source": {**source, "Rule": "Occupancy"}, "Data": {"Count": 42}}
    base = "BoschCamera1/onvif-ej/RuleEngine/CountAggregation"
    out = onvif.translate(f"{base}/Counter/&1/Counter 4", json.dumps(counter).encode(), NOW)
    out += onvif.translate(f"{base}/OccupancyCounter/&1/Occupancy",
                           json.dumps(occupancy).encode(), NOW)
    assert [(t, b.get("readings"), b.get("zones")) for t, b in bodies(out)] == [
        ("se/v1/sensor/CNT-BC/reading",
         [{"metric": "footfall_in_total", "value": 27, "unit": "persons"}], None),
        ("se/v1/camera/CAM-BC/density", None, [{"zone_id": "Z-BC-HALL", "count": 42}])]
    accepted(out, NOW)


def test_onvif_is_liberal_in_shapes_it_accepts() -> None:
    """XML-shaped SimpleItem lists, a Message wrapper, lower-case keys, ObjectCount, a
    UtcTime without Z, the rule only in the topic."""
    onvif = adapter(OnvifAdapter)
    payload = {"Message": {"utctime": "2026-11-22T07:59:58.5",
                           "Source": {"SimpleItem": [{"Name": "VideoSource", "Value": "1"}]},
                           "Data": {"SimpleItem": {"Name": "ObjectCount", "Value": "7"}}}}
    out = onvif.translate("BoschCamera1/onvif-ej/RuleEngine/CountAggregation/OccupancyCounter"
                          "/&1/Occupancy", json.dumps(payload).encode(), NOW)
    assert bodies(out)[0][1]["zones"] == [{"zone_id": "Z-BC-HALL", "count": 7}]
    assert bodies(out)[0][1]["ts"] == "2026-11-22T07:59:58.500+00:00"
    accepted(out, NOW)


def test_onvif_reads_the_rule_from_the_draft_topic_form() -> None:
    """Core spec 22.06 draft: "<LocalTopic>&/<NAME>=<VALUE>..." source levels."""
    payload = json.dumps({"UtcTime": "2026-11-22T07:59:58Z", "Data": {"ObjectId": "3 4"}})
    out = adapter(OnvifAdapter).translate(
        "MyDevice/onvif-ej/RuleEngine/LineDetector/Crossed&/VideoSource=1/Rule=MyImportantFence2",
        payload.encode(), NOW)
    assert bodies(out)[0][1]["readings"] == [{"metric": "line_out", "value": 2, "unit": "persons"}]
    accepted(out, NOW)


def test_onvif_deleted_properties_and_ignored_rules_yield_nothing() -> None:
    """Core spec, Event Broker, "Payload for deleted properties": a zero-byte payload."""
    onvif = adapter(OnvifAdapter)
    topic = "BoschCamera1/onvif-ej/RuleEngine/CountAggregation/OccupancyCounter/&1/Occupancy"
    assert onvif.translate(topic, b"", NOW) == []
    info = {**CROSSED, "Source": {"VideoSource": "1", "Rule": "MyLineInfo"}}
    assert onvif.translate(CROSSED_TOPIC, json.dumps(info).encode(), NOW) == []


def test_onvif_unmapped_rule_and_device_are_adapter_errors() -> None:
    onvif = adapter(OnvifAdapter)
    other = {**CROSSED, "Source": {"VideoSource": "1", "Rule": "Fence9"}}
    with pytest.raises(AdapterError, match="LineDetector rule 'Fence9' of device 'MyDevice'"):
        onvif.translate(CROSSED_TOPIC, json.dumps(other).encode(), NOW)
    with pytest.raises(AdapterError, match="device 'Stranger' is not mapped"):
        onvif.translate(CROSSED_TOPIC.replace("MyDevice", "Stranger"),
                        json.dumps(CROSSED).encode(), NOW)


@pytest.mark.parametrize("payload", [
    b"{", b"[1]", b'{"Source": {}, "Data": {}}', b'{"UtcTime": "yesterday"}',
    b'{"UtcTime": "2026-11-22T07:59:58Z", "Source": {"Rule": "Occupancy"}, "Data": {}}',
    b'{"UtcTime": "2026-11-22T07:59:58Z", "Source": {"Rule": "Occupancy"},'
    b' "Data": {"Count": "lots"}}',
])
def test_onvif_garbage_is_an_adapter_error(payload: bytes) -> None:
    with pytest.raises(AdapterError):
        adapter(OnvifAdapter).translate(
            "BoschCamera1/onvif-ej/RuleEngine/CountAggregation/OccupancyCounter/&1/Occupancy",
            payload, NOW)


def test_onvif_redelivery_is_identical() -> None:
    onvif = adapter(OnvifAdapter)
    payload = json.dumps(CROSSED).encode()
    assert onvif.translate(CROSSED_TOPIC, payload, NOW) == onvif.translate(
        CROSSED_TOPIC, payload, NOW + timedelta(hours=1))


# --- ThingsBoard -----------------------------------------------------------------------

TB_DOC = {"Device A": [{"ts": 1483228800000, "values": {"temperature": 42, "humidity": 80}},
                       {"ts": 1483228801000, "values": {"temperature": 43, "humidity": 82}}],
          "Device B": [{"ts": 1483228800000, "values": {"temperature": 42, "humidity": 80}}]}
AT_2017 = datetime(2017, 1, 1, 0, 1, tzinfo=UTC)


def test_thingsboard_gateway_telemetry_doc_example_becomes_readings_per_device() -> None:
    """thingsboard.io/docs/reference/gateway-api/telemetry: "v1/gateway/telemetry"."""
    out = adapter(ThingsBoardAdapter).translate(
        "v1/gateway/telemetry", json.dumps(TB_DOC).encode(), NOW)
    t0, t1 = "2017-01-01T00:00:00.000+00:00", "2017-01-01T00:00:01.000+00:00"
    assert bodies(out) == [
        ("se/v1/sensor/SEN-A/reading", {"seq": 1483228800000000, "ts": t0, "readings": [
            {"metric": "temperature", "value": 42, "unit": "degC"},
            {"metric": "humidity_pct", "value": 80}]}),
        ("se/v1/sensor/SEN-A/reading", {"seq": 1483228801000000, "ts": t1, "readings": [
            {"metric": "temperature", "value": 43, "unit": "degC"},
            {"metric": "humidity_pct", "value": 82}]}),
        ("se/v1/sensor/SEN-B/reading", {"seq": 1483228800000000, "ts": t0, "readings": [
            {"metric": "temperature", "value": 42}, {"metric": "humidity", "value": 80}]}),
    ]
    assert sum(len(a.readings) for a in accepted(out, AT_2017)) == 6


def test_thingsboard_zone_keys_become_density_and_the_rest_readings_on_the_sensor() -> None:
    body = {"Gate Counter": [{"ts": 1795305590000,
                              "values": {"people": "31", "Battery Level %": 87, "door": True,
                                         "status": "ok", "gps": {"lat": 1}}}]}
    out = adapter(ThingsBoardAdapter).translate("v1/gateway/telemetry",
                                                json.dumps(body).encode(), NOW)
    assert [(t, b.get("zones"), b.get("readings")) for t, b in bodies(out)] == [
        ("se/v1/camera/CAM-GC/density", [{"zone_id": "Z-GC", "count": 31}], None),
        ("se/v1/sensor/SEN-GC/reading", None, [{"metric": "battery_level", "value": 87},
                                               {"metric": "door", "value": 1}])]
    accepted(out, NOW)


def test_thingsboard_connect_and_disconnect_become_statuses() -> None:
    """thingsboard.io/docs/reference/gateway-mqtt-api, Device Connect / Disconnect API."""
    tb = adapter(ThingsBoardAdapter)
    on = tb.translate("v1/gateway/connect", b'{"device": "Gate Counter", "type": "Sensor A"}', NOW)
    off = tb.translate("v1/gateway/disconnect", b'{"device": "Device A"}', NOW)
    assert [(t, b["state"]) for t, b in bodies(on + off)] == [
        ("se/v1/device/CAM-GC/status", "online"), ("se/v1/device/SEN-GC/status", "online"),
        ("se/v1/device/SEN-A/status", "offline")]
    accepted(on + off, NOW)


def test_thingsboard_message_with_an_unmapped_device_is_held_back_whole() -> None:
    tb = adapter(ThingsBoardAdapter)
    body = {**TB_DOC, "Device Q": [{"ts": 1483228800000, "values": {"x": 1}}]}
    with pytest.raises(AdapterError, match="'Device Q' is not mapped"):
        tb.translate("v1/gateway/telemetry", json.dumps(body).encode(), NOW)
    ignored = {**TB_DOC, "Device Z": [{"ts": 1483228800000, "values": {"x": 1}}]}
    assert len(tb.translate("v1/gateway/telemetry", json.dumps(ignored).encode(), NOW)) == 3


@pytest.mark.parametrize("payload", [
    b"null", b'{"Device A": 5}', b'{"Device A": [{"ts": "noon", "values": {}}]}',
    b'{"Device A": [{"ts": -5, "values": {"t": 1}}]}', b'{"Device A": [{"values": [1]}]}',
    b'{"Gate Counter": [{"values": {"people": "many"}}]}',
    b'{"Device A": [{"values": {"!!!": 1}}]}',
])
def test_thingsboard_garbage_is_an_adapter_error(payload: bytes) -> None:
    with pytest.raises(AdapterError):
        adapter(ThingsBoardAdapter).translate("v1/gateway/telemetry", payload, NOW)


def test_thingsboard_redelivery_is_identical() -> None:
    tb = adapter(ThingsBoardAdapter)
    payload = json.dumps(TB_DOC).encode()
    assert tb.translate("v1/gateway/telemetry", payload, NOW) == tb.translate(
        "v1/gateway/telemetry", payload, NOW + timedelta(minutes=3))


@pytest.mark.parametrize(("key", "metric"), [
    ("Temperature", "temperature"), ("PM2.5 (ug/m3)", "pm2_5_ug_m3"), ("2nd floor", "m_2nd_floor"),
    ("people-in", "people_in"), ("x" * 80, "x" * 64)])
def test_metric_names_are_sanitized_to_the_contract_pattern(key: str, metric: str) -> None:
    assert sanitize_metric(key) == metric


# --- registry and configuration ------------------------------------------------------------


def test_the_example_file_loads_and_routes_each_vendor_topic() -> None:
    built = build_adapters(load_adapters_config(EXAMPLE), "sharpeyes")
    routes = {t: find_adapter(built, t) for t in [
        "frigate/plaza/person", "onvif/metro-a1/onvif-ej/RuleEngine/LineDetector/Crossed/&1/1/x",
        "v1/gateway/telemetry", "sharpeyes/v1/camera/C/density"]}
    assert [type(a).__name__ if a else None for a in routes.values()] == [
        "FrigateAdapter", "OnvifAdapter", "ThingsBoardAdapter", None]


def test_the_documented_example_is_the_example_file() -> None:
    text = (REPO / "docs" / "adapters.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```json\n")[1:]]
    (example,) = [b for b in blocks if "frigate-east-gate" in b]
    assert json.loads(example) == json.loads(EXAMPLE.read_text())


def test_yaml_and_json_give_the_same_configuration(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "adapters.yaml"
    path.write_text(yaml.safe_dump(json.loads(EXAMPLE.read_text())))
    assert load_adapters_config(path) == load_adapters_config(EXAMPLE)


@pytest.mark.parametrize(("change", "says"), [
    ({"frigate": [{**CONFIG["frigate"][0], "colour": "red"}]}, "colour"),
    ({"frigate": [{**CONFIG["frigate"][0], "cameras": {"a": {"device_id": "bad id!"}}}]},
     "must match"),
    ({"frigate": [{**CONFIG["frigate"][0], "cameras": {
        "a": {"device_id": "A", "zones": {"hall": "Z1"}},
        "b": {"device_id": "B", "zones": {"hall": "Z2"}}}}]}, "used twice"),
    ({"onvif": [{"name": "o", "devices": {"d": {"device_id": "D", "lines": {"r": "line_in"}}}}]},
     "sensor_id"),
    ({"thingsboard": [{"name": "frigate", "devices": {"x": {"device_id": "X"}}}]}, "unique"),
    ({"onvif": [{"name": "o", "devices": {"d": {"sensor_id": "S", "lines": {"r": "Bad-Metric"}}}}]},
     "metric"),
])
def test_invalid_configuration_is_refused_with_the_reason(
        tmp_path: Path, change: dict[str, Any], says: str) -> None:
    path = tmp_path / "adapters.json"
    path.write_text(json.dumps({**CONFIG, **change}))
    with pytest.raises(AdapterConfigError, match=says):
        load_adapters_config(path)


def test_overlapping_topic_filters_are_refused() -> None:
    twin = {**CONFIG["frigate"][0], "name": "frigate-2"}
    with pytest.raises(AdapterConfigError, match="distinct topic roots"):
        adapters(frigate=[CONFIG["frigate"][0], twin])
    with pytest.raises(AdapterConfigError, match="overlaps the contract"):
        adapters(frigate=[{**CONFIG["frigate"][0], "topic_root": PREFIX}])


@pytest.mark.parametrize(("f", "topic", "match"), [
    ("a/+/c", "a/b/c", True), ("a/#", "a", True), ("a/#", "a/b/c", True), ("a/+", "a/b/c", False),
    ("+/x", "$SYS/x", False), ("a/b", "a/b/c", False)])
def test_topic_matching_follows_mqtt(f: str, topic: str, match: bool) -> None:
    assert topic_matches(f, topic) is match


@pytest.mark.parametrize(("a", "b", "overlap"), [
    ("frigate/+/person", "frigate/#", True), ("a/+/c", "a/b/+", True), ("a/b", "a/c", False),
    ("x/#", "se/#", False), ("a/b/c", "a/b", False), ("a/b", "a/b/#", True)])
def test_filter_overlap(a: str, b: str, overlap: bool) -> None:
    assert filters_overlap(a, b) is overlap


# --- fuzzing: only AdapterError may escape ------------------------------------------------

_VOCAB = ["type", "after", "before", "label", "person", "camera", "front_door", "id", "frame_time",
          "current_zones", "yard", "end", "new", "UtcTime", "Source", "Data", "Rule", "Count",
          "ObjectId", "SimpleItem", "Name", "Value", "Message", "VideoSource", "Occupancy",
          "Device A", "Gate Counter", "ts", "values", "people", "device"]
_SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(_VOCAB)
            | st.text(max_size=12) | st.sampled_from(["2026-11-22T07:59:58Z", "1e999", "-1"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.sampled_from(_VOCAB) | st.text(max_size=6), inner,
                                       max_size=5), max_leaves=25)
_ANY = st.binary(max_size=64) | _JSON.map(lambda v: json.dumps(v).encode())


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(valid, valid, valid, _JSON)


def _fields(valid: dict[str, st.SearchStrategy[Any]],
            required: dict[str, st.SearchStrategy[Any]] | None = None,
            ) -> st.SearchStrategy[dict[str, Any]]:
    """Each field mostly valid, sometimes fuzzed; optional ones sometimes missing."""
    return st.fixed_dictionaries({k: _mostly(v) for k, v in (required or {}).items()},
                                 optional={k: _mostly(v) for k, v in valid.items()})


def _doc(valid: dict[str, st.SearchStrategy[Any]],
         required: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[bytes]:
    return _fields(valid, required).map(lambda d: json.dumps(d).encode())


_ZONES = st.lists(st.sampled_from(["yard", "driveway", "garden", "nowhere"]), max_size=3)
_FRIGATE_EVENT = _doc({"before": _JSON}, required={
    "type": st.sampled_from(["new", "update", "end"]),
    "after": _fields({"false_positive": st.booleans(), "start_time": st.floats(0, 2e9),
                      "end_time": st.floats(-1e12, 1e12) | _SCALARS}, required={
        "label": st.sampled_from(["person", "car"]),
        "camera": st.sampled_from(["front_door", "back", "garage", "nope", "yard"]),
        "id": st.sampled_from(["a", "b", "c"]), "current_zones": _ZONES,
        "frame_time": st.floats(1.7e9, 1.9e9)})})
_ONVIF_EVENT = _doc({"Data": _fields({"ObjectId": _JSON}, required={
    "Count": st.integers(-5, 10**20) | _SCALARS})}, required={
    "UtcTime": st.sampled_from(["2026-11-22T07:59:58Z", "2026-11-22T07:59:58.5", "0001-01-01"]),
    "Source": _fields({"VideoSource": st.sampled_from(["1", "2"])}, required={
        "Rule": st.sampled_from(["Occupancy", "Counter 4", "MyImportantFence1", "MyLineInfo"])})})
_TB_ENTRY = _fields({
    "ts": st.integers(-10, 2**62) | _SCALARS,
    "values": st.dictionaries(st.sampled_from(["people", "temperature", "Hum %", "!", "door"]),
                              _SCALARS, max_size=4) | _JSON})
_TB_TELEMETRY = st.dictionaries(
    st.sampled_from(["Device A", "Device B", "Gate Counter", "Device Z", "Device Q"]),
    st.lists(_TB_ENTRY, max_size=3) | _TB_ENTRY | _JSON, max_size=3,
).map(lambda d: json.dumps(d).encode())
_PAYLOADS = {
    FrigateAdapter: _ANY | _FRIGATE_EVENT | st.sampled_from([b"3", b" 7 ", b"-1", b"2.5", b"1e3"]),
    OnvifAdapter: _ANY | _ONVIF_EVENT,
    ThingsBoardAdapter: _ANY | _TB_TELEMETRY | _doc({"device": st.sampled_from(
        ["Device A", "Gate Counter", "Device Z", "Device Q"])}),
}
_TOPICS = {
    FrigateAdapter: ["frigate/yard/person", "frigate/front_door/person", "frigate/x/person",
                     "frigate/available", "frigate/events", "frigate/yard/person/active"],
    OnvifAdapter: [CROSSED_TOPIC, "BoschCamera1/onvif-ej/RuleEngine/CountAggregation/"
                   "OccupancyCounter/&1/Occupancy", "MyDevice/onvif-ej/RuleEngine/X&/1/2",
                   "BoschCamera1/onvif-ej/RuleEngine/CountAggregation/Counter/&1/Counter 4"],
    ThingsBoardAdapter: ["v1/gateway/telemetry", "v1/gateway/connect", "v1/gateway/disconnect"],
}
_VALUE_FAULTS = {RejectKind.IMPOSSIBLE_VALUE, RejectKind.BAD_TIME}
_EVENTS_MODE = {"frigate": [{**CONFIG["frigate"][0], "count_source": "events"}]}


@pytest.mark.parametrize(("kind", "overrides"), [
    (FrigateAdapter, {}), (FrigateAdapter, _EVENTS_MODE), (OnvifAdapter, {}),
    (ThingsBoardAdapter, {})], ids=["frigate", "frigate-events", "onvif", "thingsboard"])
def test_fuzz_only_adapter_errors_escape(kind: type[Adapter], overrides: dict[str, Any]) -> None:
    subject, check = adapter(kind, **overrides), decoder()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(topic=st.sampled_from(_TOPICS[kind]) | st.text(max_size=30),
           payload=_PAYLOADS[kind])
    def run(topic: str, payload: bytes) -> None:
        try:
            out = subject.translate(topic, payload, NOW)
        except AdapterError as exc:
            assert exc.reason
            return
        for contract_topic, body in out:  # strict in what we emit: only values can be refused
            result = check.decode(contract_topic, body, NOW)
            assert isinstance(result, Accepted) or result.kind in _VALUE_FAULTS, result

    run()
