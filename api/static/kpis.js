// Reports: KPI table by worker/grid/centre, the weekly chart (PNG rendered by the API),
// the monthly ranking, and CSV downloads. Images are fetched with the token as blobs.

import { api, blobUrl } from "./api.js";
import { $, esc, setHtml, showError } from "./dom.js";

const COLUMNS = [
  ["key", "who", (v) => esc(v)], ["received", "received", num], ["accepted_on_time", "on time", num],
  ["accept_p50_s", "accept p50", secs], ["arrive_p50_s", "arrive p50", secs],
  ["resolve_p50_s", "resolve p50", secs], ["escalation_rate", "escalated", pct],
  ["rating", "rating", (v) => (v == null ? "–" : Number(v).toFixed(1))],
];

function num(v) { return v == null ? "–" : String(v); }
function secs(v) { return v == null ? "–" : v < 90 ? `${Math.round(v)} s` : `${(v / 60).toFixed(1)} min`; }
function pct(v) { return v == null ? "–" : `${Math.round(v * 100)} %`; }

// The ranking is narrower: what the monthly bulletin (一月一通报) ranks by.
const RANKING = ["key", "received", "accepted_on_time", "resolve_p50_s", "rating"];

function table(rows, withRank) {
  const columns = withRank ? COLUMNS.filter(([key]) => RANKING.includes(key)) : COLUMNS;
  const head = (withRank ? "<th>#</th>" : "") + columns.map(([, label], i) =>
    `<th class="${i ? "num" : ""}">${label}</th>`).join("");
  const body = rows.map((r) => "<tr>" + (withRank ? `<td>${esc(r.rank)}</td>` : "") + columns.map(([key, , fmt], i) =>
    `<td class="${i ? "num" : ""}">${fmt(r[key])}</td>`).join("") + "</tr>").join("");
  const empty = `<tr><td colspan="${columns.length + 1}" class="empty">No tasks in this period.</td></tr>`;
  return `<thead><tr>${head}</tr></thead><tbody>${body || empty}</tbody>`;
}

let weeklyUrl = null;

async function loadWeekly() {
  const url = await blobUrl("/api/v1/kpis/weekly?format=png&by=city&weeks=8");
  if (weeklyUrl) URL.revokeObjectURL(weeklyUrl);
  weeklyUrl = url;
  setHtml($("#weekly-chart"), `<img src="${url}" alt="tasks received and accepted on time per week">`);
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
