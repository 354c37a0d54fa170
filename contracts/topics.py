"""Topic names of contract v1, and parsing them back into (kind, device id).

    <prefix>/v1/camera/<device_id>/density    crowd density report (QoS 1)
    <prefix>/v1/sensor/<device_id>/reading    sensor readings (QoS 1)
    <prefix>/v1/device/<device_id>/status     online/offline/lost, retained; the Last Will
    <prefix>/v1/worker/<person_id>/tasks      task notifications to a grid worker
    <prefix>/v1/centre/<region_id>/escalations tasks escalated to a centre
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from kernel.errors import InvalidError

VERSION = "v1"
DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class TopicKind(StrEnum):
    DENSITY = "density"
    READING = "reading"
    STATUS = "status"


_SEGMENTS = {
    TopicKind.DENSITY: ("camera", "density"),
    TopicKind.READING: ("sensor", "reading"),
    TopicKind.STATUS: ("device", "status"),
}


class TopicError(InvalidError):
    """The topic is not part of the contract."""


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    kind: TopicKind
    device_id: str


def topic_for(prefix: str, kind: TopicKind, device_id: str) -> str:
    """The topic a device publishes ``kind`` messages on."""
    if not DEVICE_ID.match(device_id):
        raise TopicError(f"device id {device_id!r} must match {DEVICE_ID.pattern}")
    collection, leaf = _SEGMENTS[kind]
    return f"{prefix}/{VERSION}/{collection}/{device_id}/{leaf}"


def subscriptions(prefix: str) -> list[str]:
    """Topic filters ingest subscribes to."""
    return [f"{prefix}/{VERSION}/{c}/+/{leaf}" for c, leaf in _SEGMENTS.values()]


def worker_topic(prefix: str, person_id: str) -> str:
    return f"{prefix}/{VERSION}/worker/{person_id}/tasks"


def escalation_topic(prefix: str, region_id: str) -> str:
    """Where a centre's supervisors are told of tasks escalated to them (督办)."""
    return f"{prefix}/{VERSION}/centre/{region_id}/escalations"


def parse_topic(prefix: str, topic: str) -> ParsedTopic:
    """Split a contract topic; raise :class:`TopicError` saying what is wrong."""
    parts = topic.split("/")
    head = prefix.split("/")
    if parts[: len(head)] != head or len(parts) != len(head) + 4:
        raise TopicError(f"topic {topic!r} is not <{prefix}>/{VERSION}/<kind>/<device>/<leaf>")
    version, collection, device_id, leaf = parts[len(head) :]
    if version != VERSION:
        raise TopicError(f"unsupported contract version {version!r} (this server speaks {VERSION})")
    for kind, segments in _SEGMENTS.items():
        if segments == (collection, leaf):
            if not DEVICE_ID.match(device_id):
                raise TopicError(f"device id {device_id!r} must match {DEVICE_ID.pattern}")
            return ParsedTopic(kind, device_id)
    raise TopicError(f"unknown message kind {collection}/{leaf} in {topic!r}")
