"""`sharpeyes serve api` with several worker processes on one socket (sharpeyes.api_workers)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psycopg

from tests.helpers import wait_until


def _workers(parent: int) -> set[int]:
    """uvicorn's worker processes under ``parent`` (not multiprocessing's tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _listening_url(proc: subprocess.Popen[str],
                   timeout: float = 60) -> tuple[str, threading.Thread]:
    """The address the API announces, and the thread reading its output to the end."""
    url: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"API listening on (http://[\d.]+:\d+)", line)
            if match and not url:
                url.append(match[1])

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_until(lambda: bool(url), timeout=timeout, what="the API to announce its address")
    return url[0], reader


def test_two_workers_serve_one_port_restart_and_sum_their_metrics(
    db_url: str, mqtt_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
    env.update(SHARPEYES_DATABASE_URL=db_url, SHARPEYES_MQTT_URL=mqtt_url,
               SHARPEYES_API_WORKERS="2", SHARPEYES_API_PORT="0",
               SHARPEYES_DATA_DIR=str(tmp_path / "data"),
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    proc = subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "serve", "api"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reader: threading.Thread | None = None
    try:
        url, reader = _listening_url(proc)
        wait_until(lambda: len(_workers(proc.pid)) == 2, timeout=60, what="two workers")
        made = 0

        def healthy() -> bool:
            nonlocal made
            made += 1
            try:
                return httpx.get(f"{url}/health", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, what="the workers to answer")
        for _ in range(200):  # a new connection each: the kernel hands them to either
            assert healthy()
        # Each worker keeps its samples in its own file; /metrics adds them all up.
        assert len(list(metrics_dir.glob("histogram_*.db"))) == 2
        text = httpx.get(f"{url}/metrics", timeout=5).text
        counted = re.search(r'sharpeyes_api_request_duration_seconds_count\{method="GET",'
                            r'route="/health",status="2xx"\} ([\d.]+)', text)
        assert counted is not None and float(counted[1]) == made

        victim = min(_workers(proc.pid))
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(_workers(proc.pid) - {victim}) == 2, timeout=60,
                   what="the supervisor to replace the killed worker")
        wait_until(healthy, timeout=30, what="the API to answer after the restart")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        if reader is not None:
            reader.join(timeout=5)  # it ends at the end of the output
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 0
    assert _workers(proc.pid) == set()
