"""The loop's worker and centre actions, deadlines, escalation and KPIs, on the real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from grid.actors import Actor, Role
from grid.deadlines import start_missing_clocks
from grid.dispatch import dispatch_pending
from grid.escalation import escalate_overdue
from grid.kpi import GroupBy, Period, kpis, ranking
from grid.tasks import ActionInput, TransitionConflict, apply_action
from tests.helpers import three_tier_city

WORKER_A = Actor("P-wA", Role.WORKER, "C.D.SA", frozenset({"G-A"}))
WORKER_B = Actor("P-wB", Role.WORKER, "C.D.SB", frozenset({"G-B"}))
OP_A = Actor("P-opA", Role.OPERATOR, "C.D.SA")
OP_D = Actor("P-opD", Role.OPERATOR, "C.D")


def new_task(db: psycopg.Connection, zone: str = "Z-A") -> int:
    db.execute(
        "INSERT INTO alerts (rule_id, zone_id, fingerprint, state, severity, value, pending_since,"
        " fired_at) VALUES (1, %s, md5(random()::text), 'firing', 'major', 4.5, now(), now())",
        (zone,))
    task_id = dispatch_pending(db)[0].task_id
    start_missing_clocks(db)  # a no-op once the dispatcher starts the clock itself
    return task_id


@pytest.fixture
def city(db: psycopg.Connection) -> psycopg.Connection:
    three_tier_city(db)
    return db


def task(db: psycopg.Connection, task_id: int) -> dict[str, object]:
    row = db.cursor(row_factory=psycopg.rows.dict_row).execute(
        "SELECT * FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert row is not None
    return row


def test_each_phase_starts_its_own_deadline(city: psycopg.Connection) -> None:
    task_id = new_task(city)
    dispatched = task(city, task_id)
    assert dispatched["due_kind"] == "accept"  # 600 s for major tasks by default
    window = dispatched["due_at"] - dispatched["updated_at"]  # type: ignore[operator]
    assert timedelta(seconds=595) < window < timedelta(seconds=605)
    apply_action(city, task_id, WORKER_A, "accept")
    assert task(city, task_id)["due_kind"] == "arrive"
    apply_action(city, task_id, WORKER_A, "arrive", ActionInput(lon=114.06, lat=22.55))
    on_site = task(city, task_id)
    assert (on_site["due_kind"], on_site["arrived_lon"]) == ("resolve", 114.06)
    apply_action(city, task_id, WORKER_A, "resolve")
    assert task(city, task_id)["due_at"] is None
    events = city.execute("SELECT action, evidence->>'on_time' FROM task_events"
                          " WHERE task_id = %s AND evidence ? 'on_time' ORDER BY id",
                          (task_id,)).fetchall()
    assert events == [("accept", "true"), ("arrive", "true"), ("resolve", "true")]


def test_worker_and_centre_actions(city: psycopg.Connection) -> None:
    task_id = new_task(city)
    apply_action(city, task_id, WORKER_A, "accept")
    with pytest.raises(TransitionConflict, match="both lon and lat"):
        apply_action(city, task_id, WORKER_A, "arrive", ActionInput(lon=1.0))
    apply_action(city, task_id, WORKER_A, "arrive")
    with pytest.raises(TransitionConflict, match="already recorded"):
        apply_action(city, task_id, WORKER_A, "arrive")
    apply_action(city, task_id, WORKER_A, "report", ActionInput(note="crowd thinning"))
    apply_action(city, task_id, WORKER_A, "help", ActionInput(note="need two more people"))
    apply_action(city, task_id, WORKER_A, "resolve")
    apply_action(city, task_id, OP_A, "follow_up", ActionInput(note="visited at 18:00, calm"))
    apply_action(city, task_id, OP_A, "close", ActionInput(rating=4, note="well handled"))
    apply_action(city, task_id, OP_A, "feedback", ActionInput(satisfaction=5))
    actions = [r[0] for r in city.execute("SELECT action FROM task_events WHERE task_id = %s"
                                          " ORDER BY id", (task_id,))]
    assert actions[2:] == ["accept", "arrive", "report", "help", "resolve", "follow_up",
                           "close", "feedback"]
    assert city.execute("SELECT satisfaction FROM task_feedback").fetchone() == (5,)


def test_reject_then_redispatch_and_reassign(city: psycopg.Connection) -> None:
    task_id = new_task(city)
    apply_action(city, task_id, WORKER_A, "reject", ActionInput(note="off sick"))
    with pytest.raises(TransitionConflict, match="not an active grid worker in your region"):
        apply_action(city, task_id, OP_A, "dispatch", ActionInput(assignee_id="P-wB"))
    apply_action(city, task_id, OP_D, "dispatch", ActionInput(assignee_id="P-wB"))
    assert (task(city, task_id)["state"], task(city, task_id)["assignee_id"]) == (
        "dispatched", "P-wB")
    apply_action(city, task_id, OP_D, "reassign", ActionInput(assignee_id="P-wA"))
    apply_action(city, task_id, WORKER_A, "accept")
    assert task(city, task_id)["state"] == "handling"


def test_merge_keeps_one_task_per_place(city: psycopg.Connection) -> None:
    first = new_task(city)
    city.execute("INSERT INTO tasks (zone_id, grid_code, category, severity, title, state,"
                 " discovered_by) VALUES ('Z-A', 'G-A', 'crowd_density', 'major', 'dup',"
                 " 'reported', 'person:P-wA') RETURNING id")
    duplicate = int(city.execute("SELECT max(id) FROM tasks").fetchone()[0])  # type: ignore[index]
    other = new_task(city, "Z-B")
    with pytest.raises(TransitionConflict, match="another place"):
        apply_action(city, duplicate, OP_D, "merge", ActionInput(merge_into=other))
    apply_action(city, duplicate, OP_A, "merge", ActionInput(merge_into=first))
    assert (task(city, duplicate)["state"], task(city, duplicate)["merged_into"]) == (
        "merged", first)


def test_overdue_tasks_escalate_one_tier_per_missed_deadline(city: psycopg.Connection) -> None:
    task_id = new_task(city)
    due = task(city, task_id)["due_at"]
    assert escalate_overdue(city, due - timedelta(seconds=1)) == []  # type: ignore[operator]
    (first,) = escalate_overdue(city, due + timedelta(seconds=1))  # type: ignore[operator]
    assert (first.to_tier, first.region_id, first.supervisors) == ("district", "D", ("P-opD",))
    assert escalate_overdue(city, due + timedelta(seconds=2)) == []  # new clock at the new tier
    later = task(city, task_id)["due_at"] + timedelta(seconds=1)  # type: ignore[operator]
    (second,) = escalate_overdue(city, later)
    assert (second.to_tier, second.region_id) == ("city", "C")
    assert escalate_overdue(city, later + timedelta(days=1)) == []  # the city is the top
    rows = city.execute("SELECT from_tier, to_tier, notified FROM task_escalations"
                        " ORDER BY id").fetchall()
    assert rows == [("street", "district", ["P-opD"]), ("district", "city", ["P-opC"])]


def test_kpis_match_a_hand_computed_scenario(city: psycopg.Connection) -> None:
    """Three tasks for w-a: accepted after 60 s (on time) and 900 s (late), one never."""
    start = datetime.now(UTC) - timedelta(hours=1)
    for i, (accept_after, rating) in enumerate([(60, 5), (900, 3), (None, None)]):
        created = start + timedelta(minutes=i)
        accepted = created + timedelta(seconds=accept_after) if accept_after else None
        row = city.execute(
            "INSERT INTO tasks (zone_id, grid_code, category, severity, title, state,"
            " discovered_by, assignee_id, created_at, accepted_at, resolved_at, rating, tier)"
            " VALUES ('Z-A', 'G-A', 'crowd_density', 'major', 't', %s, 'camera:CAM-A', 'P-wA',"
            " %s, %s, %s, %s, %s) RETURNING id",
            ("closed" if accepted else "dispatched", created, accepted,
             accepted + timedelta(seconds=600) if accepted else None, rating,
             "street" if i == 0 else "district")).fetchone()
        if accept_after:
            city.execute("INSERT INTO task_events (task_id, actor, action, to_state, evidence)"
                         " VALUES (%s, 'person:P-wA', 'accept', 'handling', %s)",
                         (row[0], psycopg.types.json.Jsonb({"on_time": accept_after < 600})))
    (row,) = kpis(city, GroupBy.WORKER, Period(start, datetime.now(UTC)), sql.SQL("TRUE"), {})
    assert (row["key"], row["received"], row["accepted"], row["accepted_on_time"]) == (
        "P-wA", 3, 2, 1)
    assert row["accept_p50_s"] == pytest.approx(480)        # median of 60 and 900
    assert row["accept_p90_s"] == pytest.approx(816)        # 60 + 0.9 × 840
    assert row["resolve_p50_s"] == pytest.approx(1080)      # (660 + 1500) / 2
    assert row["lowest_tier_share"] == pytest.approx(0.5)   # 1 of 2 closed at street
    assert row["rating"] == pytest.approx(4.0)
    assert [r["rank"] for r in ranking([row])] == [1]


def test_a_rejected_task_goes_to_someone_else_and_the_clock_starts_at_dispatch(
    city: psycopg.Connection
) -> None:
    city.execute("INSERT INTO grid_members VALUES ('G-A', 'P-wB', 'worker', true)")
    task_id = new_task(city)
    assert task(city, task_id)["due_kind"] == "accept"
    first = task(city, task_id)["assignee_id"]
    apply_action(city, task_id, Actor(str(first), Role.WORKER, None, frozenset({"G-A"})),
                 "reject", ActionInput(note="another incident"))
    (again,) = dispatch_pending(city)
    assert again.task_id == task_id and again.assignee_id not in (None, first)
    redone = task(city, task_id)
    assert (redone["state"], redone["due_kind"]) == ("dispatched", "accept")


def test_nobody_on_duty_falls_back_to_the_leader_then_a_neighbouring_grid(
    city: psycopg.Connection
) -> None:
    city.execute("UPDATE grids SET min_lon = 1, max_lon = 2 WHERE code = 'G-B'")  # touches G-A
    city.execute("INSERT INTO people (id, username, display_name, role, password_hash)"
                 " SELECT 'P-lead', 'lead', 'Leader', 'worker', password_hash FROM people"
                 " WHERE id = 'P-wA'")
    city.execute("INSERT INTO grid_members VALUES ('G-A', 'P-lead', 'leader', true)")
    city.execute("UPDATE grid_members SET on_duty = false WHERE person_id = 'P-wA'")
    assert task(city, new_task(city))["assignee_id"] == "P-lead"
    city.execute("UPDATE grid_members SET on_duty = false WHERE person_id = 'P-lead'")
    city.execute("UPDATE tasks SET state = 'cancelled'")
    assert task(city, new_task(city))["assignee_id"] == "P-wB"  # the neighbour's worker
