#!/bin/bash
# PTQ vs QAT at 4 and 2 bits, measured by Gannet itself (issue 8), on the CPU:
#   gannet quantize   F16 -> PTQ q4_0, PTQ plans/mobile-2bit.json, PTQ q2_k;
#                     QAT(q4_0) checkpoint -> q4_0; QAT(2-bit) checkpoint -> the plan (and q2_k);
#   gannet perplexity of each on models/heldout.txt; prints a markdown table.
# Rows whose input file is missing (models/gannet-default-qat2.gguf before the GPU run) are skipped.
#
#   bash training/eval_qat_table.sh                 # GANNET=path/to/gannet, WORK=/tmp/... to override
#
# IMAGE=1 (default for K-quant and plan rows): perplexity runs on an F32 file holding the dequantized
# weights (`gannet quantize Q.gguf D.gguf --type f32`), as docs/quantization.md does: the same
# weights, computed much faster than the K-quant matmul on 2 cores. IMAGE=0 runs every quantized
# file itself; q4_0 rows always run on the q4_0 file.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${GANNET:-}" ]; then
    for g in build/tools/gannet/gannet build*/tools/gannet/gannet; do
        if [ -x "$g" ] && "$g" quantize --help >/dev/null 2>&1; then GANNET=$g; break; fi
    done
fi
[ -n "${GANNET:-}" ] || { echo "no gannet binary with a quantize command (set GANNET)" >&2; exit 1; }
WORK=${WORK:-/tmp/gannet-qat-table}
TEXT=${TEXT:-models/heldout.txt}
PLAN=${PLAN:-plans/mobile-2bit.json}
IMAGE=${IMAGE:-1}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}        # an extended regex: only the rows whose label matches (e.g. ONLY='^F16|2-bit')
mkdir -p "$WORK"
echo "gannet: $GANNET ($(git log -1 --format=%h 2>/dev/null || echo '?')), text: $TEXT, $(date -u +%FT%TZ)" >&2

# label | input file | quantize arguments ("" = the file as is)
ROWS=(
    "F16|models/gannet-default.gguf|"
    "PTQ q4_0|models/gannet-default.gguf|--type q4_0"
    "PTQ mobile-2bit plan|models/gannet-default.gguf|--plan $PLAN"
    "PTQ q2_k|models/gannet-default.gguf|--type q2_k"
    "QAT(q4_0) F16|models/gannet-default-qat.gguf|"
    "QAT(q4_0) -> q4_0|models/gannet-default-qat.gguf|--type q4_0"
    "QAT(2-bit plan) F16|models/gannet-default-qat2.gguf|"
    "QAT(2-bit plan) -> mobile-2bit plan|models/gannet-default-qat2.gguf|--plan $PLAN"
    "QAT(2-bit plan) -> q2_k|models/gannet-default-qat2.gguf|--type q2_k"
)

ppl() {  # model file -> perplexity
    "$GANNET" perplexity -m "$1" -f "$TEXT" -t "$THREADS" 2>"$WORK/last-stderr.txt" | sed -n 's/^perplexity: //p'
}

out="| weights | file | \`gannet quantize\` | file MB | perplexity | vs its F16 |
| --- | --- | --- | ---: | ---: | ---: |"
declare -A base
for row in "${ROWS[@]}"; do
    IFS='|' read -r label src qargs <<<"$row"
    if [ -n "$ONLY" ] && ! grep -Eq -- "$ONLY" <<<"$label"; then
        continue
    fi
    if [ ! -f "$src" ]; then
        echo "skip: $label ($src missing)" >&2
        continue
    fi
    t0=$(date +%s)
    name=$(echo "$label" | tr -c 'A-Za-z0-9\n' '_')
    file=$src
    how=""
    if [ -n "$qargs" ]; then
        file="$WORK/$name.gguf"
        # shellcheck disable=SC2086
        "$GANNET" quantize "$src" "$file" $qargs >"$WORK/$name.quantize.log" 2>&1
        if [ "$IMAGE" = 1 ] && [[ "$qargs" != "--type q4_0" ]]; then
            "$GANNET" quantize "$file" "$WORK/$name.f32.gguf" --type f32 >/dev/null 2>&1
            scored="$WORK/$name.f32.gguf"
            how=" (F32 image)"
        else
            scored=$file
        fi
    else
        scored=$file
    fi
    mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.2f", b / 1e6 }')
    p=$(ppl "$scored")
    [ -n "$p" ] || { echo "perplexity failed for $label: $(tail -3 "$WORK/last-stderr.txt")" >&2; exit 1; }
    [ -z "$qargs" ] && base[$src]=$p
    rel="—"
    if [ -n "$qargs" ] && [ -n "${base[$src]:-}" ]; then
        rel=$(awk -v a="$p" -v b="${base[$src]}" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }')
    fi
    echo "$label: $p ($(( $(date +%s) - t0 )) s)" >&2
    out+="
| $label | $(basename "$src") | ${qargs:-(F16 as is)}$how | $mb | $p | $rel |"
done
echo "$out"
