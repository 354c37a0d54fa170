// A zone's density over the last 30 minutes with its warn and critical thresholds, drawn
// by uPlot: mean density per 20 s (blue, with points), peak (grey), thresholds dashed.

import { api } from "./api.js";
import { $, esc, nameLabel } from "./dom.js";
import { t, time as localTime } from "./i18n.js";
import { cssVar, followWidth, uPlot } from "./libs.js";

const MINUTES = 30;
const HEIGHT = 240;
let zoneId = null;
let plot = null;
// What the plot's scales and threshold lines read; replaced on every load.
let view = { t0: 0, t1: 1, yMax: 1, warn: null, critical: null };

export function selectZone(id) { zoneId = id; return loadChart(); }
export function currentZone() { return zoneId; }

export async function loadChart() {
  if (!zoneId) return;
  const series = await api(`/api/v1/zones/${encodeURIComponent(zoneId)}/series?minutes=${MINUTES}&bucket_seconds=20`);
  if (series.zone_id !== zoneId) return;  // another zone was picked meanwhile
  $("#chart-title").textContent = t("chart.title_of", { zone: nameLabel(series.zone_name, series.zone_name_latin, series.zone_id) });
  render(series);
}

function render(s) {
  const points = s.points.map((p) => [new Date(p.bucket).getTime() / 1000, p.density, p.peak_density]);
  // A zone that started reporting recently is drawn over its own span (at least 5 min).
  const t1 = Date.now() / 1000;
  const first = points.length ? points[0][0] - 60 : t1;
  const t0 = Math.max(t1 - MINUTES * 60, Math.min(first, t1 - 5 * 60));
  view = { t0, t1, warn: s.warn_density, critical: s.critical_density,
           yMax: Math.max(s.critical_density * 1.25, ...points.map((p) => p[2]), 1) };
  const data = [points.map((p) => p[0]), points.map((p) => p[1]), points.map((p) => p[2])];
  if (!plot) create(data); else plot.setData(data);
  const figure = $("#density-chart");
  figure.dataset.points = String(points.length);
  figure.setAttribute("aria-label", t("chart.aria", { zone: s.zone_name || s.zone_id }));
  $("#chart-empty").textContent = points.length ? "" : t("chart.no_reports", { n: MINUTES });
}

function create(data) {
  const chart = $("#chart");
  chart.innerHTML = `<div id="density-chart" class="plot" role="img"><p id="chart-empty" class="plot-note"></p></div>
    <p class="hint">${esc(t("chart.legend", { n: MINUTES }))}</p>`;
  const figure = $("#density-chart");
  plot = new uPlot(options(figure.clientWidth || 600), data, figure);
  followWidth(plot, figure, HEIGHT);
}

const clockTime = (v, seconds) => localTime(new Date(v * 1000), seconds);
const time = (v) => clockTime(v, true);
// Ticks are whole minutes or more apart on a 30-minute chart; seconds only when zoomed in.
const timeTicks = (u, splits, axis, space, incr) => splits.map((v) => clockTime(v, incr < 60));
const perM2 = (v) => (v == null ? "–" : v.toFixed(2));

function options(width) {
  const accent = cssVar("--accent"), muted = cssVar("--muted"), line = cssVar("--line");
  const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 },
                 font: "11px system-ui, sans-serif" };
  return {
    width, height: HEIGHT,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: () => [view.t0, view.t1] }, y: { range: () => [0, view.yMax] } },
    axes: [{ ...axis, space: 70, values: timeTicks }, { ...axis, size: 40, values: (u, splits) => splits.map((v) => v.toFixed(1)) }],
    series: [
      { label: t("chart.time"), value: (u, v) => (v == null ? "–" : time(v)) },
      { label: t("chart.mean"), stroke: accent, width: 2, value: (u, v) => perM2(v),
        points: { show: true, size: 5, fill: accent, stroke: accent } },
      { label: t("chart.peak"), stroke: "#90a4ae", width: 1, value: (u, v) => perM2(v), points: { show: false } },
    ],
    hooks: { draw: [drawThresholds] },
  };
}

/** The warn and critical densities as dashed lines across the plot, each with its value. */
function drawThresholds(u) {
  const { ctx, bbox } = u;
  const px = uPlot.pxRatio || 1;
  for (const [value, colour, label] of [[view.warn, cssVar("--warn"), t("chart.warn")], [view.critical, cssVar("--bad"), t("chart.critical")]]) {
    if (value == null) continue;
    const y = Math.round(u.valToPos(value, "y", true)) + 0.5;
    ctx.save();
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = px;
    ctx.setLineDash([6 * px, 4 * px]);
    ctx.beginPath(); ctx.moveTo(bbox.left, y); ctx.lineTo(bbox.left + bbox.width, y); ctx.stroke();
    // Labelled at the left: the newest data, on the right, is what the officer is reading.
    ctx.font = `${11 * px}px system-ui, sans-serif`; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    const text = `${label} ${value}`, x = bbox.left + 6 * px;
    ctx.fillStyle = cssVar("--card");
    ctx.fillRect(x - 3 * px, y - 8 * px, ctx.measureText(text).width + 6 * px, 16 * px);
    ctx.fillStyle = colour;
    ctx.fillText(text, x, y);
    ctx.restore();
  }
}
