"""The dashboard's two languages: every key the page and its modules use is in both
catalogues (and the catalogues have the same keys), every state, level, role, tier and
severity the API can send has a word, the time zone reaches the UI, and problem titles
come in Chinese to a client that prefers it, and so do the KPI charts (PNG) where the
machine has a font for it.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api import charts
from api.app import create_app
from api.problem_titles import prefers_chinese, title
from api.services import Services
from contracts.levels import DensityLevel
from grid.actors import Role
from grid.tasks import TRANSITIONS
from kernel.settings import Settings
from store.db import create_pool
from tests.helpers import bearer, tiny_city

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
LANGUAGES = ("en", "zh-CN")
STATES = ("reported", "dispatched", "handling", "follow_up", "closed", "rejected", "merged",
          "cancelled")


def catalogue(language: str) -> dict[str, str]:
    return dict(json.loads((STATIC / "i18n" / f"{language}.json").read_text(encoding="utf-8")))


def used_keys() -> set[str]:
    """Keys named literally: t("…"), data-i18n*="…", and the keys inside t(cond ? "…" : "…")."""
    keys: set[str] = set()
    modules = [p for p in STATIC.glob("*.js") if p.name != "i18n.js"]  # i18n.js: the mechanism
    for path in [*modules, STATIC / "index.html"]:
        text = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", text))
        keys |= set(re.findall(r"data-i18n(?:-[a-z]+)?=\"([a-z0-9_.]+)\"", text))
        keys |= set(re.findall(r"\bt\([^()]*\?\s*\"([a-z0-9_.]+)\"\s*:\s*\"[a-z0-9_.]+\"", text))
        keys |= set(re.findall(r"\bt\([^()]*\?\s*\"[a-z0-9_.]+\"\s*:\s*\"([a-z0-9_.]+)\"", text))
        keys |= set(re.findall(r"\[\"[a-z_0-9]+\",\s*\"(kpi\.col\.[a-z0-9_]+)\"", text))
    return keys


def test_both_catalogues_have_the_same_keys_and_no_empty_chinese() -> None:
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert set(en) == set(zh)
    blank_ok = {"tier.none", "discoverer.person"}
    assert [k for k, v in zh.items() if not v.strip() and k not in blank_ok] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_ui_uses_is_in_the_catalogue(language: str) -> None:
    keys = used_keys()
    assert len(keys) > 150, "the key scan found too little: has the t() call changed?"
    assert sorted(keys - set(catalogue(language))) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_value_the_api_sends_has_a_word(language: str) -> None:
    words = catalogue(language)
    families = {"state": STATES, "level": [lv.value for lv in DensityLevel],
                "role": [r.value for r in Role], "tier": ("street", "district", "city"),
                "severity": ("minor", "major", "critical"), "action": tuple(TRANSITIONS),
                "due": ("accept", "arrive", "resolve"), "rating": ("1", "2", "3", "4", "5"),
                "live": ("connecting", "live", "reconnecting", "offline")}
    missing = [f"{family}.{value}" for family, values in families.items() for value in values
               if f"{family}.{value}" not in words]
    assert missing == []


def test_the_five_steps_read_as_the_centres_say_them() -> None:
    zh = catalogue("zh-CN")
    assert [zh[f"state.{s}"] for s in STATES[:5]] == [
        "发现报告", "调度派遣", "协调处置", "跟踪回访", "评价结案"]


@pytest.mark.parametrize(("header", "chinese"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", True), ("zh", True), ("en-US,en;q=0.9,zh;q=0.5", False),
    ("en", False), (None, False), ("", False), ("fr, zh;q=0.4", True), ("zh;q=0", False),
    ("en, zh", False), ("zh;q=abc", False), ("," * 2000, False)])
def test_a_chinese_preference_is_read_from_accept_language(header: str | None,
                                                           chinese: bool) -> None:
    assert prefers_chinese(header) is chinese


def test_titles_fall_back_to_the_reason_phrase() -> None:
    assert title(404, "zh-CN") == "未找到"
    assert title(404, "en") == "Not Found"
    assert title(418, "zh-CN") == "I'm a Teapot"


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="IANA"):
        Settings(time_zone="Mars/Olympus")


@pytest.fixture
def client(db_url: str, db: psycopg.Connection) -> Iterator[TestClient]:
    pool = create_pool(db_url, max_size=2)
    services = Services(settings=Settings(database_url=db_url, mqtt_url="mqtt://127.0.0.1:1",
                                          time_zone="Asia/Urumqi"),
                        pool=pool, jwt_secret="x" * 32, probes={})
    try:
        with TestClient(create_app(services)) as test_client:
            yield test_client
    finally:
        pool.close()


def test_the_ui_learns_the_centres_time_zone_without_signing_in(client: TestClient) -> None:
    config = client.get("/api/v1/config")
    assert config.status_code == 200
    assert config.json() == {"time_zone": "Asia/Urumqi", "languages": ["zh-CN", "en"]}


def test_problem_titles_follow_accept_language(client: TestClient) -> None:
    zh = client.get("/api/v1/me", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 401
    assert zh.json()["title"] == "未登录或令牌无效"
    en = client.get("/api/v1/me", headers={"Accept-Language": "en-GB"})
    assert en.json()["title"] == "Unauthorized"
    invalid = client.get("/api/v1/config?x=1", headers={"Accept-Language": "zh"})
    assert invalid.status_code == 200
    missing = client.get("/api/v1/nothing-here", headers={"Accept-Language": "zh"})
    assert missing.status_code == 404 and missing.json()["title"] == "未找到"


# --- server-rendered charts ------------------------------------------------------------------

@pytest.fixture
def worker_with_a_task(db: psycopg.Connection) -> None:
    """tiny_city with a Chinese-named worker who received a task this month."""
    tiny_city(db)
    db.execute("UPDATE people SET display_name = '陈欣', name_latin = 'Chen Xin'"
               " WHERE id = 'P-wA'")
    db.execute("INSERT INTO tasks (zone_id, grid_code, category, severity, title, state,"
               " discovered_by, assignee_id) VALUES ('Z-A', 'G-A', 'crowd_density', 'major',"
               " 'crowd', 'dispatched', 'camera:CAM-A', 'P-wA')")


def _png(client: TestClient, path: str, **headers: str) -> bytes:
    response = client.get(path, headers={**bearer(client, "admin"), **headers})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    return response.content


CHARTS = ("/api/v1/kpis/ranking?format=png", "/api/v1/kpis/weekly?format=png&by=grid")


@pytest.mark.usefixtures("worker_with_a_task")
@pytest.mark.parametrize("path", CHARTS)
def test_kpi_charts_are_drawn_in_chinese_without_missing_glyphs(client: TestClient,
                                                               path: str) -> None:
    if charts.cjk_family() is None:
        pytest.skip("no font with Chinese glyphs on this machine (fonts-noto-cjk)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        en = _png(client, path, **{"Accept-Language": "en-GB,en"})
        zh = _png(client, path, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
        asked = _png(client, f"{path}&lang=zh", **{"Accept-Language": "en"})
    tofu = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert tofu == []
    assert zh != en and asked == zh


@pytest.mark.usefixtures("worker_with_a_task")
@pytest.mark.parametrize("path", CHARTS)
def test_without_a_chinese_font_charts_stay_english(client: TestClient, path: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "cjk_family", lambda: None)
    en = _png(client, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        zh = _png(client, f"{path}&lang=zh-CN")
    assert zh == en
    assert not [w for w in caught if "missing from font" in str(w.message)]
