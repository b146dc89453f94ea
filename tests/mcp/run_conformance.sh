#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in package.json)
# against a fresh `gannet serve --tools conformance` on a free port.
#   run_conformance.sh GANNET_BIN REQUIREMENTS [SCENARIO_PREFIX]
# REQUIREMENTS is 2026-07-28 or 2025-11-25. Exit status: the suite's own (non-zero when a scored
# scenario fails). With SCENARIO_PREFIX (e.g. "tasks-"), additionally fails when any scenario whose
# name starts with it failed, scored or not (the tasks extension is never scored).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gannet="$1"
requirements="$2"
must_pass_prefix="${3:-}"
node22="$("$here/setup_node.sh")"
work="$(mktemp -d)"
source "$here/start_server.sh"
trap 'stop_gannet; rm -rf "$work"' EXIT
start_gannet "$gannet" "$work/server.log" --tools conformance --store "sqlite:$work/store.db"
echo "gannet serve on port $GANNET_PORT" >&2
set +e
"$node22" "$here/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
    --url "http://127.0.0.1:$GANNET_PORT/mcp" --requirements "$requirements" -o "$work/results" >"$work/suite.log" 2>&1
rc=$?
set -e
sed -n '/=== SUMMARY ===/,$p' "$work/suite.log"
if [[ $rc -ne 0 ]]; then
    sed -n '/=== Failed Checks ===/,/=== SUMMARY ===/p' "$work/suite.log" | head -100
fi
if [[ -n "$must_pass_prefix" ]] && grep -q "✗ $must_pass_prefix" "$work/suite.log"; then
    echo "run_conformance.sh: a '$must_pass_prefix*' scenario failed" >&2
    rc=1
fi
exit $rc
