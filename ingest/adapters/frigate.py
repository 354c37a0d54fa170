"""Frigate NVR adapter: Frigate's person counts become density reports for our zones.

Relied on, from Frigate's MQTT documentation (docs.frigate.video/integrations/mqtt,
``docs/docs/integrations/mqtt.md`` in blakeblackshear/frigate):

- ``frigate/<camera_name>/<object_name>`` publishes the count of objects for the camera,
  ``frigate/<zone_name>/<object_name>`` the count for the zone; the payload is the bare
  integer (no JSON, no timestamp). ``all`` is the object name for all objects.
- ``frigate/<camera_name>/<object_name>/active`` and ``frigate/<zone_name>/<object_name>/active``
  publish the count of *active* (not stationary) objects (Frigate 0.12+).
- ``frigate/events`` publishes ``{"type": "new"|"update"|"end", "before": {...},
  "after": {...}}`` per tracked object; ``after`` has ``id``, ``camera``, ``label``,
  ``frame_time`` (epoch seconds, float), ``start_time``, ``end_time``, ``false_positive``,
  ``current_zones`` and ``entered_zones``. The first message comes when the object is no
  longer a false positive; ``end`` is the last.
- ``frigate/available`` is ``online`` or ``offline``.
- The ``frigate`` root is Frigate's configurable ``mqtt.topic_prefix``.

Assumed (not stated by the docs): zone names are unique within one Frigate instance and
differ from camera names (the count topics share one namespace), and the count payload
may carry surrounding whitespace.

Count topics carry no time: they are stamped with the receive time ``now`` and their
sequence number is derived from it, so they de-duplicate only if redelivered with the
same ``now``. In events mode the counts are rebuilt from the tracked objects (state in
memory, hence :attr:`stateful`) and stamped with Frigate's ``frame_time``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from ingest.adapters.base import (
    Adapter,
    AdapterError,
    ContractMessage,
    as_count,
    as_dict,
    density_messages,
    load_json,
    ms_from_datetime,
    ms_from_seconds,
    relative_levels,
    seq_for,
    stable_hash,
    status_message,
)
from ingest.adapters.config import FrigateCamera, FrigateConfig

log = logging.getLogger(__name__)

LABEL = "person"
MAX_TRACKED_PER_CAMERA = 10_000


@dataclass(frozen=True, slots=True)
class _Target:
    camera: str
    device_id: str
    zone_id: str | None


@dataclass
class _Camera:
    """Persons Frigate currently tracks on one camera: event id -> (zones, last ms)."""

    objects: dict[str, tuple[frozenset[str], int]] = field(default_factory=dict)


class _PersonTracker:
    """Events mode: who is where, from new/update/end events. Idempotent per message."""

    def __init__(self, ttl_ms: int) -> None:
        self.ttl_ms = ttl_ms
        self._cameras: dict[str, _Camera] = {}
        self._lock = threading.Lock()

    def apply(self, camera: str, event_id: str, zones: frozenset[str] | None,
              ms: int) -> list[frozenset[str]]:
        """Record the object (``zones=None`` removes it); return the zones of everyone."""
        with self._lock:
            state = self._cameras.setdefault(camera, _Camera())
            if zones is None:
                state.objects.pop(event_id, None)
            else:
                state.objects[event_id] = (zones, ms)
            self._expire(state, ms)
            return [z for z, _ in state.objects.values()]

    def _expire(self, state: _Camera, ms: int) -> None:
        stale = [k for k, (_, seen) in state.objects.items() if seen < ms - self.ttl_ms]
        for key in stale:
            del state.objects[key]
        while len(state.objects) > MAX_TRACKED_PER_CAMERA:
            oldest = min(state.objects, key=lambda k: state.objects[k][1])
            del state.objects[oldest]


class FrigateAdapter(Adapter):
    """``frigate/<camera|zone>/person[/active]``, ``frigate/events``, ``frigate/available``."""

    def __init__(self, config: FrigateConfig, prefix: str) -> None:
        super().__init__(config.name, prefix)
        self.config = config
        self.root = config.topic_root
        self.stateful = config.count_source == "events"
        self._targets = self._index(config.cameras)
        self._tracker = _PersonTracker(int(config.event_ttl_seconds * 1000))

    @staticmethod
    def _index(cameras: dict[str, FrigateCamera]) -> dict[str, _Target]:
        targets = {name: _Target(name, cam.device_id, cam.zone_id) for name, cam in cameras.items()}
        for name, cam in cameras.items():
            targets.update({z: _Target(name, cam.device_id, zid) for z, zid in cam.zones.items()})
        return targets

    def subscriptions(self) -> list[str]:
        leaf = {"counts": f"+/{LABEL}", "active": f"+/{LABEL}/active", "events": "events"}
        return [f"{self.root}/{leaf[self.config.count_source]}", f"{self.root}/available"]

    def translate(self, topic: str, payload: bytes, now: datetime) -> list[ContractMessage]:
        levels = relative_levels(topic, self.root)
        if levels == ["available"]:
            return self._availability(payload)
        mode = self.config.count_source
        if mode == "events" and levels == ["events"]:
            return self._event(payload)
        count_leaf = [LABEL] if mode == "counts" else [LABEL, "active"]
        if mode != "events" and levels is not None and levels[1:] == count_leaf:
            return self._count(levels[0], topic, payload, now)
        raise AdapterError(f"topic {topic!r} is not one the Frigate adapter {self.name!r} reads")

    # --- frigate/<camera|zone>/person -------------------------------------------------
    def _count(self, name: str, topic: str, payload: bytes, now: datetime) -> list[ContractMessage]:
        target = self._target(name)
        if target is None or target.zone_id is None:
            return []  # ignored, or a camera whose whole view feeds no zone
        try:
            text = payload.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise AdapterError("Frigate count must be an integer in ASCII") from exc
        count = as_count(text, f"Frigate count on {topic}")
        ms = ms_from_datetime(now, "receive time")
        seq = seq_for(ms, f"{topic}\n{text}")
        return density_messages(self.prefix, target.device_id, ms, seq, [(target.zone_id, count)])

    def _target(self, name: str) -> _Target | None:
        target = self._targets.get(name)
        if target is not None:
            return target
        if name in self.config.ignore:
            log.debug("Frigate %s: %r is ignored by configuration", self.name, name)
            return None
        raise self._unmapped(f"camera or zone {name!r}", "under cameras (or zones of its camera)")

    def _unmapped(self, what: str, where: str) -> AdapterError:
        return AdapterError(
            f"Frigate {what} is not mapped in adapter {self.name!r}: add it {where}, or to ignore"
        )

    # --- frigate/events ------------------------------------------------------------------
    def _event(self, payload: bytes) -> list[ContractMessage]:
        event = as_dict(load_json(payload), "Frigate event")
        kind = event.get("type")
        if not isinstance(kind, str) or kind not in {"new", "update", "end"}:
            raise AdapterError(f"Frigate event type must be new, update or end, not {kind!r}")
        after = as_dict(event.get("after"), "Frigate event 'after'")
        if after.get("label") != LABEL:
            return []  # only people are counted; other objects are not our data
        camera, event_id = _text(after, "camera"), _text(after, "id")
        if camera not in self.config.cameras:
            if camera in self.config.ignore:
                return []
            raise self._unmapped(f"camera {camera!r}", "under cameras")
        ms = self._event_ms(after, kind)
        gone = kind == "end" or after.get("false_positive") is True
        everyone = self._tracker.apply(camera, event_id, None if gone else _zones(after), ms)
        return self._camera_report(camera, event_id, ms, everyone)

    @staticmethod
    def _event_ms(after: dict[str, object], kind: str) -> int:
        for key in ("frame_time", "end_time" if kind == "end" else "", "start_time"):
            if key and after.get(key) is not None:
                return ms_from_seconds(after[key], f"Frigate event {key}")
        raise AdapterError("Frigate event has no frame_time or start_time")

    def _camera_report(self, camera: str, event_id: str, ms: int,
                       everyone: list[frozenset[str]]) -> list[ContractMessage]:
        cam = self.config.cameras[camera]
        zones: list[tuple[str, float]] = []
        if cam.zone_id is not None:
            zones.append((cam.zone_id, len(everyone)))
        zones += [(zid, sum(1 for z in everyone if name in z)) for name, zid in cam.zones.items()]
        if not zones:
            return []
        if self.config.seq == "event_id":
            seq = stable_hash(f"{event_id}@{ms}")
        else:
            seq = seq_for(ms, event_id)
        return density_messages(self.prefix, cam.device_id, ms, seq, zones)

    # --- frigate/available --------------------------------------------------------------
    def _availability(self, payload: bytes) -> list[ContractMessage]:
        state = payload.decode("utf-8", "replace").strip().lower()
        if state not in {"online", "offline"}:
            raise AdapterError(f"frigate/available must be online or offline, not {state[:40]!r}")
        detail = f"Frigate {self.name} is {state}"
        devices = dict.fromkeys(cam.device_id for cam in self.config.cameras.values())
        return [status_message(self.prefix, d, state, detail) for d in devices]


def _text(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise AdapterError(f"Frigate event 'after.{key}' must be a non-empty string")
    return value


def _zones(after: dict[str, object]) -> frozenset[str]:
    zones = after.get("current_zones") or []
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise AdapterError("Frigate event 'after.current_zones' must be a list of zone names")
    return frozenset(zones)
