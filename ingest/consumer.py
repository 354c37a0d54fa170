"""The MQTT side of ingest: a persistent QoS 1 session feeding a bounded queue.

The network callback only enqueues; the writer thread batches, commits and then
acknowledges (paho ``manual_ack``). When the queue is full the callback waits,
which stops reading from the socket: back-pressure reaches the broker, which
keeps the rest in the session. On MQTT 5 the session has an expiry and the client
announces a receive maximum. Replicas split the load either by static partitions of
the devices (``partition``, see :mod:`ingest.partition`; any broker, MQTT 3.1.1 or 5)
or as one ``$share`` group (MQTT 5 only; Mosquitto 2.0 loses messages there).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from contracts.topics import subscriptions
from ingest.partition import (
    REFRESH_SECONDS,
    Partition,
    PartitionPlan,
    batched,
    parse_ready,
    ready_filter,
    ready_payload,
    ready_topic,
)
from ingest.writer import BatchResult, BatchWriter, RawMessage
from kernel.mqtt import BrokerAddress, new_client
from kernel.progress import StageHealth

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
REPLAY_EVERY_SECONDS = 2.0


class IngestConsumer:
    """Receives contract messages and stores them; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        address: BrokerAddress,
        writer: BatchWriter,
        *,
        prefix: str,
        client_id: str,
        group: str,
        shared: bool,
        protocol: MQTTProtocolVersion,
        batch_size: int,
        flush_seconds: float,
        queue_size: int,
        on_batch: Callable[[BatchResult], None] | None = None,
        partition: Partition | None = None,
    ) -> None:
        self.address = address
        self.writer = writer
        self.prefix = prefix
        self.group = group
        self.shared = shared
        self.protocol = protocol
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.on_batch = on_batch
        self.queue: queue.Queue[RawMessage] = queue.Queue(maxsize=queue_size)
        self.connected = threading.Event()
        self._generation = 0
        self._stop = threading.Event()
        self.plan = PartitionPlan(partition, prefix) if partition is not None else None
        self._subscriptions = threading.Lock()  # guards the plan and the two below
        self._pending_subacks: set[int] = set()
        self._announce: float | None = None  # a registry load to announce once SUBACKed
        self.skipped = 0  # messages acknowledged unprocessed: another partition stores them
        self.health: StageHealth | None = None
        self.client = new_client(
            address, client_id=client_id, protocol=protocol, persistent=True, manual_ack=True
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # --- network thread -------------------------------------------------------------
    def _filters(self) -> list[str]:
        """Contract and stateless adapter topics are shared among replicas (MQTT 5); a
        stateful adapter (one that remembers earlier messages) needs every message.

        Partitioned: the exact topics of this partition's devices; replica 0 also takes
        every adapter topic and, with the catch-all, the contract wildcards instead of its
        own devices' topics (the wildcards deliver those too)."""
        adapters = self.writer.adapters
        if self.plan is not None:
            partition = self.plan.partition
            vendor = [f for a in adapters for f in a.subscriptions()]
            if partition.takes_unregistered:
                return subscriptions(self.prefix) + vendor + [
                    ready_filter(self.prefix, partition.count)]
            return self.plan.exact_filters() + (vendor if partition.takes_adapters else [])
        shared = subscriptions(self.prefix) + [
            f for a in adapters if not a.stateful for f in a.subscriptions()]
        private = [f for a in adapters if a.stateful for f in a.subscriptions()]
        if self.shared and self.protocol == MQTTProtocolVersion.MQTTv5:
            return [f"$share/{self.group}/{f}" for f in shared] + private
        return shared + private

    def _on_connect(self, client: mqtt.Client, _u: object, flags: object, reason: object,
                    _p: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("broker refused ingest connection: %s", reason)
            return
        self._generation += 1
        with self._subscriptions:
            self._pending_subacks = set(self._subscribe(self._filters()))
            if self.plan is not None:
                self._announce = self.plan.loaded_at
                self._maybe_announce()
        log.info("ingest connected (session present: %s)",
                 getattr(flags, "session_present", "?"))
        self.connected.set()

    def _subscribe(self, filters: list[str]) -> list[int]:
        """QoS 1 subscriptions, at most ``SUBSCRIBE_BATCH`` filters per packet; the mids."""
        mids = []
        for chunk in batched(filters):
            if self.protocol == MQTTProtocolVersion.MQTTv5:
                opts = SubscribeOptions(qos=1)
                rc, mid = self.client.subscribe([(f, opts) for f in chunk])
            else:
                rc, mid = self.client.subscribe([(f, 1) for f in chunk])
            if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
                log.info("subscribe deferred to the next connect (%s)", rc)
                break  # not connected: _on_connect subscribes everything again
            mids.append(mid)
        return mids

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, _r: object,
                      _p: object) -> None:
        with self._subscriptions:
            self._pending_subacks.discard(mid)
            self._maybe_announce()

    def _maybe_announce(self) -> None:
        """Partition i > 0: once every SUBSCRIBE is acknowledged, tell replica 0 (retained)
        which registry load the session's subscriptions now cover. Holds the lock."""
        if (self.plan is None or self.plan.partition.takes_unregistered
                or self._pending_subacks or self._announce is None
                or not self.client.is_connected()):
            return  # (_on_connect subscribes everything again and then announces)
        info = self.client.publish(ready_topic(self.prefix, self.plan.partition),
                                   ready_payload(self._announce), qos=1, retain=True)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._announce = None

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: object,
                       _p: object) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("ingest lost the broker (%s); paho reconnects with back-off", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if self.plan is not None and self.plan.partition.takes_unregistered:
            ready = parse_ready(self.prefix, self.plan.partition.count, msg.topic,
                                bytes(msg.payload))
            if ready is not None:
                with self._subscriptions:
                    self.plan.owner_ready(*ready)
                if msg.qos > 0:
                    self.client.ack(msg.mid, msg.qos)
                return
        item = RawMessage(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation,
                          datetime.now(UTC))
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue  # back-pressure: the socket is not read while we wait

    # --- writer thread --------------------------------------------------------------
    def start(self) -> None:
        """Connect and start the network thread (returns at once)."""
        connect_properties = None
        kwargs: dict[str, object] = {}
        if self.protocol == MQTTProtocolVersion.MQTTv5:
            connect_properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            connect_properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
            connect_properties.ReceiveMaximum = min(65535, self.queue.maxsize)
            kwargs = {"clean_start": False, "properties": connect_properties}
        self.client.connect_async(self.address.host, self.address.port, keepalive=30, **kwargs)  # type: ignore[arg-type]
        self.client.loop_start()

    def run(self, stop: threading.Event) -> None:
        """Batch, commit, acknowledge, until ``stop`` is set; then disconnect."""
        next_replay = 0.0
        next_refresh = 0.0
        try:
            if self.plan is not None:
                # Know this partition's devices before the first SUBSCRIBE.
                self._refresh_partition(stop, retry=True)
                next_refresh = time.monotonic() + REFRESH_SECONDS
            self.start()
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._commit_with_retry(batch, stop)
                if time.monotonic() >= next_replay:
                    next_replay = time.monotonic() + REPLAY_EVERY_SECONDS
                    self._replay_dead_letters()
                if self.plan is not None and time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + REFRESH_SECONDS
                    self._refresh_partition(stop)
        finally:
            self._stop.set()
            self.client.disconnect()
            self.client.loop_stop()
            self.writer.close()

    def _refresh_partition(self, stop: threading.Event, retry: bool = False) -> None:
        """Reload the writer's registry and (un)subscribe this partition's changed devices."""
        assert self.plan is not None
        registry = self.writer.decoder.registry
        delay = 0.5
        loaded_at = time.time()
        while not stop.is_set():
            loaded_at = time.time()
            try:
                self.writer.load_registry()
                break
            except Exception:
                if not retry:
                    log.exception("device list refresh failed; will retry")
                    return
                log.exception("cannot load the device list; retrying in %.1fs", delay)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
        else:
            return
        with self._subscriptions:
            added, removed = self.plan.update(registry.devices, loaded_at)
            if added:
                log.info("partition %s: subscribing to %d topics", self.plan.partition,
                         len(added))
                self._pending_subacks.update(self._subscribe(added))
            for chunk in batched(removed):
                self.client.unsubscribe(chunk)
            self._announce = loaded_at
            self._maybe_announce()

    def _replay_dead_letters(self) -> None:
        try:
            stored, refused = self.writer.replay_requested()
        except Exception:
            log.exception("dead-letter replay failed; will retry")
            return
        if stored or refused:
            log.info("replayed dead letters: %d stored, %d still refused", stored, refused)

    def _next_batch(self, stop: threading.Event) -> list[RawMessage]:
        """Up to ``batch_size`` messages, or what arrived within ``flush_seconds`` (maybe none)."""
        batch: list[RawMessage] = []
        deadline = time.monotonic() + self.flush_seconds
        while len(batch) < self.batch_size and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _commit_with_retry(self, batch: list[RawMessage], stop: threading.Event) -> None:
        mine = batch
        if self.plan is not None:
            devices = self.writer.decoder.registry.devices
            with self._subscriptions:
                mine = [m for m in batch if not self.plan.skip(m.topic, devices)]
            self.skipped += len(batch) - len(mine)
            if not mine:  # all stored by other partitions
                self._acknowledge(batch)
                return
        delay = 0.5
        while not stop.is_set():
            try:
                result = self.writer.write(mine)
            except Exception as exc:
                # Nothing is acknowledged: the broker keeps every message of the batch.
                log.exception("batch of %d not committed; retrying in %.1fs", len(batch), delay)
                if self.health is not None:
                    self.health.failed("commit", str(exc) or type(exc).__name__)
                stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._acknowledge(batch)
            if self.health is not None:
                self.health.progressed("commit")
            if self.on_batch is not None:
                self.on_batch(result)
            return

    def _acknowledge(self, batch: list[RawMessage]) -> None:
        for message in batch:
            # A message from before a reconnect is redelivered by the broker (and then
            # de-duplicated); acking its old packet id could ack a different message.
            if message.qos > 0 and message.generation == self._generation:
                self.client.ack(message.mid, message.qos)
