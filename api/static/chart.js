// A zone's density over the last 30 minutes with its warn and critical thresholds (SVG).

import { api } from "./api.js";
import { $, esc, setHtml } from "./dom.js";

const MINUTES = 30;
let zoneId = null;

export function selectZone(id) { zoneId = id; return loadChart(); }
export function currentZone() { return zoneId; }

export async function loadChart() {
  if (!zoneId) return;
  const series = await api(`/api/v1/zones/${encodeURIComponent(zoneId)}/series?minutes=${MINUTES}&bucket_seconds=20`);
  $("#chart-title").textContent = `Zone density — ${series.zone_id}`;
  setHtml($("#chart"), chartSvg(series));
}

function axes(x, y, t0, t1, yMax, box) {
  const { W, H, L, R, T, B } = box;
  const ticks = [0, yMax / 2, yMax].map((v) =>
    `<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#5f6b7a">${v.toFixed(1)}</text>`).join("");
  const times = [t0, (t0 + t1) / 2, t1].map((t, i) =>
    `<text x="${x(t).toFixed(1)}" y="${H - 8}" text-anchor="${["start", "middle", "end"][i]}" font-size="11" fill="#5f6b7a">${new Date(t).toTimeString().slice(0, 5)}</text>`).join("");
  return `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#d9dee5"/>
    <line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#d9dee5"/>${ticks}${times}`;
}

function threshold(y, value, colour, label, box) {
  const at = y(value).toFixed(1);
  return `<line x1="${box.L}" x2="${box.W - box.R}" y1="${at}" y2="${at}" stroke="${colour}" stroke-dasharray="6 4"/>
    <text x="${box.W - box.R - 4}" y="${at - 4}" text-anchor="end" font-size="11" fill="${colour}">${label} ${value}</text>`;
}

export function chartSvg(s) {
  const box = { W: 640, H: 240, L: 40, R: 10, T: 10, B: 28 };
  const points = s.points.map((p) => ({ t: new Date(p.bucket).getTime(), d: p.density, peak: p.peak_density }));
  // A zone that started reporting recently is drawn over its own span (at least 5 min).
  const t1 = Date.now();
  const first = points.length ? points[0].t - 60 * 1000 : 0;
  const t0 = Math.max(t1 - MINUTES * 60 * 1000, Math.min(first, t1 - 5 * 60 * 1000));
  const yMax = Math.max(s.critical_density * 1.25, ...points.map((p) => p.peak), 1);
  const x = (t) => box.L + ((t - t0) / (t1 - t0)) * (box.W - box.L - box.R);
  const y = (v) => box.T + (1 - v / yMax) * (box.H - box.T - box.B);
  const line = (key) => points.map((p) => `${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
  const body = points.length
    ? `<polyline fill="none" stroke="#90a4ae" stroke-width="1" points="${line("peak")}"/>
       <polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="${line("d")}"/>
       ${points.map((p) => `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.d).toFixed(1)}" r="2.4" fill="#1f5fa8"/>`).join("")}`
    : `<text x="${box.W / 2}" y="${box.H / 2}" text-anchor="middle" fill="#5f6b7a">no reports in the last ${MINUTES} minutes</text>`;
  return `<svg id="density-chart" viewBox="0 0 ${box.W} ${box.H}" role="img" aria-label="density of ${esc(s.zone_id)}">
    ${axes(x, y, t0, t1, yMax, box)}${threshold(y, s.warn_density, "#ef6c00", "warn", box)}
    ${threshold(y, s.critical_density, "#c62828", "critical", box)}${body}</svg>
    <p class="hint">last ${MINUTES} min at most · blue: mean density per 20 s · grey: peak · persons/m²</p>`;
}
