#!/usr/bin/env bash
# Installs the pinned npm packages of tests/jsonschema/package.json into NODE_DIR, once: a stamp
# holding the package.json checksum makes reruns no-ops. Exit 77 (ctest: skipped) when npm or the
# registry cannot be reached, with the reason on stderr.
# Usage: npm_install.sh NODE_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$1"
mkdir -p "$node_dir"
sum="$(sha256sum "$here/package.json" | cut -d' ' -f1)"
if [[ -f "$node_dir/.stamp" && "$(cat "$node_dir/.stamp")" == "$sum" && -d "$node_dir/node_modules" ]]; then
    exit 0
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIP: node/npm not installed; the JSON Schema oracles come from npm" >&2
    exit 77
fi
cp "$here/package.json" "$node_dir/package.json"
if ! (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error >"$node_dir/npm.log" 2>&1); then
    echo "SKIP: npm install failed (registry unreachable?); see $node_dir/npm.log:" >&2
    tail -5 "$node_dir/npm.log" >&2
    exit 77
fi
echo "$sum" >"$node_dir/.stamp"
