#!/bin/sh
# Vendor the dashboard's front-end packages (and Swagger UI for /docs) into api/static/vendor/ from the exact versions
# pinned in package-lock.json: `npm ci`, then copy only the distribution files the dashboard
# loads plus each package's LICENSE, and record name, version and sha256 of every file in
# api/static/vendor/VERSIONS.json. The result is committed, so installing and running the
# API never needs npm or the network. To update: change a pin in package.json, run
# `npm install --ignore-scripts` here, then this script, and commit all three.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
vendor="$here/../api/static/vendor"

cd "$here"
npm ci --ignore-scripts --no-audit --no-fund

# package  files (relative to the package's folder in node_modules; kept relative below dist/)
FILES='
leaflet dist/leaflet.js dist/leaflet.css dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png LICENSE
uplot dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE
swagger-ui-dist swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt
'

rm -rf "$vendor"
mkdir -p "$vendor"
echo "$FILES" | while read -r package files; do
  [ -n "$package" ] || continue
  for file in $files; do
    target="$vendor/$package/${file#dist/}"
    mkdir -p "$(dirname "$target")"
    cp "node_modules/$package/$file" "$target"
  done
done

node - "$vendor" <<'JS'
// VERSIONS.json: for each vendored package, its version (from its own package.json) and licence,
// and the sha256 of each file copied, so tests can tell a hand-edited or stale copy.
const crypto = require("crypto"), fs = require("fs"), path = require("path");
const vendor = process.argv[2];
const files = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]);
const out = {};
for (const name of fs.readdirSync(vendor).filter((n) => fs.statSync(path.join(vendor, n)).isDirectory()).sort()) {
  const meta = JSON.parse(fs.readFileSync(path.join("node_modules", name, "package.json"), "utf8"));
  const dir = path.join(vendor, name);
  const sums = {};
  for (const file of files(dir).sort()) {
    const rel = path.relative(dir, file).split(path.sep).join("/");
    sums[rel] = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  }
  out[name] = { version: meta.version, license: meta.license, files: sums };
}
fs.writeFileSync(path.join(vendor, "VERSIONS.json"), JSON.stringify(out, null, 2) + "\n");
console.log(Object.entries(out).map(([n, p]) => `${n} ${p.version}: ${Object.keys(p.files).length} files`).join("\n"));
JS
