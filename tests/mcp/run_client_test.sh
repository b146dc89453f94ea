#!/usr/bin/env bash
# The official TypeScript client (client_test.mjs) against a fresh `gannet serve --tools conformance`.
#   run_client_test.sh GANNET_BIN [--store SPEC]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gannet="$1"
shift
node22="$("$here/setup_node.sh")"
work="$(mktemp -d)"
source "$here/start_server.sh"
trap 'stop_gannet; rm -rf "$work"' EXIT
store=("--store" "sqlite:$work/store.db")
if [[ $# -ge 2 && "$1" == "--store" ]]; then
    store=("--store" "$2")
fi
start_gannet "$gannet" "$work/server.log" --tools conformance "${store[@]}"
cd "$here"
"$node22" client_test.mjs "http://127.0.0.1:$GANNET_PORT/mcp"
