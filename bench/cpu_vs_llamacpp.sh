#!/usr/bin/env bash
# Side-by-side CPU benchmark of `gannet bench` and llama.cpp's `llama-bench` on the same GGUF files,
# alternating the two tools so both see the same machine state (issue 2's performance table).
# llama.cpp is built by hand outside this repository; pass its llama-bench path.
#   bench/cpu_vs_llamacpp.sh GANNET_BIN LLAMA_BENCH_BIN ROUNDS MODEL.gguf...
# Prints one JSON line per run: {"tool", "model", "prefill_tok_s", "decode_tok_s"}.
set -euo pipefail
gannet=$1 llama_bench=$2 rounds=$3
shift 3
threads=${THREADS:-2} n_prompt=${N_PROMPT:-512} n_gen=${N_GEN:-128}
for round in $(seq 1 "$rounds"); do
    for model in "$@"; do
        name=$(basename "$model")
        line=$("$gannet" bench -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" 2>/dev/null | tail -n 1)
        echo "{\"round\":$round,\"tool\":\"gannet\",\"model\":\"$name\",\"result\":$line}"
        # llama-bench runs prefill and decode as two tests; -r 1 after its own warm-up run.
        json=$("$llama_bench" -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" -r 1 -o json 2>/dev/null)
        echo "{\"round\":$round,\"tool\":\"llama.cpp\",\"model\":\"$name\",\"result\":$(echo "$json" | tr -d '\n')}"
    done
done
