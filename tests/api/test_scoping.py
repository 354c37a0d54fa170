"""Scope through the API: region ids that LIKE would read as wildcards, and no existence
oracle — an object outside the caller's scope is answered exactly like an absent one.

The city: C01 with districts ``D_1`` (path ``C01.D_1``) and ``DX1`` (``C01.DX1``), street
``S1`` under DX1 (``C01.DX1.S1``). ``LIKE 'C01.D_1' || '.%'``-style matching let the
operator of D_1 see S1; everything of S1 ("X") must stay invisible to D_1's people.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from kernel.passwords import hash_password
from kernel.settings import load_settings
from store.db import create_pool
from tests.helpers import PASSWORD, bearer

BOUNDARY = json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})

# Out-of-scope object ids and absent ones of the same kind.
OUT = {"task": 7001, "alert": 8001, "rule": 9001, "period": 5001, "silence": 4001,
       "letter": 3001, "photo": 6001}
ABSENT = {"task": 7999, "alert": 8999, "rule": 9999, "period": 5999, "silence": 4999,
          "letter": 3999}


def seed(db: psycopg.Connection) -> None:
    hashed = hash_password(PASSWORD)
    statements = [
        "INSERT INTO regions VALUES ('C01', NULL, 'city', 'City', 'C01'),"
        " ('D_1', 'C01', 'district', 'District D_1', 'C01.D_1'),"
        " ('DX1', 'C01', 'district', 'District DX1', 'C01.DX1'),"
        " ('S1', 'DX1', 'street', 'Street S1', 'C01.DX1.S1')",
        f"INSERT INTO grids VALUES ('G-D1', 'D_1', 'Grid D1', '{BOUNDARY}', 0, 0, 1, 1),"
        f" ('G-X', 'S1', 'Grid X', '{BOUNDARY}', 0, 0, 1, 1)",
        "INSERT INTO places VALUES ('P-D1', 'Square D1', 'square', 'G-D1', 0.5, 0.5),"
        " ('P-X', 'Square X', 'square', 'G-X', 0.5, 0.5)",
        "INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
        " VALUES ('P-admin', 'admin', 'Admin', 'admin', 'C01', %(h)s),"
        " ('P-opd1', 'op-d1', 'Operator D_1', 'operator', 'D_1', %(h)s),"
        " ('P-opx', 'op-x', 'Operator S1', 'operator', 'S1', %(h)s),"
        " ('P-intd1', 'int-d1', 'Integrator D_1', 'integrator', 'D_1', %(h)s),"
        " ('P-wd1', 'w-d1', 'Worker D1', 'worker', 'D_1', %(h)s),"
        " ('P-wx', 'w-x', 'Worker X', 'worker', 'S1', %(h)s)",
        "INSERT INTO grid_members VALUES ('G-D1', 'P-wd1', 'worker', true),"
        " ('G-X', 'P-wx', 'worker', true)",
        "INSERT INTO devices (id, kind, name, grid_code) VALUES"
        " ('CAM-D1', 'camera', 'Camera D1', 'G-D1'), ('CAM-X', 'camera', 'Camera X', 'G-X')",
        "INSERT INTO zones (id, device_id, grid_code, place_id, name, area_m2) VALUES"
        " ('Z-D1', 'CAM-D1', 'G-D1', 'P-D1', 'Zone D1', 100),"
        " ('Z-X', 'CAM-X', 'G-X', 'P-X', 'Zone X', 100)",
        "INSERT INTO zone_current VALUES ('Z-D1', now(), 50, 0.5, 'CAM-D1', now()),"
        " ('Z-X', now(), 450, 4.5, 'CAM-X', now())",
        "INSERT INTO alert_rules (id, name, kind) VALUES (1, 'city-wide', 'density_above')",
        "INSERT INTO alert_rules (id, name, kind, zone_id) VALUES"
        " (9001, 'X dense', 'density_above', 'Z-X')",
        "INSERT INTO alerts (id, rule_id, zone_id, grid_code, fingerprint, state, severity,"
        " value, pending_since, fired_at) VALUES (8001, 1, 'Z-X', 'G-X', 'fx', 'firing',"
        " 'major', 4.5, now(), now())",
        "INSERT INTO tasks (id, zone_id, grid_code, category, severity, title, state,"
        " discovered_by, assignee_id) VALUES"
        " (7001, 'Z-X', 'G-X', 'crowd', 'major', 'X', 'handling', 'camera:CAM-X', 'P-wx'),"
        " (7002, 'Z-D1', 'G-D1', 'crowd', 'major', 'D1', 'reported', 'camera:CAM-D1', NULL)",
        "INSERT INTO task_photos (id, task_id, uploaded_by, content_type, width, height,"
        " sha256, original_sha256, data) VALUES (6001, 7001, 'P-wx', 'image/png', 1, 1,"
        " 'x', 'x', 'png')",
        "INSERT INTO alert_periods (id, name, starts_at, ends_at, zone_id, factor) VALUES"
        " (5001, 'X fair', now(), now() + interval '1 day', 'Z-X', 0.8)",
        "INSERT INTO alert_silences (id, zone_id, starts_at, ends_at, reason, created_by)"
        " VALUES (4001, 'Z-X', now(), now() + interval '1 hour', 'drill', 'P-opx')",
        "INSERT INTO dead_letters (id, topic, payload, reason, error_kind) VALUES"
        " (3001, 'sharpeyes/v1/camera/CAM-X/density', 'z', 'zone unknown', 'unknown_zone')",
        "INSERT INTO video_heatmaps (camera_id, window_start, window_s, cols, rows, samples,"
        " cells) VALUES ('CAM-X', now() - interval '1 hour', 300, 2, 1, 1, '{0.5, 2}'),"
        " ('CAM-D1', now() - interval '1 hour', 300, 2, 1, 1, '{0.5, 2}')",
        "INSERT INTO audit_log (actor, entity, entity_id, action, region_path) VALUES"
        " ('person:P-admin', 'zone', 'Z-D1', 'update', 'C01.D_1'),"
        " ('person:P-admin', 'zone', 'Z-X', 'update', 'C01.DX1.S1')",
    ]
    with db.transaction():
        for statement in statements:
            db.execute(statement, {"h": hashed} if "%(h)s" in statement else None)


@pytest.fixture
def client(db_url: str, db: psycopg.Connection) -> Iterator[TestClient]:
    seed(db)
    pool = create_pool(db_url, max_size=4)
    settings = load_settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1")
    try:
        with TestClient(create_app(Services(settings=settings, pool=pool,
                                            jwt_secret="v" * 32))) as test_client:
            yield test_client
    finally:
        pool.close()


@pytest.fixture
def tokens(client: TestClient) -> dict[str, dict[str, str]]:
    return {u: bearer(client, u) for u in ("op-d1", "int-d1", "w-d1", "admin")}


def _ids(response: Any, key: str = "id") -> set[Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if isinstance(body, dict) and "items" in body else body
    return {item[key] for item in items}


def test_an_underscore_in_a_region_id_is_no_wildcard(
        client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    """C01.D_1's operator sees nothing of C01.DX1.S1 in any list (LIKE matched it)."""
    op = tokens["op-d1"]
    get = client.get
    assert _ids(get("/api/v1/zones", headers=op)) == {"Z-D1"}
    assert _ids(get("/api/v1/hotspots", headers=op), "zone_id") == {"Z-D1"}
    assert _ids(get("/api/v1/devices", headers=op)) == {"CAM-D1"}
    assert _ids(get("/api/v1/tasks", headers=op)) == {7002}
    assert _ids(get("/api/v1/alerts", headers=op)) == set()
    assert _ids(get("/api/v1/rules", headers=op)) == {1}          # city-wide: applies to all
    assert _ids(get("/api/v1/periods", headers=op)) == set()
    assert _ids(get("/api/v1/silences", headers=op)) == set()
    assert _ids(get("/api/v1/dead-letters", headers=op)) == set()
    assert _ids(get("/api/v1/audit", headers=op), "entity_id") == {"Z-D1"}
    assert {f["id"] for f in get("/api/v1/grid-map", headers=op).json()["features"]} == {
        "G-D1"}
    assert _ids(get("/api/v1/devices", headers=tokens["int-d1"])) == {"CAM-D1"}
    # The admin sees both districts: the seed is what the assertions above think it is.
    assert _ids(get("/api/v1/zones", headers=tokens["admin"])) == {"Z-D1", "Z-X"}
    assert _ids(get("/api/v1/tasks", headers=tokens["admin"])) == {7001, 7002}


def _photo() -> bytes:
    import cv2
    import numpy as np
    return bytes(cv2.imencode(".png", np.full((8, 8, 3), 90, np.uint8))[1])


# (who, method, path, json body, multipart files), with {x} the out-of-scope or absent id.
Case = tuple[str, str, str, Any]

_SCOPE = {"duration_minutes": 5, "reason": "drill"}
CASES: dict[str, list[tuple[Case, Case]]] = {}


def _pair(who: str, method: str, path: str, body: Any = None, **ids: tuple[Any, Any]) -> tuple[
        Case, Case]:
    """The same request with every {name} filled with its out-of-scope, then absent value."""
    def fill(value: Any, which: int) -> Any:
        text = json.dumps(value)
        for name, pair in ids.items():
            text = text.replace(f'"{{{name}}}"', json.dumps(pair[which]))
            text = text.replace(f"{{{name}}}", str(pair[which]))
        return json.loads(text)
    return ((who, method, fill(path, 0), fill(body, 0)),
            (who, method, fill(path, 1), fill(body, 1)))


def _cases() -> list[tuple[Case, Case]]:
    task = {"t": (OUT["task"], ABSENT["task"])}
    alert = {"a": (OUT["alert"], ABSENT["alert"])}
    rule = {"r": (OUT["rule"], ABSENT["rule"])}
    zone = {"z": ("Z-X", "Z-NONE")}
    device = {"d": ("CAM-X", "CAM-NONE")}
    grid = {"g": ("G-X", "G-NONE")}
    place = {"p": ("P-X", "P-NONE")}
    region = {"reg": ("S1", "S-NONE")}
    worker = {"w": ("P-wx", "P-NONE")}
    new_zone = {"id": "Z-NEW", "device_id": "CAM-D1", "grid_code": "G-D1", "name": "n",
                "area_m2": 10}
    new_device = {"id": "CAM-NEW", "kind": "camera", "name": "n", "grid_code": "G-D1"}
    op, integrator, worker_d1 = "op-d1", "int-d1", "w-d1"
    return [
        # tasks and their actions
        _pair(op, "GET", "/api/v1/tasks/{t}", **task),
        _pair(worker_d1, "GET", "/api/v1/tasks/{t}", **task),
        _pair(op, "GET", "/api/v1/tasks/{t}/events", **task),
        _pair(op, "GET", "/api/v1/tasks/{t}/escalations", **task),
        _pair(op, "GET", "/api/v1/tasks/{t}/photos", **task),
        _pair(op, "GET", "/api/v1/tasks/{t}/photos/6001", **task),
        _pair(op, "POST", "/api/v1/tasks/{t}/cancel", {"note": "false alarm"}, **task),
        _pair(op, "POST", "/api/v1/tasks/{t}/dispatch", {"assignee_id": "P-wd1"}, **task),
        _pair(op, "POST", "/api/v1/tasks/{t}/merge", {"merge_into": 7002}, **task),
        _pair(worker_d1, "POST", "/api/v1/tasks/{t}/accept", **task),
        _pair(op, "POST", "/api/v1/tasks/7002/merge", {"merge_into": "{t}"}, **task),
        _pair(op, "POST", "/api/v1/tasks/7002/dispatch", {"assignee_id": "{w}"}, **worker),
        _pair(worker_d1, "POST", "/api/v1/tasks/{t}/photos", "PHOTO", **task),
        # alerts
        _pair(op, "GET", "/api/v1/alerts/{a}", **alert),
        _pair(op, "POST", "/api/v1/alerts/{a}/ack", {"note": "seen"}, **alert),
        _pair(worker_d1, "POST", "/api/v1/alerts/{a}/ack", **alert),
        # zones and devices
        _pair(op, "GET", "/api/v1/zones/{z}", **zone),
        _pair(op, "GET", "/api/v1/zones/{z}/series", **zone),
        _pair(op, "PATCH", "/api/v1/zones/{z}", {"warn_density": 2.0}, **zone),
        _pair(integrator, "PATCH", "/api/v1/zones/{z}", {"name": "renamed"}, **zone),
        _pair(integrator, "DELETE", "/api/v1/zones/{z}", **zone),
        _pair(integrator, "POST", "/api/v1/zones", {**new_zone, "device_id": "{d}"}, **device),
        _pair(integrator, "POST", "/api/v1/zones", {**new_zone, "grid_code": "{g}"}, **grid),
        _pair(integrator, "POST", "/api/v1/zones", {**new_zone, "place_id": "{p}"}, **place),
        _pair(op, "GET", "/api/v1/devices/{d}", **device),
        _pair(integrator, "GET", "/api/v1/devices/{d}", **device),
        _pair(integrator, "PATCH", "/api/v1/devices/{d}", {"name": "renamed"}, **device),
        _pair(integrator, "DELETE", "/api/v1/devices/{d}", **device),
        _pair(integrator, "POST", "/api/v1/devices", {**new_device, "grid_code": "{g}"},
              **grid),
        _pair(integrator, "POST", "/api/v1/devices", {**new_device, "place_id": "{p}"},
              **place),
        _pair(integrator, "PATCH", "/api/v1/devices/CAM-D1", {"grid_code": "{g}"}, **grid),
        _pair(op, "GET", "/api/v1/cameras/{d}/heatmap.png", **device),
        _pair(worker_d1, "GET", "/api/v1/cameras/{d}/heatmap.png", **device),
        # dead letters
        _pair(op, "POST", "/api/v1/dead-letters/{l}/replay",
              l=(OUT["letter"], ABSENT["letter"])),
        _pair(integrator, "POST", "/api/v1/dead-letters/{l}/replay",
              l=(OUT["letter"], ABSENT["letter"])),
        # rules, periods, silences
        _pair(op, "GET", "/api/v1/rules/{r}", **rule),
        _pair(op, "PATCH", "/api/v1/rules/{r}", {"for_seconds": 5}, **rule),
        _pair(op, "POST", "/api/v1/rules/{r}/disable", **rule),
        _pair(op, "POST", "/api/v1/rules/{r}/enable", **rule),
        _pair(op, "DELETE", "/api/v1/rules/{r}", **rule),
        _pair(op, "POST", "/api/v1/rules", {"name": "n", "kind": "density_above",
                                            "scope": {"zone_id": "{z}"}}, **zone),
        _pair(op, "POST", "/api/v1/rules", {"name": "n", "kind": "density_above",
                                            "scope": {"device_id": "{d}"}}, **device),
        _pair(op, "POST", "/api/v1/rules", {"name": "n", "kind": "density_above",
                                            "scope": {"region_id": "{reg}"}}, **region),
        _pair(op, "POST", "/api/v1/rules", {"name": "n", "kind": "composite",
                                            "params": {"all_of": ["{r}", 1]}}, **rule),
        _pair(op, "GET", "/api/v1/periods/{x}", x=(OUT["period"], ABSENT["period"])),
        _pair(op, "DELETE", "/api/v1/periods/{x}", x=(OUT["period"], ABSENT["period"])),
        _pair(op, "POST", "/api/v1/periods", {
            "name": "fair", "starts_at": "2030-01-01T00:00:00+08:00",
            "ends_at": "2030-01-02T00:00:00+08:00", "rule_id": "{r}", "threshold": 3}, **rule),
        _pair(op, "GET", "/api/v1/silences/{x}", x=(OUT["silence"], ABSENT["silence"])),
        _pair(op, "DELETE", "/api/v1/silences/{x}", x=(OUT["silence"], ABSENT["silence"])),
        _pair(op, "POST", "/api/v1/silences", {**_SCOPE, "rule_id": "{r}"}, **rule),
        _pair(op, "POST", "/api/v1/silences", {**_SCOPE, "scope": {"zone_id": "{z}"}}, **zone),
    ]


def _send(client: TestClient, tokens: dict[str, dict[str, str]], case: Case) -> Any:
    who, method, path, body = case
    if body == "PHOTO":
        return client.post(path, headers=tokens[who],
                           files=[("photos", ("site.png", _photo(), "image/png"))])
    return client.request(method, path, headers=tokens[who],
                          **({"json": body} if body is not None else {}))


def _normalized(response: Any, value: Any) -> tuple[int, str, str]:
    text = re.sub(rf"(?<![\w-]){re.escape(str(value))}(?![\w-])", "<id>", response.text)
    return response.status_code, response.headers.get("content-type", ""), text


def _differing(case: Case, other: Case) -> Any:
    """The one value that differs between the two requests (for the normalization)."""
    a, b = json.dumps(case), json.dumps(other)
    for token_a, token_b in zip(re.split(r"([\w-]+)", a), re.split(r"([\w-]+)", b),
                                strict=True):
        if token_a != token_b:
            return token_a, token_b
    raise AssertionError(f"{case} and {other} are the same request")


def test_out_of_scope_ids_are_answered_like_absent_ones(
        client: TestClient, tokens: dict[str, dict[str, str]], db: psycopg.Connection) -> None:
    before = db.execute("SELECT (SELECT count(*) FROM audit_log),"
                        " (SELECT count(*) FROM task_events)").fetchone()
    problems = []
    for out, absent in _cases():
        out_value, absent_value = _differing(out, absent)
        got_out = _normalized(_send(client, tokens, out), out_value)
        got_absent = _normalized(_send(client, tokens, absent), absent_value)
        if got_out != got_absent:
            problems.append(f"{out[0]} {out[1]} {out[2]} {out[3]}:\n  out of scope: "
                            f"{got_out}\n  absent:       {got_absent}")
        elif not 400 <= got_out[0] < 500 or "problem+json" not in got_out[1]:
            problems.append(f"{out[0]} {out[1]} {out[2]}: not a 4xx problem: {got_out}")
    assert problems == [], "\n".join(problems)
    # Nothing out of scope was changed by any of them.
    assert db.execute("SELECT (SELECT count(*) FROM audit_log),"
                      " (SELECT count(*) FROM task_events)").fetchone() == before
    assert db.execute("SELECT state FROM tasks WHERE id = 7001").fetchone() == ("handling",)
    assert db.execute("SELECT replay_requested_at FROM dead_letters").fetchone() == (None,)


def test_the_reported_merge_oracle(client: TestClient,
                                   tokens: dict[str, dict[str, str]]) -> None:
    """POST /tasks/2/merge {"merge_into": 1} used to answer "task 1 is cancelled" for a
    task of another region; now the same as for a task that does not exist."""
    op = tokens["op-d1"]
    client.post("/api/v1/tasks/7001/cancel", json={"note": "x"}, headers=tokens["admin"])
    hidden = client.post("/api/v1/tasks/7002/merge", json={"merge_into": 7001}, headers=op)
    absent = client.post("/api/v1/tasks/7002/merge", json={"merge_into": 7999}, headers=op)
    assert hidden.status_code == absent.status_code == 409
    assert "cancelled" not in hidden.text
    assert hidden.json()["detail"].replace("7001", "N") == absent.json()["detail"].replace(
        "7999", "N")
