// The live alert feed: the current alerts (/api/v1/alerts), then every alert event from
// the stream merged in by alert id, newest first. Centres may acknowledge firing alerts.

import { api, postJson } from "./api.js";
import { $, clock, esc, nameLabel, setHtml, showError } from "./dom.js";
import { number, t, word } from "./i18n.js";

const KEEP = 40;
const alerts = new Map();   // alert id -> { alert, at, fresh }
let canAck = false;

function latest(a) {
  return a.resolved_at || a.acknowledged_at || a.fired_at || a.pending_since;
}

/** "鹤鸣广场: 喷泉广场" — the place and the zone in the place's own words. */
export function alertPlace(a) {
  const place = nameLabel(a.place_name, a.place_name_latin);
  const zone = nameLabel(a.zone_name, a.zone_name_latin);
  const zoneShort = zone && place && zone.startsWith(a.place_name + ": ") ? zone.slice(a.place_name.length + 2) : zone;
  if (place && zoneShort) return `${place}: ${zoneShort}`;
  return place || zone || a.zone_id || a.device_id || a.place_id || a.subject || "";
}

/** "5.50 persons/m² (congested)": how bad, with the level word the task shows too. */
function howBad(a) {
  if (a.value == null) return "";
  if (a.kind !== "density_above") return number(a.value, 2);
  const level = a.level ? ` (${word("level", a.level)})` : "";
  return t("alerts.density", { value: number(a.value, 2) }) + level;
}

function item({ alert: a, fresh, event }) {
  const when = a.resolved_at ? t("alerts.resolved_at", { time: clock(a.resolved_at) })
    : a.fired_at ? t("alerts.fired_at", { time: clock(a.fired_at) }) : t("alerts.pending_since", { time: clock(a.pending_since) });
  const ack = canAck && a.state === "firing" && !a.acknowledged_at
    ? `<button type="button" class="secondary small" data-ack="${esc(a.id)}">${esc(t("alerts.ack"))}</button>` : "";
  const extra = [a.task_id ? t("alerts.task", { id: a.task_id }) : "", a.acknowledged_at ? t("alerts.acknowledged") : "",
    event ? word("alert_event", event) : ""].filter(Boolean).map(esc).join(" · ");
  return `<li class="alert-item ${fresh ? "fresh" : ""}" data-alert-id="${esc(a.id)}" data-state="${esc(a.state)}">
    <span class="sev sev-${esc(a.severity)}">${esc(word("severity", a.severity))}</span> · <b>${esc(word("alert_state", a.state))}</b>
    · <span class="where">${esc(alertPlace(a))}</span> — <span class="how">${esc(howBad(a))}</span><br>
    <span class="hint">${esc(when)}${extra ? " · " + extra : ""}</span> ${ack}</li>`;
}

function render() {
  const entries = [...alerts.values()].sort((x, y) => new Date(y.at) - new Date(x.at)).slice(0, KEEP);
  setHtml($("#alerts"), entries.map(item).join("") || `<li class="empty">${esc(t("alerts.none"))}</li>`);
  entries.forEach((e) => { e.fresh = false; });
}

export async function loadAlerts(role) {
  canAck = ["admin", "operator"].includes(role);
  const page = await api("/api/v1/alerts?limit=25");
  for (const a of page.items) {
    const known = alerts.get(a.id);
    alerts.set(a.id, { alert: a, at: latest(a), fresh: false, event: known && known.event });
  }
  render();
}

/** A stream event: ``{event, at, alert}`` (see alerts/events.py). */
export function onAlertEvent(data) {
  if (!data.alert) return;
  alerts.set(data.alert.id, { alert: data.alert, at: data.at, fresh: true, event: data.event });
  render();
}

export function initAlerts() {
  $("#alerts").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-ack]");
    if (!button) return;
    button.disabled = true;
    try {
      const a = await postJson(`/api/v1/alerts/${button.dataset.ack}/ack`, {});
      alerts.set(a.id, { alert: a, at: latest(a), fresh: true, event: "acknowledged" });
      render();
    } catch (err) { showError(t("alerts.ack_failed", { reason: err.message })); button.disabled = false; }
  });
}

export function resetAlerts() { alerts.clear(); }
