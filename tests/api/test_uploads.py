"""Task photo uploads: a decompression bomb is refused from its header with a 413
problem, before it is decoded, and the pixel budget is configuration."""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from kernel.settings import load_settings
from store.db import create_pool
from tests.grid.test_photos import jpeg_header, png_bomb
from tests.helpers import bearer, tiny_city

Factory = Callable[..., TestClient]


@pytest.fixture
def app_with(db_url: str, db: psycopg.Connection) -> Iterator[Factory]:
    tiny_city(db)
    db.execute("INSERT INTO tasks (id, zone_id, grid_code, category, severity, title, state,"
               " discovered_by, assignee_id) VALUES (1, 'Z-A', 'G-A', 'crowd', 'major', 't',"
               " 'handling', 'camera:CAM-A', 'P-wA')")
    pool = create_pool(db_url, max_size=4)
    clients: list[TestClient] = []

    def make(**settings: object) -> TestClient:
        config = load_settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1", **settings)
        client = TestClient(create_app(Services(settings=config, pool=pool,
                                                jwt_secret="u" * 32)))
        clients.append(client.__enter__())
        return client

    try:
        yield make
    finally:
        for client in clients:
            client.__exit__(None, None, None)
        pool.close()


def _upload(client: TestClient, name: str, data: bytes,
            kind: str = "image/png") -> Any:
    return client.post("/api/v1/tasks/1/photos", headers=bearer(client, "w-a"),
                       files=[("photos", (name, data, kind))])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_huge_png_small_on_the_wire_is_a_413_problem(app_with: Factory) -> None:
    client = app_with()
    before = _peak_rss_mb()
    for name, data in (("30k.png", png_bomb(30000, 30000, rows=2000)),  # data of 2000 rows
                       ("60k.png", png_bomb(60000, 60000, rows=1)),
                       ("bomb.png", png_bomb(7000, 7000))):               # complete, 49 MP
        assert len(data) < 1_000_000
        refused = _upload(client, name, data)
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        detail = refused.json()["detail"]
        assert detail.startswith(f"{name}: ") and "megapixels a photo may have" in detail
    jpeg = _upload(client, "60k.jpg", jpeg_header(60000, 60000), "image/jpeg")
    assert jpeg.status_code == 413
    # Decoding even the smallest of them would have taken 147 MB (7000² × 3 bytes).
    assert _peak_rss_mb() - before < 100
    assert client.get("/api/v1/tasks/1/photos", headers=bearer(client, "w-a")).json() == []


def test_the_pixel_budget_is_configurable(app_with: Factory) -> None:
    roomy = app_with(photo_max_megapixels=50)
    stored = _upload(roomy, "bomb.png", png_bomb(7000, 7000))
    assert stored.status_code == 201, stored.text
    strict = app_with(photo_max_megapixels=0.001)
    assert _upload(strict, "small.png", png_bomb(40, 40)).status_code == 413
