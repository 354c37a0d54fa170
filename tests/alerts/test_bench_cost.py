"""The benches' cost meter (:mod:`sharpeyes.benches.cost`): per-stage CPU over a window,
read from this process's threads and from the real PostgreSQL server's processes."""

from __future__ import annotations

import threading
import time

import psycopg

from sharpeyes.benches.cost import CostMeter, named, postgres, threads


def _burn(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_stage_counts_its_own_threads_and_the_machine_counts_the_rest() -> None:
    meter = CostMeter().add("busy", threads(named("cost-busy"))).add(
        "idle", threads(named("cost-idle")))
    stop = threading.Event()
    idle = threading.Thread(target=stop.wait, name="cost-idle")
    idle.start()
    meter.start()
    busy = threading.Thread(target=_burn, args=(0.3,), name="cost-busy")
    busy.start()  # born and gone inside the window: no stage sees it
    busy.join(timeout=10)
    time.sleep(0.05)
    meter.stop()
    stop.set()
    idle.join()
    seconds = meter.seconds()
    report = meter.report(messages=2000)
    assert seconds["idle"] < 0.05
    assert report["stages"]["idle"]["cpu_s_per_1k_msgs"] < 0.03
    assert report["machine"]["cpus"] >= 1 and "saturated" in report["machine"]
    assert report["machine"]["busy_cpu_s"] >= 0.25
    assert report["machine"]["unaccounted_cpu_s"] >= 0.2  # the machine saw it busy


def test_a_living_thread_and_self_measured_seconds_are_counted_per_1k_messages() -> None:
    meter = CostMeter().add("busy", threads(named("cost-live")))
    ready, done = threading.Event(), threading.Event()

    def work() -> None:
        ready.wait()
        _burn(0.3)
        done.wait()

    worker = threading.Thread(target=work, name="cost-live")
    worker.start()
    meter.start()
    ready.set()
    time.sleep(0.5)
    meter.stop()
    done.set()
    worker.join()
    meter.add_seconds("publishers", 1.5)
    stages = meter.report(messages=3000)["stages"]
    assert 0.25 <= stages["busy"]["cpu_s"] <= 0.6
    assert stages["busy"]["cpu_s_per_1k_msgs"] == round(stages["busy"]["cpu_s"] / 3, 4)
    assert stages["publishers"]["cpu_s_per_1k_msgs"] == 0.5


def test_the_database_stage_counts_the_server_working_for_this_database(db_url: str) -> None:
    meter = CostMeter().add("database", postgres(db_url))
    with psycopg.connect(db_url, autocommit=True) as conn:
        meter.start()
        conn.execute("SELECT count(*) FROM generate_series(1, 3000000)")
        meter.stop()
    stage = meter.report(messages=1000)["stages"]["database"]
    assert stage["units"] >= 2  # the postmaster, its helpers and this session's backend
    assert stage["cpu_s"] >= 0.1
