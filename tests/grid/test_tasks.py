"""Dispatch and the task loop against the store: assignment, merging, every forbidden move."""

from __future__ import annotations

import psycopg
import pytest

from grid.actors import Actor, Role
from grid.dispatch import dispatch_pending
from grid.tasks import (
    TRANSITIONS,
    ActionInput,
    ActionNotAllowed,
    TaskNotFound,
    TransitionConflict,
    apply_action,
)
from tests.helpers import tiny_city

WORKER_A = Actor("P-wA", Role.WORKER, "C.SA", frozenset({"G-A"}))
WORKER_B = Actor("P-wB", Role.WORKER, "C.SB", frozenset({"G-B"}))
OPERATOR_A = Actor("P-opA", Role.OPERATOR, "C.SA")
OPERATOR_B = Actor("P-opB", Role.OPERATOR, "C.SB")


def fire_alert(db: psycopg.Connection, zone: str = "Z-A") -> int:
    row = db.execute(
        "INSERT INTO alerts (rule_id, zone_id, fingerprint, state, severity, value, pending_since,"
        " fired_at) VALUES (1, %s, md5(random()::text), 'firing', 'major', 4.5, now(), now())"
        " RETURNING id", (zone,)).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def task_id(db: psycopg.Connection) -> int:
    tiny_city(db)
    fire_alert(db)
    (item,) = dispatch_pending(db)
    return item.task_id


def test_a_firing_alert_becomes_a_task_for_the_worker_of_its_grid(
    db: psycopg.Connection, task_id: int
) -> None:
    task = db.execute("SELECT grid_code, state, assignee_id, discovered_by FROM tasks"
                      " WHERE id = %s", (task_id,)).fetchone()
    assert task == ("G-A", "dispatched", "P-wA", "camera:CAM-A")
    events = db.execute("SELECT actor, action, from_state, to_state FROM task_events"
                        " WHERE task_id = %s ORDER BY id", (task_id,)).fetchall()
    assert events == [("camera:CAM-A", "report", None, "reported"),
                      ("system:dispatcher", "dispatch", "reported", "dispatched")]
    assert dispatch_pending(db) == []  # nothing is dispatched twice


def test_a_second_alert_for_the_same_place_is_merged(db: psycopg.Connection, task_id: int) -> None:
    second = fire_alert(db)
    (item,) = dispatch_pending(db)
    assert item.merged and item.task_id == task_id
    assert db.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
    assert db.execute("SELECT task_id FROM alerts WHERE id = %s", (second,)).fetchone() == (
        task_id,)


def test_a_grid_with_nobody_on_duty_leaves_the_task_reported(db: psycopg.Connection) -> None:
    tiny_city(db)
    db.execute("UPDATE grid_members SET on_duty = false")
    fire_alert(db)
    (item,) = dispatch_pending(db)
    assert item.assignee_id is None
    assert db.execute("SELECT state FROM tasks").fetchone() == ("reported",)


def test_the_whole_loop_and_its_audit_trail(db: psycopg.Connection, task_id: int) -> None:
    apply_action(db, task_id, WORKER_A, "accept")
    apply_action(db, task_id, WORKER_A, "resolve", ActionInput(note="crowd dispersed"))
    closed = apply_action(db, task_id, OPERATOR_A, "close", ActionInput(rating=5))
    assert (closed["state"], closed["rating"]) == ("closed", 5)
    assert closed["closed_at"] is not None
    trail = db.execute("SELECT actor, action, to_state FROM task_events WHERE task_id = %s"
                       " ORDER BY id", (task_id,)).fetchall()
    assert trail[2:] == [("person:P-wA", "accept", "handling"),
                         ("person:P-wA", "resolve", "follow_up"),
                         ("person:P-opA", "close", "closed")]


@pytest.mark.parametrize(("actor", "action", "error", "says"), [
    (WORKER_A, "close", ActionNotAllowed, "not worker"),
    (OPERATOR_A, "accept", ActionNotAllowed, "not operator"),
    (WORKER_A, "resolve", TransitionConflict, "dispatched"),
    (WORKER_A, "reject", TransitionConflict, "reason"),
    (WORKER_A, "fly", TransitionConflict, "unknown action"),
    (OPERATOR_A, "cancel", TransitionConflict, "reason"),
    (WORKER_B, "accept", TaskNotFound, "outside your scope"),
    (OPERATOR_B, "cancel", TaskNotFound, "outside your scope"),
])
def test_forbidden_moves_say_why(task_id: int, db: psycopg.Connection, actor: Actor,
                                 action: str, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        apply_action(db, task_id, actor, action)
    assert db.execute("SELECT state FROM tasks WHERE id = %s", (task_id,)).fetchone() == (
        "dispatched",)


def test_every_action_is_refused_from_a_state_it_does_not_apply_to(
    db: psycopg.Connection, task_id: int
) -> None:
    apply_action(db, task_id, OPERATOR_A, "cancel", ActionInput(note="false alarm"))
    for action, rule in TRANSITIONS.items():
        actor = WORKER_A if Role.WORKER in rule.roles else OPERATOR_A
        with pytest.raises(TransitionConflict, match="cannot"):
            apply_action(db, task_id, actor, action, ActionInput(note="x"))


def test_the_discoverer_cannot_close(db: psycopg.Connection, task_id: int) -> None:
    db.execute("UPDATE tasks SET discovered_by = 'person:P-opA', state = 'follow_up'")
    with pytest.raises(TransitionConflict, match="采办分离"):
        apply_action(db, task_id, OPERATOR_A, "close")


def test_task_events_are_append_only(db: psycopg.Connection, task_id: int) -> None:
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("UPDATE task_events SET note = 'rewritten'")
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute("DELETE FROM task_events")
