"""Helpers shared by tests: waiting for conditions, publishing, a tiny city, real data."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import psycopg

from kernel.mqtt import new_client, parse_mqtt_url
from kernel.passwords import hash_password
from kernel.settings import Settings
from sharpeyes.components import start
from sharpeyes.runtime import Runtime

T = TypeVar("T")
PASSWORD = "secret-pw"
_HASH = hash_password(PASSWORD)

# Real footage and labelled images for accuracy checks (never committed): the workplace's
# shared/data beside the checkout, or wherever SHARPEYES_TEST_DATA points.
SHARED_DATA = Path(os.environ.get("SHARPEYES_TEST_DATA")
                   or Path(__file__).resolve().parents[2] / "shared" / "data")
PETS_CLIP = SHARED_DATA / "pets2009-s2l1-view001.avi"


def wait_until(predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.05,
               what: str = "condition") -> T:
    """Poll until ``predicate()`` is truthy; return its value or fail with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def publish_all(mqtt_url: str, messages: Iterable[tuple[str, bytes | str]], qos: int = 1) -> int:
    """Publish and wait until the broker has every message; return how many."""
    address = parse_mqtt_url(mqtt_url)
    client = new_client(address)
    client.connect(address.host, address.port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=qos) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=30)
    client.disconnect()
    client.loop_stop()
    return len(infos)


def density_payload(seq: int, ts: str, zones: dict[str, float], **extra: Any) -> bytes:
    body = {"seq": seq, "ts": ts,
            "zones": [{"zone_id": z, "count": c} for z, c in zones.items()], **extra}
    return json.dumps(body).encode()


def tiny_city(conn: psycopg.Connection) -> None:
    """Two streets, one grid each, a worker and an operator per street, one camera each.

    CAM-A watches zone Z-A (100 m², grid G-A); CAM-B watches Z-B (100 m², grid G-B).
    Workers w-a (G-A) and w-b (G-B); operators op-a, op-b scoped to their street; admin.
    """
    boundary = json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    stmts: list[tuple[str, tuple[Any, ...]]] = [
        ("INSERT INTO regions VALUES ('C', NULL, 'city', 'City', 'C')", ()),
        ("INSERT INTO regions VALUES ('SA', 'C', 'street', 'Street A', 'C.SA')", ()),
        ("INSERT INTO regions VALUES ('SB', 'C', 'street', 'Street B', 'C.SB')", ()),
    ]
    for s in ("A", "B"):
        stmts += [
            ("INSERT INTO grids VALUES (%s, %s, %s, %s, 0, 0, 1, 1)",
             (f"G-{s}", f"S{s}", f"Grid {s}", boundary)),
            ("INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
             " VALUES (%s, %s, %s, 'worker', %s, %s)",
             (f"P-w{s}", f"w-{s.lower()}", f"Worker {s}", f"S{s}", _HASH)),
            ("INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
             " VALUES (%s, %s, %s, 'operator', %s, %s)",
             (f"P-op{s}", f"op-{s.lower()}", f"Operator {s}", f"S{s}", _HASH)),
            ("INSERT INTO grid_members VALUES (%s, %s, 'worker', true)", (f"G-{s}", f"P-w{s}")),
            ("INSERT INTO devices (id, kind, name, grid_code) VALUES (%s, 'camera', %s, %s)",
             (f"CAM-{s}", f"Camera {s}", f"G-{s}")),
            ("INSERT INTO zones (id, device_id, grid_code, name, area_m2) VALUES"
             " (%s, %s, %s, %s, 100)", (f"Z-{s}", f"CAM-{s}", f"G-{s}", f"Zone {s}")),
        ]
    stmts += [
        ("INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
         " VALUES ('P-admin', 'admin', 'Admin', 'admin', 'C', %s)", (_HASH,)),
        ("INSERT INTO devices (id, kind, name) VALUES ('SEN-1', 'sensor', 'Footfall')", ()),
        ("INSERT INTO alert_rules (name, kind) VALUES ('density above critical',"
         " 'density_above')", ()),
    ]
    with conn.transaction():
        for sql_text, params in stmts:
            conn.execute(sql_text, params)


def three_tier_city(conn: psycopg.Connection) -> None:
    """``tiny_city`` plus the tiers above its streets, for escalation (督办).

    The streets SA and SB move under district D (path C.D.SA); op-d supervises the
    district centre and op-c the city centre.
    """
    tiny_city(conn)
    with conn.transaction():
        conn.execute("INSERT INTO regions VALUES ('D', 'C', 'district', 'District', 'C.D')")
        conn.execute("UPDATE regions SET parent_id = 'D', path = 'C.D.' || id"
                     " WHERE level = 'street'")
        for centre in ("D", "C"):
            conn.execute(
                "INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
                " VALUES (%s, %s, %s, 'operator', %s, %s)",
                (f"P-op{centre}", f"op-{centre.lower()}", f"Operator {centre}", centre, _HASH))


class _Poster(Protocol):
    def post(self, url: str, *, data: dict[str, str]) -> Any: ...


def bearer(client: _Poster, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in through the API (a TestClient or an httpx client); the Authorization header."""
    response = client.post("/api/v1/auth/token",
                           data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def logged_in(url: str, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An HTTP client for a running API, logged in as ``username``."""
    with httpx.Client(base_url=url, timeout=10) as http:
        http.headers.update(bearer(http, username, password))
        yield http


@contextmanager
def running_system(settings: Settings, components: tuple[str, ...]) -> Iterator[
        tuple[Runtime, str]]:
    """The named components of the system in this process, with the API's URL."""
    rt = Runtime(settings)
    rt.open_store()
    rt.open_broker()
    rt.migrate()
    api = start(rt, components)
    assert api is not None
    try:
        yield rt, api.url
    finally:
        rt.close()
