// A camera's occupancy heatmap: PNG from /api/v1/cameras/{id}/heatmap.png (video/). Where
// this server has no heatmap renderer, the panel says so instead of failing.

import { api, blobUrl } from "./api.js";
import { $, esc, setHtml } from "./dom.js";
import { t } from "./i18n.js";

let imageUrl = null;
let shownAt = 0;
const REFRESH_MS = 60000;   // the video analyser adds to the current window every minute

export async function loadCameras() {
  const select = $("#heatmap-camera");
  if (!select.options.length) {
    const page = await api("/api/v1/devices?kind=camera&limit=500");
    // Cameras that report come first, most recent first: the panel opens on one with data.
    const cameras = [...page.items].sort((a, b) => seen(b) - seen(a));
    select.innerHTML = cameras.map((d) =>
      `<option value="${esc(d.id)}">${esc(d.name)} (${esc(d.id)})</option>`).join("");
    if (!page.items.length) {
      setHtml($("#heatmap"), `<p class="empty">${esc(t("heatmap.no_cameras"))}</p>`);
      return;
    }
  }
  if (Date.now() - shownAt >= REFRESH_MS) await showHeatmap(select.value);
}

async function showHeatmap(cameraId) {
  if (!cameraId) return;
  shownAt = Date.now();
  if (!imageUrl) setHtml($("#heatmap"), `<p class="empty">${esc(t("common.loading"))}</p>`);
  try {
    const url = await blobUrl(`/api/v1/cameras/${encodeURIComponent(cameraId)}/heatmap.png`);
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = url;
    setHtml($("#heatmap"), `<img src="${url}" alt="${esc(t("heatmap.alt", { id: cameraId }))}">`);
  } catch (err) {
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
    const missing = err.status === 404 && /^not found$/i.test(err.message);
    const empty = err.status === 404 && /^no occupancy recorded/i.test(err.message);
    setHtml($("#heatmap"), `<p class="empty" data-placeholder="true">${esc(missing ? t("heatmap.unavailable")
      : empty ? t("heatmap.empty", { id: cameraId }) : err.message)}</p>`);
  }
}

function seen(device) {
  return device.last_seen ? new Date(device.last_seen).getTime() + (device.status === "online" ? 1e13 : 0) : 0;
}

export function initHeatmap() {
  $("#heatmap-camera").addEventListener("change", (e) => showHeatmap(e.target.value));
}
