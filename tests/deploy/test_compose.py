"""deploy/compose.yaml, its Dockerfile and its Mosquitto configuration, validated offline.

No container engine runs here, so: the compose-spec JSON schema (as shipped by the
``dclint`` npm package) checks the interpolated file, dclint lints it, the official
Dockerfile parser (PyPI ``dockerfile``) reads the Dockerfile, and the real ``mosquitto``
binary starts with the shipped broker configuration.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kernel.netutil import free_port, wait_for_port
from tests.deploy.conftest import (
    COMPOSE_FILE,
    DEPLOY,
    REPO,
    MissingVariable,
    interpolate,
    shipped_mosquitto_conf,
)
from tests.helpers import wait_until

ONE_SHOT = {"migrate", "broker-acl"}
# Style rules whose order (alphabetical keys and services) would hide the start-up order
# the file is written in; the port-interface rule cannot see through ${...}, so
# test_ports_name_their_interface checks it on the interpolated file instead.
DCLINT_OFF = ["service-keys-order", "services-alphabetical-order",
              "top-level-properties-order", "no-unbound-port-interfaces"]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = config["services"]
    return services


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return dict(env) if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


# --- schema and lint -----------------------------------------------------------------------

def test_compose_file_matches_the_compose_spec_schema(
        dclint: Path, compose_config: dict[str, Any]) -> None:
    schema = json.loads((dclint / "schemas" / "compose.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(compose_config)]
    assert errors == []


def test_the_schema_catches_mistakes(dclint: Path, compose_config: dict[str, Any]) -> None:
    """The schema check is not vacuous: a misspelt key and a bad condition fail it."""
    schema = json.loads((dclint / "schemas" / "compose.schema.json").read_text())
    broken = json.loads(json.dumps(compose_config))
    broken["services"]["api"]["helthcheck"] = broken["services"]["api"].pop("healthcheck")
    broken["services"]["mosquitto"]["depends_on"]["broker-acl"]["condition"] = "done"
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_dclint_finds_no_problem(dclint: Path) -> None:
    result = subprocess.run(
        ["node", str(dclint / "bin" / "dclint.cjs"), str(COMPOSE_FILE), "--color", "false",
         "--max-warnings", "0", "--disable-rule", *DCLINT_OFF],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_variable_is_in_the_example(compose_raw: dict[str, Any]) -> None:
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE_FILE.read_text()))
    assert required >= {"POSTGRES_PASSWORD", "SHARPEYES_JWT_SECRET", "SHARPEYES_BROKER_SECRET"}
    with pytest.raises(MissingVariable):
        interpolate(compose_raw, {})


# --- topology -------------------------------------------------------------------------------

def test_topology(compose_config: dict[str, Any]) -> None:
    services = _services(compose_config)
    commands = {name: s.get("command") for name, s in services.items()}
    ingest = [n for n, c in commands.items() if c == ["serve", "ingest"]]
    video = [n for n, c in commands.items() if c == ["serve", "video"]]
    alerts = [n for n, c in commands.items() if c == ["serve", "alerts"]]
    assert len(ingest) == 2 and len(alerts) == 2 and len(video) == 2
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert services["api"]["deploy"]["replicas"] == 2
    # Ingest replicas: one shared subscription group, distinct persistent sessions.
    envs = [_env(services[n]) for n in ingest]
    # Static partitions, not $share: lossless on Mosquitto 2.0 across broker restarts.
    assert {e["SHARPEYES_INGEST_SHARED"] for e in envs} == {"false"}
    assert sorted(e["SHARPEYES_INGEST_PARTITION"] for e in envs) == ["0/2", "1/2"]
    assert len({e["SHARPEYES_INGEST_CLIENT_ID"] for e in envs}) == 2
    # Video: every shard of the count exactly once.
    shards = [_env(services[n]) for n in video]
    count = {int(e["SHARPEYES_VIDEO_SHARD_COUNT"]) for e in shards}
    assert count == {len(video)}
    assert sorted(int(e["SHARPEYES_VIDEO_SHARD_INDEX"]) for e in shards) == list(range(len(video)))


def test_services_have_health_checks_restart_policies_and_dependencies(
        compose_config: dict[str, Any]) -> None:
    services = _services(compose_config)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            continue
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    for name, service in services.items():
        healthy = [d for d, c in service.get("depends_on", {}).items()
                   if c["condition"] == "service_healthy"]
        assert all("healthcheck" in services[d] for d in healthy), name
        done = [d for d, c in service.get("depends_on", {}).items()
                if c["condition"] == "service_completed_successfully"]
        assert set(done) <= ONE_SHOT, name


def test_volumes_and_mounted_files_exist(compose_config: dict[str, Any]) -> None:
    declared = set(compose_config["volumes"])
    used: set[str] = set()
    for service in _services(compose_config).values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), source
            else:
                used.add(source)
    assert used == declared
    build = _services(compose_config)["api"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_ports_name_their_interface(compose_config: dict[str, Any]) -> None:
    for name, service in _services(compose_config).items():
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+:\d+(-\d+)?:\d+", port), (name, port)


# --- image ----------------------------------------------------------------------------------

def test_dockerfile_builds_the_package_as_a_non_root_user() -> None:
    dockerfile = pytest.importorskip("dockerfile")
    commands = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    stages = [c for c in commands if c.cmd == "FROM"]
    assert len(stages) >= 2, "multi-stage build"
    final = commands[[i for i, c in enumerate(commands) if c.cmd == "FROM"][-1]:]
    users = [c.value[0] for c in final if c.cmd == "USER"]
    assert users and not users[-1].startswith(("0", "root"))
    copied = {c.value[0] for c in commands if c.cmd == "COPY" and not c.flags}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"packages not copied into the image: {packages - copied}"
    for command in commands:
        if command.cmd == "COPY" and not any(f.startswith("--from") for f in command.flags):
            for source in command.value[:-1]:
                assert (REPO / source).exists(), source
    dependencies = project["project"]["dependencies"]
    assert any(d.startswith("opencv-python-headless") for d in dependencies)
    assert not any(re.match(r"opencv-(contrib-)?python[<>=\s]|opencv-python$", d)
                   for d in dependencies)


def test_entrypoint_derives_the_broker_url(tmp_path: Path) -> None:
    stub = tmp_path / "sharpeyes"
    stub.write_text('#!/bin/sh\nif [ "$1" = broker ]; then echo "pw-for-$3"; exit; fi\n'
                    'echo "$SHARPEYES_MQTT_URL $*"\n')
    stub.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "MQTT_ACCOUNT": "sharpeyes-ingest",
           "MQTT_HOST": "mosquitto"}  # no MQTT_PORT: the services listener
    run = subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), "serve", "ingest"], env=env,
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == ("mqtt://sharpeyes-ingest:pw-for-sharpeyes-ingest@mosquitto:1884"
                                  " serve ingest")
    env["SHARPEYES_MQTT_URL"] = "mqtt://given:1883"  # an explicit URL wins
    run = subprocess.run(["sh", str(DEPLOY / "entrypoint.sh"), "serve", "api"], env=env,
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "mqtt://given:1883 serve api"


# --- broker configuration -------------------------------------------------------------------

@pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto is not installed")
def test_mosquitto_configuration_starts_and_guards_its_listeners(tmp_path: Path) -> None:
    """The shipped mosquitto.conf, with paths and ports moved, runs on the real binary."""
    main, services, probe = free_port(), free_port(), free_port()
    for directory in ("auth", "data", "config"):
        (tmp_path / directory).mkdir()
    for name in ("passwords", "services.passwords", "acl"):
        (tmp_path / "auth" / name).write_text("")
    shutil.copy(DEPLOY / "mosquitto" / "probe.acl", tmp_path / "config" / "probe.acl")
    (tmp_path / "mosquitto.conf").write_text(
        shipped_mosquitto_conf(tmp_path, main, services, probe))
    with (tmp_path / "log").open("wb") as log:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", probe, timeout=10)
        client = shutil.which("mosquitto_sub")
        if client is None:
            pytest.skip("mosquitto_sub is not installed")
        health = [client, "-h", "127.0.0.1", "-t", "$SYS/broker/uptime", "-C", "1", "-W", "3"]
        assert subprocess.run([*health, "-p", str(probe)], capture_output=True).returncode == 0
        # The device and services listeners refuse anonymous clients.
        for port in (main, services):
            refused = subprocess.run([*health, "-p", str(port)], capture_output=True, text=True)
            assert refused.returncode != 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0, (tmp_path / "log").read_text()


# --- container health check -----------------------------------------------------------------

def _healthcheck() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("healthcheck", DEPLOY / "healthcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_finds_the_server_port() -> None:
    port = _healthcheck()._port
    assert port("postgresql://u:p@timescaledb:6543/db") == 6543
    assert port("postgresql://u@timescaledb/db?sslmode=require") == 5432
    assert port("mqtts://broker") == 8883
    assert port("host=db port=6000 dbname=x") == 6000
    # A Unix socket has no TCP connection to look for.
    assert port("postgresql://postgres:@/postgres?host=/tmp/pg") == 0
    assert port("postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/db") == 0
    assert port("host=/var/run/postgresql dbname=x") == 0


def test_healthcheck_sees_established_connections(db_url: str, mqtt_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    from urllib.parse import urlsplit

    import psycopg

    healthcheck = _healthcheck()
    # A TCP connection shows in /proc/net/tcp while open, and not once closed.
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            assert port in healthcheck._established_remote_ports()
        wait_until(lambda: port not in healthcheck._established_remote_ports(), timeout=10,
                   what="the closed connection to leave the table")
    # A process connected to both servers is healthy: the database by its TCP port, or,
    # over a Unix socket (the embedded PostgreSQL), by the broker's connection alone.
    broker = urlsplit(mqtt_url)
    with monkeypatch.context() as patch, psycopg.connect(db_url) as conn, \
            socket.create_connection((broker.hostname, broker.port or 1883)):
        patch.setattr(healthcheck, "_serving", lambda _target: True)
        patch.setenv("SHARPEYES_DATABASE_URL", db_url)
        patch.setenv("SHARPEYES_MQTT_URL", mqtt_url)
        tcp = not conn.info.host.startswith("/")
        assert healthcheck._port(db_url) == (conn.info.port if tcp else 0)
        assert healthcheck.check_process("ingest") is None
        # A broker it holds no connection to: unhealthy, naming the port.
        with socket.create_server(("127.0.0.1", 0)) as unused:
            idle = unused.getsockname()[1]
            patch.setenv("SHARPEYES_MQTT_URL", f"mqtt://127.0.0.1:{idle}")
            assert healthcheck.check_process("ingest") == (
                f"no established connection to the mqtt (port {idle})")
    assert healthcheck.main(["healthcheck.py", "bogus"]) == 2
    # It finds the serving process by its command line (in a container, the only one).
    fake = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             "serve", "probe-target"])
    try:
        wait_until(lambda: healthcheck._serving("probe-target"), timeout=10,
                   what="the probe to see the process")
    finally:
        fake.kill()
        fake.wait()
    assert not healthcheck._serving("probe-target")
    # No serving process: unhealthy, and says why. (This machine may run other
    # `serve ingest` processes, which a container would not show the probe.)
    monkeypatch.setattr(healthcheck, "_serving", lambda _target: False)
    assert "no `sharpeyes serve ingest`" in healthcheck.check_process("ingest")


def test_healthcheck_reports_an_unhealthy_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    import threading

    class Degraded(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(503 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b'{"status": "degraded"}')

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Degraded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SHARPEYES_API_PORT", str(server.server_address[1]))
        problem = _healthcheck().check_api()
        assert problem is not None and "503" in problem
    finally:
        server.shutdown()
        server.server_close()
