// Hotspots ranked by current density (/api/v1/hotspots); a row, or its pin on the map,
// selects its zone's chart.

import { alertPlace } from "./alerts.js";
import { api } from "./api.js";
import { $, esc, levelBadge, levelLabel, nameLabel, setHtml } from "./dom.js";
import { number, t } from "./i18n.js";
import { pinHotspots } from "./map.js";

let onSelect = () => {};
let selectedZone = null;

export function onZoneSelected(handler) { onSelect = handler; }

export function markSelected(zoneId) {
  selectedZone = zoneId;
  $("#hotspots").querySelectorAll("tr[data-zone-id]").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.zoneId === zoneId));
}

function row(h, rank) {
  const title = t("hotspots.row_title", { count: number(h.count), warn: h.warn_density, critical: h.critical_density })
    + (h.stale ? " · " + t("hotspots.stale") : "");
  const grid = h.grid_name ? nameLabel(h.grid_name, h.grid_name_latin) : h.grid_code;
  return `<tr data-zone-id="${esc(h.zone_id)}" data-level="${esc(h.level)}" tabindex="0" title="${esc(title)}"
      class="${h.zone_id === selectedZone ? "selected" : ""} ${h.stale ? "stale" : ""}">
    <td class="num">${rank}</td><td class="zone">${esc(nameLabel(h.zone_name, h.zone_name_latin, h.zone_id))}<br>
      <span class="hint">${esc(t("common.grid", { grid }))}</span></td>
    <td class="num">${number(h.density, 2)}</td><td>${levelBadge(h.level)}</td></tr>`;
}

/** "1 · Crane Square: Fountain plaza — 5.50 persons/m² (congested)": the pin's words. */
function pinLabel(h, rank) {
  return `${rank} · ${alertPlace(h)} — ${t("alerts.density", { value: number(h.density, 2) })} (${levelLabel(h.level)})`;
}

function choose(zoneId) {
  markSelected(zoneId);
  onSelect(zoneId);
}

export async function loadHotspots() {
  const page = await api("/api/v1/hotspots?limit=15");
  setHtml($("#hotspots"), page.items.map((h, i) => row(h, i + 1)).join("")
    || `<tr><td colspan="4" class="empty">${esc(t("hotspots.none"))}</td></tr>`);
  pinHotspots(page.items.map((h, i) => ({ ...h, rank: i + 1, label: pinLabel(h, i + 1) })), choose);
  return page.items;
}

export function initHotspots() {
  const pick = (event) => {
    const tr = event.target.closest("tr[data-zone-id]");
    if (!tr) return;
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    choose(tr.dataset.zoneId);
  };
  $("#hotspots").addEventListener("click", pick);
  $("#hotspots").addEventListener("keydown", pick);
}
