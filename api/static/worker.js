// The grid worker's phone view: my tasks, accept or reject, arrive (with the phone's
// position when allowed), report with photos, resolve; and going on or off duty.

import { api, postJson } from "./api.js";
import { $, $$, esc, setHtml, showError } from "./dom.js";
import { taskCard } from "./tasks.js";

let me = null;
const DONE = ["follow_up", "closed", "cancelled", "merged"];

function actions(task) {
  const id = esc(task.id);
  if (task.state === "dispatched") {
    return `<button type="button" data-act="accept" data-task-id="${id}">Accept</button>
      <button type="button" class="danger" data-act="reject" data-task-id="${id}">Reject</button>`;
  }
  if (task.state !== "handling") return "";
  const arrive = task.arrived_at ? `<span class="hint">arrived ✓</span>`
    : `<button type="button" class="secondary" data-act="arrive" data-task-id="${id}">Arrived</button>`;
  return `${arrive}<button type="button" data-act="resolve" data-task-id="${id}">Resolve</button>
    <form class="report" data-task-id="${id}">
      <label class="hint">Report with photos <input type="file" name="photos" accept="image/jpeg,image/png" capture="environment" multiple required></label>
      <textarea name="note" maxlength="2000" placeholder="What did you find? What did you do?"></textarea>
      <button type="submit" class="secondary">Send report</button>
    </form>`;
}

function formsInUse() {
  return $$("#my-tasks form.report").some((f) => f.photos.files.length || f.note.value.trim()
    || f.contains(document.activeElement));
}

export async function loadMyTasks() {
  if (!me || formsInUse()) return;
  const page = await api(`/api/v1/tasks?assignee=${encodeURIComponent(me.person_id)}&limit=50`);
  const open = page.items.filter((t) => !DONE.includes(t.state));
  const done = page.items.filter((t) => DONE.includes(t.state)).slice(0, 10);
  const cards = open.map((t) => taskCard(t, actions(t))).join("")
    || `<p class="empty">No open tasks for you. You will be told when one arrives.</p>`;
  const history = done.length ? `<details class="done-list"><summary>Recently handed over (${done.length})</summary>
    <div class="my-tasks">${done.map((t) => taskCard(t, "")).join("")}</div></details>` : "";
  setHtml($("#my-tasks"), cards + history);
}

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve({});
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude }),
      () => resolve({}), { timeout: 5000, maximumAge: 60000 });
  });
}

async function act(button) {
  const { act: action, taskId } = button.dataset;
  let body = {};
  if (action === "reject") {
    const note = prompt("Why can you not take this task?");
    if (!note || !note.trim()) return;
    body = { note: note.trim() };
  }
  if (action === "arrive") body = await position();
  if (action === "resolve") {
    const note = prompt("How was it resolved? (optional)");
    if (note === null) return;
    if (note.trim()) body = { note: note.trim() };
  }
  button.disabled = true;
  try { await postJson(`/api/v1/tasks/${taskId}/${action}`, body); await loadMyTasks(); }
  catch (err) { showError(`Could not ${action} task #${taskId}: ${err.message}`); button.disabled = false; }
}

async function report(form) {
  const data = new FormData();
  for (const file of form.photos.files) data.append("photos", file);
  if (form.note.value.trim()) data.append("note", form.note.value.trim());
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api(`/api/v1/tasks/${form.dataset.taskId}/photos`, { method: "POST", body: data });
    form.reset();
    await loadMyTasks();
    showError("");
  } catch (err) { showError(`Could not send the report: ${err.message}`); button.disabled = false; }
}

async function setDuty(online) {
  await postJson("/api/v1/me/presence", { online });
  localStorage.setItem(`sharpeyes.duty.${me.person_id}`, online ? "1" : "0");
}

export function startWorker(profile) {
  me = profile;
  $("#on-duty").checked = localStorage.getItem(`sharpeyes.duty.${me.person_id}`) === "1";
}

export function initWorker() {
  $("#my-tasks").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-act]");
    if (button) act(button);
  });
  $("#my-tasks").addEventListener("submit", (event) => {
    event.preventDefault();
    report(event.target);
  });
  $("#on-duty").addEventListener("change", (e) => setDuty(e.target.checked).catch((err) => {
    showError(`Could not change duty: ${err.message}`); e.target.checked = !e.target.checked;
  }));
}
