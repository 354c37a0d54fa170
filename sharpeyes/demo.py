"""``sharpeyes demo``: the whole system on the embedded defaults with a sample city and a surge."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import platformdirs
import psycopg
from psycopg.rows import dict_row

from grid.dispatch import likely_assignee
from grid.visibility import subtree_sql
from sharpeyes.components import start
from sharpeyes.runtime import Runtime
from simulators.camera import load_cameras, run_fleet
from simulators.city import demo_city
from simulators.scenario import OrdinaryDay, Scenario, Surge
from simulators.seed import seed_city
from simulators.video_camera import CAMERA_ID as VIDEO_CAMERA
from simulators.video_camera import register_camera, rendered_clip

log = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class SurgeSite:
    zone_id: str
    zone_name: str
    place_name: str
    worker: str
    operator: str | None


def pick_surge_site(conn: psycopg.Connection[Any]) -> SurgeSite:
    """A square's zone whose grid has an on-duty worker, the person the dispatcher would
    send its task to, and its street centre's operator."""
    row = conn.cursor(row_factory=dict_row).execute(
        f"""
        SELECT z.id, z.name, p.name AS place, w.username AS worker,
               (SELECT o.username FROM people o JOIN regions s ON s.id = o.region_id
                WHERE o.role = 'operator' AND s.level = 'street'
                  AND {subtree_sql("r.path", "s.path")} ORDER BY o.id LIMIT 1) AS operator
        FROM zones z JOIN places p ON p.id = z.place_id
        JOIN grids g ON g.code = z.grid_code JOIN regions r ON r.id = g.region_id
        JOIN grid_members m ON m.grid_code = z.grid_code AND m.duty = 'worker' AND m.on_duty
        JOIN people w ON w.id = m.person_id
        ORDER BY (p.kind = 'square') DESC, z.id, w.id LIMIT 1
        """
    ).fetchone()
    if row is None:
        raise RuntimeError("the sample city has no zone with an on-duty worker")
    return SurgeSite(row["id"], row["name"], row["place"], _receiver(conn, row["id"]),
                     row["operator"])


def _receiver(conn: psycopg.Connection[Any], zone_id: str) -> str:
    """The username the dispatcher would send the zone's task to: the printed worker is
    the one who receives it, on a first run and on every later one."""
    cur = conn.cursor(row_factory=dict_row)
    zone = cur.execute("SELECT grid_code FROM zones WHERE id = %s", (zone_id,)).fetchone()
    person = likely_assignee(cur, zone["grid_code"]) if zone else None
    name = cur.execute("SELECT username FROM people WHERE id = %s", (person,)).fetchone()
    if name is None:
        raise RuntimeError(f"nobody on duty would receive a task in zone {zone_id}")
    return str(name["username"])


def _progress(rt: Runtime, out: TextIO, stop: threading.Event, every: float = 10.0) -> None:
    with psycopg.connect(rt.database_url, autocommit=True) as conn:
        while not stop.wait(every):
            row = conn.execute(
                "SELECT (SELECT coalesce(sum(value), 0) FROM service_counters"
                "        WHERE name = 'ingest_messages_total'),"
                " (SELECT count(*) FROM alerts WHERE state = 'firing'),"
                " (SELECT count(*) FROM tasks WHERE state NOT IN ('closed','merged','cancelled'))"
            ).fetchone()
            assert row is not None
            out.write(f"[demo] messages stored {row[0]}, alerts firing {row[1]}, "
                      f"open tasks {row[2]}\n")
            out.flush()


def run_demo(rt: Runtime, out: TextIO, duration: float | None, surge_after: float = 15.0) -> None:
    """Start everything, print where to look, run until stopped or ``duration`` passes."""
    out.write("[demo] starting PostgreSQL and the MQTT broker...\n")
    rt.open_store()
    rt.open_broker()
    rt.migrate()
    with psycopg.connect(rt.database_url) as conn:
        summary = seed_city(conn, demo_city())
        site = pick_surge_site(conn)
        cameras = [c for c in load_cameras(conn) if c.device_id != VIDEO_CAMERA]
    out.write(f"[demo] sample city {'loaded' if summary.created else 'already loaded'}; "
              f"{len(cameras)} simulated cameras\n")
    api = start(rt, ("ingest", "alerts", "dispatcher", "scheduler", "api"))
    assert api is not None
    scenario = Scenario(OrdinaryDay(), (Surge(site.zone_id, start=surge_after),))
    address, secret = rt.device_address(), rt.device_secret()   # each device its account
    rt.spawn("simulators", lambda stop: run_fleet(cameras, address, rt.settings.topic_prefix,
                                                  scenario.density, stop, secret=secret))
    rt.spawn("progress", lambda stop: _progress(rt, out, stop))
    rt.spawn("video camera", lambda stop: _start_video_camera(rt, out, site, stop))
    _print_welcome(out, api.url, rt, site, surge_after)
    rt.wait(duration)


def _start_video_camera(rt: Runtime, out: TextIO, site: SurgeSite, stop: threading.Event) -> None:
    """Render the demo clip (first run only), register its camera beside the surge site's
    grid, and start the video analyser on it; the other cameras stay simulated."""
    out.write("[demo] preparing a rendered plaza camera for the video analyser"
              " (the first run renders its clip: about 20 s)...\n")
    out.flush()
    clip = rendered_clip(Path(platformdirs.user_cache_dir("sharpeyes", appauthor=False)))
    if stop.is_set():
        return
    with psycopg.connect(rt.database_url) as conn:
        grid, place = _video_camera_site(conn, site)
        zones = register_camera(conn, clip, grid, place)
    start(rt, ("video",))
    out.write(f"[demo] video analysis running on {VIDEO_CAMERA} (zones {', '.join(zones)});"
              " its occupancy heatmap is under Reports\n")
    out.flush()


def _video_camera_site(conn: psycopg.Connection[Any], site: SurgeSite) -> tuple[str, str | None]:
    """A grid other than the surge site's (its alerts and tasks stay apart), with a place."""
    row = conn.execute(
        "SELECT z.grid_code, z.place_id FROM zones z, zones s WHERE s.id = %s"
        " AND z.grid_code <> s.grid_code AND z.place_id IS NOT NULL AND z.device_id <> %s"
        " ORDER BY z.id LIMIT 1", (site.zone_id, VIDEO_CAMERA)).fetchone()
    if row is None:
        raise RuntimeError("the sample city has only one grid with cameras")
    return row[0], row[1]


def _device_url(rt: Runtime) -> str:
    """Where a real camera or sensor connects; never a URL with a password in it."""
    address = rt.device_address()
    return f"mqtt{'s' if address.tls else ''}://{address.host}:{address.port}"


def _print_welcome(out: TextIO, url: str, rt: Runtime, site: SurgeSite, surge_after: float) -> None:
    out.write(
        f"\n  Dashboard and API: {url}/        (OpenAPI: {url}/docs)\n"
        f"  Database: {rt.database_url}\n"
        f"  Devices:  {_device_url(rt)}  (username = device id; password: "
        f"sharpeyes broker password <device id> --embedded)\n\n"
        f"  Demo logins (password 'demo' for every demo account):\n"
        f"    admin           the city administrator\n"
        f"    {site.operator or 'admin':<15} duty officer of the street centre\n"
        f"    {site.worker:<15} grid worker of {site.place_name}\n\n"
        f"  In {surge_after:.0f}s a crowd builds up in '{site.zone_name}' at "
        f"{site.place_name}; an alert fires and a task reaches {site.worker}.\n"
        f"  Log in as the worker to accept and resolve it, then as the duty officer to close it.\n"
        f"  Ctrl-C stops everything.\n\n"
    )
    out.flush()
