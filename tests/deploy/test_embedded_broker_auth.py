"""The embedded brokers refuse anonymous clients: only the account whose password lives
in the data directory (and in the URL the runtime hands its components) may connect, so a
stranger cannot connect with ingest's client id and drain its session."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from kernel.mqtt import new_client, parse_mqtt_url
from kernel.settings import EmbeddedBroker
from sharpeyes.embedded import EmbeddedMqttBroker
from tests.helpers import wait_until

KINDS = [EmbeddedBroker.AMQTT] + (
    [EmbeddedBroker.MOSQUITTO] if shutil.which("mosquitto") or Path(
        "/usr/sbin/mosquitto").exists() else [])


def _connect(port: int, username: str | None, password: str | None) -> int | None:
    """The CONNACK reason code value (0 = accepted), or None without an answer."""
    codes: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sharpeyes-ingest-1",
                         clean_session=False)
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        wait_until(lambda: codes, timeout=10, what="CONNACK")
    except AssertionError:
        return None
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_only_the_account_connects(tmp_path: Path, kind: EmbeddedBroker) -> None:
    broker = EmbeddedMqttBroker(tmp_path, kind)
    url = broker.start()
    try:
        address = parse_mqtt_url(url)
        assert address.username == "sharpeyes" and address.password
        assert _connect(broker.port, None, None) not in (0, None)           # anonymous
        assert _connect(broker.port, "sharpeyes", "guess") not in (0, None)  # wrong password
        assert _connect(broker.port, "sharpeyes", address.password) == 0
        client = new_client(address)
        client.connect(address.host, address.port)
        client.loop_start()
        wait_until(client.is_connected, what="the runtime's client to connect")
        client.disconnect()
        client.loop_stop()
        secret = tmp_path / "broker" / "credentials"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        broker.stop()
        assert broker.start() == url    # a restart keeps the account: clients reconnect
    finally:
        broker.stop()
