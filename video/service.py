"""``sharpeyes serve video``: analyse the registered camera streams this analyser claims.

Owns the runner. Every claim round it reloads the cameras from the store (``devices``
with kind 'camera' and a ``stream_url``, their ``zones`` and ``calibration``), claims
cameras through PostgreSQL advisory locks (``video.claims``: its own shard's at once, a
stopped peer's after ``takeover_after`` seconds), starts one worker thread per newly
claimed camera and stops those of cameras gone from the registry, until ``stop``.
Each worker has its own MQTT client with a Last Will on the camera's status topic, opens
the stream (reconnecting with exponential back-off), samples it at ``rate`` Hz, analyses
and publishes density reports and health like any camera. The watchdog in the main loop
reports a camera ``lost`` when no frame arrived for ``stall_s`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from pydantic import ValidationError

from kernel.mqtt import BrokerAddress, new_client, parse_mqtt_url
from kernel.settings import Settings
from video.analyzer import Analysis, AnalyzerOptions, CameraAnalyzer
from video.calibration import CalibrationSpec
from video.claims import Claims
from video.counting import ModelOptions
from video.errors import VideoError
from video.heatmap import WINDOW_S, HeatmapWindow, HeatmapWindows, store_window
from video.model import Health, Zone
from video.publish import ContractPublisher
from video.sources import Pacer, analysis_width, is_file, open_source

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraConfig:
    device_id: str
    stream_url: str
    zones: tuple[Zone, ...]
    calibration: CalibrationSpec | None


@dataclass(frozen=True, slots=True)
class VideoOptions:
    rate: float = 0.5
    method: str = "auto"
    models: ModelOptions = ModelOptions()
    decoder: str = "auto"
    stall_s: float = 15.0
    max_backoff_s: float = 30.0
    realtime_files: bool = True   # pace files to their frame rate, as if live
    heatmap_window_s: int = WINDOW_S


def shard_of(device_id: str, shard_count: int) -> int:
    """Stable shard of a camera (CRC-32 of its id), the same in every process."""
    return zlib.crc32(device_id.encode()) % max(shard_count, 1)


def load_cameras(conn: psycopg.Connection, shard_index: int = 0,
                 shard_count: int = 1) -> list[CameraConfig]:
    """This shard's cameras with a stream URL, their zones and calibration."""
    devices = conn.execute(
        "SELECT id, stream_url, calibration FROM devices"
        " WHERE kind = 'camera' AND stream_url IS NOT NULL ORDER BY id").fetchall()
    zones = conn.execute("SELECT device_id, id, area_m2, polygon FROM zones ORDER BY id").fetchall()
    by_device: dict[str, list[Zone]] = {}
    for device_id, zone_id, area, polygon in zones:
        poly = tuple((float(x), float(y)) for x, y in polygon) if polygon else None
        by_device.setdefault(device_id, []).append(Zone(zone_id, poly, float(area)))
    out = []
    for device_id, url, calibration in devices:
        if shard_of(device_id, shard_count) != shard_index:
            continue
        out.append(CameraConfig(device_id, url, tuple(by_device.get(device_id, ())),
                                _calibration(device_id, calibration)))
    return out


def _calibration(device_id: str, raw: object) -> CalibrationSpec | None:
    if raw is None:
        return None
    try:
        return CalibrationSpec.model_validate(raw)
    except ValidationError as exc:
        log.error("camera %s: calibration ignored (%s); scale is estimated instead",
                  device_id, exc.errors(include_url=False)[0]["msg"])
        return None


class CameraWorker:
    """One camera: stream → analyser → MQTT, until ``stop``."""

    def __init__(self, camera: CameraConfig, address: BrokerAddress, prefix: str,
                 options: VideoOptions, stop: threading.Event,
                 database_url: str | None = None) -> None:
        self.camera = camera
        self.database_url = database_url
        self.heatmap = HeatmapWindows(window_s=options.heatmap_window_s)
        self.options = options
        self.stop = stop
        self.client = new_client(address, client_id=f"video-{camera.device_id}")
        self.publisher = ContractPublisher(self.client, prefix, camera.device_id)
        self.publisher.configure()
        self.address = address
        self.last_frame_at = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"video-{camera.device_id}",
                                       daemon=True)

    def start(self) -> None:
        self.client.on_connect = lambda *_a: self.publisher.health(Health.OK, force=True)
        self.client.connect_async(self.address.host, self.address.port, keepalive=30)
        self.client.loop_start()
        self.thread.start()

    def _run(self) -> None:
        analyzer = CameraAnalyzer(self.camera.zones, self.camera.calibration,
                                  AnalyzerOptions(method=self.options.method,
                                                  models=self.options.models))
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self._stream(analyzer)
                backoff = 1.0
            except VideoError as exc:
                log.warning("camera %s: %s; retrying in %.0f s", self.camera.device_id, exc,
                            backoff)
            except Exception:
                log.exception("camera %s: analysis failed", self.camera.device_id)
            self.stop.wait(backoff)
            backoff = min(backoff * 2.0, self.options.max_backoff_s)

    def _stream(self, analyzer: CameraAnalyzer) -> None:
        source = open_source(self.camera.stream_url, self.options.rate, self.options.decoder,
                             max_width=analysis_width(self.options.method))
        pacer = Pacer() if self.options.realtime_files and is_file(self.camera.stream_url) else None
        try:
            while not self.stop.is_set():
                frame = source.read()
                if frame is None:
                    return
                if pacer is not None:
                    pacer.wait(frame.t, self.stop)
                self.last_frame_at = time.monotonic()
                self._handle(analyzer.analyse(frame.image, frame.t, frame.index,
                                              frame.native_size), analyzer)
        finally:
            source.close()

    def _handle(self, analysis: Analysis, analyzer: CameraAnalyzer) -> None:
        self.publisher.health(analysis.health)
        if analysis.result is None:
            return
        now = datetime.now(UTC)
        self.publisher.density(analysis.result.zones, now)
        if analyzer.frame_size is not None:
            self._save(self.heatmap.add(now, analysis.result, analyzer.geometry,
                                        analyzer.frame_size))

    def _save(self, window: HeatmapWindow | None) -> None:
        """Persist a heatmap window or part of one (counts only); a failure loses just that."""
        if window is None or self.database_url is None:
            return
        try:
            with psycopg.connect(self.database_url, connect_timeout=5) as conn:
                store_window(conn, self.camera.device_id, window)
        except psycopg.Error as exc:
            log.warning("camera %s: heatmap window %s not stored: %s", self.camera.device_id,
                        window.start.isoformat(), exc)

    def stalled(self) -> bool:
        return time.monotonic() - self.last_frame_at > self.options.stall_s

    def close(self) -> None:
        self.thread.join(timeout=10)
        self._save(self.heatmap.flush())
        info = self.publisher.offline()
        try:
            info.wait_for_publish(timeout=2)
        except (RuntimeError, ValueError):
            pass  # not connected: the Last Will reports the camera instead
        self.client.disconnect()
        self.client.loop_stop()


def run_video(settings: Settings, database_url: str, mqtt_url: str, stop: threading.Event,
              shard_index: int = 0, shard_count: int = 1,
              options: VideoOptions | None = None, *, claim_interval: float = 5.0,
              takeover_after: float = 15.0) -> None:
    """Analyse the cameras this analyser claims until ``stop`` is set.

    Every ``claim_interval`` seconds the registry is reloaded and cameras are claimed
    (``video.claims``): this shard's at once, other shards' once unclaimed for
    ``takeover_after`` seconds (a stopped peer's). A camera is analysed only while its lock
    is held; if the claims session dies, every worker stops and the analyser reconnects.
    """
    opts = options or VideoOptions()
    address = parse_mqtt_url(mqtt_url)
    runner = _ClaimRunner(settings, database_url, address, opts, shard_index, shard_count,
                          takeover_after)
    next_claim = 0.0
    try:
        while True:
            if time.monotonic() >= next_claim:
                runner.claim_round()
                next_claim = time.monotonic() + claim_interval
            for worker in runner.workers.values():
                if worker.stalled():
                    worker.publisher.health(Health.LOST)
            if stop.wait(max(0.05, min(1.0, next_claim - time.monotonic()))):
                break
    finally:
        runner.shutdown()


class _ClaimRunner:
    """The claims session and one worker (with its own stop event) per claimed camera."""

    def __init__(self, settings: Settings, database_url: str, address: BrokerAddress,
                 options: VideoOptions, shard_index: int, shard_count: int,
                 takeover_after: float) -> None:
        self.settings = settings
        self.database_url = database_url
        self.address = address
        self.options = options
        self.shard_index = shard_index
        self.shard_count = shard_count
        self.takeover_after = takeover_after
        self.conn: psycopg.Connection | None = None
        self.claims: Claims | None = None
        self.workers: dict[str, CameraWorker] = {}
        self.stops: dict[str, threading.Event] = {}

    def claim_round(self) -> None:
        try:
            if self.conn is None or self.claims is None:
                self.conn = psycopg.connect(self.database_url, autocommit=True,
                                            connect_timeout=5,
                                            application_name=f"sharpeyes-video-{self.shard_index}"
                                            f"/{self.shard_count}")
                self.claims = Claims(self.conn, lambda c: shard_of(c, self.shard_count),
                                     self.shard_index, self.takeover_after)
            cameras = {c.device_id: c for c in load_cameras(self.conn)}
            result = self.claims.step(cameras)
            for device_id in result.released:
                self._stop_worker(device_id)
                self.claims.unlock(device_id)
            for device_id in result.claimed:
                self._start_worker(cameras[device_id])
        except psycopg.Error as exc:
            log.error("video shard %d/%d: claims session lost (%s); stopping %d cameras"
                      " and reconnecting", self.shard_index, self.shard_count, exc,
                      len(self.workers))
            self._drop_session()
            return
        if result.claimed or result.released:
            log.info("video shard %d/%d: claimed %s, released %s; analysing %d cameras",
                     self.shard_index, self.shard_count, result.claimed, result.released,
                     len(self.workers))

    def _start_worker(self, camera: CameraConfig) -> None:
        own_stop = threading.Event()
        worker = CameraWorker(camera, self.address, self.settings.topic_prefix, self.options,
                              own_stop, self.database_url)
        self.stops[camera.device_id] = own_stop
        self.workers[camera.device_id] = worker
        worker.start()

    def _stop_worker(self, device_id: str) -> None:
        own_stop = self.stops.pop(device_id, None)
        worker = self.workers.pop(device_id, None)
        if own_stop is not None:
            own_stop.set()
        if worker is not None:
            worker.close()

    def _stop_all(self) -> None:
        for own_stop in self.stops.values():
            own_stop.set()  # all at once, then wait for each
        for device_id in list(self.workers):
            self._stop_worker(device_id)

    def _drop_session(self) -> None:
        self._stop_all()
        if self.claims is not None:
            self.claims.forget()
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
        self.conn = None
        self.claims = None

    def shutdown(self) -> None:
        """Stop every worker first, then end the session (which releases its locks)."""
        self._drop_session()
