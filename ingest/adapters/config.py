"""Configuration of the "existing networks" adapters, loaded from one JSON or YAML file.

This module owns the file format: which Frigate cameras and zones, ONVIF rules and
ThingsBoard devices map to which of our device and zone ids. It validates the mapping
when the file is loaded (``extra="forbid"``: a typo is an error at start-up, not a
silent gap in the data). See ``docs/adapters.md`` for the format with a full example.

JSON always works. YAML (``.yaml``/``.yml``) needs PyYAML, which is importable today
only because amqtt depends on it; JSON is the documented format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.topics import DEVICE_ID
from kernel.errors import InvalidError

METRIC = re.compile(r"^[a-z][a-z0-9_]*$")


class AdapterConfigError(InvalidError):
    """The adapters file cannot be read or does not describe a valid mapping."""


def _plain_topic(value: str) -> str:
    value = value.strip("/")
    if any(c in value for c in "#+\x00") or value.startswith("$"):
        raise ValueError("must be a plain MQTT topic (no wildcards, not starting with $)")
    return value


def _device_id(value: str) -> str:
    if not DEVICE_ID.match(value):
        raise ValueError(f"device id {value!r} must match {DEVICE_ID.pattern}")
    return value


def _metric(value: str) -> str:
    if not METRIC.match(value) or len(value) > 64:
        raise ValueError(f"metric {value!r} must match {METRIC.pattern} (at most 64 characters)")
    return value


def _vendor_name(value: str) -> str:
    if not value or any(c in value for c in "#+\x00"):
        raise ValueError(f"name {value!r} must be non-empty and contain no MQTT wildcards")
    return value


DeviceId = Annotated[str, AfterValidator(_device_id)]
ZoneId = Annotated[str, Field(min_length=1, max_length=64)]
Metric = Annotated[str, AfterValidator(_metric)]
TopicRoot = Annotated[str, AfterValidator(_plain_topic)]
VendorName = Annotated[str, AfterValidator(_vendor_name)]
AdapterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Unit = Annotated[str, Field(min_length=1, max_length=16)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- Frigate -----------------------------------------------------------------------


class FrigateCamera(_Model):
    """One Frigate camera: our camera device, and which of our zones its counts feed."""

    device_id: DeviceId
    zone_id: ZoneId | None = Field(
        None, description="Our zone for the whole field of view (frigate/<camera>/person)."
    )
    zones: dict[VendorName, ZoneId] = Field(
        default_factory=dict, description="Frigate zone name -> our zone id."
    )


class FrigateConfig(_Model):
    name: AdapterName
    topic_root: TopicRoot = Field("frigate", description="Frigate's mqtt.topic_prefix.")
    count_source: Literal["counts", "active", "events"] = Field(
        "counts",
        description="counts: frigate/<camera|zone>/person; active: .../person/active; "
        "events: person counts rebuilt from frigate/events (stateful).",
    )
    seq: Literal["timestamp_ms", "event_id"] = Field(
        "timestamp_ms", description="Sequence numbers in events mode (see docs/adapters.md)."
    )
    event_ttl_seconds: float = Field(
        1800, gt=0, description="Events mode: forget a person not updated for this long."
    )
    cameras: dict[VendorName, FrigateCamera] = Field(min_length=1)
    ignore: list[VendorName] = Field(
        default_factory=list, description="Cameras and zones whose messages are not wanted."
    )

    @model_validator(mode="after")
    def _names_are_unambiguous(self) -> FrigateConfig:
        seen: dict[str, str] = {name: "camera" for name in self.cameras}
        for camera, cam in self.cameras.items():
            for zone in cam.zones:
                if zone in seen:
                    raise ValueError(
                        f"Frigate name {zone!r} is used twice (zone of {camera!r} and "
                        f"{seen[zone]}); frigate/<name>/person could not be told apart"
                    )
                seen[zone] = f"zone of {camera!r}"
        clash = sorted(set(self.ignore) & set(seen))
        if clash:
            raise ValueError(f"{clash} are both mapped and ignored")
        return self


# --- ONVIF Profile M over MQTT -----------------------------------------------------


class OnvifDevice(_Model):
    """One ONVIF device (keyed by its TopicPrefix) and what its analytics rules feed.

    Rule keys are the ``Rule`` name, or ``<VideoSource>/<Rule>`` to tell apart rules of
    the same name on different video sources of one device.
    """

    device_id: DeviceId | None = Field(None, description="Our camera device (occupancy).")
    sensor_id: DeviceId | None = Field(
        None, description="Our sensor device receiving line counts (cameras cannot send readings)."
    )
    occupancy: dict[VendorName, ZoneId] = Field(
        default_factory=dict, description="OccupancyCounter rule -> our zone (density report)."
    )
    counters: dict[VendorName, Metric] = Field(
        default_factory=dict, description="CountAggregation Counter rule -> metric (cumulative)."
    )
    lines: dict[VendorName, Metric] = Field(
        default_factory=dict, description="LineDetector rule -> metric (1 per crossing)."
    )
    ignore_rules: list[VendorName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _targets_exist(self) -> OnvifDevice:
        if self.occupancy and self.device_id is None:
            raise ValueError("occupancy rules need device_id (the camera that owns the zones)")
        if (self.counters or self.lines) and self.sensor_id is None:
            raise ValueError(
                "counters and lines need sensor_id: a device registered as a sensor receives "
                "line counts (contract v1 takes readings from sensors only)"
            )
        if not (self.occupancy or self.counters or self.lines):
            raise ValueError("map at least one rule (occupancy, counters or lines)")
        return self


class OnvifConfig(_Model):
    name: AdapterName
    topic_root: TopicRoot = Field(
        "", description="If set, device TopicPrefixes are <topic_root>/<key> (one subscription)."
    )
    devices: dict[VendorName, OnvifDevice] = Field(
        min_length=1, description="ONVIF TopicPrefix (relative to topic_root) -> mapping."
    )
    ignore: list[VendorName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_fit_the_root(self) -> OnvifConfig:
        for key in [*self.devices, *self.ignore]:
            _plain_topic(key)
            if self.topic_root and "/" in key:
                raise ValueError(
                    f"device key {key!r}: with topic_root set, keys are one topic level"
                )
        return self


# --- ThingsBoard gateway API ---------------------------------------------------------


class ThingsBoardDevice(_Model):
    """One device behind a ThingsBoard-style gateway (keyed by its device name)."""

    device_id: DeviceId = Field(
        description="Our device: a camera if zones are mapped, otherwise a sensor."
    )
    sensor_id: DeviceId | None = Field(
        None, description="Where the other keys go as readings when zones are mapped."
    )
    zones: dict[str, ZoneId] = Field(
        default_factory=dict, description="Telemetry key -> our zone (value is a people count)."
    )
    metrics: dict[str, Metric] = Field(
        default_factory=dict, description="Telemetry key -> metric name (default: sanitized key)."
    )
    units: dict[str, Unit] = Field(default_factory=dict, description="Telemetry key -> unit.")
    ignore_keys: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _keys_are_used_once(self) -> ThingsBoardDevice:
        both = sorted(set(self.zones) & (set(self.metrics) | set(self.ignore_keys)))
        if both:
            raise ValueError(f"telemetry keys {both} are mapped to a zone and to something else")
        return self


class ThingsBoardConfig(_Model):
    name: AdapterName
    topic_root: TopicRoot = Field(
        "", description="Prefix in front of v1/gateway/... if the gateway is bridged under one."
    )
    devices: dict[str, ThingsBoardDevice] = Field(min_length=1)
    ignore: list[str] = Field(default_factory=list)


# --- the file ------------------------------------------------------------------------


class AdaptersConfig(_Model):
    """Every adapter instance; several of a kind are allowed (different topic roots)."""

    version: Literal[1] = 1
    frigate: list[FrigateConfig] = Field(default_factory=list)
    onvif: list[OnvifConfig] = Field(default_factory=list)
    thingsboard: list[ThingsBoardConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names_are_unique(self) -> AdaptersConfig:
        names = [
            *(a.name for a in self.frigate),
            *(a.name for a in self.onvif),
            *(a.name for a in self.thingsboard),
        ]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"adapter names must be unique; repeated: {dupes}")
        return self


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() not in {".yaml", ".yml"}:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise AdapterConfigError(f"{path}: not valid JSON: {exc}") from exc
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - PyYAML comes with amqtt today
        raise AdapterConfigError(f"{path}: YAML needs PyYAML; use the JSON format") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AdapterConfigError(f"{path}: not valid YAML: {exc}") from exc


def load_adapters_config(path: Path) -> AdaptersConfig:
    """Read and validate the adapters file; raise :class:`AdapterConfigError` saying why not."""
    try:
        data = _read(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise AdapterConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        return AdaptersConfig.model_validate(data)
    except ValidationError as exc:
        raise AdapterConfigError(f"{path}: {exc}") from exc
