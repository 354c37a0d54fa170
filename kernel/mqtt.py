"""MQTT connection helpers shared by every stage: URLs, client factory, protocol probe.

Code must work on MQTT 3.1.1 (amqtt, the embedded fallback, speaks only that) and
use MQTT 5 features — shared subscriptions, session expiry, receive maximum — only
where the broker speaks 5 (Mosquitto, EMQX). :func:`probe_protocol` finds out.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from kernel.errors import UnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False


def parse_mqtt_url(url: str) -> BrokerAddress:
    """``mqtt://[user[:pass]@]host[:port]`` (``mqtts://`` for TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts", "tcp"}:
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} has no host")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
    )


def new_client(
    address: BrokerAddress,
    *,
    client_id: str | None = None,
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv311,
    persistent: bool = False,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho 2 client (VERSION2 callbacks) configured for ``address``; not yet connected."""
    kwargs: dict[str, object] = {}
    if protocol != MQTTProtocolVersion.MQTTv5:
        # MQTT 5 sets clean start at connect time instead.
        kwargs["clean_session"] = not persistent
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        # Named after the account: brokers that bind client ids to accounts admit it.
        client_id=client_id or f"{address.username or 'sharpeyes'}-{uuid.uuid4().hex[:12]}",
        protocol=protocol,
        manual_ack=manual_ack,
        **kwargs,  # type: ignore[arg-type]
    )
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def probe_protocol(address: BrokerAddress, timeout: float = 5.0) -> MQTTProtocolVersion:
    """MQTT 5 if the broker accepts an MQTT 5 connection, else 3.1.1."""
    client = new_client(address, protocol=MQTTProtocolVersion.MQTTv5)
    outcome: dict[str, bool] = {}
    done = threading.Event()

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        outcome["ok"] = not getattr(reason, "is_failure", True)
        done.set()

    def on_disconnect(*_args: object) -> None:
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(address.host, address.port, keepalive=10)
        client.loop_start()
        done.wait(timeout)
    except OSError:
        outcome["ok"] = False
    finally:
        client.disconnect()
        client.loop_stop()
    version = MQTTProtocolVersion.MQTTv5 if outcome.get("ok") else MQTTProtocolVersion.MQTTv311
    log.info("broker %s:%s speaks %s", address.host, address.port, version.name)
    return version


class PublishError(UnavailableError):
    """The broker did not acknowledge a publish in time (or is unreachable)."""


class Publisher:
    """A connected client for publishing QoS 1 messages and waiting for their PUBACK."""

    def __init__(self, address: BrokerAddress, client_id: str | None = None) -> None:
        self.client = new_client(address, client_id=client_id)
        self.client.connect_async(address.host, address.port, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str) -> None:
        """Publish at QoS 1 without waiting; paho resends it after a reconnect."""
        self.client.publish(topic, payload, qos=1)

    def publish_all(self, messages: list[tuple[str, bytes, bool]], timeout: float = 10.0) -> None:
        """Publish (topic, payload, retain) messages; raise PublishError unless all are acked."""
        if not self.client.is_connected():
            raise PublishError("not connected to the MQTT broker")
        infos = [self.client.publish(t, p, qos=1, retain=r) for t, p, r in messages]
        for info in infos:
            try:
                info.wait_for_publish(timeout=timeout)
            except (RuntimeError, ValueError) as exc:
                raise PublishError(str(exc)) from exc
            if not info.is_published():
                raise PublishError(f"broker did not acknowledge within {timeout:.0f}s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
