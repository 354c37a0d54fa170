// The vendored front-end packages (api/static/vendor/, put there by frontend/vendor.sh from
// pinned npm versions): index.html loads their minified builds with <script defer> before
// the modules run; modules import them from here like anything else.

if (!window.L || !window.uPlot) throw new Error("vendored Leaflet or uPlot failed to load");

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
