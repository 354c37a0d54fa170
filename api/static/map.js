// The grid map: cells drawn as SVG from /api/v1/grid-map (GeoJSON, lon/lat), each filled
// with the colour of its most crowded zone's level. No tiles, no library.

import { api } from "./api.js";
import { $, esc, levelLabel, setHtml } from "./dom.js";

const WIDTH = 640;
const PAD = 8;
let onSelect = () => {};
let selected = null;

/** ``handler(feature)`` runs when a cell is clicked. */
export function onCellSelected(handler) { onSelect = handler; }

function rings(geometry) {
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

/** Equirectangular projection of the collection's bounding box into the SVG box. */
function projection(bbox) {
  const [minLon, minLat, maxLon, maxLat] = bbox;
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const spanX = Math.max((maxLon - minLon) * kx, 1e-9), spanY = Math.max(maxLat - minLat, 1e-9);
  const scale = (WIDTH - 2 * PAD) / spanX;
  const height = Math.min(Math.max(spanY * scale + 2 * PAD, 160), 900);
  const fit = Math.min(scale, (height - 2 * PAD) / spanY);
  const project = ([lon, lat]) => [PAD + (lon - minLon) * kx * fit, PAD + (maxLat - lat) * fit];
  return { project, height };
}

function cellPath(feature, project) {
  return rings(feature.geometry).map((ring) =>
    "M" + ring.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join("");
}

/** Centre and size of the cell's outer ring on screen. */
function box(feature, project) {
  const xy = (rings(feature.geometry)[0] || []).map(project);
  const xs = xy.map((p) => p[0]), ys = xy.map((p) => p[1]);
  const n = Math.max(xy.length, 1);
  return { cx: xs.reduce((a, b) => a + b, 0) / n, cy: ys.reduce((a, b) => a + b, 0) / n,
           w: Math.max(...xs) - Math.min(...xs), h: Math.max(...ys) - Math.min(...ys) };
}

/** The label that fits the cell: the whole code, its last two parts, or nothing. */
function label(code, w, h) {
  if (h < 13) return "";
  for (const text of [code, code.split("-").slice(-2).join("-")]) {
    if (text.length * 6.4 + 4 <= w) return text;
  }
  return "";
}

function cellSvg(feature, project) {
  const p = feature.properties;
  const level = p.level || "none";
  const { cx, cy, w, h } = box(feature, project);
  const text = label(p.code, w, h);
  const density = p.max_density == null ? "no fresh data" : `${p.max_density.toFixed(2)} /m²`;
  return `<path d="${cellPath(feature, project)}" data-grid="${esc(p.code)}" data-level="${esc(level)}"
      class="${p.code === selected ? "selected" : ""}">
    <title>${esc(p.name)} (${esc(p.code)}) — ${esc(levelLabel(p.level))}, ${esc(density)}, ${p.zones} zones</title></path>
    ${text ? `<text x="${cx.toFixed(1)}" y="${(cy + 4).toFixed(1)}" text-anchor="middle">${esc(text)}</text>` : ""}`;
}

function legend(levels) {
  return levels.map((l) => `<span><i style="background:var(--${esc(l.level)})"></i>${esc(levelLabel(l.level))}
    ${l.max_density == null ? `≥ ${l.min_density}` : `${l.min_density}–${l.max_density}`}</span>`).join("")
    + `<span><i style="background:var(--nodata)"></i>no fresh data</span>`;
}

let features = [];

export async function loadMap() {
  const collection = await api("/api/v1/grid-map");
  features = collection.features;
  setHtml($("#map-legend"), legend(collection.levels));
  if (!features.length || !collection.bbox) {
    setHtml($("#grid-map"), `<p class="empty">No grid cells in your scope.</p>`);
    return;
  }
  const { project, height } = projection(collection.bbox);
  // Draw calm cells first so the crowded ones (and their outlines) stay on top.
  const order = ["none", "free_flow", "stable", "capacity", "unstable", "congested"];
  const sorted = [...features].sort((a, b) =>
    order.indexOf(a.properties.level || "none") - order.indexOf(b.properties.level || "none"));
  setHtml($("#grid-map"), `<svg viewBox="0 0 ${WIDTH} ${height.toFixed(0)}" role="img"
      aria-label="grid cells coloured by density level">${sorted.map((f) => cellSvg(f, project)).join("")}</svg>`);
}

export function initMap() {
  $("#grid-map").addEventListener("click", (event) => {
    const cell = event.target.closest("path[data-grid]");
    if (!cell) return;
    selected = cell.dataset.grid;
    $("#grid-map").querySelectorAll("path").forEach((p) => p.classList.toggle("selected", p === cell));
    const feature = features.find((f) => f.properties.code === selected);
    if (feature) onSelect(feature);
  });
}
