// The task drawer a duty officer opens from a card: where (name, a small map, a geo: link),
// who, the worker's evidence (photo thumbnails that open at their stored size, the note,
// the SHA-256 under "details"), closing with a rating right beside that evidence (with an
// in-page confirmation), cancelling with a reason, and the history as a timeline in words
// and the centre's local time.

import { api, blobUrl, postJson } from "./api.js";
import { $, esc, nameLabel, setHtml, show, showError } from "./dom.js";
import { dateTime, t, time, word } from "./i18n.js";
import { L } from "./libs.js";
import { assigneeText, dueText, gridText, loadBoard, taskPlace } from "./tasks.js";

let taskId = null;
let role = "";
let miniMap = null;
const photoUrls = new Map();   // photo id -> object URL (revoked when the drawer closes)

export function setDrawerRole(value) { role = value; }
export const mayAct = () => ["admin", "operator"].includes(role);

/** "geo:lat,lon": opens the place in the phone's (or desktop's) map app. */
export function geoLink(task) {
  if (task.lat == null || task.lon == null) return "";
  const label = encodeURIComponent(taskPlace(task));
  return `<a class="geo" href="geo:${task.lat},${task.lon}?q=${task.lat},${task.lon}(${label})">${esc(t("drawer.open_map"))}</a>`;
}

function facts(task) {
  const rows = [
    [t("drawer.where"), `${esc(taskPlace(task))} ${geoLink(task)}`],
    [t("drawer.state"), esc(word("state", task.state))],
    [t("drawer.severity"), `<span class="sev sev-${esc(task.severity)}">${esc(word("severity", task.severity))}</span> · ${esc(word("category", task.category))}`],
    [t("drawer.assignee"), `${esc(assigneeText(task))} <span class="hint">(${esc(gridText(task))})</span>`],
    [t("drawer.tier"), esc(word("tier", task.tier))],
    [t("drawer.discovered_by"), esc(discoverer(task.discovered_by))],
    [t("drawer.opened"), esc(dateTime(task.created_at))],
  ];
  const due = dueText(task);
  if (due) rows.push([t("drawer.due"), esc(due)]);
  if (task.rating) rows.push([t("drawer.rating"), "★".repeat(task.rating)]);
  return `<dl class="facts">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("")}</dl>`;
}

/** "camera CAM-3", "grid worker 陈欣", "citizen report": who found it, in words. */
function discoverer(value) {
  const [kind, ...rest] = String(value || "").split(":");
  return t("drawer.found_by", { kind: word("discoverer", kind), id: rest.join(":") }).trim();
}

function evidence(photos, events) {
  const notes = events.filter((e) => e.action === "report" && e.note && e.evidence && e.evidence.photos);
  const thumbs = photos.map((p) => `<figure class="photo" data-photo-id="${esc(p.id)}">
      <button type="button" class="thumb" data-photo="${esc(p.id)}" data-width="${esc(p.width)}" data-height="${esc(p.height)}"
        aria-label="${esc(t("drawer.photo_open", { w: p.width, h: p.height }))}"><img alt="" data-photo-img="${esc(p.id)}"></button>
      <figcaption>${esc(time(p.uploaded_at, false))} · ${esc(p.width)}×${esc(p.height)}
        <details><summary>SHA-256</summary><code class="sha">${esc(p.sha256)}</code></details></figcaption></figure>`).join("");
  const said = notes.map((e) => `<blockquote>${esc(e.note)}<footer>${esc(actorName(e))} · ${esc(time(e.at, false))}</footer></blockquote>`).join("");
  return `<section class="evidence"><h3>${esc(t("drawer.evidence"))}</h3>
    ${thumbs ? `<div class="photos">${thumbs}</div>` : `<p class="empty">${esc(t("drawer.no_photos"))}</p>`}${said}</section>`;
}

function closeForm(task) {
  if (!mayAct() || task.state !== "follow_up") return "";
  const stars = [5, 4, 3, 2, 1].map((r) => `<option value="${r}">${"★".repeat(r)} ${esc(t(`rating.${r}`))}</option>`).join("");
  return `<form class="close-task" data-task-id="${esc(task.id)}">
    <h3>${esc(t("drawer.close_title"))}</h3>
    <label>${esc(t("drawer.rating"))} <select name="rating" class="rating" required><option value="">${esc(t("drawer.rating_pick"))}</option>${stars}</select></label>
    <textarea name="note" maxlength="2000" placeholder="${esc(t("drawer.close_note"))}"></textarea>
    <button type="submit" data-action="close">${esc(t("drawer.close_task"))}</button>
    <div class="confirm hidden" role="alertdialog"><p></p>
      <button type="button" data-confirm="yes">${esc(t("common.confirm"))}</button>
      <button type="button" class="secondary" data-confirm="no">${esc(t("common.back"))}</button></div></form>`;
}

function cancelForm(task) {
  if (!mayAct() || !["reported", "dispatched", "handling", "rejected"].includes(task.state)) return "";
  return `<details class="cancel-task"><summary>${esc(t("drawer.cancel_title"))}</summary>
    <form class="cancel-task" data-task-id="${esc(task.id)}">
      <textarea name="note" maxlength="2000" required placeholder="${esc(t("drawer.cancel_reason"))}"></textarea>
      <button type="submit" class="danger" data-action="cancel">${esc(t("drawer.cancel_task"))}</button></form></details>`;
}

function actorName(e) {
  if (e.actor_name) return nameLabel(e.actor_name, e.actor_name_latin);
  const [kind, ...rest] = String(e.actor || "").split(":");
  return kind === "system" ? word("system", rest.join(":")) : `${word("discoverer", kind)} ${rest.join(":")}`.trim();
}

/** One line of the timeline: "14:12 陈欣 accepted — due 14:20, on time". */
export function timelineText(e) {
  const parts = [word("action", e.action)];
  if (e.assignee_name) parts.push(t("timeline.to", { name: nameLabel(e.assignee_name, e.assignee_name_latin) }));
  const ev = e.evidence || {};
  if (ev.due_at) parts.push(t(ev.on_time ? "timeline.on_time" : "timeline.late", { due: time(ev.due_at, false) }));
  if (ev.rating) parts.push("★".repeat(ev.rating));
  if (ev.photos) parts.push(t("timeline.photos", { n: ev.photos.length }));
  if (e.from_state && e.from_state !== e.to_state) parts.push(`→ ${word("state", e.to_state)}`);
  return parts.join(" · ");
}

function timeline(events) {
  return events.map((e) => `<li data-action="${esc(e.action)}"><time datetime="${esc(e.at)}" title="${esc(dateTime(e.at))}">${esc(time(e.at, false))}</time>
    <b>${esc(actorName(e))}</b> ${esc(timelineText(e))}${e.note ? `<div class="note">“${esc(e.note)}”</div>` : ""}</li>`).join("")
    || `<li class="empty">${esc(t("drawer.no_events"))}</li>`;
}

function drawMap(task) {
  const box = $("#task-map");
  if (!box || task.lat == null || !L) return;
  if (miniMap) { miniMap.remove(); miniMap = null; }
  miniMap = L.map(box, { zoomControl: false, attributionControl: false, dragging: false,
                         scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, keyboard: false });
  miniMap.setView([task.lat, task.lon], 17);
  L.circleMarker([task.lat, task.lon], { radius: 9, color: "#fff", weight: 2, fillColor: "#c62828", fillOpacity: 1 })
    .bindTooltip(taskPlace(task), { permanent: true, direction: "top", offset: [0, -8] }).addTo(miniMap);
}

async function loadThumbs(photos) {
  for (const p of photos) {
    if (!photoUrls.has(p.id)) photoUrls.set(p.id, await blobUrl(`/api/v1/tasks/${taskId}/photos/${p.id}`));
    const img = document.querySelector(`img[data-photo-img="${p.id}"]`);
    if (img && !img.src) img.src = photoUrls.get(p.id);
  }
}

export async function loadHistory(id = taskId) {
  if (!id) return;
  const [task, photos, events] = await Promise.all([
    api(`/api/v1/tasks/${id}`), api(`/api/v1/tasks/${id}/photos`), api(`/api/v1/tasks/${id}/events`)]);
  if (String(id) !== String(taskId)) return;
  $("#events-title").textContent = t("drawer.heading", { id: task.id, place: taskPlace(task) });
  const detail = $("#task-detail");
  if (detail.contains(document.activeElement) && document.activeElement.matches("select, textarea")) return;
  const map = task.lat != null ? `<div id="task-map" class="mini-map" role="img" aria-label="${esc(taskPlace(task))}"></div>` : "";
  const before = detail._html;
  setHtml(detail, facts(task) + map + evidence(photos, events) + closeForm(task) + cancelForm(task));
  if (detail._html !== before) drawMap(task);
  setHtml($("#events"), timeline(events));
  await loadThumbs(photos);
}

export function openTask(id) {
  taskId = String(id);
  $("#task-detail")._html = null;
  show("#events-panel", true);
  loadHistory(taskId).catch((err) => showError(err.message));
}

export function closeHistory() {
  taskId = null;
  show("#events-panel", false);
  if (miniMap) { miniMap.remove(); miniMap = null; }
  photoUrls.forEach((url) => URL.revokeObjectURL(url));
  photoUrls.clear();
}

/** The photo at its stored size (≤ 1600 px), over the page; click or Escape closes it. */
function viewPhoto(button) {
  const url = photoUrls.get(Number(button.dataset.photo)) || photoUrls.get(button.dataset.photo);
  if (!url) return;
  const viewer = $("#photo-viewer");
  setHtml(viewer, `<img src="${url}" width="${esc(button.dataset.width)}" height="${esc(button.dataset.height)}" alt="${esc(t("drawer.photo"))}">
    <button type="button" class="drawer-close" data-viewer-close aria-label="${esc(t("drawer.hide"))}">✕</button>`);
  show("#photo-viewer", true);
}

async function submit(form, confirmed) {
  const action = form.classList.contains("close-task") ? "close" : "cancel";
  const body = {};
  const note = form.note.value.trim();
  if (note) body.note = note;
  if (action === "close") {
    if (!form.rating.value) { showError(t("drawer.rating_needed")); return; }
    body.rating = Number(form.rating.value);
    if (!confirmed) {
      const box = form.querySelector(".confirm");
      box.querySelector("p").textContent = t("drawer.close_confirm", { id: form.dataset.taskId, stars: "★".repeat(body.rating) });
      box.classList.remove("hidden");
      return;
    }
  }
  form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
  try {
    await postJson(`/api/v1/tasks/${form.dataset.taskId}/${action}`, body);
    $("#task-detail")._html = null;
    await Promise.all([loadBoard(), loadHistory()]);
  } catch (err) {
    showError(t("tasks.action_failed", { action: word("action", action), id: form.dataset.taskId, reason: err.message }));
    form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
}

export function initDrawer() {
  const panel = $("#events-panel");
  panel.addEventListener("submit", (event) => { event.preventDefault(); submit(event.target, false); });
  panel.addEventListener("click", (event) => {
    const thumb = event.target.closest("button[data-photo]");
    if (thumb) return viewPhoto(thumb);
    const confirm = event.target.closest("button[data-confirm]");
    if (!confirm) return;
    const form = confirm.closest("form");
    if (confirm.dataset.confirm === "yes") submit(form, true);
    else form.querySelector(".confirm").classList.add("hidden");
  });
  $("#photo-viewer").addEventListener("click", () => show("#photo-viewer", false));
  $("#events-close").addEventListener("click", closeHistory);
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (!$("#photo-viewer").classList.contains("hidden")) show("#photo-viewer", false);
    else closeHistory();
  });
}
