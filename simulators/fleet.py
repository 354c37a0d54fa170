"""Device fleets: thousands of simulated cameras and sensors, each its own MQTT client.

This module owns running a fleet: the engine that connects every device with its own
client id, credentials (username = device id, password = :func:`device_password`) and
retained Last Will (``{"state": "lost"}``), schedules its reports and reconnects it with
back-off. The devices themselves are pure models (:mod:`simulators.devices`; cameras in
:mod:`simulators.camera`, sensors in :mod:`simulators.sensors`).

The engine owns everything with side effects. One paho client per device, but
no network thread per client: a few shard threads each multiplex their clients over
one ``selectors`` selector and call paho's ``loop_read``/``loop_write``/``loop_misc``
themselves. Report ``k`` of a device is due ``phase + k × period`` real seconds after
start and is stamped with that nominal time, so the bytes published depend only on
the clock given (:class:`SimClock`), not on scheduling jitter. A shard that falls
more than a period behind skips reports (counted) instead of bursting.
"""

from __future__ import annotations

import heapq
import logging
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contracts.topics import TopicKind, topic_for
from kernel.mqtt import BrokerAddress
from simulators.devices import (
    DEFAULT_SECRET,
    LOCAL_TZ,
    DeviceReport,
    Outgoing,
    SimClock,
    SimDevice,
    Tick,
    device_password,
    status_payload,
)
from simulators.faults import FaultSchedule
from simulators.scenario import stable_key, unit
from simulators.sensors import SensorDevice, SensorSpec, load_sensors, sensors_from_city

# The device types and sensors lived here before they had modules of their own; they are
# still importable from here (simulators.camera, sharpeyes.simulate_cli and tests use them so).
__all__ = [
    "DEFAULT_SECRET", "LOCAL_TZ", "DeviceReport", "Fleet", "FleetCounters", "FleetOptions",
    "Outgoing", "SensorDevice", "SensorSpec", "SimClock", "SimDevice", "Tick",
    "device_password", "ensure_fd_limit", "load_sensors", "resize", "sensors_from_city",
    "status_payload",
]

log = logging.getLogger(__name__)

_READ, _WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


# --------------------------------------------------------------------------- sizing

class _Spec(Protocol):
    @property
    def device_id(self) -> str: ...


S = TypeVar("S", bound=_Spec)


def resize(specs: Sequence[S], count: int, seed: int = 7) -> list[S]:
    """``count`` devices: a seeded sample of ``specs``, or all of them plus replicas.

    Replicas are named ``<id>.r<k>`` and report the original's zones; ingest treats them
    as unknown devices unless ``SHARPEYES_UNKNOWN_DEVICES=auto_register``.
    """
    if count <= len(specs):
        key = stable_key(seed, "resize")
        chosen = sorted(specs, key=lambda s: unit(key, stable_key(s.device_id)))[:count]
        return sorted(chosen, key=lambda s: s.device_id)
    extra = []
    for n in range(count - len(specs)):
        spec = specs[n % len(specs)]
        extra.append(replace(spec, device_id=f"{spec.device_id}.r{n // len(specs) + 1}"))  # type: ignore[type-var]
    return [*specs, *extra]


def ensure_fd_limit(needed: int) -> int:
    """Raise the soft open-files limit towards ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log.warning("open-files limit %d is below the %d this fleet needs", target, needed)
        soft = target
    return int(soft)


# --------------------------------------------------------------------------- engine


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """How a fleet runs; times in real seconds."""

    period: float = 2.0  # between two reports of one device
    threads: int = 2  # shards, each one selector and one thread
    keepalive: int = 30
    connect_timeout: float = 2.0  # paho connects blocking: bound how long one attempt stalls
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    connect_burst: int = 64  # connection attempts per shard per loop turn
    tick_burst: int = 256  # reports per shard per loop turn, so network reads keep up
    secret: str = DEFAULT_SECRET
    seed: int = 7  # report phases and back-off jitter
    stop_timeout: float = 5.0


@dataclass(slots=True)
class FleetCounters:
    """What a fleet did. ``unsent``: reports made while disconnected (dropped, not
    buffered); ``skipped``: reports not made because a shard fell a period behind."""

    published: int = 0
    acked: int = 0
    unsent: int = 0
    skipped: int = 0
    attempts: int = 0
    refused: int = 0
    connects: int = 0
    drops: int = 0
    connected: int = 0

    def __add__(self, other: FleetCounters) -> FleetCounters:
        return FleetCounters(*(getattr(self, f) + getattr(other, f) for f in self.__slots__))


class _Link:
    """One device's client and its connection and schedule state (owned by one shard)."""

    __slots__ = ("index", "device", "client", "topics", "phase", "k", "prev_sim", "sock",
                 "writing", "connected", "wanted", "pending", "backoff", "failures", "farewell")

    def __init__(self, index: int, device: SimDevice, client: mqtt.Client, prefix: str,
                 phase: float, backoff: float) -> None:
        self.index, self.device, self.client, self.phase = index, device, client, phase
        self.topics = {kind: topic_for(prefix, kind, device.device_id) for kind in TopicKind}
        self.k = 0
        self.prev_sim: float | None = None
        self.sock: Any = None
        self.writing = self.connected = self.pending = False
        self.wanted = True
        self.backoff = backoff
        self.failures = 0
        self.farewell: int | None = None  # message id of the "offline" status when stopping


class _Shard:
    """Some of the fleet's clients on one selector, driven by one thread."""

    def __init__(self, fleet: Fleet, devices: Sequence[SimDevice]) -> None:
        self.fleet = fleet
        self.options = fleet.options
        self.selector = selectors.DefaultSelector()
        self.counters = FleetCounters()
        self.stopping = False
        self.reachable = True
        self.farewells = 0  # "offline" statuses not yet acknowledged when stopping
        self.links = [self._link(i, d) for i, d in enumerate(devices)]
        self.ticks = [(link.phase, link.index) for link in self.links]
        heapq.heapify(self.ticks)
        self.connects: list[tuple[float, int]] = []
        for link in self.links:
            self._schedule(link, 0.0)

    def _link(self, index: int, device: SimDevice) -> _Link:
        o, f = self.options, self.fleet
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{f.prefix}-"
                             f"{device.device_id}", clean_session=True)
        phase = unit(stable_key(o.seed, device.device_id, "phase"), 0) * o.period
        link = _Link(index, device, client, f.prefix, phase, o.min_backoff)
        client.user_data_set(link)
        client.connect_timeout = o.connect_timeout
        if f.address.username:   # one account for every device (the embedded broker)
            client.username_pw_set(f.address.username, f.address.password)
        else:                    # each device its own, as `sharpeyes broker acl` derives them
            client.username_pw_set(device.device_id, device_password(device.device_id, o.secret))
        if f.address.tls:
            client.tls_set()
        client.will_set(link.topics[TopicKind.STATUS], status_payload("lost"), qos=1, retain=True)
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open, client.on_socket_close = self._on_open, self._on_close
        client.connect_async(f.address.host, f.address.port, keepalive=o.keepalive)
        return link

    # -- paho callbacks (always on this shard's thread)

    def _on_open(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        link.sock, link.writing = sock, False
        self.selector.register(sock, _READ, link)

    def _on_close(self, _c: mqtt.Client, link: _Link, sock: Any) -> None:
        link.sock = None
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _on_connect(self, client: mqtt.Client, link: _Link, _flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            log.debug("%s refused by the broker: %s", link.device.device_id, reason)
            return
        link.connected, link.backoff, link.failures = True, self.options.min_backoff, 0
        self.counters.connects += 1
        self.counters.connected += 1
        client.publish(link.topics[TopicKind.STATUS], status_payload("online"), qos=1,
                       retain=True)
        self.counters.published += 1

    def _on_disconnect(self, _c: mqtt.Client, link: _Link, _flags: Any, _reason: Any,
                       _props: Any) -> None:
        if link.connected:
            link.connected = False
            self.counters.connected -= 1
            self.counters.drops += 0 if self.stopping else 1
        if link.wanted and not self.stopping:
            self._retry(link)

    def _on_publish(self, _c: mqtt.Client, link: _Link, mid: int, *_args: Any) -> None:
        self.counters.acked += 1
        if link.farewell == mid:
            link.farewell = None
            self.farewells -= 1

    # -- connections

    def _schedule(self, link: _Link, at: float) -> None:
        if not link.pending:
            link.pending = True
            heapq.heappush(self.connects, (at, link.index))

    def _retry(self, link: _Link) -> None:
        """Next attempt after the current back-off (with jitter), which then doubles."""
        link.failures += 1
        jitter = 0.5 + unit(stable_key(self.options.seed, link.device.device_id), link.failures)
        self._schedule(link, self.fleet.elapsed() + link.backoff * jitter)
        link.backoff = min(self.options.max_backoff, link.backoff * 2)

    def _attempt_connects(self, r: float) -> None:
        budget = self.options.connect_burst
        while self.connects and self.connects[0][0] <= r and budget > 0:
            link = self.links[heapq.heappop(self.connects)[1]]
            link.pending = False
            if not link.wanted or link.sock is not None:
                continue
            budget -= 1
            self.counters.attempts += 1
            try:
                link.client.reconnect()
            except OSError as exc:
                log.debug("%s cannot connect: %s", link.device.device_id, exc)
                self.counters.refused += 1
                self._retry(link)
            self._sync_write(link)

    def _drop(self, link: _Link) -> None:
        """Lose the connection without DISCONNECT: the broker publishes the Last Will."""
        if link.sock is None:
            return
        try:
            link.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for _ in range(64):  # paho reads what is left, then sees the end and closes
            if link.sock is None or link.client.loop_read() != mqtt.MQTT_ERR_SUCCESS:
                break

    def _want(self, link: _Link, online: bool, r: float) -> None:
        if online == link.wanted:
            return
        link.wanted = online
        if not online:
            self._drop(link)
        else:
            link.backoff = self.options.min_backoff
            self._schedule(link, r + self.options.min_backoff * unit(
                stable_key(self.options.seed, link.device.device_id, "back"), link.k))

    def _follow_outages(self, r: float) -> None:
        """A broker outage on the timeline cuts every device at once, not report by report."""
        reachable = self.fleet.outages.broker_reachable(self.fleet.clock.sim(r))
        if reachable != self.reachable:
            self.reachable = reachable
            sim_t = self.fleet.clock.sim(r)
            for link in self.links:
                self._want(link, reachable and link.device.online(sim_t), r)

    # -- reports

    def _run_ticks(self, r: float) -> None:
        period, budget = self.options.period, self.options.tick_burst
        while self.ticks and self.ticks[0][0] <= r and budget > 0:
            budget -= 1
            link = self.links[heapq.heappop(self.ticks)[1]]
            latest = int((r - link.phase) / period)
            if latest > link.k:
                self.counters.skipped += latest - link.k
                link.k = latest
            self._tick(link, link.phase + link.k * period, r)
            link.k += 1
            heapq.heappush(self.ticks, (link.phase + link.k * period, link.index))

    def _tick(self, link: _Link, nominal: float, r: float) -> None:
        clock = self.fleet.clock
        sim_t = clock.sim(nominal)
        prev_sim, link.prev_sim = link.prev_sim, sim_t
        if not link.connected:  # nothing would be sent: just follow the device's faults
            self._want(link, link.device.online(sim_t), r)
            self.counters.unsent += 1
            return
        tick = Tick(link.k, self.fleet.seq_base + link.k, sim_t, prev_sim,
                    clock.wall(nominal), self.options.period * clock.speed)
        report = link.device.report(tick)
        self._want(link, report.online, r)
        for out in report.messages:
            if not link.connected:
                self.counters.unsent += 1
                continue
            link.client.publish(link.topics[out.kind], out.payload, qos=1, retain=out.retain)
            self.counters.published += 1
        self._sync_write(link)

    # -- the loop

    def _sync_write(self, link: _Link) -> None:
        """Watch for writability only while paho has bytes it could not send yet."""
        if link.sock is None:
            return
        want = link.client.want_write()
        if want != link.writing:
            link.writing = want
            self.selector.modify(link.sock, _READ | _WRITE if want else _READ, link)

    def _poll(self, timeout: float) -> None:
        for key, events in self.selector.select(timeout):
            link: _Link = key.data
            if events & _READ:
                link.client.loop_read()
            if events & _WRITE and link.sock is not None:
                link.client.loop_write()
            self._sync_write(link)

    def _misc(self) -> None:
        for link in self.links:
            if link.sock is not None:
                link.client.loop_misc()  # keepalive pings, and noticing a silent broker
                self._sync_write(link)

    def _timeout(self, r: float) -> float:
        due = [self.ticks[0][0]] if self.ticks else []
        if self.connects:
            due.append(self.connects[0][0])
        return min(0.1, max(0.0, min(due, default=r + 0.1) - r))

    def run(self, stop: threading.Event, duration: float | None) -> None:
        next_misc = 0.0
        try:
            while not stop.is_set():
                r = self.fleet.elapsed()
                if duration is not None and r >= duration:
                    break
                self._follow_outages(r)
                self._attempt_connects(r)
                self._run_ticks(r)
                if r >= next_misc:
                    self._misc()
                    next_misc = r + 1.0
                self._poll(self._timeout(self.fleet.elapsed()))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        """Say ``offline``, and once the broker has it, DISCONNECT (no Last Will).

        Waiting for the acknowledgement first means nothing is left unread when paho
        closes the socket: an unread PUBACK would turn the close into a reset, and a
        broker that has not read the DISCONNECT yet would then publish the Last Will.
        """
        self.stopping = True
        for link in self.links:
            link.wanted = False
            if link.connected:
                info = link.client.publish(link.topics[TopicKind.STATUS],
                                           status_payload("offline"), qos=1, retain=True)
                link.farewell, self.farewells = info.mid, self.farewells + 1
                self.counters.published += 1
                self._sync_write(link)
        self._drain(lambda: self.farewells > 0, self.options.stop_timeout / 2)
        for link in self.links:
            if link.sock is not None:
                link.client.disconnect()
                self._sync_write(link)
        self._drain(lambda: bool(self.selector.get_map()), self.options.stop_timeout / 2)
        for link in self.links:
            if link.sock is not None:
                link.sock.close()
        self.selector.close()

    def _drain(self, busy: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while busy() and time.monotonic() < deadline:
            self._poll(0.05)


class Fleet:
    """Many simulated devices, each its own MQTT client, run by a few shard threads."""

    def __init__(self, devices: Sequence[SimDevice], address: BrokerAddress, prefix: str,
                 clock: SimClock, options: FleetOptions | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 outages: FaultSchedule | None = None) -> None:
        """``outages``: the timeline's faults, for broker outages that cut every device at
        once (the devices also see them, at their own reports)."""
        self.address, self.prefix, self.clock = address, prefix, clock
        self.options = options or FleetOptions()
        self.outages = outages or FaultSchedule()
        self.monotonic = monotonic
        self.seq_base = int(clock.wall_start.timestamp() * 1000)
        self.size = len(devices)
        ensure_fd_limit(len(devices) + 512)
        self._t0: float | None = None
        n = max(1, min(self.options.threads, len(devices)))
        self.shards = [_Shard(self, devices[i::n]) for i in range(n)]

    def elapsed(self) -> float:
        """Real seconds since :meth:`run` started."""
        return 0.0 if self._t0 is None else self.monotonic() - self._t0

    def sim_now(self) -> float:
        return self.clock.sim(self.elapsed())

    def counters(self) -> FleetCounters:
        total = FleetCounters()
        for shard in self.shards:
            total = total + shard.counters
        return total

    def run(self, stop: threading.Event, duration: float | None = None) -> FleetCounters:
        """Run until ``stop`` is set or ``duration`` real seconds pass; then go offline."""
        self._t0 = self.monotonic()
        failures: list[BaseException] = []

        def guarded(shard: _Shard) -> None:
            try:
                shard.run(stop, duration)
            except BaseException as exc:
                failures.append(exc)
                stop.set()

        threads = [threading.Thread(target=guarded, args=(s,), name=f"fleet-{i}", daemon=True)
                   for i, s in enumerate(self.shards)]
        log.info("fleet of %d devices on %d threads", self.size, len(threads))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return self.counters()
