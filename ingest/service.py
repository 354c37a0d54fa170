"""Build and run the ingest service from settings."""

from __future__ import annotations

import threading
from datetime import timedelta

from paho.mqtt.enums import MQTTProtocolVersion

from ingest.adapters import build_adapters
from ingest.adapters.config import load_adapters_config
from ingest.consumer import IngestConsumer
from ingest.decode import Decoder, Limits
from ingest.partition import Partition
from ingest.registry import Registry
from ingest.writer import BatchWriter
from kernel.mqtt import parse_mqtt_url, probe_protocol
from kernel.progress import StageHealth
from kernel.settings import Settings, UnknownDevicePolicy


def build_consumer(
    settings: Settings, database_url: str, mqtt_url: str,
    protocol: MQTTProtocolVersion | None = None,
) -> IngestConsumer:
    """An ingest consumer wired to the store and broker named by the arguments."""
    address = parse_mqtt_url(mqtt_url)
    limits = Limits(
        max_payload_bytes=settings.ingest_max_payload_bytes,
        max_future=timedelta(seconds=settings.max_clock_skew_seconds),
        max_age=timedelta(seconds=settings.max_report_age_seconds),
        auto_register=settings.unknown_devices is UnknownDevicePolicy.AUTO_REGISTER,
    )
    decoder = Decoder(settings.topic_prefix, Registry(), limits)
    adapters = (build_adapters(load_adapters_config(settings.adapters_file), settings.topic_prefix)
                if settings.adapters_file else [])
    partition = (Partition.parse(settings.ingest_partition, settings.ingest_catch_all)
                 if settings.ingest_partition else None)
    writer = BatchWriter(database_url, decoder, instance=settings.ingest_client_id,
                         adapters=adapters)
    return IngestConsumer(
        address,
        writer,
        prefix=settings.topic_prefix,
        client_id=settings.ingest_client_id,
        group=settings.ingest_group,
        shared=settings.ingest_shared and partition is None,  # a partition needs no $share
        protocol=protocol or probe_protocol(address),
        batch_size=settings.ingest_batch_size,
        flush_seconds=settings.ingest_flush_seconds,
        queue_size=settings.ingest_queue_size,
        partition=partition,
    )


def run_ingest(settings: Settings, database_url: str, mqtt_url: str,
               stop: threading.Event, health: StageHealth | None = None) -> None:
    consumer = build_consumer(settings, database_url, mqtt_url)
    if health is not None:
        health.waiting = consumer.queue.qsize
        consumer.health = health
    consumer.run(stop)
