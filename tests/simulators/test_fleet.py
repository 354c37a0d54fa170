"""Device fleets against a real broker: determinism, every fault kind as published, scale."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from kernel.mqtt import new_client, parse_mqtt_url
from kernel.netutil import free_port, wait_for_port
from kernel.settings import EmbeddedBroker
from sharpeyes import embedded
from sharpeyes.embedded import EmbeddedMqttBroker
from simulators.camera import (
    HEALTH_BLACK,
    HEALTH_OK,
    HEALTH_STREAM_LOST,
    CameraDevice,
    cameras_from_city,
)
from simulators.city import demo_city
from simulators.devices import SimClock, SimDevice, device_password
from simulators.faults import Fault, FaultKind, FaultSchedule
from simulators.fleet import Fleet, FleetOptions, resize
from simulators.scenario import OrdinaryDay, Scenario
from simulators.scenarios import build_timeline
from simulators.sensors import SensorDevice, SensorSpec, sensors_from_city
from simulators.specs import CameraSpec, CameraZone
from tests.helpers import wait_until

WORLD = Scenario(OrdinaryDay(seed=3, mean=1.0, amplitude=0.5))
PERIOD = 0.1
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                          if Path("/usr/sbin/mosquitto").exists() else None)
needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    body: dict[str, Any]
    retain: bool
    at: float


class Recorder:
    """Subscribes to ``<prefix>/#`` and keeps every message; resubscribes after outages."""

    def __init__(self, url: str, prefix: str) -> None:
        address = parse_mqtt_url(url)
        self.prefix = prefix
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = new_client(address)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/#", qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the recorder could not subscribe"

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:  # an empty payload clears a retained message
            with self._lock:
                self.messages.append(Received(msg.topic, json.loads(msg.payload),
                                              bool(msg.retain), time.time()))

    def of(self, device: str, leaf: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if m.topic.split("/")[-2:] == [device, leaf]]

    def devices(self, *leaves: str) -> set[str]:
        with self._lock:
            return {m.topic.split("/")[-2] for m in self.messages
                    if m.topic.split("/")[-1] in leaves}

    def close(self) -> None:
        """Stop, clearing the retained statuses seen (the broker may be shared)."""
        with self._lock:
            retained = {m.topic for m in self.messages if m.topic.endswith("/status")}
        infos = [self.client.publish(t, b"", qos=1, retain=True) for t in retained]
        for info in infos:
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                info.wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def recording(url: str, prefix: str) -> Iterator[Recorder]:
    recorder = Recorder(url, prefix)
    try:
        yield recorder
    finally:
        recorder.close()


@contextmanager
def running(fleet: Fleet, duration: float | None = None) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=fleet.run, args=(stop, duration), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "the fleet did not stop"


def camera(device_id: str) -> CameraSpec:
    return CameraSpec(device_id, (CameraZone(f"{device_id}-Z1", 100.0),))


def make_fleet(url: str, prefix: str, devices: list[SimDevice], *, speed: float = 1.0,
               wall: datetime | None = None, outages: FaultSchedule | None = None,
               **options: Any) -> Fleet:
    clock = SimClock(wall or datetime.now(UTC), 0.0, speed)
    return Fleet(devices, parse_mqtt_url(url), prefix, clock,
                 FleetOptions(**{"period": PERIOD, "threads": 1, **options}), outages=outages)


def window(fleet: Fleet, seq: int, start: float, end: float) -> str:
    """Report ``seq`` was made inside [start, end), outside it, or too close to tell."""
    k, period = seq - fleet.seq_base, fleet.options.period
    low, high = fleet.clock.sim(k * period), fleet.clock.sim((k + 1) * period)
    if low >= start and high <= end:
        return "in"
    return "out" if high <= start or low >= end else "edge"


def split(fleet: Fleet, messages: list[Received], start: float,
          end: float) -> tuple[list[Received], list[Received]]:
    places = [(window(fleet, m.body["seq"], start, end), m) for m in messages]
    return [m for w, m in places if w == "in"], [m for w, m in places if w == "out"]


def wait_reports(recorder: Recorder, devices: set[str], timeout: float = 15.0) -> None:
    wait_until(lambda: recorder.devices("density", "reading") >= devices, timeout=timeout,
               what=f"reports from {sorted(devices)}")


def states(recorder: Recorder, device: str) -> list[str]:
    return [m.body["state"] for m in recorder.of(device, "status")]


def wait_offline(recorder: Recorder, devices: Sequence[str]) -> None:
    try:
        wait_until(lambda: all(states(recorder, d)[-1:] == ["offline"] for d in devices),
                   what="the offline statuses of a clean stop")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {[(d, states(recorder, d)) for d in devices]}") from None


# --------------------------------------------------------------------------- determinism


def _record_run(url: str, seed: int, wall: datetime) -> dict[tuple[str, int], dict[str, Any]]:
    city = demo_city()
    cameras = cameras_from_city(city)[:4]
    sensors = sensors_from_city(city, cameras_from_city(city))[:2]
    timeline = build_timeline("festival_surge", cameras, seed)
    devices: list[SimDevice] = [CameraDevice(c, timeline.world, seed=seed) for c in cameras]
    devices += [SensorDevice(s, timeline.world, seed=seed) for s in sensors]
    prefix = f"t{uuid.uuid4().hex[:10]}"
    fleet = make_fleet(url, prefix, devices, speed=600.0, wall=wall, seed=seed)
    with recording(url, prefix) as recorder, running(fleet, duration=1.5):
        time.sleep(1.6)
    reports = [m for d in {x.device_id for x in devices}
               for leaf in ("density", "reading") for m in recorder.of(d, leaf)]
    return {(m.topic.split("/", 1)[1], m.body["seq"]): m.body for m in reports}


def test_device_types_and_sensors_stay_importable_from_the_fleet_module() -> None:
    import simulators.devices
    import simulators.fleet
    import simulators.sensors

    for module in (simulators.devices, simulators.sensors):
        moved = [n for n in simulators.fleet.__all__ if hasattr(module, n)]
        assert moved and all(getattr(simulators.fleet, n) is getattr(module, n) for n in moved)


def test_the_same_seed_and_clock_publish_identical_payloads_and_another_seed_does_not(
        mqtt_url: str) -> None:
    wall = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    runs: dict[int, dict[tuple[str, int], dict[str, Any]]] = {}
    threads = [threading.Thread(target=lambda n=n, s=s: runs.__setitem__(
        n, _record_run(mqtt_url, s, wall))) for n, s in enumerate((7, 7, 8))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    same = runs[0].keys() & runs[1].keys()
    assert len(same) >= 30
    assert all(runs[0][k] == runs[1][k] for k in same)
    other = [k for k in runs[0].keys() & runs[2].keys() if "density" in k[0]]
    assert other and sum(runs[0][k] != runs[2][k] for k in other) > len(other) / 2


# --------------------------------------------------------------------------- device faults

FAULT_START, FAULT_END = 0.8, 2.3


@pytest.fixture(scope="module")
def faulty(mqtt_url: str) -> Iterator[tuple[Fleet, Recorder]]:
    """One run in which each device suffers one fault from 0.8 s to 2.3 s."""
    cams = {name: camera(name) for name in ("CAM-FROZEN", "CAM-DROP", "CAM-BLACK", "CAM-OK")}
    ok_zones = cams["CAM-OK"].zones
    span = FAULT_END - FAULT_START
    faults = FaultSchedule([
        Fault(FaultKind.FROZEN_FRAME, FAULT_START, span, ("CAM-FROZEN",)),
        Fault(FaultKind.STREAM_DROP, FAULT_START, span, ("CAM-DROP",)),
        Fault(FaultKind.BLACK_LENS, FAULT_START, span, ("CAM-BLACK",)),
        Fault(FaultKind.SENSOR_STUCK, FAULT_START, span, ("SEN-STUCK",), 42.0, "footfall_in"),
        Fault(FaultKind.CLOCK_SKEW, FAULT_START, span, ("SEN-SKEW",), -3600.0),
    ])
    devices: list[SimDevice] = [CameraDevice(c, WORLD, faults) for c in cams.values()]
    devices += [SensorDevice(SensorSpec(name, metrics, None, ok_zones), WORLD, faults)
                for name, metrics in (("SEN-STUCK", ("footfall_in", "footfall_out")),
                                      ("SEN-SKEW", ("noise_db",)))]
    prefix = f"t{uuid.uuid4().hex[:10]}"
    fleet = make_fleet(mqtt_url, prefix, devices)
    with recording(mqtt_url, prefix) as recorder:
        with running(fleet, duration=FAULT_END + 0.8):
            time.sleep(FAULT_END + 0.9)
        wait_offline(recorder, [d.device_id for d in devices])
        yield fleet, recorder


def test_a_frozen_frame_repeats_identical_counts(faulty: tuple[Fleet, Recorder]) -> None:
    fleet, recorder = faulty
    inside, outside = split(fleet, recorder.of("CAM-FROZEN", "density"), FAULT_START, FAULT_END)
    assert len(inside) >= 5
    assert len({json.dumps(m.body["zones"]) for m in inside}) == 1
    assert len({m.body["seq"] for m in inside}) == len(inside)  # still new reports
    assert len({json.dumps(m.body["zones"]) for m in outside}) > 1


def test_a_stream_drop_stops_the_reports_and_the_status_says_so(
        faulty: tuple[Fleet, Recorder]) -> None:
    fleet, recorder = faulty
    inside, outside = split(fleet, recorder.of("CAM-DROP", "density"), FAULT_START, FAULT_END)
    assert inside == [] and len(outside) >= 5
    details = [m.body["detail"] for m in recorder.of("CAM-DROP", "status") if "detail" in m.body]
    assert details == [HEALTH_STREAM_LOST, HEALTH_OK]


def test_a_black_lens_reports_zero_counts_with_zero_confidence_and_its_health(
        faulty: tuple[Fleet, Recorder]) -> None:
    fleet, recorder = faulty
    inside, outside = split(fleet, recorder.of("CAM-BLACK", "density"), FAULT_START, FAULT_END)
    assert len(inside) >= 5
    assert all(z["count"] == 0 and z["confidence"] == 0 for m in inside for z in m.body["zones"])
    assert all(z["count"] > 0 for m in outside for z in m.body["zones"])
    details = [m.body["detail"] for m in recorder.of("CAM-BLACK", "status") if "detail" in m.body]
    assert details == [HEALTH_BLACK, HEALTH_OK]


def _values(messages: list[Received], metric: str) -> list[float]:
    return [r["value"] for m in messages for r in m.body["readings"] if r["metric"] == metric]


def test_a_stuck_sensor_repeats_one_value_of_one_metric(faulty: tuple[Fleet, Recorder]) -> None:
    fleet, recorder = faulty
    inside, outside = split(fleet, recorder.of("SEN-STUCK", "reading"), FAULT_START, FAULT_END)
    assert len(inside) >= 5
    assert set(_values(inside, "footfall_in")) == {42.0}
    assert set(_values(outside, "footfall_in")) != {42.0}
    assert all(r["unit"] == "persons" for m in inside for r in m.body["readings"])


def test_clock_skew_offsets_the_timestamps(faulty: tuple[Fleet, Recorder]) -> None:
    fleet, recorder = faulty
    inside, outside = split(fleet, recorder.of("SEN-SKEW", "reading"), FAULT_START, FAULT_END)
    assert len(inside) >= 5 and len(outside) >= 5
    lag = [m.body["ts"] / 1000 - m.at for m in inside]
    assert all(-3600 - 3 < x < -3600 + 3 for x in lag)
    assert all(abs(m.body["ts"] / 1000 - m.at) < 3 for m in outside)


def test_devices_say_online_when_they_connect_and_offline_when_they_stop(
        faulty: tuple[Fleet, Recorder]) -> None:
    _, recorder = faulty
    assert states(recorder, "CAM-OK") == ["online", "offline"]


# --------------------------------------------------------------------------- connections


def test_an_offline_device_leaves_its_last_will_retained_then_comes_back_online(
        mqtt_url: str) -> None:
    faults = FaultSchedule([Fault(FaultKind.DEVICE_OFFLINE, 0.6, 2.0, ("CAM-GONE",))])
    devices: list[SimDevice] = [CameraDevice(camera(d), WORLD, faults)
                                for d in ("CAM-GONE", "CAM-STAYS")]
    prefix = f"t{uuid.uuid4().hex[:10]}"
    fleet = make_fleet(mqtt_url, prefix, devices)
    with recording(mqtt_url, prefix) as recorder:
        with running(fleet):
            wait_until(lambda: states(recorder, "CAM-GONE") == ["online", "lost"],
                       what="the Last Will")
            with recording(mqtt_url, f"{prefix}/v1/device/CAM-GONE") as late:
                retained = wait_until(lambda: late.of("CAM-GONE", "status"), what="retained")
            assert [(m.body, m.retain) for m in retained] == [({"state": "lost"}, True)]
            wait_until(lambda: len(recorder.of("CAM-GONE", "status")) == 3, what="back online")
            assert recorder.of("CAM-GONE", "status")[-1].body == {"state": "online"}
            wait_until(lambda: split(fleet, recorder.of("CAM-GONE", "density"), 2.6, 99)[0],
                       what="reports after coming back")
        wait_offline(recorder, ["CAM-GONE", "CAM-STAYS"])
    inside, _ = split(fleet, recorder.of("CAM-GONE", "density"), 0.6, 2.6)
    assert inside == []
    assert states(recorder, "CAM-STAYS") == ["online", "offline"]


def test_a_timeline_broker_outage_drops_every_device_at_once_until_it_ends(
        mqtt_url: str) -> None:
    """Even an outage shorter than the report period: the fleet follows it, not the reports."""
    faults = FaultSchedule([Fault(FaultKind.BROKER_OUTAGE, 1.2, 0.3)])
    names = ("CAM-1", "CAM-2", "CAM-3")
    devices: list[SimDevice] = [CameraDevice(camera(d), WORLD, faults) for d in names]
    prefix = f"t{uuid.uuid4().hex[:10]}"
    fleet = make_fleet(mqtt_url, prefix, devices, period=0.5, outages=faults)
    with recording(mqtt_url, prefix) as recorder, running(fleet):
        wait_until(lambda: all(states(recorder, d) == ["online", "lost", "online"]
                               for d in names), what="every device lost and back")
        wait_until(lambda: all(split(fleet, recorder.of(d, "density"), 1.5, 99)[0]
                               for d in names), what="reports after the outage")
    assert fleet.counters().drops == 3


@needs_mosquitto
def test_after_a_real_broker_outage_devices_reconnect_with_back_off_and_resume(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = EmbeddedMqttBroker(tmp_path, EmbeddedBroker.MOSQUITTO)
    url = broker.start()
    names = ("CAM-1", "CAM-2", "SEN-1")
    devices: list[SimDevice] = [CameraDevice(camera(d), WORLD) for d in names[:2]]
    devices.append(SensorDevice(SensorSpec("SEN-1", ("noise_db",)), WORLD))
    prefix = f"t{uuid.uuid4().hex[:10]}"
    fleet = make_fleet(url, prefix, devices, min_backoff=0.1, max_backoff=0.5)
    try:
        with recording(url, prefix) as recorder, running(fleet):
            wait_reports(recorder, set(names))
            broker.stop()
            wait_until(lambda: fleet.counters().refused >= 6, what="refused reconnects")
            assert fleet.counters().connected == 0 and fleet.counters().drops == 3
            last = {d: max(m.body["seq"] for m in recorder.of(d, "density") +
                           recorder.of(d, "reading")) for d in names}
            monkeypatch.setattr(embedded, "free_port", lambda: broker.port)
            broker.start()
            wait_until(lambda: all(m.body["seq"] > last[d] for d in names
                                   for m in (recorder.of(d, "density") +
                                             recorder.of(d, "reading"))[-1:]),
                       timeout=20, what="reports resuming after the outage")
        assert fleet.counters().connects == 6
    finally:
        broker.stop()


def test_five_hundred_devices_each_with_their_own_client_connect_and_publish(
        mqtt_url: str, topic_prefix: str) -> None:
    city = demo_city()
    cameras = cameras_from_city(city)
    sensors = sensors_from_city(city, cameras)
    timeline = build_timeline("ordinary_day", cameras)
    devices: list[SimDevice] = [CameraDevice(c, timeline.world) for c in resize(cameras, 400)]
    devices += [SensorDevice(s, timeline.world) for s in resize(sensors, 100)]
    fleet = make_fleet(mqtt_url, topic_prefix, devices, speed=60.0, period=1.0, threads=2)
    with recording(mqtt_url, topic_prefix) as recorder, running(fleet):
        wait_until(lambda: len(recorder.devices("density", "reading")) == 500, timeout=30,
                   what="a report from every device")
        assert len(recorder.devices("status")) == 500
    counters = fleet.counters()
    assert counters.connects == 500 and counters.drops == 0
    assert counters.acked >= 1000  # each device's online status and at least one report


def test_each_device_has_its_own_credentials_and_last_will() -> None:
    assert device_password("CAM-1") == device_password("CAM-1") != device_password("CAM-2")
    assert device_password("CAM-1", "other secret") != device_password("CAM-1")
    fleet = make_fleet("mqtt://127.0.0.1:1", "p", [CameraDevice(camera(d), WORLD)
                                                   for d in ("CAM-1", "CAM-2")])
    clients = [link.client for shard in fleet.shards for link in shard.links]
    assert [(c.username, c.password) for c in clients] == [
        (d, device_password(d)) for d in ("CAM-1", "CAM-2")]
    assert [c.will_topic for c in clients] == [f"p/v1/device/{d}/status"
                                               for d in ("CAM-1", "CAM-2")]
    assert json.loads(clients[0].will_payload or b"") == {"state": "lost"}


@contextmanager
def password_broker(tmp_path: Path, users: Sequence[str]) -> Iterator[str]:
    """A private mosquitto that refuses anonymous clients and checks every device's password."""
    passwords = tmp_path / "passwords"
    passwords.write_text("".join(f"{u}:{device_password(u)}\n" for u in users))
    subprocess.run(["mosquitto_passwd", "-U", str(passwords)], check=True)
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                    f"password_file {passwords}\nuser {getpass.getuser()}\n")
    with (tmp_path / "mosquitto.log").open("wb") as log_file:
        proc = subprocess.Popen([str(MOSQUITTO), "-c", str(conf)], stdout=log_file,
                                stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, timeout=10)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@needs_mosquitto
@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd")
def test_a_broker_checking_passwords_admits_each_device_by_its_own_credentials(
        tmp_path: Path) -> None:
    names = ("CAM-1", "CAM-2")
    with password_broker(tmp_path, names) as url:
        good = make_fleet(url, "p", [CameraDevice(camera(d), WORLD) for d in names])
        bad = make_fleet(url, "q", [CameraDevice(camera("CAM-1"), WORLD)], secret="wrong",
                         min_backoff=0.1)
        with running(good), running(bad):
            wait_until(lambda: good.counters().connects == 2, what="both devices admitted")
            wait_until(lambda: bad.counters().attempts >= 3, what="the impostor retrying")
        assert bad.counters().connects == 0 and bad.counters().published == 0
