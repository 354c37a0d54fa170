"""ThingsBoard-style gateway telemetry: many devices through one connection.

Relied on, from ThingsBoard's MQTT Gateway API reference
(thingsboard.io/docs/reference/gateway-mqtt-api and .../reference/gateway-api/):

- ``v1/gateway/telemetry``: ``{"Device A": [{"ts": 1483228800000, "values":
  {"temperature": 42, "humidity": 80}}, ...], "Device B": [...]}``; ``ts`` is epoch
  milliseconds and optional ("server receive time is used if omitted").
- ``v1/gateway/connect``: ``{"device": "Device A", "type": "Sensor A"}`` (``type``, the
  device profile, is optional); ``v1/gateway/disconnect``: ``{"device": "Device A"}``.

Accepted liberally (assumptions): a device's entry given as one object instead of a
list, an entry without ``values`` (the flat ``{"ts": .., "temperature": 42}`` of the
device API), numbers as text, and booleans (as 1/0). Text and object values of keys
that are not mapped to a zone are skipped: contract readings are numbers.

Telemetry keys mapped to a zone become density reports on ``device_id`` (a camera, in
our registry); the other numeric keys become readings on ``sensor_id``, or on
``device_id`` when no zone is mapped. A message naming an unmapped device goes to the
dead letters whole, so nothing of it is stored until the mapping is fixed and the
dead letter replayed. Connect/disconnect become ``online``/``offline`` statuses.
"""

from __future__ import annotations

import logging
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
    ms_from_datetime,
    ms_from_millis,
    reading_messages,
    sanitize_metric,
    seq_for,
    status_message,
)
from ingest.adapters.config import ThingsBoardConfig, ThingsBoardDevice

log = logging.getLogger(__name__)

_LEAVES = {"telemetry", "connect", "disconnect"}


class ThingsBoardAdapter(Adapter):
    """``v1/gateway/telemetry``, ``v1/gateway/connect``, ``v1/gateway/disconnect``."""

    def __init__(self, config: ThingsBoardConfig, prefix: str) -> None:
        super().__init__(config.name, prefix)
        self.config = config
        self.base = f"{config.topic_root}/v1/gateway" if config.topic_root else "v1/gateway"

    def subscriptions(self) -> list[str]:
        return [f"{self.base}/{leaf}" for leaf in sorted(_LEAVES)]

    def translate(self, topic: str, payload: bytes, now: datetime) -> list[ContractMessage]:
        leaf = topic.removeprefix(self.base + "/") if topic.startswith(self.base + "/") else ""
        if leaf not in _LEAVES:
            raise AdapterError(f"topic {topic!r} is not one the ThingsBoard adapter reads")
        body = load_json(payload)
        if leaf == "telemetry":
            return self._telemetry(as_dict(body, "gateway telemetry"), now)
        return self._connection(as_dict(body, f"gateway {leaf}"), leaf)

    def _device(self, name: str) -> ThingsBoardDevice | None:
        device = self.config.devices.get(name)
        if device is None and name not in self.config.ignore:
            raise AdapterError(
                f"ThingsBoard device {name[:80]!r} is not mapped in adapter {self.name!r}: add "
                f"it under devices, or to ignore (the whole message is held back)"
            )
        return device

    # --- connect / disconnect -------------------------------------------------------------
    def _connection(self, body: dict[str, Any], leaf: str) -> list[ContractMessage]:
        name = body.get("device")
        if not isinstance(name, str) or not name:
            raise AdapterError(f"gateway {leaf} needs a device name in 'device'")
        device = self._device(name)
        if device is None:
            return []
        state = "online" if leaf == "connect" else "offline"
        detail = f"ThingsBoard gateway {self.name}: {leaf} {name[:200]}"
        ids = dict.fromkeys(i for i in (device.device_id, device.sensor_id) if i)
        return [status_message(self.prefix, i, state, detail) for i in ids]

    # --- telemetry ------------------------------------------------------------------------
    def _telemetry(self, body: dict[str, Any], now: datetime) -> list[ContractMessage]:
        devices = [(name, self._device(name)) for name in body]  # all mapped, or no output
        out: list[ContractMessage] = []
        for name, device in devices:
            if device is not None:
                for entry in _entries(body[name], name):
                    out += self._entry(name, device, entry, now)
        return out

    def _entry(self, name: str, device: ThingsBoardDevice, entry: dict[str, Any],
               now: datetime) -> list[ContractMessage]:
        if entry.get("ts") is None:
            ms = ms_from_datetime(now, "receive time")
        else:
            ms = ms_from_millis(entry["ts"], f"telemetry ts of {name[:80]!r}")
        values = entry.get("values", {k: v for k, v in entry.items() if k != "ts"})
        values = as_dict(values, f"telemetry values of {name[:80]!r}")
        zones, readings = self._split(device, values)
        seq = seq_for(ms)
        out = density_messages(self.prefix, device.device_id, ms, seq, zones) if zones else []
        target = device.sensor_id or (None if device.zones else device.device_id)
        if readings and target:
            out += reading_messages(self.prefix, target, ms, seq, readings)
        elif readings:
            log.debug("ThingsBoard %s: %s has no sensor_id; readings %s skipped",
                      self.name, name, [r[0] for r in readings])
        return out

    @staticmethod
    def _split(device: ThingsBoardDevice, values: dict[str, Any]
               ) -> tuple[list[tuple[str, float]], list[tuple[str, float, str | None]]]:
        zones: list[tuple[str, float]] = []
        readings: list[tuple[str, float, str | None]] = []
        for key, value in values.items():
            if key in device.ignore_keys:
                continue
            if key in device.zones:
                zones.append((device.zones[key], as_count(value, f"telemetry {key[:40]!r}")))
                continue
            number = _number_or_none(value)
            if number is not None:
                metric = device.metrics.get(key) or _metric(key)
                readings.append((metric, number, device.units.get(key)))
        return zones, readings


def _metric(key: str) -> str:
    try:
        return sanitize_metric(key)
    except AdapterError as exc:
        raise AdapterError(f"{exc.reason}; name it under 'metrics' or 'ignore_keys'") from exc


def _entries(value: object, name: str) -> list[dict[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [as_dict(item, f"telemetry entry of {name[:80]!r}") for item in items]


def _number_or_none(value: object) -> float | None:
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, dict | list) or value is None:
        return None
    try:
        return as_count(value, "telemetry value")
    except AdapterError:
        return None  # text telemetry ("status": "ok") has no place in numeric readings
