#!/bin/sh
# Measures plan.json (quant-plan lab task, not editable): quantizes the shipped model with it and
# prints the quantized file's size and its perplexity on the first 6,000 characters of held-out text.
set -e
root="$TASK_DIR/../../.."
head -c 6000 "$root/models/heldout.txt" > text.txt
"$GANNET" quantize "$root/models/gannet-default.gguf" out.gguf --type q2_k --plan plan.json -t 1 > quantize.log 2>&1
awk -v bytes="$(wc -c < out.gguf)" 'BEGIN { printf "size_mb=%.3f\n", bytes / 1e6 }'
"$GANNET" perplexity -m out.gguf -f text.txt -t 1 2>&1 | sed -n 's/^perplexity: \([0-9.]*\)$/ppl=\1/p'
