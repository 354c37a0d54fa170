"""Two video analysers split the cameras; when one stops, the other takes its cameras over,
and hands them back when it returns.

Real PostgreSQL (advisory-lock claims) and a real broker; no camera is ever analysed by
both analysers at once (sampled from the worker threads and from ``pg_locks``).
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from pathlib import Path

import psycopg

from kernel.mqtt import new_client, parse_mqtt_url
from kernel.settings import Settings
from tests.helpers import tiny_city, wait_until
from video.claims import CLAIM_CLASS
from video.service import VideoOptions, run_video, shard_of

CAMERAS = ("CAM-A", "CAM-D")  # shards 0 and 1 of 2 (tiny_city's CAM-B is in shard 0 too)


def _register(db: psycopg.Connection, tmp_path: Path) -> None:
    from simulators.render import default_scene, standard_geometries, write_video

    tiny_city(db)
    db.execute("INSERT INTO devices (id, kind, name, grid_code)"
               " VALUES ('CAM-D', 'camera', 'Camera D', 'G-B')")
    db.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2)"
               " VALUES ('Z-D', 'CAM-D', 'G-B', 'Zone D', 100)")
    camera = next(c for c in standard_geometries() if c.width == 640)
    for seed, device_id in enumerate(CAMERAS):
        path = tmp_path / f"{device_id}.avi"
        write_video(default_scene(camera, 0.3, seed=seed, fps=10.0), 6.0, path, codec="MJPG")
        db.execute("UPDATE devices SET stream_url = %s WHERE id = %s", (str(path), device_id))


def _holders(db: psycopg.Connection) -> dict[str, list[str]]:
    """Each camera's claim holders, by application name (one per analyser)."""
    rows = db.execute(
        "SELECT l.objid::bigint, a.application_name FROM pg_locks l"
        " JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objsubid = 2"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (CLAIM_CLASS,)).fetchall()
    by_key = {zlib.crc32(c.encode()): c for c in CAMERAS}
    out: dict[str, list[str]] = {c: [] for c in CAMERAS}
    for objid, app in rows:
        out[by_key[objid]].append(app)
    return out


class _Sampler(threading.Thread):
    """Records, every 50 ms, the most worker threads and lock holders any camera had."""

    def __init__(self, db_url: str) -> None:
        super().__init__(daemon=True)
        self.db_url = db_url
        self.done = threading.Event()
        self.most_threads = 0
        self.most_holders = 0

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.done.wait(0.05):
                names = [t.name for t in threading.enumerate() if t.is_alive()]
                self.most_threads = max([self.most_threads]
                                        + [names.count(f"video-{c}") for c in CAMERAS])
                self.most_holders = max([self.most_holders]
                                        + [len(h) for h in _holders(conn).values()])


def test_two_analysers_split_cameras_take_over_a_stopped_one_and_hand_back(
        db: psycopg.Connection, db_url: str, settings: Settings, mqtt_url: str,
        topic_prefix: str, tmp_path: Path) -> None:
    assert [shard_of(c, 2) for c in CAMERAS] == [0, 1]
    _register(db, tmp_path)
    address = parse_mqtt_url(mqtt_url)
    reports: list[tuple[float, str, int]] = []
    client = new_client(address)
    client.on_message = lambda _c, _u, m: reports.append(
        (time.monotonic(), m.topic.split("/")[-2], json.loads(m.payload)["seq"]))
    client.on_connect = lambda c, *_a: c.subscribe(f"{topic_prefix}/v1/camera/+/density", qos=1)
    client.connect(address.host, address.port)
    client.loop_start()
    sampler = _Sampler(db_url)
    sampler.start()
    options = VideoOptions(rate=2.0, realtime_files=True)
    stops = [threading.Event(), threading.Event()]
    analysers = [threading.Thread(target=run_video,
                                  args=(settings, db_url, mqtt_url, stops[i], i, 2, options),
                                  kwargs={"claim_interval": 0.5, "takeover_after": 1.0})
                 for i in range(2)]
    try:
        for analyser in analysers:
            analyser.start()
        wait_until(lambda: {c for _, c, _ in reports} >= set(CAMERAS), timeout=20,
                   what="density reports from both cameras")
        assert _holders(db) == {"CAM-A": ["sharpeyes-video-0/2"],
                                "CAM-D": ["sharpeyes-video-1/2"]}

        stops[1].set()
        analysers[1].join(timeout=15)
        assert not analysers[1].is_alive()
        stopped_at = time.monotonic()
        wait_until(lambda: _holders(db)["CAM-D"] == ["sharpeyes-video-0/2"], timeout=8,
                   what="analyser 0 taking CAM-D over")
        wait_until(lambda: {c for t, c, _ in reports if t > stopped_at} >= set(CAMERAS),
                   timeout=10, what="both cameras reporting again after the takeover")
        assert _holders(db) == {"CAM-A": ["sharpeyes-video-0/2"],
                                "CAM-D": ["sharpeyes-video-0/2"]}

        # Analyser 1 returns: analyser 0 hands CAM-D back (never both at once).
        stops[1] = threading.Event()
        analysers[1] = threading.Thread(target=run_video,
                                        args=(settings, db_url, mqtt_url, stops[1], 1, 2,
                                              options),
                                        kwargs={"claim_interval": 0.5, "takeover_after": 1.0})
        analysers[1].start()
        wait_until(lambda: _holders(db)["CAM-D"] == ["sharpeyes-video-1/2"], timeout=10,
                   what="CAM-D handed back to analyser 1")
        back_at = time.monotonic()
        wait_until(lambda: {c for t, c, _ in reports if t > back_at} >= set(CAMERAS),
                   timeout=10, what="both cameras reporting after the hand-back")
        assert _holders(db)["CAM-A"] == ["sharpeyes-video-0/2"]
    finally:
        for stop in stops:
            stop.set()
        for analyser in analysers:
            analyser.join(timeout=15)
        sampler.done.set()
        sampler.join(timeout=5)
        client.disconnect()
        client.loop_stop()
    assert not any(a.is_alive() for a in analysers)
    assert sampler.most_threads == 1 and sampler.most_holders == 1
    # Closing the claims session releases its locks once the server backend has exited.
    wait_until(lambda: _holders(db) == {"CAM-A": [], "CAM-D": []}, timeout=5,
               what="every claim released")
    for camera in CAMERAS:
        seqs = [s for _, c, s in reports if c == camera]
        assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs), camera


def test_an_analyser_whose_claims_session_dies_stops_and_reclaims(
        db: psycopg.Connection, db_url: str, settings: Settings, mqtt_url: str,
        tmp_path: Path) -> None:
    _register(db, tmp_path)
    db.execute("UPDATE devices SET stream_url = NULL WHERE id = 'CAM-D'")
    stop = threading.Event()
    analyser = threading.Thread(target=run_video, args=(settings, db_url, mqtt_url, stop),
                                kwargs={"options": VideoOptions(rate=2.0),
                                        "claim_interval": 0.3, "takeover_after": 1.0})
    pids = ("SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.classid = %s AND l.objsubid = 2")
    analyser.start()
    try:
        [(first,)] = wait_until(lambda: db.execute(pids, (CLAIM_CLASS,)).fetchall(),
                                what="CAM-A claimed")
        db.execute("SELECT pg_terminate_backend(%s)", (first,))
        [(second,)] = wait_until(
            lambda: [r for r in db.execute(pids, (CLAIM_CLASS,)).fetchall() if r[0] != first],
            timeout=10, what="CAM-A claimed again by a new session")
        assert second != first
        assert sum(t.name == "video-CAM-A" for t in threading.enumerate()) == 1
    finally:
        stop.set()
        analyser.join(timeout=15)
    assert not analyser.is_alive()
