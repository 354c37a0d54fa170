"""``sharpeyes bench api``: dashboard read latency with a month of history for 1,000 zones.

A fresh database gets a city of 1,000 zones (100 grids, 10 streets) and 30 days (``days``) of
crowd observations at one sample per zone every 5 minutes (8.64 million rows, loaded
with COPY; one per minute would be 43 million, too many to load in this benchmark's
two-minute budget on a small machine, and the queries read an index range either way).
The API then runs as deployed, ``sharpeyes serve api`` in its own process(es), once per
entry of ``workers`` (``SHARPEYES_API_WORKERS``), and ``clients`` client *processes* (so
the clients do not share the server's interpreter lock) request, one phase after another:

- ``baseline_health`` — ``GET /health``: a ``SELECT 1`` round trip through the same
  HTTP stack and connection pool, no authentication;
- ``baseline_me`` — ``GET /api/v1/me``: token check and the caller's scope, nothing else;
- ``hotspots`` — ``GET /api/v1/hotspots?limit=50`` as the admin (all 1,000 zones ranked);
- ``hotspots_street`` — the same as a street centre operator (100 zones in scope);
- ``zone_series_24h`` — ``GET /api/v1/zones/{id}/series?minutes=1440&bucket_seconds=300``
  for a random zone each time (288 buckets).

Each phase runs twice: with one client (the service time) and with ``clients`` at once
(the load). The result is a dict (JSON for the CLI): per worker count, p50/p95/p99 and requests/s
per phase and whether the hotspot and series p95s meet the 50 ms target under concurrent
clients (``meets_target``) and with one (``meets_target_single_client``); and the load
time.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg

from kernel.passwords import hash_password
from store.db import url_with_database
from store.migrate import migrate

log = logging.getLogger(__name__)

STREETS, GRIDS_PER_STREET, ZONES_PER_GRID = 10, 10, 10
ZONES = STREETS * GRIDS_PER_STREET * ZONES_PER_GRID
DAYS = 30
SAMPLE_SECONDS = 300
TARGET_P95_MS = 50.0
PASSWORD = "bench-password"


def _city_sql(cur: psycopg.Cursor[Any]) -> None:
    """Regions, grids (small squares), people, one camera and one zone per zone id."""
    cur.execute("INSERT INTO regions VALUES ('C', NULL, 'city', 'Bench City', 'C')")
    cur.execute("INSERT INTO regions SELECT 'S' || s, 'C', 'street', 'Street ' || s, 'C.S' || s"
                " FROM generate_series(0, %s) s", (STREETS - 1,))
    # Grid g is a 0.01° square in a 10 x 10 block: column g % 10, row g / 10.
    cur.execute(
        "INSERT INTO grids SELECT 'G' || g, 'S' || (g / %(per)s), 'Grid ' || g,"
        " jsonb_build_object('type', 'Polygon', 'coordinates', jsonb_build_array("
        "   jsonb_build_array(jsonb_build_array(x, y), jsonb_build_array(x + 0.01, y),"
        "     jsonb_build_array(x + 0.01, y + 0.01), jsonb_build_array(x, y + 0.01),"
        "     jsonb_build_array(x, y)))),"
        " x, y, x + 0.01, y + 0.01"
        " FROM generate_series(0, %(grids)s) g,"
        " LATERAL (SELECT g %% 10 * 0.01 AS x, g / 10 * 0.01 AS y) corner",
        {"per": GRIDS_PER_STREET, "grids": STREETS * GRIDS_PER_STREET - 1})
    cur.execute("INSERT INTO devices (id, kind, name, grid_code) SELECT 'CAM-' || z, 'camera',"
                " 'Camera ' || z, 'G' || (z / %s) FROM generate_series(0, %s) z",
                (ZONES_PER_GRID, ZONES - 1))
    cur.execute("INSERT INTO zones (id, device_id, grid_code, name, area_m2) SELECT 'Z-' || z,"
                " 'CAM-' || z, 'G' || (z / %s), 'Zone ' || z, 200 FROM generate_series(0, %s) z",
                (ZONES_PER_GRID, ZONES - 1))
    hashed = hash_password(PASSWORD)
    cur.execute("INSERT INTO people (id, username, display_name, role, region_id, password_hash)"
                " VALUES ('P-admin', 'admin', 'Admin', 'admin', 'C', %s),"
                " ('P-op', 'op', 'Street 0 centre', 'operator', 'S0', %s)", (hashed, hashed))


def _history_block(zone: int, start: datetime, rng: random.Random, days: int) -> bytes:
    """COPY text rows for one zone: a daily wave with noise, one row per sample."""
    lines = []
    phase = rng.uniform(0, 2 * math.pi)
    for i in range(days * 86400 // SAMPLE_SECONDS):
        t = start + timedelta(seconds=i * SAMPLE_SECONDS)
        density = max(0.0, 1.2 + math.sin(i * SAMPLE_SECONDS / 86400 * 2 * math.pi + phase)
                      + rng.gauss(0, 0.15))
        lines.append(f"{t.isoformat()}\tZ-{zone}\tCAM-{zone}\t{i}\t{density * 200:.1f}"
                     f"\t{density:.3f}\t0.9\t{t.isoformat()}\n")
    return "".join(lines).encode()


def load(url: str, days: int = DAYS) -> dict[str, float]:
    """Create the city and ``days`` of history; returns how long each part took."""
    started = time.monotonic()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        _city_sql(cur)
        conn.commit()
        cur.execute("SET synchronous_commit = off")
        now = datetime.now(UTC).replace(microsecond=0)
        start = now - timedelta(days=days)
        rng = random.Random(7)
        with cur.copy("COPY crowd_observations (time, zone_id, device_id, seq, count, density,"
                      " confidence, received_at) FROM STDIN") as copy:
            for zone in range(ZONES):
                copy.write(_history_block(zone, start, rng, days))
        cur.execute("INSERT INTO zone_current (zone_id, time, count, density, device_id)"
                    " SELECT DISTINCT ON (zone_id) zone_id, time, count, density, device_id"
                    " FROM crowd_observations WHERE time > %s ORDER BY zone_id, time DESC",
                    (now - timedelta(minutes=10),))
        conn.commit()
        copied = time.monotonic()
        cur.execute("ANALYZE")
        conn.commit()
    rows = ZONES * days * 86400 // SAMPLE_SECONDS
    return {"rows": rows, "load_seconds": round(copied - started, 1),
            "rows_per_second": round(rows / (copied - started))}


def _client(url: str, token: str, path: str, seconds: float, seed: int) -> list[float]:
    """One client process: requests back to back for ``seconds``; latencies in ms. It uses
    http.client (keep-alive), which costs far less CPU than httpx: on a small machine the
    load generator would otherwise take the cores it is meant to measure."""
    rng = random.Random(seed)
    latencies: list[float] = []
    parts = urlsplit(url)
    http = HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            target = path.replace("{zone}", f"Z-{rng.randrange(ZONES)}")
            began = time.perf_counter()
            http.request("GET", target, headers=headers)
            response = http.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {target}: {response.status}")
            latencies.append((time.perf_counter() - began) * 1000)
    finally:
        http.close()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


def _phase(pool: Any, url: str, token: str, path: str, clients: int, seconds: float) -> dict[
        str, float]:
    results = pool.starmap(_client, [(url, token, path, seconds, i) for i in range(clients)])
    latencies = [v for r in results for v in r]
    return {"requests": len(latencies), "requests_per_s": round(len(latencies) / seconds, 1),
            "p50_ms": _percentile(latencies, 0.50), "p95_ms": _percentile(latencies, 0.95),
            "p99_ms": _percentile(latencies, 0.99)}


PHASES = {
    "baseline_health": ("admin", "/health"),
    "baseline_me": ("admin", "/api/v1/me"),
    "hotspots": ("admin", "/api/v1/hotspots?limit=50"),
    "hotspots_street": ("op", "/api/v1/hotspots?limit=50"),
    "zone_series_24h": ("admin", "/api/v1/zones/{zone}/series?minutes=1440&bucket_seconds=300"),
}


def _measure(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """Each phase twice: one client (service time), then ``clients`` at once (load)."""
    tokens = {}
    with httpx.Client(base_url=url) as http:
        for user in ("admin", "op"):
            reply = http.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
            tokens[user] = reply.raise_for_status().json()["access_token"]
    per_phase = seconds / (2 * len(PHASES))
    with mp.get_context("spawn").Pool(clients) as pool:
        # Warm up with every client at once, so that every pooled connection has its
        # statements prepared (PostgreSQL plans each of their first executions afresh).
        for user, path in PHASES.values():
            pool.starmap(_client, [(url, tokens[user], path, 1.0, i) for i in range(clients)])
        return {f"{label}": {name: _phase(pool, url, tokens[user], path, n, per_phase)
                             for name, (user, path) in PHASES.items()}
                for label, n in (("single_client", 1), ("concurrent", clients))}


def run_api_bench(admin_url: str, mqtt_url: str, clients: int = 8, seconds: float = 20,
                  workers: Sequence[int] = (1,), days: int = DAYS) -> dict[str, Any]:
    """Load ``days`` (a month) of history for 1,000 zones into a fresh database and measure
    the API with each number of ``workers`` in turn."""
    name = f"sharpeyes_bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = url_with_database(admin_url, name)
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
        loaded = load(url, days)
        log.info("loaded %s rows in %s s", loaded["rows"], loaded["load_seconds"])
        runs = []
        for count in workers:
            log.info("measuring the API with %d worker process(es)", count)
            with _serve(url, mqtt_url, count) as base:
                phases = _measure(base, clients, seconds)
            runs.append({"workers": count, **phases,
                         "meets_target": _meets(phases["concurrent"]),
                         "meets_target_single_client": _meets(phases["single_client"])})
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {"zones": ZONES, "days": days, "sample_seconds": SAMPLE_SECONDS, **loaded,
            "clients": clients, "seconds": seconds, "target_p95_ms": TARGET_P95_MS,
            "runs": runs, "meets_target": any(r["meets_target"] for r in runs)}


def _meets(phases: dict[str, dict[str, float]]) -> bool:
    worst = max(phases["hotspots"]["p95_ms"], phases["zone_series_24h"]["p95_ms"])
    return worst <= TARGET_P95_MS


@contextmanager
def _serve(url: str, mqtt_url: str, workers: int) -> Iterator[str]:
    """``sharpeyes serve api`` with ``workers`` processes on the bench database, as it is
    deployed (its own process, apart from this one and the clients); yields its URL."""
    with tempfile.TemporaryDirectory(prefix="sharpeyes-bench-api-") as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
        env.update(SHARPEYES_DATABASE_URL=url, SHARPEYES_MQTT_URL=mqtt_url,
                   SHARPEYES_API_PORT="0", SHARPEYES_API_WORKERS=str(workers),
                   SHARPEYES_DATA_DIR=data)
        log_path = Path(data) / "serve.log"
        with log_path.open("w") as log_file:
            proc = subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "serve", "api"],
                                    env=env, stdout=log_file, stderr=subprocess.STDOUT)
            try:
                yield _wait_until_serving(proc, log_path)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)


def _wait_until_serving(proc: subprocess.Popen[bytes], log_path: Path,
                        timeout: float = 120) -> str:
    """The announced URL, once ``/health/live`` answers there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve api exited: {log_path.read_text()[-2000:]}")
        found = re.search(r"API listening on (http://[\d.]+:\d+)", log_path.read_text())
        if found:
            try:
                if httpx.get(f"{found[1]}/health/live", timeout=2).status_code == 200:
                    return found[1]
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    raise RuntimeError("serve api did not start in time")
