#!/usr/bin/env bash
# ctest entry for the differential test: installs the pinned npm oracles into NODE_DIR once
# (exit 77 = skipped when npm is unreachable), then runs differential.mjs.
# Usage: run_differential.sh GANNET_BINARY NODE_DIR [differential.mjs flags]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
gannet="$1"
node_dir="$2"
shift 2
"$here/npm_install.sh" "$node_dir"
# The script must sit beside node_modules for its imports to resolve.
cp "$here/differential.mjs" "$node_dir/differential.mjs"
exec node "$node_dir/differential.mjs" "$gannet" "$node_dir/differential-cases" "$@"
