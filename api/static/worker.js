// The grid worker's phone view: my tasks, accept or reject (with a reason, in the page),
// arrive (with the phone's position when allowed), report with photos (confirmed when
// sent, retried on a weak network and saying so), resolve (in-page form), a geo: link to
// the place; and going on or off duty.

import { api, postJson } from "./api.js";
import { $, $$, esc, setHtml, showError } from "./dom.js";
import { geoLink } from "./drawer.js";
import { t } from "./i18n.js";
import { taskCard } from "./tasks.js";

const RETRIES = [2000, 5000, 10000];   // waits between upload attempts on a weak network

let me = null;
const DONE = ["follow_up", "closed", "cancelled", "merged"];

function actions(task) {
  const id = esc(task.id);
  const geo = geoLink(task);
  if (task.state === "dispatched") {
    return `${geo}<button type="button" data-act="accept" data-task-id="${id}">${esc(t("worker.accept"))}</button>
      <details class="reject"><summary class="button danger">${esc(t("worker.reject"))}</summary>
      <form class="act" data-act="reject" data-task-id="${id}">
        <textarea name="note" maxlength="2000" required placeholder="${esc(t("worker.reject_reason"))}"></textarea>
        <button type="submit" class="danger">${esc(t("worker.reject_send"))}</button></form></details>`;
  }
  if (task.state !== "handling") return geo;
  const arrive = task.arrived_at ? `<span class="hint arrived">${esc(t("worker.arrived_done"))}</span>`
    : `<button type="button" class="secondary" data-act="arrive" data-task-id="${id}">${esc(t("worker.arrive"))}</button>`;
  return `${geo}${arrive}
    <form class="report" data-task-id="${id}">
      <label class="hint">${esc(t("worker.photos"))} <input type="file" name="photos" accept="image/jpeg,image/png" capture="environment" multiple required></label>
      <textarea name="note" maxlength="2000" placeholder="${esc(t("worker.report_note"))}"></textarea>
      <button type="submit" class="secondary">${esc(t("worker.report_send"))}</button>
      <p class="status" role="status"></p>
    </form>
    <form class="act" data-act="resolve" data-task-id="${id}">
      <textarea name="note" maxlength="2000" placeholder="${esc(t("worker.resolve_note"))}"></textarea>
      <button type="submit">${esc(t("worker.resolve"))}</button></form>`;
}

function formsInUse() {
  return $$("#my-tasks form").some((f) => (f.photos && f.photos.files.length) || f.note.value.trim()
    || f.contains(document.activeElement) || f.dataset.busy);
}

export async function loadMyTasks() {
  if (!me || formsInUse()) return;
  const page = await api(`/api/v1/tasks?assignee=${encodeURIComponent(me.person_id)}&limit=50`);
  const open = page.items.filter((t) => !DONE.includes(t.state));
  const done = page.items.filter((t) => DONE.includes(t.state)).slice(0, 10);
  const cards = open.map((t) => taskCard(t, actions(t))).join("")
    || `<p class="empty">${esc(t("worker.none"))}</p>`;
  const history = done.length ? `<details class="done-list"><summary>${esc(t("worker.done", { n: done.length }))}</summary>
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

/** An action from a button (accept, arrive) or an in-page form (reject, resolve). */
async function act(element) {
  const { act: action, taskId } = element.dataset;
  let body = {};
  if (action === "arrive") body = await position();
  if (element.tagName === "FORM" && element.note.value.trim()) body = { note: element.note.value.trim() };
  const buttons = element.tagName === "FORM" ? [...element.querySelectorAll("button")] : [element];
  buttons.forEach((b) => { b.disabled = true; });
  try {
    await postJson(`/api/v1/tasks/${taskId}/${action}`, body);
    if (element.tagName === "FORM") element.reset();
    await loadMyTasks();
  } catch (err) {
    showError(t("worker.action_failed", { id: taskId, reason: err.message }));
    buttons.forEach((b) => { b.disabled = false; });
  }
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Send ``data``; on a network failure or a 5xx wait and try again, saying so. */
export async function sendWithRetry(path, data, say) {
  for (let attempt = 0; ; attempt += 1) {
    try { return await api(path, { method: "POST", body: data }); }
    catch (err) {
      const transient = !err.status || err.status >= 500 || err.status === 429;
      if (!transient || attempt >= RETRIES.length) throw err;
      say(t("worker.retrying", { n: attempt + 2, total: RETRIES.length + 1, s: RETRIES[attempt] / 1000 }));
      await wait(RETRIES[attempt]);
    }
  }
}

async function report(form) {
  const data = new FormData();
  for (const file of form.photos.files) data.append("photos", file);
  if (form.note.value.trim()) data.append("note", form.note.value.trim());
  const button = form.querySelector("button[type=submit]");
  const status = form.querySelector(".status");
  const say = (text, kind = "") => { status.textContent = text; status.dataset.kind = kind; };
  button.disabled = true;
  form.dataset.busy = "1";
  say(t("worker.sending"));
  try {
    await sendWithRetry(`/api/v1/tasks/${form.dataset.taskId}/photos`, data, say);
    form.reset();
    say(t("worker.sent"), "ok");
    confirmSent();
  } catch (err) {
    say(t("worker.send_failed", { reason: err.message }), "bad");
  } finally {
    button.disabled = false;
    delete form.dataset.busy;
  }
}

/** "Report sent ✓" at the top of the phone, for a few seconds; the list then refreshes. */
function confirmSent() {
  const note = $("#worker-note");
  note.textContent = t("worker.sent");
  note.classList.remove("hidden");
  setTimeout(() => { note.classList.add("hidden"); loadMyTasks().catch(() => {}); }, 3000);
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
    if (event.target.classList.contains("report")) report(event.target);
    else act(event.target);
  });
  $("#on-duty").addEventListener("change", (e) => setDuty(e.target.checked).catch((err) => {
    showError(t("worker.duty_failed", { reason: err.message })); e.target.checked = !e.target.checked;
  }));
}
