"""The dashboard's front-end packages: vendored from the versions pinned in frontend/,
unchanged since (sha256 in VERSIONS.json), shipped in the wheel, served by the API, and
the only scripts and styles the page loads besides its own: no CDN, it works offline.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import Services
from kernel.settings import Settings
from store.db import create_pool

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "api" / "static"
VENDOR = STATIC / "vendor"
FRONTEND = REPO / "frontend"
# Each package's main file names its own version; a copy from another release would not.
BANNERS = {"leaflet": ("leaflet.js", "Leaflet {version},"),
           "uplot": ("uPlot.iife.min.js", "uPlot (v{version})"),
           "swagger-ui-dist": ("swagger-ui-bundle.js", 'PACKAGE_VERSION:"{version}"')}
# Swagger UI serves /docs, not the dashboard page.
DOCS_ONLY = {"swagger-ui-dist"}


def versions() -> dict[str, Any]:
    return dict(json.loads((VENDOR / "VERSIONS.json").read_text(encoding="utf-8")))


def vendored_files() -> set[Path]:
    return {p for p in VENDOR.rglob("*") if p.is_file() and p.name != "VERSIONS.json"}


def own_assets() -> list[Path]:
    """The page and the dashboard's own modules and styles (not the vendored packages)."""
    return sorted(p for p in STATIC.iterdir() if p.suffix in {".html", ".js", ".css"})


def test_every_vendored_file_matches_its_recorded_sha256() -> None:
    recorded = {VENDOR / name / file: digest for name, package in versions().items()
                for file, digest in package["files"].items()}
    assert set(recorded) == vendored_files(), "VERSIONS.json and api/static/vendor/ disagree"
    for path, digest in recorded.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} was changed"


def test_vendored_versions_are_the_ones_pinned_in_frontend() -> None:
    pins = json.loads((FRONTEND / "package.json").read_text(encoding="utf-8"))["dependencies"]
    locked = json.loads((FRONTEND / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    recorded = versions()
    assert set(recorded) == set(pins) == set(BANNERS)
    for name, package in recorded.items():
        assert pins[name] == package["version"], f"{name} is not pinned exactly"
        assert locked[f"node_modules/{name}"]["version"] == package["version"]
        assert "LICENSE" in package["files"], f"{name} is vendored without its licence"
        main, banner = BANNERS[name]
        text = (VENDOR / name / main).read_text(encoding="utf-8")
        # Swagger UI's bundle carries its version inside, not in a banner at the top.
        head = text if name in DOCS_ONLY else text[:400]
        assert banner.format(version=package["version"]) in head


def test_the_wheel_ships_every_vendored_file() -> None:
    """What pyproject's package data globs (as setuptools expands them) must cover."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["api"]
    api_dir = REPO / "api"
    shipped = {p for pattern in patterns for p in api_dir.glob(pattern) if p.is_file()}
    assert VENDOR / "VERSIONS.json" in shipped
    missing = sorted(str(p.relative_to(api_dir)) for p in vendored_files() - shipped)
    assert missing == [], "add a package-data pattern for these"


def test_node_modules_is_not_committed() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "frontend/node_modules/" in ignored


def local_references(text: str) -> list[str]:
    """Every script, stylesheet and module the page or a module asks the browser for."""
    tags = re.findall(r"<(?:script|link)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", text)
    imports = re.findall(r"^\s*(?:import|export)\b[^;]*?\bfrom\s+\"([^\"]+)\"", text, re.M)
    return tags + imports + re.findall(r"\bimport\(\s*\"([^\"]+)\"", text)


@pytest.mark.parametrize("path", own_assets(), ids=lambda p: p.name)
def test_the_dashboard_refers_to_no_external_url(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), (
        f"{path.name} names an external URL: the dashboard must work offline")
    for reference in local_references(text):
        if reference.startswith("data:"):
            continue
        target = (STATIC / reference.removeprefix("/static/") if reference.startswith("/static/")
                  else path.parent / reference)
        assert target.resolve().is_file(), f"{path.name} loads {reference}, which is not there"


def test_the_page_loads_every_vendored_script_and_stylesheet() -> None:
    page = local_references((STATIC / "index.html").read_text(encoding="utf-8"))
    for name, package in versions().items():
        for file in package["files"]:
            if file.endswith((".js", ".css")) and name not in DOCS_ONLY:
                assert f"/static/vendor/{name}/{file}" in page


@pytest.fixture
def client(db_url: str, db: psycopg.Connection) -> Iterator[TestClient]:
    pool = create_pool(db_url, max_size=2)
    services = Services(settings=Settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1"),
                        pool=pool, jwt_secret="x" * 32, probes={})
    try:
        with TestClient(create_app(services)) as test_client:
            yield test_client
    finally:
        pool.close()


def test_the_api_serves_the_vendored_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "json"}
    for path in sorted(vendored_files()) + [VENDOR / "VERSIONS.json"]:
        url = "/static/" + path.relative_to(STATIC).as_posix()
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.content == path.read_bytes(), url
        if path.suffix in kinds:
            assert kinds[path.suffix] in response.headers["content-type"], url


def test_the_api_docs_load_only_the_vendored_swagger_ui(client: TestClient) -> None:
    """/docs works offline: every asset it names is ours and served; no CDN, no validator."""
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"https?://", page.text), "the docs page names an external URL"
    assets = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", page.text)
    assert "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert "/static/vendor/swagger-ui-dist/swagger-ui.css" in assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert "'validatorUrl': null" in page.text or '"validatorUrl": null' in page.text
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs/oauth2-redirect").status_code == 200
