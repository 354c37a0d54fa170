// The grid map: cells from /api/v1/grid-map (GeoJSON, lon/lat) drawn by Leaflet as SVG
// paths, each filled with the colour of its most crowded zone's level. There is no base
// map unless a tile server is configured (<meta name="sharpeyes-tile-url"> in index.html,
// empty by default), so the map works offline and fetches nothing from outside.
// The crowded hotspots are pinned on top of the cells, numbered as in the hotspot list.

import { api } from "./api.js";
import { $, esc, levelLabel, nameLabel, setHtml } from "./dom.js";
import { number, t } from "./i18n.js";
import { L, cssVar } from "./libs.js";

// Calm cells are drawn first so the crowded ones (and their outlines) stay on top.
const ORDER = ["no_camera", "none", "free_flow", "stable", "capacity", "unstable", "congested"];
let onSelect = () => {};
let selected = null;
let map = null;
let cells = null;      // the L.GeoJSON layer of the drawn cells
let shape = "";        // codes and geometry of the drawn cells: redraw (and refit) when it changes
let needsFit = false;  // fit the cells once the container has a size (it may be hidden now)
let fitting = false;   // the map is moving because fit() moved it
let userMoved = false; // the officer zoomed or panned: keep their view when the map resizes
let pins = null;       // the L.LayerGroup of hotspot pins
let hotspots = [];     // the latest hotspots to pin: { zone_id, grid_code, lon, lat, level, rank, label }
let onPin = () => {};  // a pin was clicked: select its zone
// Pinned from "at capacity" up: calmer zones are not hotspots an officer must look at.
const PINNED = new Set(["capacity", "unstable", "congested"]);

/** ``handler(feature)`` runs when a cell is clicked. */
export function onCellSelected(handler) { onSelect = handler; }

function meta(name) {
  const element = document.querySelector(`meta[name="${name}"]`);
  return element ? element.content.trim() : "";
}

// A cell with no camera at all is "no_camera"; one whose cameras went quiet is "none".
const levelOf = (feature) => feature.properties.level || (feature.properties.zones ? "none" : "no_camera");
let palette = null;  // level → colour, read once from app.css
const colour = (level) => {
  palette = palette || Object.fromEntries(ORDER.map((l) => [l, cssVar(l === "none" ? "--nodata" : `--${l}`)]));
  return palette[level];
};

function createMap(container) {
  const tiles = meta("sharpeyes-tile-url");
  container.replaceChildren();
  // The wheel scrolls the page until the officer clicks the map; leaving it gives the wheel back.
  map = L.map(container, { zoomSnap: 0.25, maxZoom: 22, attributionControl: Boolean(tiles), scrollWheelZoom: false });
  map.on("click focus", () => map.scrollWheelZoom.enable());
  container.addEventListener("mouseleave", () => map.scrollWheelZoom.disable());
  if (tiles) L.tileLayer(tiles, { attribution: meta("sharpeyes-tile-attribution"), maxZoom: 22 }).addTo(map);
  map.on("zoomend", () => cells && cells.eachLayer(placeLabel));
  map.on("zoomstart movestart", () => { if (!fitting) userMoved = true; });
  new ResizeObserver(() => {
    if (!map || !container.clientWidth) return;
    map.invalidateSize({ pan: false });
    if (needsFit || (cells && !userMoved)) fit();
  }).observe(container);
}

function fit() {
  if (!map.getContainer().clientWidth) { needsFit = true; return; }
  needsFit = false;
  fitting = true;
  try { map.fitBounds(cells.getBounds(), { padding: [12, 12], animate: false }); } finally { fitting = false; }
}

function style(feature) {
  const tiles = Boolean(meta("sharpeyes-tile-url"));
  const level = levelOf(feature);
  if (level === "no_camera") {
    return { fillColor: "#ffffff", fillOpacity: tiles ? 0.3 : 1, color: "#9aa5b1", weight: 1, dashArray: "4 3", opacity: 1 };
  }
  return { fillColor: colour(level), fillOpacity: tiles ? 0.6 : 0.92, color: "#ffffff", weight: 1.2, opacity: 1 };
}

/** The label that fits the cell on screen: its name, the code's last two parts, or nothing. */
function labelText(layer) {
  const { code, name } = layer.feature.properties;
  const bounds = layer.getBounds();
  const nw = map.latLngToContainerPoint(bounds.getNorthWest());
  const se = map.latLngToContainerPoint(bounds.getSouthEast());
  if (se.y - nw.y < 18) return "";
  const width = (text) => [...text].reduce((w, c) => w + (c.charCodeAt(0) > 0x2e80 ? 12 : 6.6), 8);
  return [name, code.split("-").slice(-2).join("-")].filter(Boolean).find((x) => width(x) <= se.x - nw.x) || "";
}

function placeLabel(layer) {
  const text = labelText(layer);
  if (!text) { layer.unbindTooltip(); return; }
  if (layer.getTooltip()) { layer.setTooltipContent(esc(text)); return; }
  layer.bindTooltip(esc(text), { permanent: true, direction: "center", className: "cell-label", opacity: 1 });
}

/** The test and style hooks on the cell's SVG path, and its hover title. */
function decorate(layer) {
  const p = layer.feature.properties;
  const path = layer.getElement();
  path.dataset.grid = p.code;
  path.dataset.level = levelOf(layer.feature);
  path.classList.toggle("selected", p.code === selected);
  const level = levelOf(layer.feature);
  const density = p.max_density == null ? t(level === "no_camera" ? "map.no_camera" : "map.silent")
    : `${levelLabel(p.level)}, ${t("alerts.density", { value: number(p.max_density, 2) })}`;
  const title = path.querySelector("title")
    || path.appendChild(document.createElementNS(path.namespaceURI, "title"));
  const text = `${nameLabel(p.name, p.name_latin)} (${p.code}) — ${density} · ${t("map.zones", { n: p.zones })}`;
  title.textContent = text;   // the browser shows it on hover
  placeLabel(layer);
}

function select(code) {
  selected = code;
  cells.eachLayer((layer) => layer.getElement().classList.toggle("selected", layer.feature.properties.code === code));
  const layer = cells.getLayers().find((l) => l.feature.properties.code === code);
  if (layer) onSelect(layer.feature);
}

/** Where a hotspot is: its camera or place, else the centroid of its grid cell. */
function pinAt(h) {
  if (h.lat != null && h.lon != null) return L.latLng(h.lat, h.lon);
  const layer = cells.getLayers().find((l) => l.feature.properties.code === h.grid_code);
  if (!layer) return null;
  return layer.getCenter ? layer.getCenter() : layer.getBounds().getCenter();
}

function drawPins() {
  if (!map || !cells) return;
  if (pins) pins.remove();
  pins = L.layerGroup().addTo(map);
  for (const h of hotspots.filter((x) => PINNED.has(x.level) && !x.stale)) {
    const at = pinAt(h);
    if (!at) continue;
    // Drawn just above its point, as map pins are, so the cell's name under it stays readable.
    const icon = L.divIcon({ className: "hotspot-pin", iconSize: [24, 24], iconAnchor: [12, 32],
      html: `<span data-zone-id="${esc(h.zone_id)}" data-level="${esc(h.level)}">${esc(h.rank)}</span>` });
    L.marker(at, { icon, title: h.label, alt: h.label, riseOnHover: true, zIndexOffset: 1000 - h.rank })
      .on("click", () => onPin(h.zone_id)).addTo(pins);
  }
}

/** Pin these hotspots (the hotspot list's rows, ranked); ``onClick(zoneId)`` on a click. */
export function pinHotspots(items, onClick) {
  hotspots = items;
  onPin = onClick;
  drawPins();
}

function draw(features) {
  if (cells) cells.remove();
  cells = L.geoJSON(features, {
    style,
    onEachFeature: (feature, layer) => layer.on("click", () => select(feature.properties.code)),
  }).addTo(map);
  fit();
}

/** Same cells as drawn: recolour them in place (keeping the officer's zoom and pan) and
 * restack them by level. */
function update(features) {
  const layers = new Map(cells.getLayers().map((l) => [l.feature.properties.code, l]));
  for (const feature of features) {
    const layer = layers.get(feature.properties.code);
    layer.feature = feature;
    layer.setStyle(style(feature));
    layer.bringToFront();
  }
}

function legend(levels) {
  return levels.map((l) => `<span><i style="background:var(--${esc(l.level)})"></i>${esc(levelLabel(l.level))}
    ${l.max_density == null ? `≥ ${l.min_density}` : `${l.min_density}–${l.max_density}`}</span>`).join("")
    + `<span><i style="background:var(--nodata)"></i>${esc(t("map.silent"))}</span>`
    + `<span><i class="no-camera"></i>${esc(t("map.no_camera"))}</span>`
    + `<span class="hint">${esc(t("unit.per_m2_long"))}</span>`;
}

export async function loadMap() {
  const collection = await api("/api/v1/grid-map");
  const container = $("#grid-map");
  setHtml($("#map-legend"), legend(collection.levels));
  if (!collection.features.length) {
    if (map) { map.remove(); map = null; cells = null; pins = null; shape = ""; }
    container.innerHTML = `<p class="empty">${esc(t("map.none"))}</p>`;
    return;
  }
  if (!map) createMap(container);
  const features = [...collection.features].sort((a, b) => ORDER.indexOf(levelOf(a)) - ORDER.indexOf(levelOf(b)));
  const drawn = JSON.stringify(features.map((f) => [f.properties.code, f.geometry])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1)));
  if (drawn !== shape) { shape = drawn; userMoved = false; draw(features); } else update(features);
  cells.eachLayer(decorate);
  drawPins();
}
