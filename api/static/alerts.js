// The live alert feed: the current alerts (/api/v1/alerts), then every alert event from
// the stream merged in by alert id, newest first. Centres may acknowledge firing alerts.

import { api, postJson } from "./api.js";
import { $, clock, esc, setHtml, showError } from "./dom.js";

const KEEP = 40;
const alerts = new Map();   // alert id -> { alert, at, fresh }
let canAck = false;

function latest(a) {
  return a.resolved_at || a.acknowledged_at || a.fired_at || a.pending_since;
}

function item({ alert: a, fresh, event }) {
  const where = a.zone_id || a.device_id || a.place_id || a.subject || "";
  const when = a.resolved_at ? `resolved ${clock(a.resolved_at)}`
    : a.fired_at ? `fired ${clock(a.fired_at)}` : `pending since ${clock(a.pending_since)}`;
  const ack = canAck && a.state === "firing" && !a.acknowledged_at
    ? `<button type="button" class="secondary small" data-ack="${esc(a.id)}">Acknowledge</button>` : "";
  return `<li class="alert-item ${fresh ? "fresh" : ""}" data-alert-id="${esc(a.id)}" data-state="${esc(a.state)}">
    <span class="sev sev-${esc(a.severity)}">${esc(a.severity)}</span> · <b>${esc(a.state)}</b>
    · ${esc(a.rule_name || a.kind || "rule " + a.rule_id)} · ${esc(where)}
    ${a.value != null ? `· ${Number(a.value).toFixed(2)}` : ""}<br>
    <span class="hint">${esc(when)}${a.grid_code ? " · grid " + esc(a.grid_code) : ""}${a.task_id ? " · task #" + esc(a.task_id) : ""}
    ${a.acknowledged_at ? " · acknowledged" : ""}${event ? " · " + esc(event) : ""}</span> ${ack}</li>`;
}

function render() {
  const entries = [...alerts.values()].sort((x, y) => new Date(y.at) - new Date(x.at)).slice(0, KEEP);
  setHtml($("#alerts"), entries.map(item).join("") || `<li class="empty">No alerts in your scope.</li>`);
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
    } catch (err) { showError(`Could not acknowledge: ${err.message}`); button.disabled = false; }
  });
}

export function resetAlerts() { alerts.clear(); }
