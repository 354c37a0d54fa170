// A camera's occupancy heatmap: PNG from /api/v1/cameras/{id}/heatmap.png (video/). Where
// this server has no heatmap renderer, the panel says so instead of failing.

import { api, blobUrl } from "./api.js";
import { $, esc, setHtml } from "./dom.js";

let imageUrl = null;

export async function loadCameras() {
  const select = $("#heatmap-camera");
  if (select.options.length) return;
  const page = await api("/api/v1/devices?kind=camera&limit=500");
  select.innerHTML = page.items.map((d) =>
    `<option value="${esc(d.id)}">${esc(d.name)} (${esc(d.id)})</option>`).join("");
  if (page.items.length) await showHeatmap(page.items[0].id);
  else setHtml($("#heatmap"), `<p class="empty">No cameras in your scope.</p>`);
}

async function showHeatmap(cameraId) {
  if (!cameraId) return;
  setHtml($("#heatmap"), `<p class="empty">Loading…</p>`);
  try {
    const url = await blobUrl(`/api/v1/cameras/${encodeURIComponent(cameraId)}/heatmap.png`);
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = url;
    setHtml($("#heatmap"), `<img src="${url}" alt="occupancy heatmap of ${esc(cameraId)}">`);
  } catch (err) {
    const missing = err.status === 404 && /^not found$/i.test(err.message);
    setHtml($("#heatmap"), `<p class="empty" data-placeholder="true">${missing
      ? "Heatmaps are not available on this server yet (the video analyser renders them)."
      : esc(err.message)}</p>`);
  }
}

export function initHeatmap() {
  $("#heatmap-camera").addEventListener("change", (e) => showHeatmap(e.target.value));
}
