"""Rules, periods, silences, webhooks and acknowledgement over the API: scopes and errors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import rules, silences
from api.services import Services
from kernel.settings import load_settings
from store.db import create_pool, url_with_database
from tests.alerts.support import city_with_places, now, run, set_density
from tests.helpers import PASSWORD

Headers = dict[str, str]


def with_alert_routers(app: FastAPI) -> FastAPI:
    """Include the routers app.py may not register yet (idempotent)."""
    paths = {getattr(r, "path", "") for r in app.routes}
    for router in (rules.router, rules.periods_router, silences.router,
                   silences.webhooks_router):
        if router.prefix not in paths:
            app.include_router(router)
    return app


@contextmanager
def api_client(db_url: str) -> Iterator[TestClient]:
    pool = create_pool(db_url, max_size=4)
    services = Services(settings=load_settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1"),
                        pool=pool, jwt_secret="x" * 32)
    try:
        with TestClient(with_alert_routers(create_app(services))) as test_client:
            yield test_client
    finally:
        pool.close()


@pytest.fixture
def client(db_url: str, city: psycopg.Connection) -> Iterator[TestClient]:
    with api_client(db_url) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def shared_client(pg_admin_url: str, template_db: str) -> Iterator[TestClient]:
    """One city for tests that change nothing (every request in them is refused)."""
    name = f"sharpeyes_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = url_with_database(pg_admin_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            city_with_places(conn)
        with api_client(url) as test_client:
            yield test_client
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Tokens(dict[str, Headers]):
    """Logs a user in the first time their headers are asked for (hashing is slow)."""

    def __init__(self, client: TestClient) -> None:
        super().__init__()
        self.client = client

    def __missing__(self, user: str) -> Headers:
        response = self.client.post("/api/v1/auth/token",
                                    data={"username": user, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        self[user] = headers
        return headers


@pytest.fixture
def tokens(client: TestClient) -> Tokens:
    return Tokens(client)


RATE = {"name": "surge building at the square", "kind": "rate_of_rise", "threshold": 1.0,
        "clear_threshold": 0.3, "scope": {"place_kind": "square"},
        "params": {"window_seconds": 30}, "repeat_seconds": 300,
        "schedule": {"days": ["sat", "sun"], "start": "09:00", "end": "22:00",
                     "timezone": "Asia/Shanghai"}}


def test_rules_are_created_read_changed_disabled_and_deleted(
    client: TestClient, tokens: Tokens
) -> None:
    admin = tokens["admin"]
    created = client.post("/api/v1/rules", json=RATE, headers=admin)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["params"] == {"window_seconds": 30, "metric": "density", "min_samples": 3,
                              "refit_seconds": 5}
    assert rule["scope"]["place_kind"] == "square" and rule["editable"]
    rule_id = rule["id"]
    patched = client.patch(f"/api/v1/rules/{rule_id}", json={"threshold": 2.0},
                           headers=admin).json()
    assert patched["threshold"] == 2.0 and patched["clear_threshold"] == 0.3
    assert client.post(f"/api/v1/rules/{rule_id}/disable", headers=admin).json()[
        "enabled"] is False
    assert client.post(f"/api/v1/rules/{rule_id}/enable", headers=admin).json()["enabled"]
    listed = client.get("/api/v1/rules?kind=rate_of_rise", headers=admin).json()
    assert [r["id"] for r in listed["items"]] == [rule_id]
    assert client.delete(f"/api/v1/rules/{rule_id}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/rules/{rule_id}", headers=admin).status_code == 404
    again = client.post("/api/v1/rules", json=RATE, headers=admin)   # the name is free again
    assert again.status_code == 201


@pytest.mark.parametrize(("body", "location", "message"), [
    ({"kind": "count_above"}, "body.threshold", "need a threshold"),
    ({"kind": "density_above", "threshold": 3, "clear_threshold": 3.5},
     "body.clear_threshold", "above the threshold"),
    ({"kind": "density_above", "threshold": 12}, "body.threshold", "impossible"),
    ({"kind": "density_above", "clear_threshold": 2}, "body.clear_threshold",
     "needs a threshold"),
    ({"kind": "sensor_threshold", "threshold": 40}, "body.params.metric", "Field required"),
    ({"kind": "sensor_threshold", "threshold": -10, "clear_threshold": -12,
      "params": {"metric": "temperature", "direction": "below"}},
     "body.clear_threshold", "below the threshold"),
    ({"kind": "rate_of_rise", "threshold": 1, "params": {"windw_seconds": 30}},
     "body.params.windw_seconds", "Extra inputs"),
    ({"kind": "device_offline", "threshold": 60}, "body.threshold", "use for_seconds"),
    ({"kind": "stale_data", "threshold": 60, "scope": {"zone_id": "Z-A"}},
     "body.scope.zone_id", "watch devices"),
    ({"kind": "density_above", "scope": {"zone_id": "Z-NOPE"}}, "body.scope.zone_id",
     "no zone 'Z-NOPE'"),
    ({"kind": "density_above", "scope": {"zone_id": "Z-A", "region_id": "SB"}},
     "body.scope.zone_id", "outside region SB"),
    ({"kind": "density_above", "scope": {"place_kind": "sqare"}}, "body.scope.place_kind",
     "known kinds: square, station"),
    ({"kind": "density_above", "schedule": {"timezone": "Mars/Olympus"}},
     "body.schedule.timezone", "unknown time zone"),
    ({"kind": "composite", "params": {"all_of": [1, 99]}}, "body.params.all_of.1", "no rule 99"),
    ({"kind": "composite", "params": {"all_of": [1]}}, "body.params.min_devices", "≥ 2"),
    ({"kind": "flapping"}, "body.kind", "Input should be"),
    ({"kind": "density_above", "for_seconds": -1}, "body.for_seconds", "greater than"),
])
def test_invalid_rules_are_422_with_every_problem_located(
    shared_client: TestClient, body: dict[str, Any], location: str, message: str
) -> None:
    response = shared_client.post("/api/v1/rules", json={"name": "r", **body},
                                  headers=Tokens(shared_client)["admin"])
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problems = response.json()["errors"]
    assert any(p["location"] == location and message in p["message"] for p in problems), (
        problems)


def test_conflicts_are_409(client: TestClient, tokens: Tokens) -> None:
    admin = tokens["admin"]
    taken = client.post("/api/v1/rules", json={"name": "Density Above Critical",
                                               "kind": "density_above"}, headers=admin)
    assert taken.status_code == 409 and "already exists" in taken.json()["detail"]
    composite = client.post("/api/v1/rules", json={
        "name": "two cameras", "kind": "composite",
        "params": {"all_of": [1], "min_devices": 2}}, headers=admin)
    assert composite.status_code == 201, composite.text
    used = client.delete("/api/v1/rules/1", headers=admin)
    assert used.status_code == 409 and "part of composite" in used.json()["detail"]
    kind = client.patch("/api/v1/rules/1", json={"kind": "count_above"}, headers=admin)
    assert kind.status_code == 422 and kind.json()["errors"][0]["location"] == "body.kind"


def test_operators_manage_rules_only_in_their_region(
    client: TestClient, tokens: Tokens
) -> None:
    op_a = tokens["op-a"]
    own = client.post("/api/v1/rules", json={"name": "A dense", "kind": "density_above"},
                      headers=op_a)
    assert own.status_code == 201 and own.json()["scope"]["region_id"] == "SA"
    def scoped(scope: dict[str, str]) -> Any:
        return client.post("/api/v1/rules", json={"name": "B dense", "kind": "density_above",
                                                  "scope": scope}, headers=op_a)

    # Another street's zone is answered exactly like a zone that does not exist.
    other, absent = scoped({"zone_id": "Z-B"}), scoped({"zone_id": "Z-NONE"})
    assert other.status_code == absent.status_code == 422
    assert other.json()["detail"].replace("Z-B", "?") == absent.json()["detail"].replace(
        "Z-NONE", "?")
    above = scoped({"region_id": "C"})      # the city above: visible, not op-a's to manage
    assert above.status_code == 403 and "C.SA" in above.json()["detail"]
    city_wide = client.get("/api/v1/rules/1", headers=op_a).json()
    assert city_wide["editable"] is False
    assert client.post("/api/v1/rules/1/disable", headers=op_a).status_code == 403
    rule_id = own.json()["id"]
    assert client.get(f"/api/v1/rules/{rule_id}", headers=tokens["op-b"]).status_code == 404
    worker = client.post("/api/v1/rules", json={"name": "w", "kind": "density_above"},
                         headers=tokens["w-a"])
    assert worker.status_code == 403 and "operator" in worker.json()["detail"]


def test_silences_have_a_reason_an_author_and_an_expiry(
    client: TestClient, tokens: Tokens
) -> None:
    op_a = tokens["op-a"]
    no_end = client.post("/api/v1/silences", json={"reason": "x"}, headers=op_a)
    assert no_end.status_code == 422 and "exactly one" in no_end.json()["detail"]
    past = client.post("/api/v1/silences", json={
        "reason": "x", "ends_at": "2020-01-01T00:00:00Z"}, headers=op_a)
    assert past.status_code == 422
    created = client.post("/api/v1/silences", json={
        "kind": "maintenance", "reason": "replacing CAM-A", "duration_minutes": 30,
        "scope": {"device_id": "CAM-A"}}, headers=op_a)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["created_by"], body["active"], body["kind"]) == ("P-opA", True, "maintenance")
    active = client.get("/api/v1/silences?active=true", headers=op_a).json()
    assert [s["id"] for s in active["items"]] == [body["id"]]
    ended = client.delete(f"/api/v1/silences/{body['id']}", headers=op_a).json()
    assert ended["active"] is False and ended["expired_by"] == "P-opA"
    assert client.delete(f"/api/v1/silences/{body['id']}", headers=op_a).status_code == 409
    elsewhere = client.post("/api/v1/silences", json={
        "reason": "x", "duration_minutes": 5, "scope": {"zone_id": "Z-B"}}, headers=op_a)
    assert elsewhere.status_code == 422 and "no zone" in elsewhere.json()["detail"]


def test_alerts_are_acknowledged_once_by_someone_in_scope(
    client: TestClient, tokens: Tokens, city: psycopg.Connection
) -> None:
    set_density(city, "Z-A", 4.5, now())
    run(city, now())
    listed = client.get("/api/v1/alerts?state=firing", headers=tokens["w-a"]).json()
    alert = listed["items"][0]
    assert (alert["subject"], alert["kind"], alert["silenced"]) == (
        "zone:Z-A", "density_above", False)
    assert client.post(f"/api/v1/alerts/{alert['id']}/ack",
                       headers=tokens["w-b"]).status_code == 404
    acked = client.post(f"/api/v1/alerts/{alert['id']}/ack", json={"note": "on site"},
                        headers=tokens["w-a"])
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "P-wA"
    again = client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=tokens["op-a"])
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
    feed = client.get("/api/v1/alerts/events?after=0", headers=tokens["op-a"]).json()
    assert [e["kind"] for e in feed] == ["firing", "acknowledged"]
    assert client.get("/api/v1/alerts/events", headers=tokens["op-b"]).json() == []


def test_periods_and_webhooks(client: TestClient, tokens: Tokens) -> None:
    admin, op_a = tokens["admin"], tokens["op-a"]
    window = {"starts_at": "2026-02-12T18:00:00+08:00", "ends_at": "2026-02-12T23:00:00+08:00"}
    absolute = client.post("/api/v1/periods", json={
        "name": "Lantern Festival", "threshold": 3.0, **window}, headers=op_a)
    assert absolute.status_code == 422
    assert {p["location"] for p in absolute.json()["errors"]} == {"body.rule_id"}
    period = client.post("/api/v1/periods", json={
        "name": "Lantern Festival", "factor": 0.75, **window}, headers=op_a)
    assert period.status_code == 201 and period.json()["scope"]["region_id"] == "SA"
    assert client.delete(f"/api/v1/periods/{period.json()['id']}",
                         headers=op_a).status_code == 204
    assert client.post("/api/v1/webhooks", json={"name": "x", "url": "http://h/"},
                       headers=op_a).status_code == 403
    hook = client.post("/api/v1/webhooks", json={"name": "centre", "url": "https://h.example/a"},
                       headers=admin)
    assert hook.status_code == 201 and len(hook.json()["secret"]) >= 32
    listed = client.get("/api/v1/webhooks", headers=admin).json()
    assert listed[0]["secret"] is None
    bad = client.post("/api/v1/webhooks", json={"name": "x", "url": "ftp://h/"}, headers=admin)
    assert bad.status_code == 422


def test_every_rule_example_in_the_docs_is_accepted(
    client: TestClient, tokens: Tokens
) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    rules = [e for e in examples if "kind" in e]
    assert len(rules) >= 10
    for rule in rules:
        response = client.post("/api/v1/rules", json=rule, headers=tokens["admin"])
        assert response.status_code == 201, (rule, response.text)
