// A camera's occupancy heatmap: PNG from /api/v1/cameras/{id}/heatmap.png (video/). Where
// this server has no heatmap renderer, the panel says so instead of failing.

import { api, blobUrl } from "./api.js";
import { $, esc, setHtml } from "./dom.js";

let imageUrl = null;
let shownAt = 0;
const REFRESH_MS = 60000;   // the video analyser adds to the current window every minute

export async function loadCameras() {
  const select = $("#heatmap-camera");
  if (!select.options.length) {
    const page = await api("/api/v1/devices?kind=camera&limit=500");
    select.innerHTML = page.items.map((d) =>
      `<option value="${esc(d.id)}">${esc(d.name)} (${esc(d.id)})</option>`).join("");
    if (!page.items.length) {
      setHtml($("#heatmap"), `<p class="empty">No cameras in your scope.</p>`);
      return;
    }
  }
  if (Date.now() - shownAt >= REFRESH_MS) await showHeatmap(select.value);
}

async function showHeatmap(cameraId) {
  if (!cameraId) return;
  shownAt = Date.now();
  if (!imageUrl) setHtml($("#heatmap"), `<p class="empty">Loading…</p>`);
  try {
    const url = await blobUrl(`/api/v1/cameras/${encodeURIComponent(cameraId)}/heatmap.png`);
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = url;
    setHtml($("#heatmap"), `<img src="${url}" alt="occupancy heatmap of ${esc(cameraId)}">`);
  } catch (err) {
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
    const missing = err.status === 404 && /^not found$/i.test(err.message);
    const empty = err.status === 404 && /^no occupancy recorded/i.test(err.message);
    setHtml($("#heatmap"), `<p class="empty" data-placeholder="true">${missing
      ? "Heatmaps are not available on this server yet (the video analyser renders them)."
      : empty
        ? `No occupancy recorded for ${esc(cameraId)} in the last 24 hours yet: the video`
          + " analyser stores it every minute while the camera is analysed."
        : esc(err.message)}</p>`);
  }
}

export function initHeatmap() {
  $("#heatmap-camera").addEventListener("change", (e) => showHeatmap(e.target.value));
}
