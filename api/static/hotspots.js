// Hotspots ranked by current density (/api/v1/hotspots); a row selects its zone's chart.

import { api } from "./api.js";
import { $, esc, levelBadge, setHtml } from "./dom.js";

let onSelect = () => {};
let selectedZone = null;

export function onZoneSelected(handler) { onSelect = handler; }

export function markSelected(zoneId) {
  selectedZone = zoneId;
  $("#hotspots").querySelectorAll("tr[data-zone-id]").forEach((tr) =>
    tr.classList.toggle("selected", tr.dataset.zoneId === zoneId));
}

function row(h, rank) {
  const title = `${h.count} people · warn ${h.warn_density} / critical ${h.critical_density} /m²`
    + (h.stale ? " · no recent report" : "");
  return `<tr data-zone-id="${esc(h.zone_id)}" data-level="${esc(h.level)}" tabindex="0" title="${esc(title)}"
      class="${h.zone_id === selectedZone ? "selected" : ""} ${h.stale ? "stale" : ""}">
    <td class="num">${rank}</td><td class="zone">${esc(h.zone_name || h.zone_id)}<br>
      <span class="hint">${esc(h.zone_id)} · grid ${esc(h.grid_code)}</span></td>
    <td class="num">${Number(h.density).toFixed(2)}</td><td>${levelBadge(h.level)}</td></tr>`;
}

export async function loadHotspots() {
  const page = await api("/api/v1/hotspots?limit=15");
  setHtml($("#hotspots"), page.items.map((h, i) => row(h, i + 1)).join("")
    || `<tr><td colspan="4" class="empty">No reports from your zones yet.</td></tr>`);
  return page.items;
}

export function initHotspots() {
  const pick = (event) => {
    const tr = event.target.closest("tr[data-zone-id]");
    if (!tr) return;
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    markSelected(tr.dataset.zoneId);
    onSelect(tr.dataset.zoneId);
  };
  $("#hotspots").addEventListener("click", pick);
  $("#hotspots").addEventListener("keydown", pick);
}
