"""Contract v1 messages of one analysed camera: density reports and status with Last Will.

Owns the mapping from analysis results to payloads; the analyser publishes exactly what
any third-party camera would (README, "MQTT contract (v1)").
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from contracts.payloads import MAX_DENSITY
from contracts.topics import TopicKind, topic_for
from video.model import Health, ZoneEstimate


def density_payload(seq: int, ts: datetime, zones: Sequence[ZoneEstimate]) -> bytes:
    """``{"seq", "ts", "zones": [{"zone_id", "count", "density", "confidence"}]}``."""
    items = []
    for z in zones:
        item: dict[str, object] = {"zone_id": z.zone_id, "count": round(max(z.count, 0.0), 2),
                                   "confidence": round(min(max(z.confidence, 0.0), 1.0), 3)}
        if z.density is not None:
            item["density"] = round(min(max(z.density, 0.0), MAX_DENSITY), 4)
        items.append(item)
    return json.dumps({"seq": seq, "ts": ts.isoformat(), "zones": items}).encode()


def status_payload(state: str, detail: str | None = None) -> bytes:
    body: dict[str, object] = {"state": state, "ts": datetime.now(UTC).isoformat()}
    if detail:
        body["detail"] = detail
    return json.dumps(body).encode()


class ContractPublisher:
    """Publishes one device's reports; call :meth:`configure` before the client connects."""

    def __init__(self, client: mqtt.Client, prefix: str, device_id: str) -> None:
        self.client = client
        self.density_topic = topic_for(prefix, TopicKind.DENSITY, device_id)
        self.status_topic = topic_for(prefix, TopicKind.STATUS, device_id)
        self._seq = time.time_ns() // 1_000_000  # restarts never reuse a sequence number
        self._last_status: tuple[str, str | None] | None = None

    def configure(self) -> None:
        self.client.will_set(self.status_topic, json.dumps({"state": "lost"}), qos=1, retain=True)

    def density(self, zones: Sequence[ZoneEstimate], ts: datetime) -> mqtt.MQTTMessageInfo:
        self._seq = max(self._seq + 1, time.time_ns() // 1_000_000)
        return self.client.publish(self.density_topic, density_payload(self._seq, ts, zones),
                                   qos=1)

    def health(self, health: Health, force: bool = False) -> None:
        """Status for ``health``, published only when it changes (retained)."""
        state = "lost" if health == Health.LOST else "online"
        status = (state, None if health == Health.OK else health.value)
        if force or status != self._last_status:
            self._last_status = status
            self.client.publish(self.status_topic, status_payload(*status), qos=1, retain=True)

    def offline(self) -> mqtt.MQTTMessageInfo:
        self._last_status = ("offline", None)
        return self.client.publish(self.status_topic, status_payload("offline"), qos=1,
                                   retain=True)
