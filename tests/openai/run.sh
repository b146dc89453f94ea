#!/usr/bin/env bash
# End-to-end: installs the pinned `openai` client once (idempotent), then runs e2e.test.mjs with
# node's test runner against a real `gannet serve`. Usage: run.sh GANNET_BINARY
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/node_modules/openai/package.json" ] || [ ! -f "$here/node_modules/ajv/package.json" ]; then
    (cd "$here" && npm install --no-audit --no-fund --silent >/dev/null)
fi
GANNET_BINARY="$1" GANNET_SOURCE="$(cd "$here/../.." && pwd)" exec node --test --test-concurrency=1 "$here/e2e.test.mjs" "$here/constrain.test.mjs" "$here/api.test.mjs" "$here/multimodal.test.mjs" "$here/constrain_extensions.test.mjs"
