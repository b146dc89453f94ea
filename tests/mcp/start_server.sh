#!/usr/bin/env bash
# Sourced by the test scripts: start_gannet GANNET_BIN LOGFILE [serve flags...] starts `gannet serve
# --port 0 ...` in the background, waits for its "listening on" line and sets GANNET_PID and
# GANNET_PORT. stop_gannet kills it (only that pid).
start_gannet() {
    local bin="$1" log="$2"
    shift 2
    "$bin" serve --port 0 --no-model "$@" >"$log" 2>&1 &
    GANNET_PID=$!
    for _ in $(seq 1 100); do
        GANNET_PORT=$(grep -o 'listening on http://[^:]*:[0-9]*' "$log" 2>/dev/null | sed 's/.*://' || true)
        if [[ -n "$GANNET_PORT" ]]; then
            return 0
        fi
        if ! kill -0 "$GANNET_PID" 2>/dev/null; then
            echo "gannet serve exited early:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "gannet serve did not report a port within 10 s" >&2
    cat "$log" >&2
    return 1
}

stop_gannet() {
    if [[ -n "${GANNET_PID:-}" ]]; then
        kill "$GANNET_PID" 2>/dev/null || true
        wait "$GANNET_PID" 2>/dev/null || true
        GANNET_PID=
    fi
}
