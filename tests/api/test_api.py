"""The API over a real database: login, scope, the task loop, problem details, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from grid.dispatch import dispatch_pending
from kernel.settings import Settings
from store.db import create_pool
from tests.helpers import bearer, tiny_city


@pytest.fixture
def client(db_url: str, db: psycopg.Connection, tmp_path: object) -> Iterator[TestClient]:
    tiny_city(db)
    pool = create_pool(db_url, max_size=4)
    services = Services(settings=Settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1"),
                        pool=pool, jwt_secret="x" * 32, probes={"ingest": lambda: None})
    try:
        with TestClient(create_app(services)) as test_client:
            yield test_client
    finally:
        pool.close()


def login(client: TestClient, username: str) -> dict[str, str]:
    return bearer(client, username)


def surge(db: psycopg.Connection) -> int:
    now = datetime.now(UTC)
    db.execute("INSERT INTO zone_current VALUES ('Z-A', %s, 450, 4.5, 'CAM-A', now()),"
               " ('Z-B', %s, 100, 1.0, 'CAM-B', now())", (now, now))
    db.execute("INSERT INTO alerts (rule_id, zone_id, fingerprint, state, severity, value,"
               " pending_since, fired_at) VALUES (1, 'Z-A', 'f', 'firing', 'major', 4.5, now(),"
               " now())")
    (item,) = dispatch_pending(db)
    return item.task_id


def test_wrong_password_is_401_problem_details(client: TestClient) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "w-a", "password": "nope"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "wrong username or password"


def test_requests_without_a_valid_token_are_401(client: TestClient) -> None:
    assert client.get("/api/v1/tasks").status_code == 401
    bad = client.get("/api/v1/tasks", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401 and "invalid access token" in bad.json()["detail"]


def test_hotspots_are_ranked_and_scoped_to_the_callers_region(
    client: TestClient, db: psycopg.Connection
) -> None:
    surge(db)
    admin = client.get("/api/v1/hotspots", headers=login(client, "admin")).json()
    assert [h["zone_id"] for h in admin["items"]] == ["Z-A", "Z-B"]
    assert admin["items"][0]["level"] == "unstable" and admin["total"] == 2
    op_b = client.get("/api/v1/hotspots", headers=login(client, "op-b")).json()
    assert [h["zone_id"] for h in op_b["items"]] == ["Z-B"]


def test_worker_accepts_and_resolves_operator_closes(client: TestClient,
                                                     db: psycopg.Connection) -> None:
    task_id = surge(db)
    worker = login(client, "w-a")
    mine = client.get("/api/v1/tasks", headers=worker).json()
    assert [t["id"] for t in mine["items"]] == [task_id]
    assert client.post(f"/api/v1/tasks/{task_id}/accept", headers=worker).json()["state"] == (
        "handling")
    resolved = client.post(f"/api/v1/tasks/{task_id}/resolve", headers=worker,
                           json={"note": "dispersed the crowd"})
    assert resolved.json()["state"] == "follow_up"
    closed = client.post(f"/api/v1/tasks/{task_id}/close", headers=login(client, "op-a"),
                         json={"rating": 4})
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    events = client.get(f"/api/v1/tasks/{task_id}/events", headers=worker).json()
    assert [e["action"] for e in events] == ["report", "dispatch", "accept", "resolve", "close"]


def test_forbidden_transition_is_409_and_other_grids_tasks_are_404(
    client: TestClient, db: psycopg.Connection
) -> None:
    task_id = surge(db)
    conflict = client.post(f"/api/v1/tasks/{task_id}/resolve", headers=login(client, "w-a"))
    assert conflict.status_code == 409
    assert "cannot resolve a task that is dispatched" in conflict.json()["detail"]
    other = login(client, "w-b")
    assert client.get(f"/api/v1/tasks/{task_id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/tasks/{task_id}/accept", headers=other).status_code == 404
    assert client.get("/api/v1/tasks", headers=other).json()["items"] == []
    forbidden = client.post(f"/api/v1/tasks/{task_id}/close", headers=login(client, "w-a"))
    assert forbidden.status_code == 403


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "/api/v1/tasks?limit=0", None, 422),
    ("get", "/api/v1/tasks?limit=abc", None, 422),
    ("get", "/api/v1/tasks?state=flying", None, 422),
    ("get", "/api/v1/tasks/99999", None, 404),
    ("get", "/api/v1/tasks/notanumber", None, 422),
    ("post", "/api/v1/tasks/1/teleport", None, 422),
    ("post", "/api/v1/tasks/1/close", {"rating": 9}, 422),
    ("get", "/api/v1/zones/Z-A/series?minutes=-1", None, 422),
    ("get", "/api/v1/zones/NOPE/series", None, 404),
    ("get", "/api/v1/alerts?state=maybe", None, 422),
    ("get", "/api/v1/nothing-here", None, 404),
])
def test_bad_requests_get_precise_4xx_problem_details(
    client: TestClient, method: str, path: str, body: object, status: int
) -> None:
    headers = login(client, "admin")
    response = getattr(client, method)(path, headers=headers,
                                       **({"json": body} if body is not None else {}))
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["status"] == status and problem["detail"]


def test_zone_series_buckets_observations(client: TestClient, db: psycopg.Connection) -> None:
    db.execute("INSERT INTO crowd_observations (time, zone_id, device_id, seq, count, density)"
               " SELECT now() - make_interval(secs => s * 10), 'Z-A', 'CAM-A', s, s, s / 100.0"
               " FROM generate_series(0, 59) s")
    series = client.get("/api/v1/zones/Z-A/series?minutes=11&bucket_seconds=60",
                        headers=login(client, "op-a")).json()
    assert series["critical_density"] == 4.0
    assert sum(p["samples"] for p in series["points"]) == 60
    assert len(series["points"]) in (10, 11)
    assert client.get("/api/v1/zones/Z-A/series", headers=login(client, "op-b")).status_code == 404


def test_dead_letters_are_listed_for_operators_not_workers(client: TestClient,
                                                         db: psycopg.Connection) -> None:
    db.execute("INSERT INTO dead_letters (topic, payload, reason, error_kind)"
               " VALUES ('sharpeyes/v1/camera/CAM-A/density', '\\xff00'::bytea,"
               " 'not valid JSON', 'bad_json'), ('x/y', 'z', 'no device', 'bad_topic')")
    listed = client.get("/api/v1/dead-letters", headers=login(client, "op-a")).json()
    assert listed["total"] == 1   # CAM-A is in op-a's street; x/y names no device
    assert listed["items"][0]["payload_base64"] == "/wA=" and listed["items"][0][
        "payload_text"] is None
    assert client.get("/api/v1/dead-letters", headers=login(client, "op-b")).json()[
        "total"] == 0
    assert client.get("/api/v1/dead-letters", headers=login(client, "admin")).json()[
        "total"] == 2
    assert client.get("/api/v1/dead-letters", headers=login(client, "w-a")).status_code == 403


def test_metrics_expose_ingest_alert_and_task_series(client: TestClient,
                                                     db: psycopg.Connection) -> None:
    surge(db)
    db.execute("INSERT INTO service_counters VALUES ('i1', 'ingest_messages_total', 42),"
               " ('i2', 'ingest_messages_total', 8), ('i1', 'ingest_dead_letters_total', 3)")
    text = client.get("/metrics").text
    assert 'sharpeyes_ingest_messages_total{instance="i1"} 42.0' in text
    assert 'sharpeyes_ingest_messages_total{instance="i2"} 8.0' in text
    assert 'sharpeyes_ingest_dead_letters_total{instance="i1"} 3.0' in text
    assert "sharpeyes_ingest_rows_written_total" in text
    assert "sharpeyes_alerts_firing 1.0" in text
    assert 'sharpeyes_tasks_open{state="dispatched"} 1.0' in text
    assert 'sharpeyes_tasks_open{state="handling"} 0.0' in text


def test_health_reports_each_component(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["components"] == {"database": {"status": "ok"},
                                             "ingest": {"status": "ok"}}


def test_dashboard_is_served_without_external_resources(client: TestClient) -> None:
    page = client.get("/").text
    assert 'id="login-form"' in page
    assert "http://" not in page and "https://" not in page


def test_a_configured_tile_server_is_the_only_external_origin(db_url: str) -> None:
    tiles = "https://tiles.city.example/{z}/{x}/{y}.png"
    settings = Settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1",
                        dashboard_tile_url=tiles, dashboard_tile_attribution="© City <GIS>")
    pool = create_pool(db_url, max_size=1)
    try:
        with TestClient(create_app(Services(settings=settings, pool=pool,
                                            jwt_secret="x" * 32))) as client:
            response = client.get("/")
    finally:
        pool.close()
    assert f'<meta name="sharpeyes-tile-url" content="{tiles}">' in response.text
    assert "© City &lt;GIS&gt;" in response.text  # escaped, not markup
    policy = response.headers["content-security-policy"]
    assert "img-src 'self' https://tiles.city.example blob: data:" in policy
    assert "script-src 'self';" in policy  # nothing else loosened
    with pytest.raises(ValueError, match="dashboard_tile_url"):
        Settings(dashboard_tile_url="javascript:alert(1)")


def test_dead_letters_can_be_marked_for_replay(client: TestClient, db: psycopg.Connection) -> None:
    db.execute("INSERT INTO dead_letters (topic, payload, reason, error_kind) VALUES"
               " ('sharpeyes/v1/camera/CAM-A/density', 'x', 'zone unknown', 'unknown_zone'),"
               " ('sharpeyes/v1/camera/CAM-A/density', 'y', 'bad', 'bad_json'),"
               " ('sharpeyes/v1/camera/CAM-A/density', 'z', 'zone unknown', 'unknown_zone'),"
               " ('sharpeyes/v1/camera/CAM-B/density', 'z', 'zone unknown', 'unknown_zone')")
    assert client.post("/api/v1/dead-letters/4/replay",   # CAM-B: another street's
                       headers=login(client, "op-a")).status_code == 404
    headers = login(client, "op-a")
    one = client.post("/api/v1/dead-letters/1/replay", headers=headers)
    assert one.status_code == 202 and one.json()["requested"] == 1
    many = client.post("/api/v1/dead-letters/replay?kind=unknown_zone", headers=headers)
    assert many.json()["requested"] == 1  # letter 1 was already marked
    assert client.post("/api/v1/dead-letters/99/replay", headers=headers).status_code == 404
    marked = db.execute("SELECT id FROM dead_letters WHERE replay_requested_at IS NOT NULL"
                        " ORDER BY id").fetchall()
    assert marked == [(1,), (3,)]
