"""The service analyses a real clip as a camera stream and speaks contract v1 to the broker."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ingest.decode import Decoder, Limits
from ingest.records import Accepted
from ingest.registry import Registry
from kernel.mqtt import new_client, parse_mqtt_url
from kernel.settings import Settings
from tests.helpers import PETS_CLIP, tiny_city, wait_until
from video.service import VideoOptions, load_cameras, run_video, shard_of

CLIP = PETS_CLIP
CALIBRATION = {"person_heights": [{"row": 145, "height_px": 46}, {"row": 191, "height_px": 54}],
               "image_size": [480, 360]}


def _clip(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """The real PETS clip where shared/ is beside the repo, else a synthetic one."""
    if CLIP.exists():
        return CLIP, CALIBRATION
    from simulators.render import default_scene, standard_geometries, write_video

    camera = next(c for c in standard_geometries() if c.width == 640 or c.height <= 480)
    path = tmp_path / "synthetic.avi"
    write_video(default_scene(camera, 0.5, seed=3, fps=10.0), 8.0, path, codec="MJPG")
    rows = (camera.height * 0.5, camera.height * 0.9)
    heights = [{"row": r, "height_px": camera.person_height_px(r)} for r in rows]
    return path, {"person_heights": heights, "image_size": [camera.width, camera.height]}


def _register_clip_camera(db: psycopg.Connection, tmp_path: Path) -> None:
    tiny_city(db)
    clip, calibration = _clip(tmp_path)
    db.execute("UPDATE devices SET stream_url = %s, calibration = %s WHERE id = 'CAM-A'",
               (str(clip), json.dumps(calibration)))
    db.execute("UPDATE zones SET polygon = %s WHERE id = 'Z-A'",
               (json.dumps([[0, 80], [480, 80], [480, 360], [0, 360]]),))


def _collect(mqtt_url: str, topic: str) -> tuple[list[tuple[str, bytes, bool]], object]:
    address = parse_mqtt_url(mqtt_url)
    received: list[tuple[str, bytes, bool]] = []
    client = new_client(address)
    client.on_message = lambda _c, _u, m: received.append((m.topic, bytes(m.payload), m.retain))
    client.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
    client.connect(address.host, address.port)
    client.loop_start()
    return received, client


def test_video_service_publishes_contract_reports_that_ingest_accepts(
        db: psycopg.Connection, settings: Settings, db_url: str, mqtt_url: str,
        topic_prefix: str, tmp_path: Path) -> None:
    _register_clip_camera(db, tmp_path)
    received, client = _collect(mqtt_url, f"{topic_prefix}/v1/#")
    stop = threading.Event()
    worker = threading.Thread(target=run_video, args=(settings, db_url, mqtt_url, stop),
                              kwargs={"options": VideoOptions(rate=2.0)})
    worker.start()
    try:
        wait_until(lambda: sum(t.endswith("/density") for t, _, _ in received) >= 3,
                   timeout=40, what="three density reports")
    finally:
        stop.set()
        worker.join(timeout=20)
    wait_until(lambda: any(b'"offline"' in p for _, p, _ in received), what="offline status")
    client.disconnect()  # type: ignore[attr-defined]
    client.loop_stop()  # type: ignore[attr-defined]

    registry = Registry()
    registry.load(db)
    decoder = Decoder(topic_prefix, registry, Limits(262144, timedelta(minutes=5),
                                                     timedelta(days=7), False))
    now = datetime.now(UTC)
    decoded = [decoder.decode(t, p, now) for t, p, _ in received]
    assert all(isinstance(d, Accepted) for d in decoded), decoded
    reports = [json.loads(p) for t, p, _ in received if t.endswith("/density")]
    seqs = [r["seq"] for r in reports]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(r["zones"][0]["zone_id"] == "Z-A" for r in reports)
    # PETS shows at most ~9 people; the synthetic plaza (0.5/m²) shows a few hundred.
    most = 15 if CLIP.exists() else 400
    assert all(0 <= r["zones"][0]["count"] <= most for r in reports)
    states = [json.loads(p)["state"] for t, p, _ in received if t.endswith("/status")]
    assert states[0] == "online" and states[-1] == "offline"
    heat = db.execute("SELECT samples, cols, rows FROM video_heatmaps"
                      " WHERE camera_id = 'CAM-A'").fetchall()
    assert heat and sum(r[0] for r in heat) >= 3 and heat[0][1:] == (32, 18)


def test_cameras_are_split_across_shards_stably(db: psycopg.Connection,
                                                tmp_path: Path) -> None:
    _register_clip_camera(db, tmp_path)
    db.execute("UPDATE devices SET stream_url = 'rtsp://127.0.0.1:9/none' WHERE id = 'CAM-B'")
    shards = [load_cameras(db, i, 3) for i in range(3)]
    ids = sorted(c.device_id for shard in shards for c in shard)
    assert ids == ["CAM-A", "CAM-B"]
    for i, shard in enumerate(shards):
        assert all(shard_of(c.device_id, 3) == i for c in shard)
    [cam_a] = [c for c in load_cameras(db) if c.device_id == "CAM-A"]
    assert cam_a.calibration is not None and cam_a.zones[0].polygon is not None
    assert cam_a.zones[0].area_m2 == 100.0
