"""HTTP ingest with API keys: accepted batches reach the store through the broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from sharpeyes.mqtt import Publisher, parse_mqtt_url
from sharpeyes.settings import Settings
from store.db import create_pool
from tests.helpers import PASSWORD, tiny_city, wait_until

from ..ingest.test_consumer import counter, running_ingest


@pytest.fixture
def client(settings: Settings, db: psycopg.Connection) -> Iterator[TestClient]:
    tiny_city(db)
    assert settings.database_url and settings.mqtt_url
    pool = create_pool(settings.database_url, max_size=4)
    publisher = Publisher(parse_mqtt_url(settings.mqtt_url))
    wait_until(publisher.client.is_connected, what="the publisher to connect")
    services = Services(settings=settings, pool=pool, jwt_secret="k" * 32, publisher=publisher)
    try:
        with TestClient(create_app(services)) as test_client:
            yield test_client
    finally:
        publisher.close()
        pool.close()


def admin(client: TestClient) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": "admin", "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def new_key(client: TestClient, **body: object) -> tuple[int, str]:
    response = client.post("/api/v1/api-keys", headers=admin(client), json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["key"]


def batch(device: str, seqs: range, zone: str = "Z-A") -> dict[str, object]:
    ts = datetime.now(UTC).isoformat()
    return {"messages": [{"kind": "density", "device_id": device, "payload": {
        "seq": s, "ts": ts, "zones": [{"zone_id": zone, "count": 10 + s}]}} for s in seqs]}


def test_a_posted_batch_is_stored_once_even_if_posted_twice(
    client: TestClient, settings: Settings, db: psycopg.Connection
) -> None:
    _, key = new_key(client, name="nvr gateway", role="integrator")
    posted = batch("CAM-A", range(50))
    with running_ingest(settings):
        for _ in range(2):  # a client retrying after a timeout sends the same batch again
            response = client.post("/api/v1/ingest", json=posted,
                                   headers={"X-API-Key": key})
            assert response.status_code == 202 and response.json() == {"accepted": 50}
        wait_until(lambda: counter(db, "messages") == 100, what="both batches committed")
    assert db.execute("SELECT count(*) FROM crowd_observations").fetchone() == (50,)
    listed = client.get("/api/v1/api-keys", headers=admin(client)).json()
    assert listed[0]["last_used_at"] is not None and "key" not in listed[0]


def test_keys_are_checked_and_bad_payloads_refused(client: TestClient) -> None:
    key_id, device_key = new_key(client, name="cam a", role="device", device_id="CAM-A")
    assert client.post("/api/v1/ingest", json=batch("CAM-A", range(1))).status_code == 401
    assert client.post("/api/v1/ingest", json=batch("CAM-A", range(1)),
                       headers={"X-API-Key": "se_wrong"}).status_code == 401
    other = client.post("/api/v1/ingest", json=batch("CAM-B", range(1)),
                        headers={"X-API-Key": device_key})
    assert other.status_code == 403 and "CAM-B" in other.json()["detail"]
    bad = batch("CAM-A", range(1))
    bad["messages"][0]["payload"]["zones"][0]["count"] = -1  # type: ignore[index]
    refused = client.post("/api/v1/ingest", json=bad, headers={"X-API-Key": device_key})
    assert refused.status_code == 422
    assert "messages.0.payload.zones.0.count" in refused.json()["detail"]
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=admin(client)).status_code == 200
    revoked = client.post("/api/v1/ingest", json=batch("CAM-A", range(1)),
                          headers={"X-API-Key": device_key})
    assert revoked.status_code == 401


def test_only_admins_manage_keys_and_device_keys_need_a_known_device(client: TestClient) -> None:
    token = client.post("/api/v1/auth/token", data={"username": "op-a", "password": PASSWORD})
    operator = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert client.post("/api/v1/api-keys", headers=operator,
                       json={"name": "x", "role": "integrator"}).status_code == 403
    unknown = client.post("/api/v1/api-keys", headers=admin(client),
                          json={"name": "x", "role": "device", "device_id": "CAM-ZZ"})
    assert unknown.status_code == 422
