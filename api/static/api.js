// Talking to /api/v1: the bearer token, JSON and problem details, authorised blobs.
// Every request names the page's language, so problem titles come back in it.

import { language, t } from "./i18n.js";

const TOKEN_KEY = "sharpeyes.token";
const listeners = new Set();

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Called with a message when the server refuses the token (expired, revoked). */
export function onUnauthorized(listener) { listeners.add(listener); }

export class ApiError extends Error {
  constructor(status, detail, title = "") { super(detail); this.status = status; this.title = title; }
}

async function send(path, options = {}) {
  const headers = Object.assign({ Accept: "application/json", "Accept-Language": language() }, options.headers);
  const bearer = token.get();
  if (bearer) headers.Authorization = "Bearer " + bearer;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401 && bearer) {
    listeners.forEach((l) => l(t("auth.expired")));
    throw new ApiError(401, "unauthorized");
  }
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    const detail = body && body.detail ? String(body.detail) : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, detail, body && body.title ? String(body.title) : "");
  }
  return response;
}

/** GET (or any method) returning parsed JSON; a problem detail becomes an ApiError. */
export async function api(path, options = {}) {
  const response = await send(path, options);
  return response.status === 204 ? null : response.json();
}

export function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(body || {}) });
}

/** An object URL for an authorised binary resource (PNG charts, CSV, photos). */
export async function blobUrl(path) {
  const response = await send(path, { headers: { Accept: "*/*" } });
  return URL.createObjectURL(await response.blob());
}

export async function login(username, password) {
  const form = new URLSearchParams({ username, password });
  const response = await fetch("/api/v1/auth/token", {
    method: "POST", body: form,
    headers: { "Content-Type": "application/x-www-form-urlencoded", "Accept-Language": language() },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, (body && body.detail) || response.statusText);
  token.set(body.access_token);
  return body;
}
