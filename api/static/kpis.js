// Reports: KPI table by worker/grid/centre, the weekly chart (uPlot bars from the weekly
// statistics), the monthly ranking, and CSV downloads (fetched with the token as blobs).

import { api, blobUrl } from "./api.js";
import { $, esc, nameLabel, setHtml, showError } from "./dom.js";
import { number, t } from "./i18n.js";
import { cssVar, followWidth, uPlot } from "./libs.js";

// (field, catalogue key of the column's heading, format of a value)
const COLUMNS = [
  ["key", "kpi.col.who", (v, row) => esc(who(row))], ["received", "kpi.col.received", num],
  ["accepted_on_time", "kpi.col.on_time", num],
  ["accept_p50_s", "kpi.col.accept_p50", secs], ["arrive_p50_s", "kpi.col.arrive_p50", secs],
  ["resolve_p50_s", "kpi.col.resolve_p50", secs], ["escalation_rate", "kpi.col.escalated", pct],
  ["rating", "kpi.col.rating", (v) => (v == null ? "–" : number(v, 1))],
];

function num(v) { return v == null ? "–" : number(v); }
function secs(v) { return v == null ? "–" : v < 90 ? t("unit.s", { n: Math.round(v) }) : t("unit.min", { n: number(v / 60, 1) }); }
function pct(v) { return v == null ? "–" : t("unit.pct", { n: Math.round(v * 100) }); }

/** "陈欣 Chen Xin (grid 鹤鸣一网格 G-…)": the row's person or place by name. */
function who(row) {
  const name = nameLabel(row.name, row.name_latin, row.key);
  const grids = row.grids || "";
  return grids ? `${name} (${t("common.grid", { grid: grids })})` : name;
}

// The ranking is narrower: what the monthly bulletin (一月一通报) ranks by.
const RANKING = ["key", "received", "accepted_on_time", "resolve_p50_s", "rating"];

function table(rows, withRank) {
  const columns = withRank ? COLUMNS.filter(([key]) => RANKING.includes(key)) : COLUMNS;
  const head = (withRank ? "<th>#</th>" : "") + columns.map(([, label], i) =>
    `<th class="${i ? "num" : ""}">${esc(t(label))}</th>`).join("");
  const body = rows.map((r) => "<tr>" + (withRank ? `<td>${esc(r.rank)}</td>` : "") + columns.map(([key, , fmt], i) =>
    `<td class="${i ? "num" : ""}">${fmt(r[key], r)}</td>`).join("") + "</tr>").join("");
  const empty = `<tr><td colspan="${columns.length + 1}" class="empty">${esc(t("kpi.none"))}</td></tr>`;
  return `<thead><tr>${head}</tr></thead><tbody>${body || empty}</tbody>`;
}

const WEEKS = 8;
const WEEKLY_HEIGHT = 230;
let weeklyPlot = null;
let weekLabels = [];

/** ISO week of a UTC day as the API writes it ("2026-W07"). */
export function isoWeek(date) {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  d.setUTCDate(d.getUTCDate() + 4 - (d.getUTCDay() || 7));  // the Thursday decides the year
  const week = Math.ceil(((d - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** Tasks received and accepted on time per week, summed over the caller's centres. */
function weeklyTotals(rows) {
  const now = Date.now();
  const weeks = Array.from({ length: WEEKS }, (_, i) => isoWeek(new Date(now - (WEEKS - 1 - i) * 7 * 86400000)));
  const sum = (week, key) => rows.filter((r) => r.week === week).reduce((total, r) => total + r[key], 0);
  return { weeks, received: weeks.map((w) => sum(w, "received")),
           onTime: weeks.map((w) => sum(w, "accepted_on_time")) };
}

function weeklyOptions(width) {
  const muted = cssVar("--muted"), line = cssVar("--line"), accent = cssVar("--accent");
  const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { show: false },
                 font: "11px system-ui, sans-serif" };
  const count = (u, v) => (v == null ? "–" : String(v));
  return {
    width, height: WEEKLY_HEIGHT,
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: { x: { time: false, range: (u) => [-0.5, u.data[0].length - 0.5] },
              y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
    axes: [{ ...axis, grid: { show: false }, splits: (u) => u.data[0],
             values: (u, splits) => splits.map((i) => (weekLabels[i] || "").replace(/^\d+-/, "")) },
           { ...axis, size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
             values: (u, splits) => splits.map((v) => String(v)) }],
    series: [
      { label: t("kpi.week"), value: (u, i) => (i == null ? "–" : weekLabels[i] || "") },
      { label: t("kpi.col.received"), fill: "#b9cde6", stroke: "#b9cde6", value: count, points: { show: false },
        paths: uPlot.paths.bars({ size: [0.7, 64] }) },
      { label: t("kpi.col.on_time"), fill: accent, stroke: accent, value: count, points: { show: false },
        paths: uPlot.paths.bars({ size: [0.38, 34] }) },
    ],
  };
}

async function loadWeekly() {
  const rows = await api(`/api/v1/kpis/weekly?by=city&weeks=${WEEKS}`);
  const totals = weeklyTotals(rows);
  weekLabels = totals.weeks;
  const data = [totals.weeks.map((_, i) => i), totals.received, totals.onTime];
  if (weeklyPlot && weeklyPlot.lang === document.documentElement.lang) { weeklyPlot.setData(data); return; }
  if (weeklyPlot) { weeklyPlot.destroy(); weeklyPlot = null; }
  const figure = $("#weekly-chart");
  figure.innerHTML = "";
  figure.setAttribute("role", "img");
  figure.setAttribute("aria-label", t("kpi.weekly_aria"));
  weeklyPlot = new uPlot(weeklyOptions(figure.clientWidth || 560), data, figure);
  weeklyPlot.lang = document.documentElement.lang;
  followWidth(weeklyPlot, figure, WEEKLY_HEIGHT);
}

export async function loadReports() {
  const by = $("#kpi-by").value;
  const [rows, ranking] = await Promise.all([
    api(`/api/v1/kpis?by=${by}`), api("/api/v1/kpis/ranking?by=worker"), loadWeekly()]);
  setHtml($("#kpi-table"), table(rows, false));
  setHtml($("#ranking-table"), table(ranking, true));
}

async function downloadCsv() {
  const by = $("#kpi-by").value;
  const url = await blobUrl(`/api/v1/kpis?by=${by}&format=csv`);
  const link = Object.assign(document.createElement("a"), { href: url, download: `kpis-${by}.csv` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function initReports() {
  $("#kpi-by").addEventListener("change", () => loadReports().catch((e) => showError(e.message)));
  $("#kpi-csv").addEventListener("click", () => downloadCsv().catch((e) => showError(e.message)));
}
