"""ONVIF Profile M analytics over MQTT: occupancy becomes zone counts, lines become readings.

Relied on, from the ONVIF specifications (github.com/onvif/specs):

- Core Specification, Event service, "Event Broker" (added in 20.06; 25.12 read):
  topics are ``<TopicPrefix>/<PayloadPrefix>/<LocalTopic>[/&<Source>]`` where the
  TopicPrefix is configured per device with AddEventBroker, PayloadPrefix ``onvif-ej``
  means "ONVIF event with JSON payload", LocalTopic is the ONVIF topic without the
  ``tns1:`` prefix and Source the values of the Source SimpleItems, e.g.
  ``MyDevice/onvif-ej/RuleEngine/LineDetector/Crossed/&1/2/MyImportantFence1``.
  The "JSON Event Payload" is ``{"UtcTime": ..., "Source": {name: value},
  "Data": {name: value}}``; values may be quoted even when numeric. Property events are
  retained; a deleted property is a zero-byte payload, and PropertyOperation is omitted.
- Analytics Service Specification, rules annex: the LineCounting rule publishes
  ``tns1:RuleEngine/CountAggregation/Counter`` with ``Data/Count`` (xs:int, objects
  counted since the last reset); the OccupancyCounting rule publishes
  ``tns1:RuleEngine/CountAggregation/OccupancyCounter`` with ``Data/Count`` (in minus
  out, i.e. the occupancy); the LineDetector rule publishes
  ``tns1:RuleEngine/LineDetector/Crossed`` with ``Data/ObjectId``. Source items are
  ``VideoSource``, ``AnalyticsConfiguration``, ``Rule`` (older devices:
  ``VideoSourceConfigurationToken``, ``VideoAnalyticsConfigurationToken``, ``Rule``).

Liberal in what it accepts (assumptions, seen in the field rather than in the spec):
the earlier draft topic form ``.../Crossed&/...`` and ``NAME=VALUE`` source levels,
``ObjectCount`` for ``Count``, key names in any case, Source/Data written as
``{"SimpleItem": [{"Name": .., "Value": ..}]}`` (XML-shaped conversions), a payload
wrapped in ``{"Message": {...}}``, ``@UtcTime``, and a UtcTime without ``Z`` (it is UTC
by name). The rule name falls back to the last Source value of the topic. A Crossed
event counts one crossing per ObjectId listed (one if none).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.adapters.base import (
    Adapter,
    AdapterError,
    ContractMessage,
    as_count,
    as_dict,
    density_messages,
    load_json,
    ms_from_iso,
    reading_messages,
    relative_levels,
    seq_for,
)
from ingest.adapters.config import OnvifConfig, OnvifDevice

log = logging.getLogger(__name__)

PAYLOAD_PREFIX = "onvif-ej"
OCCUPANCY = "RuleEngine/CountAggregation/OccupancyCounter"
COUNTER = "RuleEngine/CountAggregation/Counter"
CROSSED = "RuleEngine/LineDetector/Crossed"
UNIT = "persons"


@dataclass(frozen=True, slots=True)
class _Topic:
    device_key: str
    local: str
    source: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Event:
    ms: int
    source: dict[str, str]
    data: dict[str, Any]


class OnvifAdapter(Adapter):
    """Counts and crossings from ONVIF devices that publish events to our broker."""

    def __init__(self, config: OnvifConfig, prefix: str) -> None:
        super().__init__(config.name, prefix)
        self.config = config
        self.root = config.topic_root

    def subscriptions(self) -> list[str]:
        heads = [f"{self.root}/+"] if self.root else list(self.config.devices)
        return [f"{h}/{PAYLOAD_PREFIX}/{leaf}" for h in heads
                for leaf in ("RuleEngine/CountAggregation/#", f"{CROSSED}/#")]

    def translate(self, topic: str, payload: bytes, now: datetime) -> list[ContractMessage]:
        parsed = self._split(topic)
        device = self._device(parsed.device_key)
        if device is None or not payload.strip():
            return []  # ignored device, or a deleted property (zero-byte payload)
        event = _event(load_json(payload))
        if event is None:
            return []  # PropertyOperation "Deleted" written out by a lenient device
        rule, key = self._rule(parsed, event)
        if rule in device.ignore_rules or key in device.ignore_rules:
            return []
        if parsed.local == OCCUPANCY:
            return self._occupancy(parsed, device, rule, key, event)
        if parsed.local == COUNTER:
            return self._counter(parsed, device, rule, key, event)
        if parsed.local == CROSSED:
            return self._crossed(parsed, device, rule, key, event)
        raise AdapterError(f"ONVIF topic {parsed.local!r} is not supported (from {topic!r})")

    # --- topic --------------------------------------------------------------------------
    def _split(self, topic: str) -> _Topic:
        levels = relative_levels(topic, self.root)
        if levels is None or PAYLOAD_PREFIX not in levels[1:]:
            raise AdapterError(f"topic {topic!r} is not <TopicPrefix>/{PAYLOAD_PREFIX}/<topic>")
        at = levels.index(PAYLOAD_PREFIX, 1)
        local: list[str] = []
        source: list[str] = []
        for level in levels[at + 1 :]:
            if source or level.startswith("&"):
                source.append(level.removeprefix("&"))
            elif level.endswith("&"):
                local.append(level.removesuffix("&"))
                source.append("")  # "Crossed&/..." (22.06 draft): source follows
            else:
                local.append(level)
        values = tuple(s.split("=", 1)[-1] for s in source if s)
        return _Topic("/".join(levels[:at]), "/".join(local), values)

    def _device(self, key: str) -> OnvifDevice | None:
        device = self.config.devices.get(key)
        if device is not None:
            return device
        if key in self.config.ignore:
            return None
        raise AdapterError(
            f"ONVIF device {key!r} is not mapped in adapter {self.name!r}: add its TopicPrefix "
            f"under devices, or to ignore"
        )

    @staticmethod
    def _rule(parsed: _Topic, event: _Event) -> tuple[str, str]:
        rule = event.source.get("rule") or event.source.get("rulename")
        if not rule and parsed.source:
            rule = parsed.source[-1]
        if not rule:
            raise AdapterError("ONVIF event names no Rule (neither in Source nor in the topic)")
        video = event.source.get("videosource") or event.source.get(
            "videosourceconfigurationtoken") or (parsed.source[0] if len(parsed.source) > 1 else "")
        return rule, f"{video}/{rule}"

    def _unmapped(self, parsed: _Topic, kind: str, rule: str) -> AdapterError:
        return AdapterError(
            f"ONVIF {kind} rule {rule!r} of device {parsed.device_key!r} is not mapped in "
            f"adapter {self.name!r}: add it (or <VideoSource>/{rule}) or to ignore_rules"
        )

    # --- rules --------------------------------------------------------------------------
    def _occupancy(self, parsed: _Topic, device: OnvifDevice, rule: str, key: str,
                   event: _Event) -> list[ContractMessage]:
        zone = device.occupancy.get(key) or device.occupancy.get(rule)
        if zone is None or device.device_id is None:
            raise self._unmapped(parsed, "OccupancyCounter", rule)
        count = _count(event)
        return density_messages(self.prefix, device.device_id, event.ms,
                                seq_for(event.ms, key), [(zone, count)])

    def _counter(self, parsed: _Topic, device: OnvifDevice, rule: str, key: str,
                 event: _Event) -> list[ContractMessage]:
        metric = device.counters.get(key) or device.counters.get(rule)
        if metric is None or device.sensor_id is None:
            raise self._unmapped(parsed, "Counter", rule)
        return reading_messages(self.prefix, device.sensor_id, event.ms,
                                seq_for(event.ms, key), [(metric, _count(event), UNIT)])

    def _crossed(self, parsed: _Topic, device: OnvifDevice, rule: str, key: str,
                 event: _Event) -> list[ContractMessage]:
        metric = device.lines.get(key) or device.lines.get(rule)
        if metric is None or device.sensor_id is None:
            raise self._unmapped(parsed, "LineDetector", rule)
        objects = _object_ids(event.data.get("objectid"))
        seq = seq_for(event.ms, f"{key}|{' '.join(objects)}")
        return reading_messages(self.prefix, device.sensor_id, event.ms, seq,
                                [(metric, max(1, len(objects)), UNIT)])


# --- payload ----------------------------------------------------------------------------


def _event(raw: object) -> _Event | None:
    message = as_dict(raw, "ONVIF event")
    for _ in range(3):  # {"Message": {...}} wrappers from lenient converters
        inner = _get(message, "message")
        if isinstance(inner, dict) and not _has_any(message, "utctime", "@utctime", "data"):
            message = inner
    operation = _get(message, "propertyoperation") or _get(message, "@propertyoperation")
    if isinstance(operation, str) and operation.lower() == "deleted":
        return None
    when = _get(message, "utctime")
    if when is None:
        when = _get(message, "@utctime")
    if when is None:
        raise AdapterError("ONVIF event has no UtcTime")
    ms = ms_from_iso(when, "ONVIF UtcTime", assume_utc=True)
    return _Event(ms, {k: str(v) for k, v in _items(_get(message, "source"), "Source").items()},
                  _items(_get(message, "data"), "Data"))


def _get(obj: dict[str, Any], lower_key: str) -> Any:
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lower_key:
            return value
    return None


def _has_any(obj: dict[str, Any], *lower_keys: str) -> bool:
    return any(_get(obj, k) is not None for k in lower_keys)


def _items(group: object, what: str) -> dict[str, Any]:
    """Source/Data as {lowercased name: value}, from the spec's map or XML-shaped lists."""
    if group is None:
        return {}
    if isinstance(group, dict):
        simple = _get(group, "simpleitem")
        if simple is None:
            return {str(k).lower(): v for k, v in group.items() if _scalar(v)}
        group = simple if isinstance(simple, list) else [simple]
    if not isinstance(group, list):
        raise AdapterError(f"ONVIF {what} must be an object of items")
    items: dict[str, Any] = {}
    for item in group:
        entry = as_dict(item, f"ONVIF {what} item")
        name = _get(entry, "name") or _get(entry, "@name")
        value = _get(entry, "value") if _get(entry, "value") is not None else _get(entry, "@value")
        if isinstance(name, str) and _scalar(value):
            items[name.lower()] = value
    return items


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _count(event: _Event) -> float:
    value = event.data.get("count")
    if value is None:
        value = event.data.get("objectcount")
    if value is None:
        raise AdapterError("ONVIF counter event has no Data/Count")
    return as_count(value, "ONVIF Data/Count")


def _object_ids(value: object) -> list[str]:
    """tt:StringList is space-separated; some devices send a number or a list."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if _scalar(v)]
    if _scalar(value):
        return str(value).split()
    raise AdapterError("ONVIF Data/ObjectId must be an id or a list of ids")
