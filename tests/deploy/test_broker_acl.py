"""Per-device broker credentials and ACLs (sharpeyes/acl.py) against a real Mosquitto.

A private mosquitto runs with the generated ``password_file`` and ``acl_file`` and
``allow_anonymous false``; paho clients then prove that a device publishes on its own
topics only, that a wrong password or no password is refused, and that the service
accounts can do their jobs (ingest reading through a shared subscription).
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from kernel.netutil import free_port, wait_for_port
from kernel.settings import Settings
from sharpeyes import acl_cli
from sharpeyes.acl import (
    SERVICE_ALERTS,
    SERVICE_INGEST,
    AdapterSource,
    RegisteredDevice,
    build_accounts,
    derive_password,
    mosquitto_hash,
    render_acl_file,
    render_password_file,
    verify_mosquitto_hash,
    write_broker_files,
)
from tests.deploy.conftest import DEPLOY, shipped_mosquitto_conf
from tests.helpers import density_payload, tiny_city, wait_until

SECRET = b"0123456789abcdef0123456789abcdef-test-secret"
PREFIX = "acltest"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
DEVICES = [RegisteredDevice("CAM-A", "camera"), RegisteredDevice("CAM-B", "camera"),
           RegisteredDevice("SEN-1", "sensor"), RegisteredDevice("odd:id", "camera")]
FRIGATE = AdapterSource("frigate", ("frigate/events",))

pytestmark = pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")


def test_hashes_match_mosquitto_passwd(tmp_path: Path) -> None:
    salt = bytes(range(12))
    ours = mosquitto_hash("pw-1", salt)
    assert verify_mosquitto_hash("pw-1", ours) and not verify_mosquitto_hash("pw-2", ours)
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed")
    path = tmp_path / "pw"
    subprocess.run([tool, "-c", "-b", str(path), "dev", "pw-1"], check=True, capture_output=True)
    theirs = path.read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$101$") and verify_mosquitto_hash("pw-1", theirs)
    # Same parameters, salt and password: the tool's layout, byte for byte.
    parts = theirs.split("$")
    assert mosquitto_hash("pw-1", base64.b64decode(parts[3]), int(parts[2])) == theirs


def test_generation_is_deterministic_and_least_privilege() -> None:
    first = build_accounts(SECRET, PREFIX, DEVICES, [FRIGATE])
    again = build_accounts(SECRET, PREFIX, list(reversed(DEVICES)), [FRIGATE])
    assert render_password_file(SECRET, first.accounts) == render_password_file(
        SECRET, again.accounts)
    assert first.skipped.keys() == {"odd:id"}
    acl = render_acl_file(first.accounts)
    block = acl.split("user CAM-A\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines() == [f"topic write {PREFIX}/v1/camera/CAM-A/density",
                                  f"topic write {PREFIX}/v1/device/CAM-A/status"]
    assert "topic read frigate/events" in acl and "adapter-frigate" in acl
    assert derive_password(SECRET, "CAM-A") != derive_password(SECRET + b"x", "CAM-A")


# --- a private broker with the generated files -------------------------------------------

@dataclass(frozen=True)
class Broker:
    """The shipped mosquitto.conf on loopback ports: the device and services listeners."""

    devices: int
    services: int

    def port_of(self, username: str | None) -> int:
        return self.services if username in SERVICES else self.devices


SERVICES = {SERVICE_INGEST, SERVICE_ALERTS, "sharpeyes-api", "sharpeyes-video"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    directory = tmp_path_factory.mktemp("acl-broker")
    auth, config = directory / "auth", directory / "config"
    write_broker_files(auth, SECRET, build_accounts(SECRET, PREFIX, DEVICES, [FRIGATE]).accounts)
    (directory / "data").mkdir()
    config.mkdir()
    shutil.copy(DEPLOY / "mosquitto" / "probe.acl", config / "probe.acl")
    ports = Broker(free_port(), free_port())
    conf = directory / "mosquitto.conf"
    conf.write_text(shipped_mosquitto_conf(directory, ports.devices, ports.services, free_port()))
    with (directory / "mosquitto.log").open("wb") as log_file:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log_file,
                                stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", ports.devices, timeout=10)
        wait_for_port("127.0.0.1", ports.services, timeout=10)
        yield ports
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Client:
    """A connected MQTT 5 paho client that records CONNACK, PUBACK, SUBACK and messages."""

    def __init__(self, port: int, username: str | None, password: str | None,
                 client_id: str | None = None, persistent: bool = False) -> None:
        # MQTT 3.1.1 for a persistent session (clean session off), else MQTT 5.
        self.client = (mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                   protocol=MQTTProtocolVersion.MQTTv311, clean_session=False)
                       if persistent else
                       mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
                                   protocol=MQTTProtocolVersion.MQTTv5))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: Any = None
        self.pubacks: dict[int, Any] = {}
        self.subacks: list[Any] = []
        self.messages: list[tuple[str, bytes]] = []
        self.connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = lambda _c, _u, _m, reasons, _p: self.subacks.extend(reasons)
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.connected.wait(5)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connack = reason
        self.connected.set()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self.pubacks[mid] = reason

    def publish(self, topic: str, payload: bytes = b"{}") -> Any:
        info = self.client.publish(topic, payload, qos=1)
        return wait_until(lambda: self.pubacks.get(info.mid), timeout=5, what="PUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _login(broker: Broker, name: str, **options: Any) -> Client:
    client = Client(broker.port_of(name), name, derive_password(SECRET, name), **options)
    assert client.connack is not None and not client.connack.is_failure, client.connack
    return client


def test_wrong_or_missing_password_is_refused(broker: Broker) -> None:
    for username, password in (("CAM-A", "not-the-password"), ("CAM-A", None), (None, None),
                               ("odd:id", derive_password(SECRET, "odd:id")),
                               (SERVICE_INGEST, "not-the-password")):
        client = Client(broker.port_of(username), username, password)
        try:
            assert client.connack is not None and client.connack.is_failure, (username, password)
        finally:
            client.close()


def test_a_device_publishes_only_under_its_own_id(broker: Broker) -> None:
    ingest = _login(broker, SERVICE_INGEST)
    cam = _login(broker, "CAM-A")
    try:
        ingest.client.subscribe([(f"$share/ingest/{PREFIX}/v1/+/+/+", SubscribeOptions(qos=1))])
        wait_until(lambda: ingest.subacks, what="SUBACK")
        assert not ingest.subacks[0].is_failure
        own = f"{PREFIX}/v1/camera/CAM-A/density"
        status = f"{PREFIX}/v1/device/CAM-A/status"
        foreign = [f"{PREFIX}/v1/camera/CAM-B/density",      # another device's topic
                   f"{PREFIX}/v1/sensor/CAM-A/reading",      # its own id, not its kind
                   f"{PREFIX}/v1/worker/P-1/tasks",          # server-only topic
                   # off-contract forms of its own topic, which ingest would never see
                   f"{PREFIX}/v1/camera/CAM-A/../density", f"{PREFIX}/v1/camera/CAM-A/density/",
                   f"{PREFIX}/v1/camera/CAM-A/density/x", f"{PREFIX}/v2/camera/CAM-A/density",
                   f"/{PREFIX}/v1/camera/CAM-A/density", f"{PREFIX}//v1/camera/CAM-A/density",
                   f"{PREFIX}/v1/camera/CAM-A"]
        for topic in foreign:
            assert cam.publish(topic, b"forged").value == 135  # MQTT 5: Not authorized
        assert not cam.publish(own, b"mine").is_failure
        assert not cam.publish(status, b"online").is_failure
        wait_until(lambda: len(ingest.messages) >= 2, what="the device's own messages")
        assert sorted(t for t, _ in ingest.messages) == sorted([own, status])
        assert all(p != b"forged" for _, p in ingest.messages)
        # A device reads nothing: Mosquitto grants the subscription but delivers it no
        # message (it checks read access per message), while ingest gets them.
        cam.client.subscribe([(f"{PREFIX}/v1/camera/+/density", SubscribeOptions(qos=1))])
        wait_until(lambda: cam.subacks, what="SUBACK")
        other = _login(broker, "CAM-B")
        try:
            assert not other.publish(f"{PREFIX}/v1/camera/CAM-B/density", b"b").is_failure
        finally:
            other.close()
        wait_until(lambda: len(ingest.messages) >= 3, what="CAM-B's message at ingest")
        assert cam.messages == []
    finally:
        ingest.close()
        cam.close()


def test_services_publish_notifications_and_adapters_their_feed(broker: Broker) -> None:
    alerts = _login(broker, SERVICE_ALERTS)
    frigate = _login(broker, "adapter-frigate")
    try:
        assert not alerts.publish(f"{PREFIX}/v1/worker/P-1/tasks").is_failure
        assert not alerts.publish(f"{PREFIX}/v1/alerts/C").is_failure
        assert alerts.publish(f"{PREFIX}/v1/camera/CAM-A/density").value == 135
        assert not frigate.publish("frigate/events").is_failure
        assert frigate.publish(f"{PREFIX}/v1/camera/CAM-A/density").value == 135
    finally:
        alerts.close()
        frigate.close()


def test_cli_writes_the_files_for_the_registry(
        db: psycopg.Connection, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tiny_city(db)
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET + b"\n")
    parser = argparse.ArgumentParser()
    acl_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["broker", "acl", "--out", str(tmp_path / "out"),
                              "--secret-file", str(secret_file),
                              "--credentials", str(tmp_path / "credentials.csv")])
    settings = Settings(database_url=db_url, topic_prefix=PREFIX, data_dir=tmp_path / "data")
    assert args.handler(args, settings) == 0
    registry = [RegisteredDevice("CAM-A", "camera"), RegisteredDevice("CAM-B", "camera"),
                RegisteredDevice("SEN-1", "sensor")]
    expected = build_accounts(SECRET, PREFIX, registry).accounts
    field = [a for a in expected if a.role != "service"]
    services = [a for a in expected if a.role == "service"]
    assert {a.username for a in services} == SERVICES
    assert (tmp_path / "out" / "passwords").read_text() == render_password_file(SECRET, field)
    assert (tmp_path / "out" / "services.passwords").read_text() == render_password_file(
        SECRET, services)
    assert (tmp_path / "out" / "acl").read_text() == render_acl_file(expected)
    credentials = tmp_path / "credentials.csv"
    assert credentials.stat().st_mode & 0o077 == 0
    assert f"CAM-A,{derive_password(SECRET, 'CAM-A')},device:camera" in credentials.read_text()
    args = parser.parse_args(["broker", "password", "CAM-A", "--secret-file", str(secret_file)])
    assert args.handler(args, settings) == 0
    assert capsys.readouterr().out.splitlines()[-1] == derive_password(SECRET, "CAM-A")


def test_real_ingest_behind_the_acl_stores_only_what_a_device_may_send(
        broker: Broker, db: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    """`serve ingest`'s consumer logs in as sharpeyes-ingest with its derived password,
    subscribes through $share, and stores CAM-A's report; CAM-A's forgery on CAM-B's
    topic is refused by the broker and never reaches the database."""
    from ingest.service import build_consumer

    tiny_city(db)
    password = derive_password(SECRET, SERVICE_INGEST)
    url = f"mqtt://{SERVICE_INGEST}:{password}@127.0.0.1:{broker.services}"
    settings = Settings(database_url=db_url, mqtt_url=url, topic_prefix=PREFIX,
                        data_dir=tmp_path / "data", ingest_shared=True,
                        ingest_client_id=f"acl-{uuid.uuid4().hex[:8]}", ingest_flush_seconds=0.05)
    consumer = build_consumer(settings, db_url, url)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    cam = None
    try:
        wait_until(consumer.connected.is_set, what="ingest to log in")
        stop.wait(0.3)  # subscriptions are sent on connect
        cam = _login(broker, "CAM-A")
        now = datetime.now(UTC).isoformat()
        mine = density_payload(1, now, {"Z-A": 40})
        forged = density_payload(2, now, {"Z-B": 400})
        assert not cam.publish(f"{PREFIX}/v1/camera/CAM-A/density", mine).is_failure
        assert cam.publish(f"{PREFIX}/v1/camera/CAM-B/density", forged).value == 135
        wait_until(lambda: db.execute("SELECT count(*) FROM crowd_observations").fetchone()
                   == (1,), what="CAM-A's report stored")
        stop.wait(0.5)  # time for anything else to (wrongly) arrive
        rows = db.execute("SELECT device_id, zone_id FROM crowd_observations").fetchall()
        assert rows == [("CAM-A", "Z-A")]
        assert db.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
    finally:
        if cam is not None:
            cam.close()
        stop.set()
        thread.join(timeout=15)


# --- who may be whom: listeners and client ids ----------------------------------------------

def test_each_listener_admits_only_its_own_accounts(broker: Broker) -> None:
    """Devices cannot log in on the services listener, nor services on the device one,
    and nobody connects anonymously to either."""
    attempts = [(broker.services, "CAM-A"), (broker.services, "adapter-frigate"),
                (broker.devices, SERVICE_INGEST), (broker.devices, SERVICE_ALERTS)]
    attempts += [(port, None) for port in (broker.devices, broker.services)]
    for port, name in attempts:
        password = None if name is None else derive_password(SECRET, name)
        client = Client(port, name, password)
        try:
            assert client.connack is not None and client.connack.is_failure, (port, name)
        finally:
            client.close()


def test_a_device_cannot_take_over_ingests_session(broker: Broker) -> None:
    """The attack of issue 15: a client connects with ingest's client id and clean
    session off to inherit its subscriptions and queued messages. On the device listener
    the broker replaces the client id with the username, so the device gets a session of
    its own (nothing queued, nothing delivered) and ingest later receives every message
    that was queued for it while it was away."""
    ingest_id = f"sharpeyes-ingest-{uuid.uuid4().hex[:6]}"
    topic = f"{PREFIX}/v1/camera/CAM-A/density"
    ingest = _login(broker, SERVICE_INGEST, client_id=ingest_id, persistent=True)
    ingest.client.subscribe(topic, qos=1)
    wait_until(lambda: ingest.subacks, what="SUBACK")
    ingest.close()  # away; its session keeps the subscription and queues messages
    cam = _login(broker, "CAM-A")
    for seq in range(5):
        assert not cam.publish(topic, density_payload(seq, "2026-01-01T00:00:00Z",
                                                      {"Z-A": seq})).is_failure
    cam.close()
    thief = _login(broker, "CAM-B", client_id=ingest_id, persistent=True)
    try:
        thief.client.subscribe(topic, qos=1)  # and its own ACL refuses reading anyway
        time.sleep(1.0)
        assert thief.messages == []
    finally:
        thief.close()
    back = _login(broker, SERVICE_INGEST, client_id=ingest_id, persistent=True)
    try:
        wait_until(lambda: len(back.messages) >= 5, what="ingest's queued messages")
        assert sorted(json.loads(m)["seq"] for _, m in back.messages) == [0, 1, 2, 3, 4]
    finally:
        back.close()
