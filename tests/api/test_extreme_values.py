"""Whatever ingest accepts, reads and jobs serve: the largest count and density the
contract admits go through the writer, the rollup job, the series and the hotspots
(a stored 1e308 once made the series answer 422 and the rollup job fail every minute)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from contracts.payloads import MAX_COUNT, MAX_DENSITY
from ingest.decode import Decoder, Limits
from ingest.registry import Registry
from ingest.writer import BatchWriter, RawMessage
from store.rollups import refresh_rollups
from tests.api.test_api import client, login  # noqa: F401  (the fixture)


def test_largest_accepted_values_are_stored_rolled_up_and_served(
        client: TestClient, db_url: str, db: psycopg.Connection) -> None:  # noqa: F811
    db.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2) SELECT 'Z-HUGE',"
               " 'CAM-A', grid_code, 'Stadium', %s FROM zones WHERE id = 'Z-A'",
               (MAX_COUNT / MAX_DENSITY,))
    now = datetime.now(UTC)
    limits = Limits(4096, timedelta(seconds=30), timedelta(days=7), False)
    writer = BatchWriter(db_url, Decoder("sharpeyes", Registry(), limits), "test")
    try:
        result = writer.write([RawMessage("sharpeyes/v1/camera/CAM-A/density", json.dumps(
            {"seq": s, "ts": (now - timedelta(seconds=5 * s)).isoformat(), "zones": [
                {"zone_id": "Z-HUGE", "count": MAX_COUNT, "density": MAX_DENSITY}]}).encode())
            for s in range(60)], now)
    finally:
        writer.close()
    assert (result.rows_written, result.dead_letters) == (60, 0)
    refresh_rollups(db, now + timedelta(minutes=2))
    headers = login(client, "admin")
    series = client.get("/api/v1/zones/Z-HUGE/series?minutes=10&bucket_seconds=60",
                        headers=headers)
    assert series.status_code == 200, series.text
    assert max(p["peak_density"] for p in series.json()["points"]) == MAX_DENSITY
    hotspots = client.get("/api/v1/hotspots", headers=headers)
    assert hotspots.status_code == 200, hotspots.text
