"""The API platform: login rate limits, the live stream over a real server, metrics, the
audit log, the device and zone registry, the grid map and problem details for bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from alerts.events import ALERT_VIEW, announce, emit
from api.app import create_app
from api.audit import record
from api.ratelimit import Backoff, LoginLimits, Window
from api.routes.grid_map import LEVEL_LOWER_BOUNDS
from api.server import ApiServer
from api.services import Services
from contracts.levels import level_of
from grid.actors import Actor, Role
from grid.dispatch import dispatch_pending
from kernel.settings import load_settings
from store.db import create_pool
from tests.helpers import PASSWORD, bearer, tiny_city

Factory = Callable[..., TestClient]


@pytest.fixture
def services(db_url: str, db: psycopg.Connection) -> Iterator[Services]:
    tiny_city(db)
    pool = create_pool(db_url, max_size=6)
    settings = load_settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1")
    try:
        yield Services(settings=settings, pool=pool, jwt_secret="p" * 32)
    finally:
        pool.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


def login(client: TestClient | httpx.Client, username: str) -> dict[str, str]:
    return bearer(client, username)


def fire(db: psycopg.Connection, zone: str = "Z-A") -> None:
    """An alert firing in ``zone``, recorded and announced as the evaluator does."""
    with db.transaction(), db.cursor(row_factory=dict_row) as cur:
        cur.execute("INSERT INTO alerts (rule_id, zone_id, grid_code, subject, fingerprint,"
                    " state, severity, value, pending_since, fired_at) SELECT 1, z.id,"
                    " z.grid_code, 'zone:' || z.id, 'fp-' || z.id, 'firing', 'critical', 4.6,"
                    " now(), now() FROM zones z WHERE z.id = %s RETURNING id", (zone,))
        alert_id = cur.fetchone()["id"]  # type: ignore[index]
        alert = cur.execute(ALERT_VIEW + " WHERE a.id = %s", (alert_id,)).fetchone()
        assert alert is not None
        announce(cur, emit(cur, alert, "firing", datetime.now(UTC)))


# --- login rate limiting ------------------------------------------------------------------

def limited(services: Services, address: str = "testclient", **windows: Any) -> TestClient:
    return TestClient(create_app(services, login_limits=LoginLimits(**windows)),
                      client=(address, 50000))


def attempt(client: TestClient, username: str, password: str = "wrong") -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_failed_logins_per_username_and_address_are_limited_with_retry_after(
        services: Services) -> None:
    client = limited(services, per_pair_failures=Window(3, 60))
    assert [attempt(client, "w-a").status_code for _ in range(3)] == [401, 401, 401]
    refused = attempt(client, "W-A ", PASSWORD)      # the right password, same username
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "username" in refused.json()["detail"]
    assert attempt(client, "w-b", PASSWORD).status_code == 200   # others are not locked out
    # The owner, from their own address, is not locked out by the stranger's failures.
    owner = limited(services, "10.0.0.7", per_pair_failures=Window(3, 60))
    assert attempt(owner, "w-a", PASSWORD).status_code == 200


def test_a_success_clears_the_pairs_failures(services: Services) -> None:
    client = limited(services, per_pair_failures=Window(3, 60))
    for _ in range(2):
        attempt(client, "op-a")
    assert attempt(client, "op-a", PASSWORD).status_code == 200
    assert [attempt(client, "op-a").status_code for _ in range(3)] == [401, 401, 401]


def test_attempts_per_client_address_are_limited_across_usernames(services: Services) -> None:
    client = limited(services, per_client_failures=Window(4, 60))
    for name in ("a", "b", "c", "d"):
        assert attempt(client, name).status_code == 401
    assert attempt(client, "e").status_code == 429
    flood = limited(services, per_client_attempts=Window(2, 60))
    assert attempt(flood, "w-b", PASSWORD).status_code == 429   # 6 attempts in the window


def test_strangers_everywhere_slow_guessing_down_but_never_lock_the_owner_out(
        services: Services, db: psycopg.Connection) -> None:
    """Many addresses guessing one password: past the allowance each address must wait an
    exponentially growing delay after its own last attempt; a fresh address, and the
    owner's known-good one, still get through with the right password."""
    limits = {"per_user": Backoff(free=3, seconds=600, base=30, cap=120)}
    owner = limited(services, "10.0.0.1", **limits)
    assert attempt(owner, "op-a", PASSWORD).status_code == 200     # known-good from now on
    for i in range(12):                                 # a botnet: one guess per address
        assert attempt(limited(services, f"203.0.113.{i}", **limits), "op-a").status_code == 401
    repeat = limited(services, "203.0.113.5", **limits)
    slowed = attempt(repeat, "op-a", PASSWORD)          # even the right password waits
    assert slowed.status_code == 429 and 1 <= int(slowed.headers["retry-after"]) <= 120
    assert "slowed" in slowed.json()["detail"]
    assert attempt(owner, "op-a", PASSWORD).status_code == 200      # the owner: not at all
    fresh = limited(services, "198.51.100.9", **limits)
    assert attempt(fresh, "op-a", PASSWORD).status_code == 200      # first try from anywhere
    # The delay grows with the failures but is capped: a wait, never a lock.
    assert [Backoff(free=3, base=30, cap=120).delay(n) for n in (2, 3, 4, 5, 6, 50)] == [
        0, 30, 60, 120, 120, 120]
    # The attempts table holds digests, and the owner's success stays as known-good.
    assert db.execute("SELECT count(*) FROM login_attempts WHERE outcome = 'success'"
                      ).fetchone() == (2,)


def test_the_delay_is_counted_from_the_addresss_own_last_attempt(
        services: Services, db: psycopg.Connection) -> None:
    limits = {"per_user": Backoff(free=2, seconds=600, base=5, cap=5)}
    for i in range(3):
        attempt(limited(services, f"192.0.2.{i}", **limits), "w-a")
    again = limited(services, "192.0.2.0", **limits)
    assert attempt(again, "w-a").status_code == 429
    db.execute("UPDATE login_attempts SET at = at - interval '6 seconds'")   # time passes
    assert attempt(again, "w-a", PASSWORD).status_code == 200


def test_limits_hold_across_api_replicas(services: Services, db_url: str) -> None:
    other_pool = create_pool(db_url, max_size=2)
    try:
        replica = TestClient(create_app(Services(services.settings, other_pool, "p" * 32),
                                        login_limits=LoginLimits(per_pair_failures=Window(2, 60))))
        first = limited(services, per_pair_failures=Window(2, 60))
        assert attempt(first, "w-a").status_code == 401
        assert attempt(replica, "w-a").status_code == 401
        assert attempt(first, "w-a").status_code == 429
    finally:
        other_pool.close()


def test_login_attempts_store_no_usernames(client: TestClient, db: psycopg.Connection) -> None:
    attempt(client, "my-password-typed-here")
    stored = db.execute("SELECT user_key, client_key FROM login_attempts").fetchall()
    assert stored and all("my-password" not in k for row in stored for k in row)


# --- the live stream over a real server -------------------------------------------------

class SseReader:
    """One SSE stream, read in the calling thread: :meth:`wait_for` reads until an event
    of ``kind`` whose data contains a string arrives; everything read is in :attr:`seen`."""

    def __init__(self, url: str, path: str, headers: dict[str, str] | None = None) -> None:
        self.seen: list[dict[str, str]] = []
        self.http = httpx.Client(base_url=url, timeout=httpx.Timeout(10, read=20))
        self.response = self.http.send(self.http.build_request("GET", path, headers=headers),
                                       stream=True)
        self.lines = self.response.iter_lines()

    def _next_event(self) -> dict[str, str]:
        event: dict[str, str] = {}
        for line in self.lines:
            if not line and event:
                return event
            if line and not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value
        raise AssertionError("the stream ended")

    def wait_for(self, kind: str, contains: str) -> dict[str, str]:
        found = next((e for e in self.seen if e.get("event") == kind
                      and contains in e.get("data", "")), None)
        while found is None:
            event = self._next_event()
            self.seen.append(event)
            if event.get("event") == kind and contains in event.get("data", ""):
                found = event
        return found

    def close(self) -> None:
        self.response.close()
        self.http.close()


@pytest.fixture
def server(services: Services) -> Iterator[str]:
    api = ApiServer(services, "127.0.0.1", 0)
    api.start()
    assert api.wait_started()
    try:
        yield api.url
    finally:
        api.stop()


def test_the_stream_carries_alerts_tasks_and_density_within_each_scope(
    server: str, db: psycopg.Connection
) -> None:
    with httpx.Client(base_url=server) as http:
        op_a, op_b, worker = (login(http, u) for u in ("op-a", "op-b", "w-a"))
    token_b = op_b["Authorization"].split()[1]
    a = SseReader(server, "/api/v1/stream", op_a)
    b = SseReader(server, f"/api/v1/stream?access_token={token_b}")
    w = SseReader(server, "/api/v1/stream", worker)
    try:
        for reader in (a, b, w):
            assert reader.response.status_code == 200
            assert reader.response.headers["content-type"].startswith("text/event-stream")
            reader.wait_for("ready", "role")
        fire(db, "Z-A")
        alert = a.wait_for("alert", '"zone_id": "Z-A"')
        assert alert["id"].isdigit()
        # Where and how bad in words, as GET /alerts says it: the zone's name, the level.
        assert '"zone_name": "Zone A"' in alert["data"], alert
        assert '"level": "unstable"' in alert["data"], alert
        (item,) = dispatch_pending(db)
        a.wait_for("task", f'"id": {item.task_id}')
        w.wait_for("task", '"assignee_id": "P-wA"')
        db.execute("INSERT INTO zone_current VALUES ('Z-A', now(), 480, 4.8, 'CAM-A', now()),"
                   " ('Z-B', now(), 120, 1.2, 'CAM-B', now())")
        assert '"level": "unstable"' in a.wait_for("density", '"zone_id": "Z-A"')["data"]
        b.wait_for("density", '"zone_id": "Z-B"')
        assert not any("Z-A" in e.get("data", "") or "G-A" in e.get("data", "")
                       for e in b.seen), "op-b saw street A"
        again = SseReader(server, "/api/v1/stream", {**op_a, "Last-Event-ID": "0"})
        replayed = again.wait_for("alert", "Z-A")                  # replayed after a reconnect
        assert replayed["id"] == alert["id"] and '"zone_name": "Zone A"' in replayed["data"]
        again.close()
    finally:
        for reader in (a, b, w):
            reader.close()


def test_the_stream_refuses_integrators_and_missing_tokens(server: str,
                                                          db: psycopg.Connection) -> None:
    db.execute("INSERT INTO people (id, username, display_name, role, password_hash) SELECT"
               " 'P-int', 'int', 'Integrator', 'integrator', password_hash FROM people"
               " WHERE id = 'P-admin'")
    with httpx.Client(base_url=server) as http:
        assert http.get("/api/v1/stream", headers=login(http, "int")).status_code == 403
        missing = http.get("/api/v1/stream")
    assert missing.status_code == 401 and missing.json()["status"] == 401


# --- metrics ------------------------------------------------------------------------------

def test_metrics_cover_ingest_lag_dead_letters_alerts_task_sla_and_latency(
    client: TestClient, db: psycopg.Connection
) -> None:
    db.execute("INSERT INTO zone_current VALUES ('Z-A', now() - interval '30 seconds', 10, 0.1,"
               " 'CAM-A', now() - interval '5 seconds')")
    db.execute("INSERT INTO dead_letters (topic, payload, reason, error_kind) VALUES"
               " ('t', 'x', 'bad', 'bad_json'), ('t', 'y', 'bad', 'bad_json')")
    fire(db)
    (item,) = dispatch_pending(db)
    db.execute("UPDATE tasks SET due_at = now() - interval '90 seconds' WHERE id = %s",
               (item.task_id,))
    headers = login(client, "admin")
    assert client.get(f"/api/v1/tasks/{item.task_id}", headers=headers).status_code == 200
    text = client.get("/metrics").text
    lag = float(next(line.split()[1] for line in text.splitlines()
                     if line.startswith("sharpeyes_ingest_lag_seconds ")))
    assert 29 <= lag <= 60
    assert 'sharpeyes_dead_letters{kind="bad_json",state="stored"} 2.0' in text
    assert 'sharpeyes_alerts{severity="critical",state="firing"} 1.0' in text
    assert "sharpeyes_alerts_firing 1.0" in text
    assert 'sharpeyes_tasks_open{state="dispatched"} 1.0' in text
    assert 'sharpeyes_tasks_overdue{tier="street"} 1.0' in text
    assert 'sharpeyes_devices{status="unknown"} 3.0' in text
    route = 'route="/api/v1/tasks/{task_id}"'
    assert f'sharpeyes_api_request_duration_seconds_count{{method="GET",{route},status="2xx"}}' \
        in text
    assert f'/api/v1/tasks/{item.task_id}"' not in text     # templates, never raw paths


# --- audit log ----------------------------------------------------------------------------

def test_changes_are_audited_with_secrets_masked_and_scoped_for_operators(
    client: TestClient, db: psycopg.Connection
) -> None:
    admin = login(client, "admin")
    created = client.post("/api/v1/devices", headers=admin, json={
        "id": "CAM-9", "kind": "camera", "name": "Gate", "grid_code": "G-A",
        "stream_url": "rtsp://viewer:s3cret@10.0.0.9/stream"})
    assert created.status_code == 201 and created.json()["stream_url"] == (
        "rtsp://***@10.0.0.9/stream")
    assert client.patch("/api/v1/zones/Z-B", headers=login(client, "op-b"),
                        json={"critical_density": 4.5}).status_code == 200
    everything = client.get("/api/v1/audit", headers=admin).json()
    assert [(i["entity"], i["entity_id"], i["action"]) for i in everything["items"]] == [
        ("zone", "Z-B", "update"), ("device", "CAM-9", "create")]
    assert everything["items"][0]["changed"] == ["critical_density"]
    assert "s3cret" not in str(everything)
    op_a = client.get("/api/v1/audit", headers=login(client, "op-a")).json()
    assert [i["entity_id"] for i in op_a["items"]] == ["CAM-9"]       # street A only
    only = client.get("/api/v1/audit?entity=zone&by=person:P-opB", headers=admin).json()
    assert only["total"] == 1
    record(db, Actor("P-admin", Role.ADMIN), "task", 1, "note", None, {"password": "x"})
    assert db.execute("SELECT after FROM audit_log ORDER BY id DESC LIMIT 1").fetchone() == (
        {"password": "***"},)


# --- device and zone registry -------------------------------------------------------------

INVALID_REGISTRATIONS: list[tuple[str, dict[str, Any], int, str]] = [
    ("/api/v1/devices", {"id": "bad id", "kind": "camera", "name": "x"}, 422, "body.id"),
    ("/api/v1/devices", {"id": "C1", "kind": "camera", "name": "x", "grid_code": "G-Z"}, 422,
     "grid G-Z does not exist"),
    ("/api/v1/devices", {"id": "C1", "kind": "sensor", "name": "x",
                         "stream_url": "rtsp://h/s"}, 422, "only a camera"),
    ("/api/v1/devices", {"id": "C1", "kind": "camera", "name": "x", "lon": 1}, 422,
     "lon and lat go together"),
    ("/api/v1/devices", {"id": "CAM-A", "kind": "camera", "name": "x"}, 409, "already"),
    ("/api/v1/zones", {"id": "Z-9", "device_id": "CAM-A", "grid_code": "G-A", "name": "x",
                       "area_m2": 0}, 422, "body.area_m2"),
    ("/api/v1/zones", {"id": "Z-9", "device_id": "CAM-A", "grid_code": "G-A", "name": "x",
                       "area_m2": 5, "warn_density": 4, "critical_density": 3}, 422,
     "warn_density 4 is above critical_density 3"),
    ("/api/v1/zones", {"id": "Z-9", "device_id": "SEN-1", "grid_code": "G-A", "name": "x",
                       "area_m2": 5}, 422, "zones are counted by cameras"),
    ("/api/v1/zones", {"id": "Z-9", "device_id": "CAM-Q", "grid_code": "G-A", "name": "x",
                       "area_m2": 5}, 422, "CAM-Q is not registered"),
]


def test_registry_validation_says_what_to_fix(client: TestClient) -> None:
    admin = login(client, "admin")
    for path, body, status, says in INVALID_REGISTRATIONS:
        response = client.post(path, headers=admin, json=body)
        assert (response.status_code, says in response.text) == (status, True), response.text


def test_registry_lists_filter_and_page_and_deletes_refuse_what_is_in_use(
    client: TestClient
) -> None:
    admin = login(client, "admin")
    cameras = client.get("/api/v1/devices?kind=camera&limit=1", headers=admin).json()
    assert (cameras["total"], len(cameras["items"]), cameras["items"][0]["zones"]) == (2, 1, 1)
    assert client.get("/api/v1/devices?q=foot", headers=admin).json()["items"][0]["id"] == "SEN-1"
    in_use = client.delete("/api/v1/devices/CAM-A", headers=admin)
    assert in_use.status_code == 409 and "zones" in in_use.json()["detail"]
    op_a = login(client, "op-a")
    assert [z["id"] for z in client.get("/api/v1/zones", headers=op_a).json()["items"]] == ["Z-A"]
    assert client.patch("/api/v1/zones/Z-A", headers=op_a, json={"name": "x"}).status_code == 403
    assert client.patch("/api/v1/zones/Z-B", headers=op_a,
                        json={"warn_density": 1}).status_code == 404
    too_high = client.patch("/api/v1/zones/Z-A", headers=op_a, json={"warn_density": 4.5})
    assert too_high.status_code == 422 and "above critical_density 4" in too_high.text
    assert client.delete("/api/v1/zones/Z-A", headers=admin).status_code == 204
    assert client.delete("/api/v1/devices/CAM-A", headers=admin).status_code == 204


# --- grid map, hotspots, problem details --------------------------------------------------

def test_grid_map_colours_cells_by_their_most_crowded_fresh_zone(
    client: TestClient, db: psycopg.Connection
) -> None:
    stale = datetime.now(UTC) - timedelta(hours=1)
    db.execute("INSERT INTO zone_current VALUES ('Z-A', now(), 520, 5.2, 'CAM-A', now()),"
               " ('Z-B', %s, 300, 3.0, 'CAM-B', %s)", (stale, stale))
    cells = client.get("/api/v1/grid-map", headers=login(client, "admin")).json()
    by_code = {f["id"]: f["properties"] for f in cells["features"]}
    assert by_code["G-A"]["level"] == "congested" and by_code["G-A"]["top_zone_id"] == "Z-A"
    assert by_code["G-B"]["level"] is None and by_code["G-B"]["last_report"] is not None
    assert cells["features"][0]["geometry"]["type"] == "Polygon"
    mine = client.get("/api/v1/grid-map", headers=login(client, "w-b")).json()
    assert [f["id"] for f in mine["features"]] == ["G-B"]
    hot = client.get("/api/v1/hotspots", headers=login(client, "admin")).json()["items"]
    assert [(h["zone_id"], h["stale"]) for h in hot] == [("Z-A", False), ("Z-B", True)]


def test_level_bands_agree_with_level_of() -> None:
    for level, low in LEVEL_LOWER_BOUNDS:
        assert level_of(low) is level
        if low > 0:
            assert level_of(low - 1e-9) is not level


BAD_INPUT = [
    ("/api/v1/zones/Z%00A", 422),                       # PostgreSQL takes no NUL characters
    ("/api/v1/devices/has%20space", 422),
    ("/api/v1/audit?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", 422),
    ("/api/v1/zones/Z-A/series?minutes=44640&bucket_seconds=1", 422),
    ("/static/nothing.js", 404),
]


def test_bad_input_is_a_4xx_problem(client: TestClient) -> None:
    admin = login(client, "admin")
    for path, status in BAD_INPUT:
        response = client.get(path, headers=admin)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_dashboard_loads_only_local_modules(client: TestClient) -> None:
    page = client.get("/")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    module = client.get("/static/main.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert "http://" not in module.text and "https://" not in module.text
