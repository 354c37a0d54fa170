"""Static partitioning of ingest by device: replica ``i`` of ``n`` takes the devices whose
``zlib.crc32(device_id) % n == i``.

Each replica subscribes (plain QoS 1 subscriptions on its persistent session) to the
exact contract topics of its registered devices, so the broker needs no shared
subscriptions (Mosquitto 2.0.11 loses QoS 1 messages on ``$share``).

Replica 0 also subscribes to vendor adapter topics and, unless the catch-all is switched
off, to the contract wildcards, so messages of unregistered devices still reach the
dead-letter table or auto-registration. The catch-all costs replica 0 every message (a
wildcard matches registered devices too, and MQTT cannot exclude topics), so two replicas
go no faster than one while it is on. Where the broker admits only registered devices
(ACLs generated from the registry) there are no unregistered messages to catch: switch it
off (``SHARPEYES_INGEST_CATCH_ALL=false``) and each replica receives only its own devices.
The rest of this note is about the catch-all.
It does *not* subscribe to the exact topics of its own devices: the wildcard already
delivers them, and Mosquitto delivers a message once per matching subscription, so the
exact ones would only double its traffic. A message that reaches replica 0 through the
wildcard for a registered device of another partition is acknowledged unprocessed — its
owner stores it — but only once the owner has announced that its subscriptions cover the
device: after the SUBACKs for a registry load, replica ``i`` publishes a retained
``<prefix>/ingest/partitions/<n>/<i>`` message with the (wall-clock) time that load
started, and replica 0 hands a device over when that time is no earlier than when it first
saw the device itself. Until then replica 0 stores it too (the store de-duplicates), so
nothing is lost while an owner starts or catches up with new devices. (The comparison
assumes the replicas' clocks agree to within the refresh interval.)
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from contracts.topics import TopicError, TopicKind, parse_topic, topic_for

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
"""How often a replica reloads the device list and subscribes to new devices."""

SUBSCRIBE_BATCH = 500
"""Most topic filters in one SUBSCRIBE/UNSUBSCRIBE packet."""

_PATTERN = re.compile(r"^(\d+)/(\d+)$")
T = TypeVar("T")


def partition_of(device_id: str, count: int) -> int:
    """The partition a device belongs to among ``count``."""
    return zlib.crc32(device_id.encode()) % count


def batched(items: Sequence[T], size: int = SUBSCRIBE_BATCH) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


@dataclass(frozen=True, slots=True)
class Partition:
    index: int
    count: int
    catch_all: bool = True  # replica 0 also takes the wildcards (unregistered devices)

    @classmethod
    def parse(cls, text: str, catch_all: bool = True) -> Partition:
        """``'i/n'`` with ``0 <= i < n``."""
        match = _PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"ingest partition {text!r} must look like i/n, e.g. 0/2")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"ingest partition {text!r}: need 0 <= i < n")
        return cls(index, count, catch_all)

    @property
    def takes_unregistered(self) -> bool:
        """Replica 0 with the catch-all subscribes to the contract wildcards."""
        return self.index == 0 and self.catch_all

    @property
    def takes_adapters(self) -> bool:
        """Vendor adapter topics carry many devices each: replica 0 takes them whole."""
        return self.index == 0

    def owns(self, device_id: str) -> bool:
        return partition_of(device_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def device_topics(prefix: str, device_id: str, kind: str) -> list[str]:
    """The contract topics a registered device publishes on (empty if its id is invalid)."""
    kinds = [TopicKind.STATUS]
    if kind == "camera":
        kinds.insert(0, TopicKind.DENSITY)
    elif kind == "sensor":
        kinds.insert(0, TopicKind.READING)
    try:
        return [topic_for(prefix, k, device_id) for k in kinds]
    except TopicError:
        log.warning("registered device %r has an id no contract topic can carry", device_id)
        return []


def ready_topic(prefix: str, partition: Partition) -> str:
    """Where replica ``i`` announces (retained) the registry load its subscriptions cover."""
    return f"{prefix}/ingest/partitions/{partition.count}/{partition.index}"


def ready_filter(prefix: str, count: int) -> str:
    return f"{prefix}/ingest/partitions/{count}/+"


def ready_payload(loaded_at: float) -> bytes:
    return json.dumps({"loaded_at": loaded_at}).encode()


def parse_ready(prefix: str, count: int, topic: str, payload: bytes) -> tuple[int, float] | None:
    """(partition index, loaded_at) of a readiness announcement, or None if it is not one."""
    head = f"{prefix}/ingest/partitions/{count}/"
    if not topic.startswith(head):
        return None
    try:
        return int(topic[len(head):]), float(json.loads(payload)["loaded_at"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(slots=True)
class PartitionPlan:
    """What one replica subscribes to and which received messages it leaves to others.

    :meth:`update` and :meth:`skip` run on the writer thread; :meth:`owner_ready` on the
    network thread. The consumer serialises them with its own lock.
    """

    partition: Partition
    prefix: str
    topics: dict[str, list[str]] = field(default_factory=dict)  # device -> exact topics
    loaded_at: float = float("-inf")  # wall-clock start of the last registry load
    _first_seen: dict[str, float] = field(default_factory=dict)  # replica 0: others' devices
    _ready: dict[int, float] = field(default_factory=dict)  # replica 0: owners' loaded_at

    def exact_filters(self) -> list[str]:
        return [t for ts in self.topics.values() for t in ts]

    def update(self, devices: Mapping[str, str], loaded_at: float) -> tuple[list[str], list[str]]:
        """Take the registry as loaded at ``loaded_at`` (wall clock, taken before the load);
        return (filters to add, filters to drop)."""
        added: list[str] = []
        removed: list[str] = []
        self.loaded_at = loaded_at
        if self.partition.takes_unregistered:
            for device_id in devices:
                if not self.partition.owns(device_id):
                    self._first_seen.setdefault(device_id, loaded_at)
            for device_id in [d for d in self._first_seen if d not in devices]:
                del self._first_seen[device_id]
            return added, removed
        for device_id, kind in devices.items():
            if device_id not in self.topics and self.partition.owns(device_id):
                self.topics[device_id] = device_topics(self.prefix, device_id, kind)
                added += self.topics[device_id]
        for device_id in [d for d in self.topics if d not in devices]:
            removed += self.topics.pop(device_id)
        return added, removed

    def owner_ready(self, index: int, loaded_at: float) -> None:
        """Replica ``index`` has subscribed to every device of a registry load at ``loaded_at``."""
        self._ready[index] = max(loaded_at, self._ready.get(index, float("-inf")))

    def skip(self, topic: str, devices: Mapping[str, str]) -> bool:
        """True if a received message is another replica's to store (ack it unprocessed)."""
        try:
            device_id = parse_topic(self.prefix, topic).device_id
        except TopicError:
            return False  # an adapter topic or junk: replica 0 handles (or dead-letters) it
        if self.partition.takes_unregistered:
            # Another partition's device is left to its owner only once the owner has
            # announced subscriptions from a registry load no older than when replica 0
            # first saw the device; until then both store it (the store keeps one copy).
            first = self._first_seen.get(device_id)
            if first is None or device_id not in devices:
                return False
            owner = partition_of(device_id, self.partition.count)
            return self._ready.get(owner, float("-inf")) >= first
        # A subscription left in the persistent session by an earlier layout, or a device
        # deleted since: its owner (or replica 0, for the unregistered) stores it.
        return device_id not in devices or not self.partition.owns(device_id)
