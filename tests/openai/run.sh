#!/usr/bin/env bash
# End-to-end: installs the pinned `openai` client once (idempotent), then runs the test files (default
# e2e.test.mjs and constrain.test.mjs) with node's test runner against a real `gannet serve`.
# Usage: run.sh GANNET_BINARY [TEST.mjs ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/node_modules/openai/package.json" ] || [ ! -f "$here/node_modules/ajv/package.json" ]; then
    (cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
fi
bin="$1"
shift
files=()
for f in "${@:-e2e.test.mjs constrain.test.mjs api.test.mjs multimodal.test.mjs constrain_extensions.test.mjs}"; do
    for g in $f; do files+=("$here/$g"); done
done
GANNET_BINARY="$bin" GANNET_SOURCE="$(cd "$here/../.." && pwd)" exec node --test --test-concurrency=1 "${files[@]}"
