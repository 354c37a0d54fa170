// The centre's task board: columns by state, overdue tasks marked, close and cancel,
// and the history drawer (task events) that every task card links to.

import { api, postJson } from "./api.js";
import { $, ago, duration, esc, setHtml, show, showError } from "./dom.js";

const COLUMNS = ["reported", "dispatched", "handling", "follow_up", "closed"];
const OPEN = ["reported", "dispatched", "handling", "follow_up", "rejected"];
let historyTaskId = null;
let mayAct = false;        // viewers watch the board; operators and admins act on it

export function setBoardRole(role) { mayAct = ["admin", "operator"].includes(role); }

/** "accept due in 4m" or "arrive overdue 2m", from the task's due_kind and due_at. */
export function dueText(task) {
  if (!task.due_at || !OPEN.includes(task.state)) return "";
  const left = (new Date(task.due_at).getTime() - Date.now()) / 1000;
  const kind = task.due_kind || "deadline";
  return task.overdue || left < 0 ? `${kind} overdue ${duration(left)}` : `${kind} due in ${duration(left)}`;
}

function centreActions(task) {
  const actions = [];
  if (!mayAct) return "";
  if (task.state === "follow_up") {
    actions.push(`<select class="rating" aria-label="rating"><option value="">rating…</option>${
      [5, 4, 3, 2, 1].map((r) => `<option value="${r}">${"★".repeat(r)}</option>`).join("")}</select>
      <button type="button" class="small" data-action="close" data-task-id="${task.id}">Close</button>`);
  }
  if (["reported", "dispatched", "handling", "rejected"].includes(task.state)) {
    actions.push(`<button type="button" class="danger small" data-action="cancel" data-task-id="${task.id}">Cancel</button>`);
  }
  return actions.join("");
}

export function taskCard(task, actionsHtml) {
  const overdue = task.overdue && OPEN.includes(task.state);
  return `<article class="task-card ${overdue ? "overdue" : ""}" data-task-id="${esc(task.id)}" data-state="${esc(task.state)}"
      data-overdue="${overdue}">
    <div class="title">${esc(task.title)}</div>
    <div class="meta"><span class="state">${esc(task.state.replace("_", " "))}</span> #${esc(task.id)} · ${esc(task.severity)}
      · grid ${esc(task.grid_code)} · tier ${esc(task.tier)}</div>
    <div class="meta">${esc(task.assignee_id || "unassigned")} · opened ${ago(task.created_at)} ago${task.rating ? " · " + "★".repeat(task.rating) : ""}</div>
    <div class="due">${esc(dueText(task))}</div>
    <div class="actions">${actionsHtml}<button type="button" class="link" data-history="${esc(task.id)}">history</button></div>
  </article>`;
}

function board(tasks) {
  const other = tasks.filter((t) => !COLUMNS.includes(t.state));
  const columns = COLUMNS.map((s) => [s.replace("_", "-"), s, tasks.filter((t) => t.state === s)]);
  if (other.length) columns.push(["rejected · merged · cancelled", "other", other]);
  return columns.map(([label, key, list]) => `<div class="task-column" data-state="${key}">
    <h3>${label} (${list.length})</h3>${list.map((t) => taskCard(t, centreActions(t))).join("")
      || '<p class="empty">none</p>'}</div>`).join("");
}

export async function loadBoard() {
  const page = await api("/api/v1/tasks?limit=100");
  const focused = document.activeElement;
  if ($("#task-board").contains(focused) && focused.tagName === "SELECT") return; // a rating being chosen
  setHtml($("#task-board"), board(page.items));
}

async function runCentreAction(button) {
  const { action, taskId } = button.dataset;
  const body = {};
  if (action === "cancel") {
    const note = prompt("Why is this task being cancelled?");
    if (!note || !note.trim()) return;
    body.note = note.trim();
  }
  if (action === "close") {
    const rating = button.closest(".task-card").querySelector("select.rating").value;
    if (rating) body.rating = Number(rating);
  }
  button.disabled = true;
  try { await postJson(`/api/v1/tasks/${taskId}/${action}`, body); await loadBoard(); }
  catch (err) { showError(`Could not ${action} task #${taskId}: ${err.message}`); button.disabled = false; }
}

export async function loadHistory(taskId = historyTaskId) {
  if (!taskId) return;
  const events = await api(`/api/v1/tasks/${taskId}/events`);
  $("#events-title").textContent = `Task #${taskId} — history`;
  setHtml($("#events"), events.map((e) => `<li><b>${esc(e.action)}</b> ${esc(e.from_state || "∅")} → ${esc(e.to_state)}<br>
    <span class="hint">${esc(new Date(e.at).toLocaleString())} · ${esc(e.actor)}</span>
    ${e.note ? `<div>“${esc(e.note)}”</div>` : ""}
    ${e.evidence ? `<div class="hint">${esc(JSON.stringify(e.evidence))}</div>` : ""}</li>`).join("")
    || `<li class="empty">No events.</li>`);
}

export function openHistory(taskId) {
  historyTaskId = taskId;
  show("#events-panel", true);
  loadHistory(taskId).catch((err) => showError(err.message));
}

export function closeHistory() { historyTaskId = null; show("#events-panel", false); }

export function initTasks() {
  document.addEventListener("click", (event) => {
    const history = event.target.closest("button[data-history]");
    if (history) return openHistory(history.dataset.history);
    const action = event.target.closest("#task-board button[data-action]");
    if (action) runCentreAction(action);
  });
  $("#events-close").addEventListener("click", closeHistory);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeHistory(); });
}
