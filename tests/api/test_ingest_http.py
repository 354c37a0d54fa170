"""HTTP ingest with API keys: accepted batches reach the store through the broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import hash_key
from api.services import Services
from kernel.mqtt import Publisher, parse_mqtt_url
from kernel.settings import Settings
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
    _, key = new_key(client, name="nvr gateway", role="integrator", region_id="C")
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
                       json={"name": "x", "role": "integrator", "region_id": "SA"}
                       ).status_code == 403
    unknown = client.post("/api/v1/api-keys", headers=admin(client),
                          json={"name": "x", "role": "device", "device_id": "CAM-ZZ"})
    assert unknown.status_code == 422


def test_integrator_keys_act_only_for_the_devices_of_their_region(
        client: TestClient, db: psycopg.Connection) -> None:
    def post(key: str, *devices: str) -> Any:
        return client.post("/api/v1/ingest", headers={"X-API-Key": key}, json={"messages": [
            {"kind": "status", "device_id": d, "payload": {
                "state": "online", "ts": datetime.now(UTC).isoformat()}} for d in devices]})

    _, street_a = new_key(client, name="street A nvr", role="integrator", region_id="SA")
    assert post(street_a, "CAM-A").status_code == 202
    other, absent = post(street_a, "CAM-B"), post(street_a, "CAM-NONE")
    assert other.status_code == absent.status_code == 403
    # Another street's device and a device that does not exist are refused alike.
    assert other.json()["detail"].replace("CAM-B", "?") == absent.json()["detail"].replace(
        "CAM-NONE", "?")
    mixed = post(street_a, "CAM-A", "CAM-B", "SEN-1")       # SEN-1 has no grid: city-wide
    assert mixed.status_code == 403 and "CAM-B, SEN-1" in mixed.json()["detail"]
    _, city = new_key(client, name="city gateway", role="integrator", region_id="C")
    assert post(city, "CAM-A", "CAM-B", "SEN-1", "CAM-NEW").status_code == 202
    # A key issued before keys had regions keeps acting city-wide, and is listed as such.
    db.execute("INSERT INTO api_keys (name, prefix, key_hash, role) VALUES"
               " ('legacy', 'se_l', %s, 'integrator')", (hash_key("se_legacy"),))
    assert post("se_legacy", "CAM-B").status_code == 202
    listed = {k["name"]: k["region_id"] for k in client.get(
        "/api/v1/api-keys", headers=admin(client)).json()}
    assert listed == {"street A nvr": "SA", "city gateway": "C", "legacy": None}


def test_keys_are_issued_for_a_device_or_a_region(client: TestClient) -> None:
    def create(**body: object) -> Any:
        return client.post("/api/v1/api-keys", headers=admin(client), json={"name": "k", **body})

    for body, says in (({"role": "integrator"}, "needs region_id"),
                       ({"role": "integrator", "region_id": "NOPE"}, "region NOPE"),
                       ({"role": "device", "device_id": "CAM-A", "region_id": "SA"},
                        "a device key has none")):
        refused = create(**body)
        assert refused.status_code == 422 and says in refused.json()["detail"], refused.text


def test_hostile_payloads_over_http_are_refused_precisely(
    client: TestClient, settings: Settings, db: psycopg.Connection
) -> None:
    """The hostile classes of the MQTT corpus through the integrator endpoint: each is a
    precise 422 naming the field, nothing of it is published, and valid batches between
    them are stored (before, a NUL in a status detail answered 202 and wedged ingest)."""
    _, key = new_key(client, name="nvr gateway", role="integrator", region_id="C")
    headers = {"X-API-Key": key}
    ts = datetime.now(UTC).isoformat()
    zone = {"zone_id": "Z-A", "count": 5}
    hostile: list[tuple[str, dict[str, Any]]] = [
        ("status", {"state": "online", "detail": "bad\u0000detail"}),
        ("status", {"state": "online", "ts": "9999-12-31T23:59:59-14:00", "detail": "x"}),
        ("reading", {"seq": 1, "ts": ts, "readings": [{"metric": "m", "value": 1,
                                                       "unit": "p\u0000"}]}),
        ("density", {"seq": "17", "ts": ts, "zones": [zone]}),
        ("density", {"seq": True, "ts": ts, "zones": [zone]}),
        ("density", {"seq": 1, "ts": ts, "zones": [{"zone_id": "Z-A", "count": "7"}]}),
        ("density", {"seq": 1, "ts": ts, "zones": [{"zone_id": "Z-A", "count": True}]}),
        ("density", {"seq": 1, "ts": ts, "zones": [{"zone_id": "Z-A", "count": 1e308}]}),
        ("density", {"seq": 1, "ts": ts, "zones": [{"zone_id": "Z\u0000A", "count": 1}]}),
        ("density", {"seq": 1, "ts": ts, "zones": [zone], "extra": 1}),
    ]
    with running_ingest(settings):
        sent = 0
        for i, (kind, payload) in enumerate(hostile):
            device = "SEN-1" if kind == "reading" else "CAM-A"
            bad = client.post("/api/v1/ingest", headers=headers, json={"messages": [
                {"kind": kind, "device_id": device, "payload": payload}]})
            assert bad.status_code in (422, 403), (kind, payload, bad.text)
            if bad.status_code == 422:
                assert "messages.0.payload" in bad.json()["detail"]
            good = client.post("/api/v1/ingest", headers=headers, json=batch("CAM-A",
                                                                           range(i, i + 1)))
            assert good.status_code == 202, good.text
            sent += 1
        wait_until(lambda: counter(db, "messages") >= sent, timeout=30,
                   what="the valid batches stored")
    assert db.execute("SELECT count(*) FROM crowd_observations").fetchone() == (sent,)
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
