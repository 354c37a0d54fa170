"""Dead letters through the API stay bounded: pages by bytes as well as rows, and a
letter that kept only a prefix of an oversized payload cannot be replayed."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from tests.api.test_api import client, login  # noqa: F401  (the fixture)


def test_pages_are_bounded_by_bytes(client: TestClient, db: psycopg.Connection) -> None:  # noqa: F811
    db.execute("INSERT INTO dead_letters (topic, payload, reason, error_kind, payload_size)"
               " SELECT 'sharpeyes/v1/camera/CAM-A/density', convert_to(repeat('x', 200000),"
               " 'UTF8'), 'schema', 'schema', 200000 FROM generate_series(1, 10)")
    headers = login(client, "admin")
    response = client.get("/api/v1/dead-letters?limit=10&max_bytes=1000000", headers=headers)
    page = response.json()
    assert page["total"] == 10 and len(page["items"]) == 2
    assert len(response.content) < 1_200_000
    rest = client.get("/api/v1/dead-letters?limit=10&offset=2&max_bytes=8388608",
                      headers=headers).json()
    assert len(rest["items"]) == 8
    one = client.get("/api/v1/dead-letters?limit=1&max_bytes=1024", headers=headers).json()
    assert len(one["items"]) == 1   # a single letter is always shown, whatever its size
    assert client.get("/api/v1/dead-letters?max_bytes=10", headers=headers).status_code == 422


def test_a_truncated_letter_is_not_replayed(client: TestClient, db: psycopg.Connection) -> None:  # noqa: F811
    row = db.execute(
        "INSERT INTO dead_letters (topic, payload, reason, error_kind, payload_size,"
        " payload_sha256, payload_truncated) VALUES ('sharpeyes/v1/camera/CAM-A/density',"
        " 'xx', 'oversized', 'oversized', 10000000, 'ab', true) RETURNING id").fetchone()
    assert row is not None
    headers = login(client, "admin")
    refused = client.post(f"/api/v1/dead-letters/{row[0]}/replay", headers=headers)
    assert refused.status_code == 409 and "prefix" in refused.json()["detail"]
    assert client.post("/api/v1/dead-letters/replay", headers=headers).json()["requested"] == 0
    item = client.get("/api/v1/dead-letters", headers=headers).json()["items"][0]
    assert item["payload_truncated"] and item["payload_size"] == 10_000_000
