#!/usr/bin/env bash
# `make demo`: the main job on the embedded default model (models/gannet-default.gguf, trained by
# training/). Generates a few lines with `gannet run`, then serves the model with `gannet serve`:
# the OpenAI API under /v1, MCP tools under /mcp, and /metrics. Ctrl-C stops it.
# DEMO_ONESHOT=1 sends one chat request to the server and exits (used to check the demo itself).
set -euo pipefail
build=${1:-build}
gannet="$build/tools/gannet/gannet"
host=${DEMO_HOST:-127.0.0.1}
port=${DEMO_PORT:-8080}

echo "== gannet run on the default model (greedy, 60 tokens)"
"$gannet" run -p "Once upon a time" -n 60 --temp 0
echo
if [ -f models/gannet-diffusion.gguf ]; then
    echo "== gannet run on the block-diffusion model (models/gannet-diffusion.gguf: 64-token canvases, seed 0)"
    "$gannet" run -m models/gannet-diffusion.gguf -p "Once upon a time" -n 64
    echo
fi

if ! "$gannet" serve --help 2>&1 | grep -q -- '--kv-blocks'; then
    echo "== this build's gannet serve has no model runtime yet; the demo ends here"
    exit 0
fi

workspace=$(mktemp -d)
trap 'rm -rf "$workspace"; [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true' EXIT
echo "== gannet serve on http://$host:$port (OpenAI API at /v1, MCP at /mcp, metrics at /metrics)"
"$gannet" serve --host "$host" --port "$port" --tools workspace --workspace "$workspace" &
server_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://$host:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
echo "== one chat request:"
curl -s "http://$host:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"gannet-default","messages":[{"role":"user","content":"What does the ls command do?"}],"max_tokens":48,"temperature":0}'
echo
echo "== structured output: the same model, constrained to a JSON Schema (docs/constrain.md):"
curl -s "http://$host:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"gannet-default","messages":[{"role":"user","content":"Name a shell command and say what it does."}],"max_tokens":80,"temperature":0,"response_format":{"type":"json_schema","json_schema":{"name":"command","strict":true,"schema":{"type":"object","properties":{"command":{"type":"string","maxLength":12},"does":{"type":"string","maxLength":40}},"required":["command","does"],"additionalProperties":false}}}}'
echo
if [ "${DEMO_ONESHOT:-0}" = "1" ]; then
    exit 0
fi
echo "== serving until Ctrl-C; try: curl http://$host:$port/v1/models"
wait "$server_pid"
