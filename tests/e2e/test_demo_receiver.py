"""The worker the demo prints is the one its surge's task is dispatched to, on any run."""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from grid.dispatch import likely_assignee
from sharpeyes.demo import pick_surge_site
from simulators.city import demo_city
from simulators.seed import seed_city


def _grid_workers(conn: psycopg.Connection, zone_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT p.username FROM zones z JOIN grid_members m ON m.grid_code = z.grid_code"
        " JOIN people p ON p.id = m.person_id"
        " WHERE z.id = %s AND m.duty = 'worker' AND m.on_duty ORDER BY p.id", (zone_id,))
    return [r[0] for r in rows]


def test_the_printed_worker_follows_the_dispatchers_rule(db: psycopg.Connection) -> None:
    seed_city(db, demo_city())
    first = pick_surge_site(db)
    workers = _grid_workers(db, first.zone_id)
    assert len(workers) >= 2, "the demo's surge grid needs two workers for this test"
    assert first.worker == workers[0]            # a fresh city: the first worker, no load
    # A later run: the first worker still carries an open task from the last one, so the
    # dispatcher (fewest open tasks) picks the next; the demo must print that one.
    db.execute(
        "INSERT INTO tasks (zone_id, grid_code, category, severity, title, state,"
        " discovered_by, assignee_id)"
        " SELECT z.id, z.grid_code, 'crowd_density', 'major', 'left over', 'handling',"
        "        'camera:CAM-X', p.id FROM zones z, people p"
        " WHERE z.id = %s AND p.username = %s", (first.zone_id, first.worker))
    again = pick_surge_site(db)
    assert again.zone_id == first.zone_id and again.worker != first.worker
    cur = db.cursor(row_factory=dict_row)
    grid = cur.execute("SELECT grid_code FROM zones WHERE id = %s",
                       (again.zone_id,)).fetchone()
    assert grid is not None
    person = likely_assignee(cur, grid["grid_code"])
    chosen = cur.execute("SELECT username FROM people WHERE id = %s", (person,)).fetchone()
    assert chosen is not None and chosen["username"] == again.worker
