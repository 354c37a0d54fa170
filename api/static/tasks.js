// The centre's task board: columns by state (in the loop's words), overdue tasks marked,
// names instead of ids; every card opens the task drawer (drawer.js: evidence, place,
// close with a rating, cancel, the history as a timeline).

import { api } from "./api.js";
import { $, ago, duration, esc, nameLabel, setHtml } from "./dom.js";
import { t, word } from "./i18n.js";
import { initDrawer, mayAct, openTask, setDrawerRole } from "./drawer.js";

const COLUMNS = ["reported", "dispatched", "handling", "follow_up", "closed"];
const OPEN = ["reported", "dispatched", "handling", "follow_up", "rejected"];

export function setBoardRole(role) { setDrawerRole(role); }

/** "accept due in 4m" or "arrive overdue 2m", from the task's due_kind and due_at. */
export function dueText(task) {
  if (!task.due_at || !OPEN.includes(task.state)) return "";
  const left = (new Date(task.due_at).getTime() - Date.now()) / 1000;
  const kind = word("due", task.due_kind || "deadline");
  return task.overdue || left < 0 ? t("tasks.overdue", { kind, time: duration(left) })
    : t("tasks.due_in", { kind, time: duration(left) });
}

/** "鹤鸣广场: 喷泉广场": where the task is, in the place's words. */
export function taskPlace(task) {
  const place = nameLabel(task.place_name, task.place_name_latin);
  const zone = nameLabel(task.zone_name, task.zone_name_latin);
  const short = zone && task.place_name && zone.startsWith(task.place_name + ": ")
    ? zone.slice(task.place_name.length + 2) : zone;
  return [place, short].filter(Boolean).join(": ") || nameLabel(task.grid_name, task.grid_name_latin, task.grid_code);
}

/** "陈欣 Chen Xin": the assignee by name, or who holds it when nobody does. */
export function assigneeText(task) {
  if (task.assignee_id) return nameLabel(task.assignee_name, task.assignee_name_latin, task.assignee_id);
  return t("tasks.unassigned", { tier: word("tier", task.tier) });
}

export function gridText(task) {
  return t("common.grid", { grid: `${nameLabel(task.grid_name, task.grid_name_latin, task.grid_code)} ${task.grid_code}` });
}

export function taskCard(task, actionsHtml) {
  const overdue = task.overdue && OPEN.includes(task.state);
  return `<article class="task-card ${overdue ? "overdue" : ""}" data-task-id="${esc(task.id)}" data-state="${esc(task.state)}"
      data-overdue="${overdue}">
    <div class="title">${esc(word("category", task.category))} · ${esc(taskPlace(task))}</div>
    <div class="meta"><span class="state">${esc(word("state", task.state))}</span> #${esc(task.id)}
      · <span class="sev sev-${esc(task.severity)}">${esc(word("severity", task.severity))}</span>
      · ${esc(word("tier", task.tier))}</div>
    <div class="meta assignee">${esc(assigneeText(task))} <span class="hint">(${esc(gridText(task))})</span></div>
    <div class="meta">${esc(t("tasks.opened", { ago: ago(task.created_at) }))}${task.rating ? " · " + "★".repeat(task.rating) : ""}</div>
    <div class="due">${esc(dueText(task))}</div>
    <div class="actions">${actionsHtml}<button type="button" class="secondary small" data-history="${esc(task.id)}">${esc(t("tasks.open"))}</button></div>
  </article>`;
}

/** On a follow-up card: the way to the evidence and the close (in the drawer). */
function centreActions(task) {
  return task.state === "follow_up" && mayAct()
    ? `<button type="button" class="small" data-review="${esc(task.id)}">${esc(t("tasks.review"))}</button>` : "";
}

function board(tasks) {
  const other = tasks.filter((x) => !COLUMNS.includes(x.state));
  const columns = COLUMNS.map((s) => [word("state", s), s, tasks.filter((x) => x.state === s)]);
  if (other.length) columns.push([t("tasks.other"), "other", other]);
  return columns.map(([label, key, list]) => `<div class="task-column" data-state="${key}">
    <h3>${esc(label)} (${list.length})</h3>${list.map((x) => taskCard(x, centreActions(x))).join("")
      || `<p class="empty">${esc(t("common.none"))}</p>`}</div>`).join("");
}

export async function loadBoard() {
  const page = await api("/api/v1/tasks?limit=100");
  const focused = document.activeElement;
  if ($("#task-board").contains(focused) && focused.tagName === "SELECT") return;
  setHtml($("#task-board"), board(page.items));
}

export { closeHistory, loadHistory } from "./drawer.js";

export function initTasks() {
  document.addEventListener("click", (event) => {
    const open = event.target.closest("button[data-history], button[data-review]");
    if (open) openTask(open.dataset.history || open.dataset.review);
  });
  initDrawer();
}
