"""/health sees a stage that makes no progress: ingest failing to commit, a failing
periodic job, a scheduler lock nobody holds — not only whether threads are alive."""

from __future__ import annotations

import threading
import time

import psycopg
from fastapi.testclient import TestClient

from alerts.leader import LeaderLock
from contracts.topics import TopicKind, topic_for
from ingest.service import run_ingest
from kernel.progress import StageHealth
from kernel.settings import Settings
from sharpeyes.scheduler import Job, _leaderless, run_scheduler
from store import locks
from tests.helpers import density_payload, publish_all, wait_until


def test_stalled_and_failing_stages_are_reported() -> None:
    queue = [3]
    health = StageHealth("ingest", stall_after_s=0.2, waiting=lambda: queue[0])
    assert health.problem() is None
    time.sleep(0.3)
    assert "no progress: 3 waiting" in (health.problem() or "")
    health.progressed("commit")
    assert health.problem() is None
    health.failed("commit", "connection refused\nmore")
    assert (health.problem() or "").startswith("ingest commit failing for")
    health.progressed("commit")
    queue[0] = 0
    assert health.problem() is None


def test_ingest_that_cannot_commit_is_degraded(settings: Settings, mqtt_url: str) -> None:
    health = StageHealth("ingest")
    stop = threading.Event()
    unreachable = "postgresql://postgres@127.0.0.1:9/test?connect_timeout=1"
    thread = threading.Thread(target=run_ingest, args=(settings, unreachable, mqtt_url, stop,
                                                       health), daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        topic = topic_for(settings.topic_prefix, TopicKind.DENSITY, "CAM-A")
        publish_all(mqtt_url, [(topic, density_payload(1, "2026-11-22T08:00:00Z", {"Z-A": 1}))])
        problem = wait_until(health.problem, timeout=20, what="ingest to report its failure")
        assert "commit failing" in problem
    finally:
        stop.set()
        thread.join(timeout=20)


def test_failing_job_and_missing_leader_are_reported(db_url: str) -> None:
    health = StageHealth("scheduler")
    stop = threading.Event()

    def broken() -> None:
        raise RuntimeError("rollup refresh failed: division by zero")

    thread = threading.Thread(target=run_scheduler, args=(db_url, [Job("rollups", 0.2, broken)],
                                                          stop, 0.2, health), daemon=True)
    thread.start()
    try:
        problem = wait_until(lambda: "job rollups" in (health.problem() or "") and
                             health.problem(), timeout=20, what="the failing job to show")
        assert "job rollups failing" in str(problem) and "division by zero" in str(problem)
    finally:
        stop.set()
        thread.join(timeout=15)
    nobody = LeaderLock(db_url, key=locks.SCHEDULER)
    assert "no process holds the scheduler lock" in (_leaderless(db_url, nobody) or "")
    other = LeaderLock(db_url, key=locks.SCHEDULER)
    assert other.acquire()
    try:
        assert _leaderless(db_url, nobody) is None   # a standby beside a leader is fine
    finally:
        other.release()


def test_health_endpoint_degrades_with_the_reason(db_url: str, db: psycopg.Connection) -> None:
    from api.app import create_app
    from api.services import Services
    from store.db import create_pool

    health = StageHealth("ingest")
    health.failed("commit", "the database refused the batch")
    pool = create_pool(db_url, max_size=2, name="t")
    try:
        services = Services(settings=Settings(database_url=db_url), pool=pool,
                            jwt_secret="x" * 40, timescale=False,
                            probes={"ingest": health.problem})
        with TestClient(create_app(services)) as client:
            response = client.get("/health")
    finally:
        pool.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert "refused the batch" in body["components"]["ingest"]["detail"]
