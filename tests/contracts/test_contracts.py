"""Contract v1: topics round-trip, timestamps are strict, payload bounds hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts.levels import DensityLevel, level_of
from contracts.payloads import MAX_COUNT, DensityReport, DeviceStatus
from contracts.topics import TopicError, TopicKind, parse_topic, subscriptions, topic_for

device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)


@given(device_ids, st.sampled_from(list(TopicKind)))
def test_topic_round_trips_for_every_valid_device_id(device_id: str, kind: TopicKind) -> None:
    parsed = parse_topic("city/x", topic_for("city/x", kind, device_id))
    assert (parsed.kind, parsed.device_id) == (kind, device_id)


@pytest.mark.parametrize("topic", [
    "sharpeyes/v2/camera/CAM1/density",
    "sharpeyes/v1/camera/CAM1/reading",
    "sharpeyes/v1/camera/CAM1",
    "other/v1/camera/CAM1/density",
    "sharpeyes/v1/camera/bad id/density",
])
def test_topics_outside_the_contract_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_topic("sharpeyes", topic)


def test_subscriptions_cover_every_kind_with_single_level_wildcards() -> None:
    assert subscriptions("p") == ["p/v1/camera/+/density", "p/v1/sensor/+/reading",
                                  "p/v1/device/+/status"]


def test_timestamps_accept_zoned_iso_and_epoch_millis_only() -> None:
    zones = [{"zone_id": "Z", "count": 1}]
    iso = DensityReport.model_validate(
        {"seq": 1, "ts": "2026-11-22T08:00:00+08:00", "zones": zones})
    epoch = DensityReport.model_validate({"seq": 1, "ts": 1795305600000, "zones": zones})
    assert iso.ts == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert epoch.ts == datetime.fromtimestamp(1795305600, tz=UTC)
    with pytest.raises(ValidationError, match="no zone offset"):
        DensityReport.model_validate({"seq": 1, "ts": "2026-11-22T08:00:00", "zones": zones})


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_counts_must_be_finite_non_negative_and_bounded(count: float) -> None:
    payload = {"seq": 1, "ts": 0, "zones": [{"zone_id": "Z", "count": count}]}
    valid = count == count and abs(count) != float("inf") and 0 <= count <= MAX_COUNT
    if valid:
        assert DensityReport.model_validate(payload).zones[0].count == count
    else:
        with pytest.raises(ValidationError):
            DensityReport.model_validate(payload)


def test_a_zone_twice_in_one_report_is_refused() -> None:
    with pytest.raises(ValidationError, match="twice"):
        DensityReport.model_validate({"seq": 1, "ts": 0, "zones": [
            {"zone_id": "Z", "count": 1}, {"zone_id": "Z", "count": 2}]})


def test_status_states_are_closed_set() -> None:
    assert DeviceStatus.model_validate({"state": "lost"}).state == "lost"
    with pytest.raises(ValidationError):
        DeviceStatus.model_validate({"state": "sleeping"})


@pytest.mark.parametrize(("density", "level"), [
    (0.0, DensityLevel.FREE_FLOW), (0.99, DensityLevel.FREE_FLOW), (1.0, DensityLevel.STABLE),
    (2.5, DensityLevel.CAPACITY), (3.5, DensityLevel.UNSTABLE), (4.99, DensityLevel.UNSTABLE),
    (5.0, DensityLevel.CONGESTED), (9.0, DensityLevel.CONGESTED),
])
def test_density_levels_follow_the_design_bands(density: float, level: DensityLevel) -> None:
    assert level_of(density) is level
