"""Fixtures for the deployment tests: the compose file as Compose would read it, and the
npm-packaged validators (no container engine or cluster runs here).

``compose_config`` interpolates ``deploy/compose.yaml`` with ``deploy/.env.example`` the
way ``docker compose --env-file`` does (``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
``${VAR:?error}``, ``$$``), after YAML anchors and merge keys are resolved.
``dclint`` installs the pinned ``dclint`` npm package (a Compose linter that carries the
compose-spec JSON schema) into ``.cache/npm-deploy`` once.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"
NPM_CACHE = REPO / ".cache" / "npm-deploy"
DCLINT_VERSION = "3.1.0"

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


class MissingVariable(KeyError):
    """A ``${VAR:?message}`` whose variable is unset."""


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; comments and blank lines ignored (Compose's .env format)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute variables in every string of a loaded Compose document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if op in (":-", "-"):
            return env[name] if present else arg
        if op in (":?", "?") and not present:
            raise MissingVariable(f"{name}: {arg}")
        return env.get(name, "")

    return _VARIABLE.sub(substitute, value)


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="session")
def compose_config(compose_raw: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = interpolate(compose_raw, env_example)
    return config


def _dclint_installed() -> Path | None:
    package = NPM_CACHE / "node_modules" / "dclint"
    try:
        version = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return package if version == DCLINT_VERSION else None


@pytest.fixture(scope="session")
def dclint() -> Path:
    """The installed dclint package directory (installed with npm on first use)."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node/npm are missing: cannot install the compose-spec schema (dclint)")
    found = _dclint_installed()
    if found is not None:
        return found
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    with open(NPM_CACHE / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _dclint_installed() is None:
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NPM_CACHE),
                 f"dclint@{DCLINT_VERSION}"],
                check=True, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    found = _dclint_installed()
    assert found is not None, "npm installed dclint but its version does not match"
    return found


def k8s_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="session")
def k8s_resources() -> list[dict[str, Any]]:
    """Every Kubernetes object of deploy/k8s (kustomization.yaml aside)."""
    return [doc for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in k8s_documents(path)]


def shipped_mosquitto_conf(root: Path, devices: int, services: int, probe: int) -> str:
    """deploy/mosquitto/mosquitto.conf with its paths under ``root`` and loopback ports.

    The device listener (1883), the services listener (1884) and the probe (1880) move
    to the given ports; everything else is the file as shipped.
    """
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for line in ("listener 1883", "listener 1884", "listener 1880 127.0.0.1"):
        assert line in conf, f"mosquitto.conf has no {line!r}"
    conf = conf.replace("/mosquitto/", f"{root}/")
    conf = conf.replace("listener 1883", f"listener {devices} 127.0.0.1")
    conf = conf.replace("listener 1884", f"listener {services} 127.0.0.1")
    conf = conf.replace("listener 1880 127.0.0.1", f"listener {probe} 127.0.0.1")
    return conf + f"\nuser {getpass.getuser()}\n"
