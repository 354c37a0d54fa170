"""Vendor messages through the real broker and ingest: Frigate counts and ThingsBoard telemetry."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from kernel.settings import Settings
from tests.helpers import publish_all, tiny_city, wait_until

from .test_consumer import counter, running_ingest


def adapters_file(tmp_path: Path, prefix: str) -> Path:
    config = {
        "version": 1,
        "frigate": [{"name": "frigate-test", "topic_root": f"{prefix}-frigate",
                     "cameras": {"gate": {"device_id": "CAM-A", "zone_id": "Z-A"}}}],
        "thingsboard": [{"name": "tb-test", "topic_root": f"{prefix}-tb",
                         "devices": {"Footfall 1": {"device_id": "SEN-1", "sensor_id": "SEN-1",
                                                    "metrics": {"in": "footfall_in"}}}}],
    }
    path = tmp_path / "adapters.json"
    path.write_text(json.dumps(config))
    return path


def test_frigate_and_thingsboard_messages_are_stored_and_bad_ones_dead_lettered(
    settings: Settings, db: psycopg.Connection, mqtt_url: str, tmp_path: Path
) -> None:
    tiny_city(db)
    prefix = settings.topic_prefix
    configured = settings.model_copy(update={"adapters_file": adapters_file(tmp_path, prefix)})
    telemetry = {"Footfall 1": [{"ts": 1_700_000_000_000, "values": {"in": 42}}]}
    with running_ingest(configured.model_copy(update={"max_report_age_seconds": 10**10})):
        publish_all(mqtt_url, [
            (f"{prefix}-frigate/gate/person", b"7"),
            (f"{prefix}-frigate/unknown_cam/person", b"3"),
            (f"{prefix}-tb/v1/gateway/telemetry", json.dumps(telemetry)),
        ])
        wait_until(lambda: counter(db, "messages") == 3, what="3 vendor messages")
    assert db.execute("SELECT zone_id, count FROM crowd_observations").fetchall() == [("Z-A", 7)]
    assert db.execute("SELECT metric, value FROM sensor_readings").fetchall() == [
        ("footfall_in", 42.0)]
    letter = db.execute("SELECT topic, error_kind, reason FROM dead_letters").fetchone()
    assert letter is not None and letter[0].endswith("unknown_cam/person")
    assert letter[1] == "adapter" and "unknown_cam" in letter[2]
