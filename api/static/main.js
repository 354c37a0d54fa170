// Start-up and wiring: sign-in, choosing the view by role, live updates with a polling
// safety net, tabs and sign-out. Each panel lives in its own module.

import { ApiError, api, login, onUnauthorized, token } from "./api.js";
import { initAlerts, loadAlerts, onAlertEvent, resetAlerts } from "./alerts.js";
import { loadChart, selectZone } from "./chart.js";
import { $, $$, nameLabel, show, showError, throttle } from "./dom.js";
import { initI18n, language, setLanguage, setTimeZone, t, word } from "./i18n.js";
import { initHeatmap, loadCameras } from "./heatmap.js";
import { initHotspots, loadHotspots, markSelected, onZoneSelected } from "./hotspots.js";
import { initReports, loadReports } from "./kpis.js";
import * as live from "./live.js";
import { loadMap, onCellSelected } from "./map.js";
import { closeHistory, initTasks, loadBoard, loadHistory, setBoardRole } from "./tasks.js";
import { initWorker, loadMyTasks, startWorker } from "./worker.js";

const CENTRE_VIEW = ["admin", "operator", "viewer"];
const state = { me: null, tab: "overview", timer: null };

function report(error) {
  if (!(error instanceof ApiError && error.status === 401)) showError(error.message);
}

async function loadHealth() {
  let health = { status: "down" };
  try { health = await (await fetch("/health")).json(); } catch { /* shown as down */ }
  const badge = $("#health");
  badge.dataset.state = health.status;
  badge.querySelector(".label").textContent = word("health", health.status);
  badge.title = Object.entries(health.components || {})
    .map(([name, c]) => `${name}: ${c.status}${c.detail ? " — " + c.detail : ""}`).join("\n");
}

function refreshAll() {
  if (!state.me) return;
  const role = state.me.role;
  const jobs = role === "worker" ? [loadMyTasks()]
    : state.tab === "reports" ? [loadReports(), loadCameras(), loadHealth()]
      : [loadMap(), loadHotspots(), loadAlerts(role), loadBoard(), loadChart(), loadHistory(), loadHealth()];
  Promise.allSettled(jobs).then((results) => {
    const failed = results.find((r) => r.status === "rejected");
    if (failed) report(failed.reason);
  });
}

const densityChanged = throttle(() => {
  if (state.me && state.me.role !== "worker") Promise.all([loadHotspots(), loadMap(), loadChart()]).catch(report);
}, 2000);
const tasksChanged = throttle(() => {
  if (state.me) (state.me.role === "worker" ? loadMyTasks() : loadBoard()).catch(report);
}, 1000);

function schedule() {
  clearTimeout(state.timer);
  // The stream carries changes; polling is the safety net, faster while it is down.
  state.timer = setTimeout(() => { refreshAll(); schedule(); }, live.isLive() ? 15000 : 4000);
}

function showViews(role) {
  const centre = CENTRE_VIEW.includes(role);
  show("#login-view", false); show("#logout-button", true); show("#live", role !== "integrator");
  show("#health", centre); show("#tabs", centre);
  show("#overview-view", centre && state.tab === "overview");
  show("#reports-view", centre && state.tab === "reports");
  show("#worker-view", role === "worker");
  document.body.dataset.role = role;
}

async function start() {
  if (!token.get()) return logout();
  try { state.me = await api("/api/v1/me"); } catch (err) { report(err); if (!state.me) logout(); return; }
  const me = state.me;
  showUser(me);
  showViews(me.role);
  if (me.role === "integrator") {
    showError(t("main.integrator"));
    return;
  }
  if (me.role === "worker") startWorker(me);
  setBoardRole(me.role);
  live.connect();
  refreshAll();
  schedule();
}

/** "陈欣 Chen Xin · grid worker · Crane Street centre": who is signed in, in words. */
function showUser(me) {
  const scope = me.region_name ? t("main.scope", { name: nameLabel(me.region_name, me.region_name_latin),
                                                    tier: word("tier", me.region_level) }) : "";
  $("#user").textContent = [nameLabel(me.display_name, me.name_latin, me.person_id), word("role", me.role), scope]
    .filter(Boolean).join(" · ");
}

async function loadConfig() {
  try {
    const config = await (await fetch("/api/v1/config", { headers: { Accept: "application/json" } })).json();
    setTimeZone(config.time_zone);
  } catch { /* the default zone stays */ }
}

function logout(message) {
  token.clear();
  live.disconnect();
  clearTimeout(state.timer);
  state.me = null;
  resetAlerts();
  closeHistory();
  ["#overview-view", "#reports-view", "#worker-view", "#tabs", "#live", "#health", "#logout-button"]
    .forEach((id) => show(id, false));
  show("#login-view", true);
  $("#user").textContent = "";
  showError(message || "");
}

async function onLogin(event) {
  event.preventDefault();
  $("#login-button").disabled = true;
  try {
    await login($("#username").value.trim(), $("#password").value);
    $("#password").value = "";
    showError("");
    await start();
  } catch (err) { showError(t("auth.failed", { reason: err.message })); }
  finally { $("#login-button").disabled = false; }
}

function switchTab(tab) {
  state.tab = tab;
  closeHistory();
  $$("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  showViews(state.me.role);
  refreshAll();
}

async function changeLanguage(lang) {
  await setLanguage(lang);
  if (state.me) { showUser(state.me); refreshAll(); }
  live.relabel();
}

async function init() {
  await Promise.all([initI18n(), loadConfig()]);
  $("#lang-switch").value = language();
  $("#lang-switch").addEventListener("change", (e) => changeLanguage(e.target.value).catch(report));
  $("#login-form").addEventListener("submit", onLogin);
  $("#logout-button").addEventListener("click", () => logout());
  $("#tabs").addEventListener("click", (e) => { const b = e.target.closest("button[data-tab]"); if (b) switchTab(b.dataset.tab); });
  onUnauthorized((message) => logout(message));
  [initHotspots, initAlerts, initTasks, initReports, initHeatmap, initWorker].forEach((f) => f());
  const chartZone = (zoneId) => { markSelected(zoneId); selectZone(zoneId).catch(report); };
  onZoneSelected(chartZone);
  onCellSelected((cell) => { if (cell.properties.top_zone_id) chartZone(cell.properties.top_zone_id); });
  live.on("ready", () => { refreshAll(); schedule(); });
  live.on("alert", (data) => { onAlertEvent(data); tasksChanged(); });
  live.on("task", () => tasksChanged());
  live.on("density", () => densityChanged());
  if (token.get()) start();
}

init();
