// The live stream (/api/v1/stream, Server-Sent Events) with reconnection.
// EventSource cannot send headers, so the token travels as ?access_token=.

import { token } from "./api.js";
import { $ } from "./dom.js";
import { t } from "./i18n.js";

const handlers = { ready: [], alert: [], task: [], density: [] };
let source = null;

export function on(kind, handler) { handlers[kind].push(handler); }

function setState(state, label) {
  const badge = $("#live");
  badge.dataset.state = state;
  badge.dataset.label = label;
  badge.querySelector(".label").textContent = t(`live.${label}`);
}

/** Redraw the badge's word after the language changed. */
export function relabel() {
  const badge = $("#live");
  if (badge.dataset.label) badge.querySelector(".label").textContent = t(`live.${badge.dataset.label}`);
}

function dispatch(kind, event) {
  let data = {};
  try { data = JSON.parse(event.data || "{}"); } catch { return; }
  handlers[kind].forEach((h) => h(data, event));
}

/** Open (or reopen) the stream; the browser reconnects by itself with Last-Event-ID. */
export function connect() {
  disconnect();
  const bearer = token.get();
  if (!bearer) return;
  setState("connecting", "connecting");
  source = new EventSource("/api/v1/stream?access_token=" + encodeURIComponent(bearer));
  source.addEventListener("ready", (e) => { setState("open", "live"); dispatch("ready", e); });
  for (const kind of ["alert", "task", "density"]) source.addEventListener(kind, (e) => dispatch(kind, e));
  source.addEventListener("overflow", () => connect());
  source.onerror = () => setState(source && source.readyState === EventSource.CLOSED ? "closed" : "connecting",
                                  source && source.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
}

export function disconnect() {
  if (source) source.close();
  source = null;
}

export function isLive() {
  return source !== null && source.readyState === EventSource.OPEN;
}
