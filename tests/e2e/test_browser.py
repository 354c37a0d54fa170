"""The dashboard and the worker view in headless Chromium (Debian's, driven by Playwright)
against the whole system: a simulated surge appears on a centre operator's map and
hotspot list, its task reaches the worker's phone, who accepts, arrives, reports with a
photo and resolves it; the operator closes it beside that photo. The same views in
Chinese (a zh-CN browser). Screenshots go to test-artifacts/browser/, and also to docs/img/
when SHARPEYES_DOCS_SCREENSHOTS=1 (`SHARPEYES_DOCS_SCREENSHOTS=1 pytest tests/e2e/test_browser.py`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psycopg
import pytest

from kernel.mqtt import parse_mqtt_url
from kernel.settings import Settings
from sharpeyes.runtime import Runtime
from simulators.camera import load_cameras, run_fleet
from simulators.scenario import OrdinaryDay, Scenario, Surge
from tests.helpers import PASSWORD, running_system, tiny_city

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _chromium() -> str | None:
    """Debian's chromium, else the Chromium Playwright downloaded (``make test`` fetches it
    where the machine can reach Playwright's download site)."""
    found = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if found:
        return str(found)
    with sync_api.sync_playwright() as playwright:
        downloaded = Path(playwright.chromium.executable_path)
    return str(downloaded) if downloaded.exists() else None


EXECUTABLE = _chromium()
if EXECUTABLE is None:
    pytest.skip("no Chromium: install Debian's chromium (/usr/bin/chromium) or run "
                "`.venv/bin/python -m playwright install chromium`", allow_module_level=True)

Page = Any  # playwright.sync_api.Page; typed loosely since playwright is optional


@pytest.fixture
def system(settings: Settings, db: psycopg.Connection) -> Iterator[tuple[Runtime, str]]:
    tiny_city(db)
    with running_system(settings, ("ingest", "alerts", "dispatcher", "api")) as system:
        yield system


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=EXECUTABLE, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(page: Page, url: str, username: str) -> None:
    page.set_default_timeout(45_000)  # generous: the machine may be busy with other tests
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    page.wait_for_selector("#live[data-state='open']")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header would repeat mid-page otherwise
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if os.environ.get("SHARPEYES_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / f"{name}.png"), full_page=True)


def photo() -> bytes:
    image = np.full((480, 640, 3), (70, 110, 90), np.uint8)
    cv2.rectangle(image, (120, 160), (520, 400), (200, 200, 210), -1)
    return bytes(cv2.imencode(".jpg", image)[1])


def surge(rt: Runtime, db: psycopg.Connection) -> None:
    scenario = Scenario(OrdinaryDay(mean=0.5, amplitude=0.1),
                        (Surge("Z-A", start=2.0, ramp=2.0, hold=600, peak_density=5.2),))
    cameras = load_cameras(db)
    rt.spawn("simulators", lambda stop: run_fleet(
        cameras, parse_mqtt_url(rt.mqtt_url), rt.settings.topic_prefix, scenario.density, stop,
        period=0.5))


def level_colour(page: Page, level: str) -> str:
    return str(page.evaluate(
        "(name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()",
        f"--{level}"))


def operator_sees_the_surge(page: Page) -> int:
    page.wait_for_selector("#hotspots tr[data-zone-id='Z-A'][data-level='congested']")
    # Leaflet draws the cells as SVG paths, filled with their level's colour.
    cell = page.wait_for_selector(
        "#grid-map.leaflet-container path[data-grid='G-A'][data-level='congested']")
    assert cell.get_attribute("fill") == level_colour(page, "congested")
    # The crowded zone is pinned on the map with its rank in the hotspot list.
    page.wait_for_selector("#grid-map .hotspot-pin span[data-zone-id='Z-A']:text-is('1')")
    alert = page.wait_for_selector("#alerts .alert-item[data-state='firing']")
    # Where and how bad in words, whether the alert came from the list or the stream.
    assert alert.inner_text().count("Zone A") == 1, alert.inner_text()
    assert "persons/m² (" in alert.inner_text(), alert.inner_text()
    map_is_a_map_of_places(page)
    card = page.wait_for_selector(".task-column[data-state='dispatched'] .task-card")
    page.click("#hotspots tr[data-zone-id='Z-A']")
    # uPlot draws the zone's density on a canvas; data-points counts what it was given.
    page.wait_for_selector("#density-chart:not([data-points='0']) .uplot canvas")
    return int(card.get_attribute("data-task-id"))


def map_is_a_map_of_places(page: Page) -> None:
    """Cells named on hover and on the cell, the city fitted in view, and the map under
    the sticky header when the page scrolls."""
    cell = page.wait_for_selector("#grid-map path[data-grid='G-A']")
    assert "Grid A" in cell.eval_on_selector("title", "t => t.textContent")
    page.wait_for_selector("#grid-map .cell-label:has-text('Grid A')")
    outside = page.evaluate("""() => {
        const box = document.querySelector('#grid-map').getBoundingClientRect();
        return [...document.querySelectorAll('#grid-map path[data-grid]')].filter((p) => {
          const r = p.getBoundingClientRect();
          return r.left < box.left - 1 || r.right > box.right + 1
              || r.top < box.top - 1 || r.bottom > box.bottom + 1; }).length; }""")
    assert outside == 0, "the cells are not fitted into the map"
    on_top = page.evaluate("""() => {
        const header = document.querySelector('header');
        const map = document.querySelector('#grid-map');
        // The map's top (with its zoom buttons) scrolled 60 px up behind the header.
        window.scrollTo(0, map.getBoundingClientRect().top + window.scrollY + 60);
        const box = map.getBoundingClientRect();
        const hits = [box.left + 20, box.left + box.width / 2].map(
          (x) => document.elementFromPoint(x, header.offsetHeight - 8));
        window.scrollTo(0, 0);
        const over = hits.find((hit) => !hit || !header.contains(hit));
        return over === undefined ? 'header' : over ? over.outerHTML.slice(0, 80) : 'none'; }""")
    assert on_top == "header", f"the map draws over the sticky header: {on_top}"


def worker_handles(page: Page, task: int) -> None:
    card = f"#my-tasks .task-card[data-task-id='{task}']"
    page.click(f"{card} button[data-act='accept']")
    page.wait_for_selector(f"{card}[data-state='handling']")
    shot(page, "03-worker-accepted")
    page.click(f"{card} button[data-act='arrive']")
    page.wait_for_selector(f"{card} .hint:has-text('arrived')")
    page.set_input_files(f"{card} input[type=file]", files=[
        {"name": "site.jpg", "mimeType": "image/jpeg", "buffer": photo()}])
    page.fill(f"{card} textarea", "Crowd at the east gate; stewards opened the side exit.")
    shot(page, "04-worker-report")
    page.click(f"{card} form.report button[type=submit]")
    page.wait_for_selector("#worker-note:not(.hidden)")   # "report sent", in words
    shot(page, "04b-worker-report-sent")
    page.fill(f"{card} form[data-act='resolve'] textarea", "The crowd has dispersed.")
    page.click(f"{card} form[data-act='resolve'] button[type=submit]")
    page.wait_for_selector(f".done-list .task-card[data-task-id='{task}'][data-state='follow_up']",
                           state="attached")
    shot(page, "05-worker-resolved")


def operator_closes(page: Page, task: int) -> None:
    card = f"#task-board .task-card[data-task-id='{task}']"
    page.wait_for_selector(f"{card}[data-state='follow_up']")
    page.click(f"{card} button[data-review]")
    # The drawer shows the worker's photo (loaded with the token) beside the close form.
    page.wait_for_function("() => [...document.querySelectorAll('#task-detail .photo img')]"
                           ".some((img) => img.complete && img.naturalWidth > 0)")
    page.wait_for_selector("#events li[data-action='resolve']")
    page.select_option("#task-detail select.rating", "5")
    page.click("#task-detail button[data-action='close']")
    page.wait_for_selector("#task-detail .confirm:not(.hidden)")
    shot(page, "06a-operator-evidence")
    page.click("#task-detail button[data-confirm='yes']")
    page.wait_for_selector(
        f"#task-board .task-column[data-state='closed'] .task-card[data-task-id='{task}']")
    shot(page, "06-operator-closed")
    page.click("#tabs button[data-tab='reports']")
    page.wait_for_selector("#weekly-chart .uplot canvas")
    page.wait_for_selector("#kpi-table tbody tr")
    page.wait_for_selector("#heatmap img, #heatmap [data-placeholder]")
    shot(page, "07-operator-reports")


def test_operator_sees_a_surge_and_the_worker_handles_its_task_on_a_phone(
    system: tuple[Runtime, str], db: psycopg.Connection, browser: Any
) -> None:
    rt, url = system
    errors: list[str] = []
    centre = browser.new_context(viewport={"width": 1400, "height": 1000})
    officer = centre.new_page()
    officer.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(officer, url, "op-a")
    surge(rt, db)
    task = operator_sees_the_surge(officer)
    shot(officer, "01-operator-hotspot")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, permissions=["geolocation"],
                                geolocation={"latitude": 0.42, "longitude": 0.58})
    worker = phone.new_page()
    worker.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(worker, url, "w-a")
    worker.wait_for_selector(
        f"#my-tasks .task-card[data-task-id='{task}'][data-state='dispatched']")
    shot(worker, "02-worker-task")
    worker_handles(worker, task)

    row = db.execute("SELECT state, arrived_lon, arrived_lat FROM tasks WHERE id = %s",
                     (task,)).fetchone()
    assert row == ("follow_up", 0.58, 0.42)
    assert db.execute("SELECT count(*) FROM task_photos WHERE task_id = %s",
                      (task,)).fetchone() == (1,)

    operator_closes(officer, task)
    events = [r[0] for r in db.execute("SELECT action FROM task_events WHERE task_id = %s"
                                       " ORDER BY id", (task,))]
    assert events == ["report", "dispatch", "accept", "arrive", "report", "resolve", "close"]
    for context in (phone, centre):
        context.close()          # closes the pages' live streams before the server stops
    assert errors == []


def test_a_chinese_browser_gets_the_dashboard_and_the_phone_in_chinese(
    system: tuple[Runtime, str], db: psycopg.Connection, browser: Any
) -> None:
    """Language from navigator.language, words from the catalogue, the switch remembered."""
    rt, url = system
    errors: list[str] = []
    centre = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    officer = centre.new_page()
    officer.on("pageerror", lambda e: errors.append(str(e)))
    officer.goto(url)
    officer.wait_for_selector("#login-button:has-text('登录')")
    shot(officer, "zh-00-login")
    sign_in(officer, url, "op-a")
    surge(rt, db)
    officer.wait_for_selector(".task-column[data-state='dispatched'] h3:has-text('调度派遣')")
    officer.wait_for_selector("#alerts .alert-item:has-text('人/平方米')")
    assert officer.inner_text("#tabs button[data-tab='overview']") == "总览"
    assert "值班员" in officer.inner_text("#user")
    shot(officer, "zh-01-operator")
    officer.select_option("#lang-switch", "en")
    officer.wait_for_selector("#tabs button[data-tab='overview']:has-text('Overview')")
    officer.reload()
    officer.wait_for_selector("#tabs button[data-tab='overview']:has-text('Overview')")
    officer.select_option("#lang-switch", "zh-CN")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, locale="zh-CN")
    worker = phone.new_page()
    worker.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(worker, url, "w-a")
    worker.wait_for_selector("#my-tasks .task-card button[data-act='accept']:has-text('签收')")
    shot(worker, "zh-02-worker-task")
    for context in (phone, centre):
        context.close()
    assert errors == []
