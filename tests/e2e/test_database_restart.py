"""The scheduler rides out a PostgreSQL restart: jobs pause while the database is away,
leadership is regained, and the jobs run again; the process keeps running (before this,
the leader lock's reconnect raised and stopped ``serve all`` and the demo)."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg

from sharpeyes.embedded import EmbeddedPostgres
from sharpeyes.scheduler import Job, run_scheduler
from tests.helpers import wait_until


def test_scheduler_survives_a_database_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    runs: list[bool] = []
    lock = threading.Lock()

    def job() -> None:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        with lock:
            runs.append(True)

    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler,
                              args=(url, [Job("probe", 0.2, job)], stop, 0.2), daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(runs) >= 3, timeout=20, what="the job to run as leader")
        server.stop()
        stop.wait(2.0)
        assert thread.is_alive()
        before = len(runs)
        server.start()
        wait_until(lambda: len(runs) >= before + 3, timeout=30,
                   what="the job to run again after the restart")
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=15)
        server.stop()
    assert not thread.is_alive()
