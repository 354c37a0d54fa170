// The vendored front-end packages (api/static/vendor/, put there by frontend/vendor.sh from
// pinned npm versions): index.html loads their minified builds with <script defer> before
// the modules run; modules import them from here like anything else.

// Missing only if the install is broken; sign-in and the other panels still work then.
const missing = ["L", "uPlot"].filter((name) => !window[name]);
if (missing.length) console.error(`vendored ${missing.join(" and ")} did not load: see api/static/vendor/`);

export const L = window.L;
export const uPlot = window.uPlot;

/** A CSS custom property of the page (the level colours live in app.css). */
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** Keep a uPlot chart as wide as ``element``, which may be hidden (zero wide) at first. */
export function followWidth(plot, element, height) {
  new ResizeObserver(() => {
    if (element.clientWidth && element.clientWidth !== plot.width) plot.setSize({ width: element.clientWidth, height });
  }).observe(element);
}
