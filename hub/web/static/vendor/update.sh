#!/bin/sh
# Refresh the vendored front-end libraries from the npm registry.
#
# The admin UI must work on a hospital network with no internet, so nothing is loaded from a
# CDN at run time: the files below are committed. Run this script (needs node + npm) after
# changing a pinned version, check the diff, update README.md's table, and commit.
set -eu

HTMX_VERSION=2.0.11
UPLOT_VERSION=1.6.32

here=$(cd "$(dirname "$0")" && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

cd "$build"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
    "htmx.org@$HTMX_VERSION" "uplot@$UPLOT_VERSION" >/dev/null

copy() { cp "$build/node_modules/$1" "$here/$2"; }
copy htmx.org/dist/htmx.min.js htmx.min.js
copy htmx.org/LICENSE htmx.LICENSE
copy uplot/dist/uPlot.iife.min.js uPlot.iife.min.js
copy uplot/dist/uPlot.min.css uPlot.min.css
copy uplot/LICENSE uPlot.LICENSE

# Record what was installed, straight from the installed packages' manifests.
for pkg in htmx.org uplot; do
    node -e 'const p = require(process.argv[1]); console.log(`${p.name} ${p.version} ${p.license}`)' \
        "$build/node_modules/$pkg/package.json"
done > "$here/VERSIONS"
( cd "$here" && sha256sum htmx.min.js uPlot.iife.min.js uPlot.min.css > SHA256SUMS )
echo "vendored: $(tr '\n' ';' < "$here/VERSIONS")"
