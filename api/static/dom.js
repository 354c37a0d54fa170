// DOM and formatting helpers shared by every panel. No framework: small pure functions.

import { t, time, word } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape any value for use inside HTML text or a quoted attribute. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Replace an element's HTML only when it changed, so focus and scroll survive refreshes. */
export function setHtml(element, html) {
  if (element._html !== html) {
    element.innerHTML = html;
    element._html = html;
  }
}

export function show(selector, visible) {
  $(selector).classList.toggle("hidden", !visible);
}

let errorTimer = null;
/** Show a message in the error banner for a while; an empty message clears it. */
export function showError(message) {
  $("#error").textContent = message || "";
  clearTimeout(errorTimer);
  if (message) errorTimer = setTimeout(() => showError(""), 8000);
}

/** A time of day in the centre's time zone (never the raw UTC string). */
export function clock(iso) { return time(iso); }

/** "3m", "2h 5m", "4d" for a duration in seconds. */
export function duration(seconds) {
  const s = Math.abs(seconds);
  if (s < 60) return t("duration.s", { s: Math.round(s) });
  if (s < 3600) return t("duration.m", { m: Math.floor(s / 60) });
  if (s < 86400) return t("duration.hm", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return t("duration.d", { d: Math.floor(s / 86400) });
}

export function ago(iso) {
  return duration((Date.now() - new Date(iso).getTime()) / 1000);
}

export function levelLabel(level) { return word("level", level); }

/** "陈欣 Chen Xin": a name with its romanised form when there is one, else ``fallback``. */
export function nameLabel(name, latin, fallback = "") {
  if (!name) return latin || fallback || "";
  return latin && latin !== name ? `${name} ${latin}` : name;
}

export function levelBadge(level) {
  return `<span class="badge lvl-${esc(level || "none")}">${esc(levelLabel(level))}</span>`;
}

/** Run ``fn`` at most once per ``ms``; calls in between are folded into one trailing call. */
export function throttle(fn, ms) {
  let timer = null, pending = false, last = 0;
  return function throttled() {
    const wait = last + ms - Date.now();
    if (wait <= 0 && !timer) { last = Date.now(); fn(); return; }
    pending = true;
    if (!timer) timer = setTimeout(() => { timer = null; if (pending) { pending = false; last = Date.now(); fn(); } }, Math.max(wait, 0));
  };
}
