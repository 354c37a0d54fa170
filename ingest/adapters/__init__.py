"""Adapters for existing camera networks: vendor MQTT messages in, contract v1 messages out.

This package owns the translation layer in front of the decoder. An :class:`Adapter`
subscribes to a vendor's topics (Frigate NVR, ONVIF Profile M over MQTT, ThingsBoard
gateway telemetry) and turns each vendor message into zero or more contract v1
messages ``(topic, payload_bytes)``. Those then go through the normal decoder,
validation, de-duplication and dead-letter path unchanged. A vendor message that
cannot be translated raises :class:`AdapterError` with a reason for the dead letter.

Sequence numbers are deterministic functions of the vendor message (its timestamp in
milliseconds and, where one exists, its event or object id), so a redelivered vendor
message produces byte-identical contract messages and the store de-duplicates them.

Modules: ``config`` (the mapping file), ``base`` (the interface and the small helpers
the adapters share: JSON parsing, time and sequence numbers, message builders),
``frigate``, ``onvif``, ``thingsboard``. This module holds the registry
(:func:`build_adapters`, :func:`find_adapter`) and re-exports what callers use.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ingest.adapters.base import (
    Adapter,
    AdapterError,
    ContractMessage,
    filters_overlap,
    sanitize_metric,
    seq_for,
    topic_matches,
)
from ingest.adapters.config import AdapterConfigError, AdaptersConfig
from ingest.adapters.frigate import FrigateAdapter
from ingest.adapters.onvif import OnvifAdapter
from ingest.adapters.thingsboard import ThingsBoardAdapter

log = logging.getLogger(__name__)

__all__ = [
    "Adapter",
    "AdapterConfigError",
    "AdapterError",
    "ContractMessage",
    "build_adapters",
    "filters_overlap",
    "find_adapter",
    "sanitize_metric",
    "seq_for",
    "topic_matches",
]


# --- registry -------------------------------------------------------------------------


def build_adapters(config: AdaptersConfig, prefix: str) -> list[Adapter]:
    """Instantiate every configured adapter; refuse overlapping topic filters."""
    adapters: list[Adapter] = [
        *(FrigateAdapter(c, prefix) for c in config.frigate),
        *(OnvifAdapter(c, prefix) for c in config.onvif),
        *(ThingsBoardAdapter(c, prefix) for c in config.thingsboard),
    ]
    _refuse_overlaps(adapters, prefix)
    for adapter in adapters:
        log.info("adapter %s subscribes to %s", adapter.name, adapter.subscriptions())
    return adapters


def find_adapter(adapters: Sequence[Adapter], topic: str) -> Adapter | None:
    """The adapter whose filters match ``topic`` (filters never overlap), or None."""
    for adapter in adapters:
        if adapter.matches(topic):
            return adapter
    return None


def _refuse_overlaps(adapters: Sequence[Adapter], prefix: str) -> None:
    contract = f"{prefix}/#"
    for i, adapter in enumerate(adapters):
        for f in adapter.subscriptions():
            if filters_overlap(f, contract):
                raise AdapterConfigError(
                    f"adapter {adapter.name!r} filter {f!r} overlaps the contract topics "
                    f"{contract!r}; give it another topic_root"
                )
            for other in adapters[i + 1 :]:
                clash = [g for g in other.subscriptions() if filters_overlap(f, g)]
                if clash:
                    raise AdapterConfigError(
                        f"adapters {adapter.name!r} and {other.name!r} both subscribe to "
                        f"{f!r} / {clash[0]!r}; give them distinct topic roots"
                    )
