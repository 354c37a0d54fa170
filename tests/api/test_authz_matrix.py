"""The whole authorization matrix: every route of the app, every role, the expected status.

Routes are enumerated from the app itself, so a new route without an entry here fails
``test_every_route_has_an_entry``. Roles run from least to most privileged (anonymous,
integrator, viewer, worker, operator, admin), so the one that may change something acts
after those that may not; where several may, each gets its own object to change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api.app import create_app
from api.keys import hash_key
from api.routes import stream
from api.services import Services
from grid.dispatch import dispatch_pending
from kernel.passwords import hash_password
from kernel.settings import load_settings
from store.db import create_pool
from tests.helpers import PASSWORD, tiny_city

ROLES = ("anonymous", "integrator", "viewer", "worker", "operator", "admin")
USERS = {"admin": "admin", "operator": "op-a", "worker": "w-a", "integrator": "integrator",
         "viewer": "viewer"}
OK = "2xx"
Status = int | str
Request = dict[str, Any]


def expect(*allowed: str, ok: Status = OK, denied: Status = 403, anonymous: Status = 401,
           **overrides: Status) -> dict[str, Status]:
    """``ok`` for the allowed roles, ``denied`` for the others, 401 without a token."""
    table = {r: (ok if r in allowed else denied) for r in ROLES}
    table["anonymous"] = anonymous
    table.update(overrides)
    return table


WATCH = ("admin", "operator", "worker", "viewer")
READ_REGISTRY = ("admin", "operator", "integrator", "viewer")
WRITE_REGISTRY = ("admin", "integrator")
CENTRE = ("admin", "operator")
RULE_READERS = ("admin", "operator", "viewer")
PUBLIC: dict[str, Status] = {r: OK for r in ROLES}
ALERT_OF = {"worker": 1, "operator": 2, "admin": 3}   # each acknowledges its own alert


@dataclass(frozen=True)
class Case:
    expected: Mapping[str, Status]
    path: str | Callable[[str], str] = ""      # "" means the template itself
    request: Callable[[str], Request] = field(default=lambda role: {})


def body(value: Any) -> Callable[[str], Request]:
    return lambda role: {"json": value}


def per_role(make: Callable[[str], Any]) -> Callable[[str], Request]:
    return lambda role: {"json": make(role)}


def _png() -> bytes:
    import cv2
    import numpy as np
    return bytes(cv2.imencode(".png", np.full((40, 60, 3), 120, np.uint8))[1])


PHOTO = {"files": [("photos", ("site.png", _png(), "image/png"))], "data": {"note": "seen"}}

# Every route: (method, path template) -> what each role gets.
MATRIX: dict[tuple[str, str], Case] = {
    # documentation, dashboard, operations: public
    ("GET", "/openapi.json"): Case(PUBLIC), ("GET", "/docs"): Case(PUBLIC),
    ("GET", "/docs/oauth2-redirect"): Case(PUBLIC), ("GET", "/redoc"): Case(PUBLIC),
    ("GET", "/"): Case(PUBLIC), ("GET", "/static"): Case(PUBLIC, "/static/main.js"),
    ("GET", "/health"): Case(PUBLIC), ("GET", "/health/live"): Case(PUBLIC),
    ("GET", "/metrics"): Case(PUBLIC),
    # authentication
    ("POST", "/api/v1/auth/token"): Case(expect(*USERS, anonymous=401), request=lambda r: {
        "data": {"username": USERS.get(r, "nobody"), "password": PASSWORD}}),
    ("GET", "/api/v1/me"): Case(expect(*USERS)), ("GET", "/api/v1/config"): Case(PUBLIC),
    ("POST", "/api/v1/me/presence"): Case(expect("worker"), request=body({"online": True})),
    # watching the city
    ("GET", "/api/v1/hotspots"): Case(expect(*WATCH)),
    ("GET", "/api/v1/grid-map"): Case(expect(*WATCH)),
    ("GET", "/api/v1/stream"): Case(expect(*WATCH)),
    ("GET", "/api/v1/alerts"): Case(expect(*WATCH)),
    ("GET", "/api/v1/alerts/events"): Case(expect(*WATCH)),
    ("GET", "/api/v1/alerts/{alert_id}"): Case(expect(*WATCH), "/api/v1/alerts/1"),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): Case(
        expect("worker", "operator", "admin"), lambda r: f"/api/v1/alerts/{ALERT_OF.get(r, 1)}/ack",
        body({"note": "seen"})),
    # tasks
    ("GET", "/api/v1/tasks"): Case(expect(*WATCH)),
    ("GET", "/api/v1/tasks/{task_id}"): Case(expect(*WATCH), "/api/v1/tasks/1"),
    ("GET", "/api/v1/tasks/{task_id}/events"): Case(expect(*WATCH), "/api/v1/tasks/1/events"),
    ("GET", "/api/v1/tasks/{task_id}/escalations"): Case(
        expect(*WATCH), "/api/v1/tasks/1/escalations"),
    ("GET", "/api/v1/tasks/{task_id}/photos"): Case(expect(*WATCH), "/api/v1/tasks/2/photos"),
    ("GET", "/api/v1/tasks/{task_id}/photos/{photo_id}"): Case(
        expect(*WATCH), "/api/v1/tasks/2/photos/1"),
    ("POST", "/api/v1/tasks/{task_id}/photos"): Case(
        expect("worker"), "/api/v1/tasks/2/photos", lambda r: PHOTO),
    ("POST", "/api/v1/tasks/{task_id}/{action}"): Case(expect("worker"), "/api/v1/tasks/1/accept"),
    ("GET", "/api/v1/task-deadlines"): Case(expect(*WATCH)),
    ("PUT", "/api/v1/task-deadlines"): Case(expect("admin"), request=body({
        "category": "*", "severity": "*", "accept_seconds": 600, "arrive_seconds": 1800,
        "resolve_seconds": 7200})),
    # reports
    ("GET", "/api/v1/kpis"): Case(expect(*WATCH)),
    ("GET", "/api/v1/kpis/weekly"): Case(expect("admin", "operator", "viewer")),
    ("GET", "/api/v1/kpis/ranking"): Case(expect(*WATCH)),
    # alert rules, periods, silences, webhooks (the alerts package decides)
    ("GET", "/api/v1/rules"): Case(expect(*RULE_READERS)),
    ("POST", "/api/v1/rules"): Case(expect(*CENTRE), request=per_role(lambda r: {
        "name": f"crowd at Z-A ({r})", "kind": "density_above", "scope": {"zone_id": "Z-A"}})),
    ("GET", "/api/v1/rules/{rule_id}"): Case(expect(*RULE_READERS), "/api/v1/rules/2"),
    ("PATCH", "/api/v1/rules/{rule_id}"): Case(expect(*CENTRE), "/api/v1/rules/2",
                                               body({"for_seconds": 5})),
    ("POST", "/api/v1/rules/{rule_id}/disable"): Case(expect(*CENTRE), "/api/v1/rules/2/disable"),
    ("POST", "/api/v1/rules/{rule_id}/enable"): Case(expect(*CENTRE), "/api/v1/rules/2/enable"),
    ("DELETE", "/api/v1/rules/{rule_id}"): Case(
        expect(*CENTRE), lambda r: f"/api/v1/rules/{3 if r == 'operator' else 4}"),
    ("GET", "/api/v1/periods"): Case(expect(*RULE_READERS)),
    ("POST", "/api/v1/periods"): Case(expect(*CENTRE), request=per_role(lambda r: {
        "name": f"festival ({r})", "starts_at": "2030-01-01T00:00:00+08:00",
        "ends_at": "2030-01-02T00:00:00+08:00", "scope": {"zone_id": "Z-A"}, "factor": 0.8})),
    ("GET", "/api/v1/periods/{period_id}"): Case(expect(*RULE_READERS), "/api/v1/periods/1"),
    ("DELETE", "/api/v1/periods/{period_id}"): Case(
        expect(*CENTRE), lambda r: f"/api/v1/periods/{1 if r == 'operator' else 2}"),
    ("GET", "/api/v1/silences"): Case(expect(*RULE_READERS)),
    ("POST", "/api/v1/silences"): Case(expect(*CENTRE), request=per_role(lambda r: {
        "scope": {"zone_id": "Z-A"}, "duration_minutes": 30, "reason": f"drill ({r})"})),
    ("GET", "/api/v1/silences/{silence_id}"): Case(expect(*RULE_READERS), "/api/v1/silences/1"),
    ("DELETE", "/api/v1/silences/{silence_id}"): Case(
        expect(*CENTRE), lambda r: f"/api/v1/silences/{1 if r == 'operator' else 2}"),
    ("GET", "/api/v1/webhooks"): Case(expect("admin")),
    ("POST", "/api/v1/webhooks"): Case(expect("admin"), request=body({
        "name": "duty phone", "url": "http://127.0.0.1:9/hook"})),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): Case(expect("admin"), "/api/v1/webhooks/1"),
    ("GET", "/api/v1/webhooks/{webhook_id}/deliveries"): Case(
        expect("admin"), "/api/v1/webhooks/1/deliveries"),
    # the registry
    ("GET", "/api/v1/devices"): Case(expect(*READ_REGISTRY)),
    ("GET", "/api/v1/devices/{device_id}"): Case(expect(*READ_REGISTRY), "/api/v1/devices/CAM-A"),
    ("POST", "/api/v1/devices"): Case(expect(*WRITE_REGISTRY), request=per_role(lambda r: {
        "id": f"CAM-NEW-{r}", "kind": "camera", "name": "New", "grid_code": "G-A"})),
    ("PATCH", "/api/v1/devices/{device_id}"): Case(
        expect(*WRITE_REGISTRY), "/api/v1/devices/CAM-A", body({"name": "Gate camera"})),
    ("DELETE", "/api/v1/devices/{device_id}"): Case(
        expect(*WRITE_REGISTRY), lambda r: f"/api/v1/devices/DEL-{r}"),
    ("GET", "/api/v1/cameras/{camera_id}/heatmap.png"): Case(
        expect(*WATCH), "/api/v1/cameras/CAM-A/heatmap.png"),
    ("GET", "/api/v1/zones"): Case(expect(*WATCH, "integrator")),
    ("GET", "/api/v1/zones/{zone_id}"): Case(expect(*WATCH, "integrator"), "/api/v1/zones/Z-A"),
    ("GET", "/api/v1/zones/{zone_id}/series"): Case(expect(*WATCH), "/api/v1/zones/Z-A/series"),
    ("POST", "/api/v1/zones"): Case(expect(*WRITE_REGISTRY), request=per_role(lambda r: {
        "id": f"Z-NEW-{r}", "device_id": "CAM-A", "grid_code": "G-A", "name": "New",
        "area_m2": 50})),
    ("PATCH", "/api/v1/zones/{zone_id}"): Case(
        expect(*WRITE_REGISTRY, "operator"), "/api/v1/zones/Z-A", body({"warn_density": 2.0})),
    ("DELETE", "/api/v1/zones/{zone_id}"): Case(
        expect(*WRITE_REGISTRY), lambda r: f"/api/v1/zones/ZDEL-{r}"),
    # ingest and its keys
    ("GET", "/api/v1/dead-letters"): Case(expect("admin", "operator", "integrator")),
    ("POST", "/api/v1/dead-letters/{letter_id}/replay"): Case(
        expect("admin", "operator", "integrator"), "/api/v1/dead-letters/1/replay"),
    ("POST", "/api/v1/dead-letters/replay"): Case(expect("admin", "operator", "integrator")),
    # A person's token is no API key: ingest answers 401 to everyone without X-API-Key.
    ("POST", "/api/v1/ingest"): Case({r: 401 for r in ROLES}, request=body({"messages": [
        {"kind": "status", "device_id": "CAM-A", "payload": {"state": "online"}}]})),
    ("POST", "/api/v1/api-keys"): Case(expect("admin"), request=body({
        "name": "gateway", "role": "integrator", "region_id": "SA"})),
    ("GET", "/api/v1/api-keys"): Case(expect("admin")),
    ("DELETE", "/api/v1/api-keys/{key_id}"): Case(expect("admin"), "/api/v1/api-keys/1"),
    ("GET", "/api/v1/audit"): Case(expect(*CENTRE)),
}


def seed(db: psycopg.Connection) -> None:
    """``tiny_city`` plus a viewer, an integrator and one of everything a route names."""
    tiny_city(db)
    hashed = hash_password(PASSWORD)
    db.execute("INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
               " VALUES ('P-view', 'viewer', 'Viewer', 'viewer', 'SA', %s),"
               " ('P-int', 'integrator', 'Integrator', 'integrator', NULL, %s)", (hashed, hashed))
    db.execute("INSERT INTO zone_current VALUES ('Z-A', now(), 450, 4.5, 'CAM-A', now())")
    for fingerprint in ("f1", "f2", "f3"):
        db.execute("INSERT INTO alerts (rule_id, zone_id, fingerprint, state, severity, value,"
                   " pending_since, fired_at) VALUES (1, 'Z-A', %s, 'firing', 'major', 4.5,"
                   " now(), now())", (fingerprint,))
    dispatch_pending(db)                      # task 1, dispatched to P-wA (alerts 2, 3 merged)
    _seed_named_objects(db)


def _seed_named_objects(db: psycopg.Connection) -> None:
    """The second task, a photo, rules, periods, silences, a webhook, a dead letter, a key,
    and a device and a zone per role to delete."""
    db.execute("INSERT INTO tasks (zone_id, grid_code, category, severity, title, state,"
               " discovered_by, assignee_id) VALUES ('Z-A', 'G-A', 'crowd', 'major', 'second',"
               " 'handling', 'camera:CAM-A', 'P-wA')")            # task 2, being handled
    db.execute("INSERT INTO task_photos (task_id, uploaded_by, content_type, width, height,"
               " sha256, original_sha256, data) VALUES (2, 'P-wA', 'image/png', 1, 1, 'x', 'x',"
               " 'png')")
    for rule, zone in ((2, "Z-A"), (3, "Z-A"), (4, None)):      # rules 3, 4 get deleted
        db.execute("INSERT INTO alert_rules (id, name, kind, zone_id) VALUES"
                   " (%s, %s, 'density_above', %s)", (rule, f"rule {rule}", zone))
    db.execute("SELECT setval(pg_get_serial_sequence('alert_rules', 'id'), 4)")
    for period in (1, 2):
        db.execute("INSERT INTO alert_periods (name, starts_at, ends_at, zone_id, factor)"
                   " VALUES (%s, now(), now() + interval '1 day', 'Z-A', 0.8)", (f"p{period}",))
    db.execute("INSERT INTO alert_silences (zone_id, starts_at, ends_at, reason, created_by)"
               " VALUES ('Z-A', now(), now() + interval '1 hour', 'drill', 'P-opA'),"
               " ('Z-A', now(), now() + interval '1 hour', 'drill', 'P-admin')")
    db.execute("INSERT INTO alert_webhooks (name, url, secret) VALUES"
               " ('hook', 'http://127.0.0.1:9/', 'sixteen-characters')")
    db.execute("INSERT INTO dead_letters (topic, payload, reason, error_kind)"
               " VALUES ('sharpeyes/v1/camera/CAM-A/density', 'z', 'zone unknown',"
               " 'unknown_zone')")
    db.execute("INSERT INTO video_heatmaps (camera_id, window_start, window_s, cols, rows,"
               " samples, cells) VALUES ('CAM-A', now() - interval '1 hour', 300, 2, 1, 1,"
               " '{0.5, 2}')")
    db.execute("INSERT INTO api_keys (name, prefix, key_hash, role) VALUES"
               " ('gateway', 'se_x', %s, 'integrator')", (hash_key("se_matrix"),))
    for role in ROLES:
        db.execute("INSERT INTO devices (id, kind, name, grid_code) VALUES (%s, 'sensor', 'x',"
                   " 'G-A')", (f"DEL-{role}",))
        db.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2) VALUES"
                   " (%s, 'CAM-A', 'G-A', 'x', 10)", (f"ZDEL-{role}",))


@pytest.fixture
def client(db_url: str, db: psycopg.Connection,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    seed(db)
    monkeypatch.setattr(stream, "MAX_STREAM_SECONDS", 0.2)   # streams end, so they can be read
    pool = create_pool(db_url, max_size=4)
    settings = load_settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1")
    services = Services(settings=settings, pool=pool, jwt_secret="m" * 32)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        pool.close()


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    routes = set()
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if context.path is None:
            continue
        if isinstance(context.original_route, Mount):
            routes.add(("GET", context.path))
            continue
        for method in context.methods or ():
            if method != "HEAD":
                routes.add((method, context.path))
    return routes


def test_every_route_has_an_entry(client: TestClient) -> None:
    routes = app_routes(client)
    assert routes - MATRIX.keys() == set(), "routes without an authorization matrix entry"
    assert MATRIX.keys() - routes == set(), "matrix entries for routes that no longer exist"


def tokens(client: TestClient) -> dict[str, dict[str, str]]:
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role, username in USERS.items():
        response = client.post("/api/v1/auth/token",
                               data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        headers[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


def matches(expected: Status, status: int) -> bool:
    return status // 100 == 2 if expected == OK else status == expected


def test_authorization_matrix(client: TestClient) -> None:
    headers = tokens(client)
    wrong: list[str] = []
    for (method, template), case in sorted(MATRIX.items(), key=lambda kv: kv[0][1]):
        for role in ROLES:
            path = case.path(role) if callable(case.path) else (case.path or template)
            kwargs = dict(case.request(role))
            kwargs["headers"] = {**headers[role], **kwargs.get("headers", {})}
            response = client.request(method, path, **kwargs)
            if not matches(case.expected[role], response.status_code):
                wrong.append(f"{method} {path} as {role}: {response.status_code}, expected "
                             f"{case.expected[role]}: {response.text[:160]}")
    assert wrong == [], "\n".join(wrong)


def test_refusals_are_problem_details_that_name_the_roles(client: TestClient) -> None:
    worker = tokens(client)["worker"]
    refused = client.get("/api/v1/devices", headers=worker)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "integrator" in refused.json()["detail"] and "worker" in refused.json()["detail"]
    anonymous = client.get("/api/v1/hotspots")
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"


def test_the_stream_takes_its_token_from_the_query_string(client: TestClient) -> None:
    token = tokens(client)["operator"]["Authorization"].split()[1]
    response = client.get(f"/api/v1/stream?access_token={token}")
    assert response.status_code == 200
    assert response.text.startswith("retry: 3000\nevent: ready\n")
    assert json.loads(response.text.split("data: ")[1].split("\n")[0])["role"] == "operator"
    assert client.get("/api/v1/stream?access_token=forged").status_code == 401
