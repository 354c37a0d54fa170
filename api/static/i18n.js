// Languages and local time. The words live in catalogues (/static/i18n/<language>.json),
// never in code: t("key", {name}) looks a key up, falling back to English and then to the
// key itself. The language comes from the browser (navigator.language) unless the user
// picked one, which is remembered (localStorage). Dates and times are shown in the
// centre's time zone (SHARPEYES_TIME_ZONE, from /api/v1/config) with Intl.DateTimeFormat.

export const LANGUAGES = ["zh-CN", "en"];
const STORED = "sharpeyes.lang";
const catalogues = {};
let current = "en";
let zone = "Asia/Shanghai";

/** The language to use: the remembered choice, else the browser's, else English. */
export function pickLanguage(stored, browser) {
  if (LANGUAGES.includes(stored)) return stored;
  return String(browser || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

async function load(language) {
  if (!catalogues[language]) {
    const response = await fetch(`/static/i18n/${language}.json`, { headers: { Accept: "application/json" } });
    catalogues[language] = response.ok ? await response.json() : {};
  }
  return catalogues[language];
}

export function language() { return current; }

/** Load the catalogues and settle the language; call once before anything is drawn. */
export async function initI18n() {
  await load("en");
  await setLanguage(pickLanguage(localStorage.getItem(STORED), navigator.language), false);
}

export async function setLanguage(language, remember = true) {
  await load(language);
  current = language;
  if (remember) localStorage.setItem(STORED, language);
  document.documentElement.lang = language;
  applyStatic();
}

/** The word for ``key`` in the current language, with ``{name}`` placeholders filled. */
export function t(key, params = {}) {
  const text = catalogues[current]?.[key] ?? catalogues.en?.[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (params[name] ?? whole));
}

/** A word of a family ("state", "level", "role", ...) for a value from the API. */
export function word(family, value) {
  if (value == null || value === "") return t(`${family}.none`);
  const key = `${family}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

/** Translate the page's fixed text: data-i18n (text), data-i18n-placeholder, -title, -aria. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  document.title = t("app.title");
}

export function setTimeZone(name) { if (name) zone = name; }
export function timeZone() { return zone; }

const formats = new Map();
function format(options) {
  const key = current + zone + JSON.stringify(options);
  if (!formats.has(key)) formats.set(key, new Intl.DateTimeFormat(current, { timeZone: zone, ...options }));
  return formats.get(key);
}

const asDate = (value) => (value instanceof Date ? value : new Date(value));

/** "14:12:05" in the centre's zone. */
export function time(value, seconds = true) {
  if (value == null || value === "") return "";
  return format({ hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hourCycle: "h23" })
    .format(asDate(value));
}

/** "2026-02-14 14:12" (or the language's order) in the centre's zone. */
export function dateTime(value) {
  if (value == null || value === "") return "";
  return format({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
    .format(asDate(value));
}

/** A number in the language's notation. */
export function number(value, digits = 0) {
  return Number(value).toLocaleString(current, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
